package main

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
	"time"
)

func sampleResults() *Results {
	date := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	m := Machine{CPUs: 2, CPUModel: "Test CPU", MemoryGiB: "23.5", Kernel: "6.1.0", GoVersion: "go1.26.8", NATSServer: "v2.15.2", Store: "ext4 (test)", LoadAvg: "1.00 1.00 1.00"}
	part := func(name string) Part {
		return Part{Name: name, Date: date, Runs: 2, Elapsed: time.Minute, Machine: m, Reproduce: "make bench BENCH_FLAGS=-only=" + name}
	}
	t := &ThroughputResult{
		Part:    part("throughput"),
		Configs: []serverConfig{seedServers, natsnestDef, natsnestAlw},
		Cells:   []Cell{{1, 128}, {3, 128}},
		Window:  2 * time.Second, LatencyWindow: time.Second, LatencyMax: 2000, MaxPending: 256, StoreFS: "ext4 (test)",
	}
	// natsnest is twice the seed in every round; always a tenth of natsnest.
	for round := range 2 {
		for _, cell := range t.Cells {
			base := float64(1000 * (round + 1) * cell.Replicas)
			for _, c := range []struct {
				key  string
				rate float64
				p50  time.Duration
			}{{"seed", base, time.Millisecond}, {"natsnest", 2 * base, time.Millisecond}, {"always", base / 5, 4 * time.Millisecond}} {
				t.Samples = append(t.Samples, TputSample{Config: c.key, Cell: cell, Round: round, MsgsPerSec: c.rate, Acked: 100, P50: c.p50, P99: 2 * c.p50, LatSamples: 100})
			}
		}
	}
	t.Samples = append(t.Samples, TputSample{Config: "seed", Cell: Cell{1, 128}, Round: 1, Err: "boom"})
	f := &FailoverResult{Part: part("failover"), Configs: []serverConfig{seedServers, natsnestDef}}
	for round := range 2 {
		for _, cfg := range []string{"seed", "natsnest"} {
			f.Samples = append(f.Samples,
				FailoverSample{Config: cfg, Scenario: scenarioKill, Round: round, Action: "kill -9 n1", FirstAck: 6 * time.Second, Failed: 200, LongestGap: 6 * time.Second, Down: 8 * time.Second},
				FailoverSample{Config: cfg, Scenario: scenarioRestart, Round: round, Action: "SIGTERM n2", FirstAck: 50 * time.Millisecond, Failed: 1, LongestGap: 100 * time.Millisecond, Down: time.Second})
		}
	}
	d := &DeployResult{Part: part("deploy"), Scale: 0.01, NodeCounts: []int{3, 11}, Latencies: map[string]time.Duration{"alicloud:ecs/instance:Instance": time.Minute},
		Probes: 20, ProbeDelay: 200 * time.Millisecond, EngineWall: 210 * time.Millisecond, EngineMax: 20}
	for round := range 2 {
		d.Deploys = append(d.Deploys,
			DeployRun{Nodes: 3, Round: round, Wall: 2 * time.Second, Chain: 160 * time.Second, Path: []string{"alicloud:ecs/instance:Instance::natsnest-nats-1"}, Resources: 40},
			DeployRun{Nodes: 11, Round: round, Wall: 3 * time.Second, Chain: 240 * time.Second, Path: []string{"alicloud:ecs/instance:Instance::natsnest-nats-1"}, Resources: 128})
	}
	n := &NewcomerResult{Part: part("newcomer"), Figures: []CommandFigure{
		{Key: "make-test", Label: "`make test`", Command: "make test", Caches: "warm", Samples: []CommandSample{{Wall: 200 * time.Second}}},
		{Key: "make-demo", Label: "`make demo`", Command: "make demo", Caches: "warm", Samples: []CommandSample{{Wall: 20 * time.Second}, {Wall: 30 * time.Second, ExitCode: 2, Tail: "FAIL here"}}},
	}}
	cold := &NewcomerResult{Part: part("coldbuild"), Figures: []CommandFigure{
		{Key: "build-cold", Label: "cold build", Command: "go build", Caches: "empty GOCACHE", Samples: []CommandSample{{Wall: 130 * time.Second}}},
	}}
	return &Results{Throughput: t, Failover: f, Deploy: d, Newcomer: n, ColdBuild: cold,
		LastRun: &Invocation{Parts: allParts, Skipped: []string{"coldbuild"}, Date: date, Elapsed: 13 * time.Minute}}
}

func TestRenderMarkdown(t *testing.T) {
	r := sampleResults()
	md := renderMarkdown(r, "bench/throughput.png")
	if md != renderMarkdown(r, "bench/throughput.png") {
		t.Fatal("rendering is not deterministic")
	}
	for _, want := range []string{
		"## Machine", "| CPUs (`nproc`) | 2 (Test CPU) |", "| JetStream store | ext4 (test) |", "v2.15.2",
		"## 1. Deploy critical path", "## 2. JetStream publish throughput and latency", "## 3. Failover and planned restart", "## 4. What a newcomer waits for",
		"N = 2", "Reproduce: `make bench BENCH_FLAGS=-only=throughput`", "Reproduce: `make bench BENCH_FLAGS=-only=deploy`",
		"![throughput by config](bench/throughput.png)",
		// natsnest ÷ seed is 2 in every round, always ÷ natsnest 0.1.
		"| R1, 128 B | natsnest, default durability ÷ seed's nats.conf (default sync) | 2.00× (2.00–2.00) | 1.00× (1.00–1.00) | 1.00× (1.00–1.00) |",
		"| R3, 128 B | natsnest, durability always ÷ natsnest, default durability | 0.10× (0.10–0.10) | 4.00× (4.00–4.00) | 4.00× (4.00–4.00) |",
		// R3 ÷ R1: rates are 3× in every round.
		"| natsnest, default durability | 128 B | 3.00× (3.00–3.00) |",
		// Same failover figures for both configs: the runs overlap.
		"| kill | 1.00× * | 1.00× * | 1.00× * |",
		"round 2, seed, R1, 128 B: boom",
		"6.00 s [6.00 s, 6.00 s]",
		"**11 nodes ÷ 3 nodes.** Longest chain", "**1.50×**", "misses the goal",
		"`make demo` run 2 exited with status 2", "FAIL here",
		"### 4a. The cold nats-server build", "| cold build | 2 min 10 s | 2 min 10 s (0) | empty GOCACHE |", "Reproduce: `make bench BENCH_FLAGS=-only=coldbuild`",
		"(skipped for lack of budget: coldbuild)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// The failed sample is left out: R1 128 B seed has three samples, two valid.
	if !strings.Contains(md, "| R1, 128 B | seed's nats.conf (default sync) | 1,500 | 0.2 | 1.00 ms | 2.00 ms | 2 |") {
		t.Errorf("the failed run was not left out:\n%s", md)
	}
}

func TestRenderMarkdownWithoutResults(t *testing.T) {
	md := renderMarkdown(&Results{}, "x.png")
	for _, part := range allParts {
		if !strings.Contains(md, "make bench BENCH_FLAGS=-only="+part) {
			t.Errorf("no hint how to measure %s", part)
		}
	}
	if strings.Contains(md, "## Machine") {
		t.Error("machine section without any result")
	}
}

func TestRenderChart(t *testing.T) {
	b, err := renderChart(sampleResults())
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w < 400 || h < 300 {
		t.Errorf("chart is %dx%d", w, h)
	}
	if _, err := renderChart(&Results{}); err == nil {
		t.Error("a chart without throughput results")
	}
}

func TestFormatting(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{fmtDur(1500 * time.Microsecond), "1.50 ms"},
		{fmtDur(250 * time.Microsecond), "250 µs"},
		{fmtDur(42 * time.Millisecond), "42 ms"},
		{fmtDur(2500 * time.Millisecond), "2.50 s"},
		{fmtDur(125 * time.Second), "2 min 5 s"},
		{fmtDur(-1), "—"},
		{fmtRate(1234567.4), "1,234,567"},
		{fmtRate(999), "999"},
		{fmtCompact(950), "950"},
		{fmtCompact(12345), "12.3K"},
		{fmtCompact(456789), "457K"},
		{fmtCompact(1234567), "1.23M"},
		{sizeLabel(128), "128 B"},
		{sizeLabel(16384), "16 KiB"},
		{fmtRatio(0.5), "0.50×"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	for r := range glyphs {
		if g := glyphs[r]; len(g) != glyphH {
			t.Errorf("glyph %q has %d rows", r, len(g))
		} else {
			for _, row := range g {
				if len(row) != glyphW {
					t.Errorf("glyph %q row %q is not %d wide", r, row, glyphW)
				}
			}
		}
	}
}

func TestRotate(t *testing.T) {
	xs := []int{1, 2, 3}
	for k, want := range [][]int{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}, {1, 2, 3}} {
		got := rotate(xs, k)
		if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("rotate(%v, %d) = %v", xs, k, got)
		}
	}
}
