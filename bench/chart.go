package main

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
)

// Bar colours, one per config in order, and their names for the legend in
// BENCHMARKS.md.
var (
	barColors  = []color.RGBA{{0x8c, 0x8c, 0x8c, 0xff}, {0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}}
	colorNames = []string{"grey", "blue", "orange", "green"}
)

// Chart layout, in pixels.
const (
	chartScale   = 2 // font scale
	barW, barGap = 64, 14
	panelPad     = 24
	marginX      = 20
	titleH       = 56
	plotH        = 300
	labelH       = 40
	legendH      = 44
)

// renderChart draws the throughput figure: one panel per stream shape, in
// each a bar per config of its median acknowledged messages per second,
// scaled to the panel's highest bar and labelled with its value.
func renderChart(r *Results) ([]byte, error) {
	t := r.Throughput
	if t == nil || len(t.Configs) == 0 || len(t.Cells) == 0 {
		return nil, errors.New("chart: no throughput results")
	}
	nc := len(t.Configs)
	panelW := nc*barW + (nc-1)*barGap + 2*panelPad
	width := 2*marginX + len(t.Cells)*panelW
	height := titleH + plotH + labelH + legendH
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	fillRect(img, 0, 0, width, height, color.White)
	black := color.RGBA{0x20, 0x20, 0x20, 0xff}
	grey := color.RGBA{0xcc, 0xcc, 0xcc, 0xff}

	title := fmt.Sprintf("JetStream publish throughput, acked msgs/s (median of %d)", t.Runs)
	drawText(img, (width-textWidth(title, chartScale))/2, 14, title, chartScale, black)

	baseY := titleH + plotH
	valueH := glyphH*chartScale + 8
	for ci, cell := range t.Cells {
		x0 := marginX + ci*panelW
		vals := make([]float64, nc)
		top := 0.0
		for k, c := range t.Configs {
			rates, _, _ := tputSeries(tputSamples(t, c.Key, cell))
			vals[k] = median(rates)
			if !math.IsNaN(vals[k]) {
				top = max(top, vals[k])
			}
		}
		// Panel frame: the axis and a faint separator.
		fillRect(img, x0+panelPad/2, baseY, panelW-panelPad, 2, black)
		if ci > 0 {
			fillRect(img, x0, titleH, 1, plotH+labelH, grey)
		}
		for k, v := range vals {
			bx := x0 + panelPad + k*(barW+barGap)
			label := "n/a"
			h := 0
			if !math.IsNaN(v) && top > 0 {
				h = int(math.Round(v / top * float64(plotH-valueH-6)))
				label = fmtCompact(v)
			}
			fillRect(img, bx, baseY-h, barW, h, barColors[k%len(barColors)])
			drawText(img, bx+(barW-textWidth(label, chartScale))/2, baseY-h-valueH, label, chartScale, black)
		}
		name := cell.String()
		drawText(img, x0+(panelW-textWidth(name, chartScale))/2, baseY+14, name, chartScale, black)
	}

	// Legend.
	ly := titleH + plotH + labelH + 12
	total := 0
	for _, c := range t.Configs {
		total += 26 + textWidth(legendLabel(c), chartScale) + 30
	}
	lx := (width - total + 30) / 2
	for k, c := range t.Configs {
		fillRect(img, lx, ly, 18, 14, barColors[k%len(barColors)])
		drawText(img, lx+26, ly, legendLabel(c), chartScale, black)
		lx += 26 + textWidth(legendLabel(c), chartScale) + 30
	}

	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func legendLabel(c serverConfig) string {
	switch {
	case c.Seed:
		return "seed config"
	case c.Durability == "":
		return "natsnest default"
	default:
		return "natsnest " + c.Durability
	}
}

// fmtCompact formats a rate in at most six characters: 950, 12.3K, 456K, 1.23M.
func fmtCompact(x float64) string {
	switch {
	case x < 1000:
		return fmt.Sprintf("%.0f", x)
	case x < 100e3:
		return fmt.Sprintf("%.1fK", x/1e3)
	case x < 1e6:
		return fmt.Sprintf("%.0fK", x/1e3)
	default:
		return fmt.Sprintf("%.2fM", x/1e6)
	}
}
