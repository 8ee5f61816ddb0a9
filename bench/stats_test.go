package main

import (
	"math"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{5, 5, 1, 9, 7}, 5},
	} {
		in := append([]float64(nil), c.in...)
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Fatalf("median sorted its argument: %v", c.in)
			}
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
	if got := medianDuration([]time.Duration{3 * time.Second, time.Second, 2 * time.Second, 4 * time.Second}); got != 2500*time.Millisecond {
		t.Errorf("medianDuration = %s", got)
	}
	if medianDuration(nil) != 0 {
		t.Error("medianDuration of nothing is not 0")
	}
}

func TestPercentileNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{
		{50, 50 * time.Millisecond},
		{99, 99 * time.Millisecond},
		{100, 100 * time.Millisecond},
		{1, time.Millisecond},
		{0.1, time.Millisecond},
	} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("p%v = %s, want %s", c.p, got, c.want)
		}
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("percentile sorted its argument")
	}
	// Few samples: p99 of 10 is the largest; p50 of 10 is the 5th.
	ten := []time.Duration{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}
	if got := percentile(ten, 99); got != 10 {
		t.Errorf("p99 of 1..10 = %d", got)
	}
	if got := percentile(ten, 50); got != 5 {
		t.Errorf("p50 of 1..10 = %d", got)
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}

func TestMedianRatioPairsRounds(t *testing.T) {
	nan := math.NaN()
	// Round 2 of b is missing and round 3 of a; only rounds 1 and 4 pair.
	a := []float64{10, 30, nan, 40}
	b := []float64{5, nan, 7, 10}
	if got := medianRatio(a, b); got != 3 { // ratios 2 and 4
		t.Errorf("medianRatio = %v, want 3", got)
	}
	if !math.IsNaN(medianRatio([]float64{1}, []float64{0})) {
		t.Error("a ratio over zero was used")
	}
}

func TestLongestGap(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ts := []time.Time{at(-50), at(100), at(200), at(900), at(950)}
	if got := longestGap(at(0), at(1000), ts); got != 700*time.Millisecond {
		t.Errorf("gap = %s, want 700ms", got)
	}
	// The end counts: nothing after 950 until 2000.
	if got := longestGap(at(0), at(2000), ts); got != 1050*time.Millisecond {
		t.Errorf("gap = %s, want 1.05s", got)
	}
	if got := longestGap(at(0), at(500), nil); got != 500*time.Millisecond {
		t.Errorf("empty window gap = %s, want 500ms", got)
	}
}

func TestFailoverMetrics(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	action, end := at(0), at(3000)
	events := []pubEvent{
		{at(-900), at(-800), true},
		{at(-20), at(-10), true},
		{at(-5), at(990), false}, // in flight at the action, failed after it
		{at(1000), at(1010), false},
		{at(1030), at(1500), true}, // sent before? no: after the action, the first ack
		{at(1500), at(1510), true},
		{at(1510), at(3500), true}, // acknowledged after the end: not counted
	}
	first, failed, gap, acked := failoverMetrics(events, action, end)
	if first != 1500*time.Millisecond {
		t.Errorf("first ack after %s, want 1.5s", first)
	}
	if failed != 2 {
		t.Errorf("failed = %d, want 2", failed)
	}
	if gap != 1510*time.Millisecond { // from -10 to 1500
		t.Errorf("longest gap %s, want 1.51s", gap)
	}
	if acked != 4 { // -800, -10, 1500, 1510
		t.Errorf("acked = %d, want 4", acked)
	}
	if first, _, _, _ := failoverMetrics(events[:3], action, end); first >= 0 {
		t.Errorf("no ack after the action, but first = %s", first)
	}
}

func TestRatiosAndOverlap(t *testing.T) {
	nan := math.NaN()
	rs := ratios([]float64{2, 9, nan, 4}, []float64{1, 3, 1, 0})
	if len(rs) != 2 || rs[0] != 2 || rs[1] != 3 {
		t.Errorf("ratios = %v, want [2 3]", rs)
	}
	if got := fmtRatioRange([]float64{0.5, 2, 1}); got != "1.00× (0.50–2.00)" {
		t.Errorf("fmtRatioRange = %q", got)
	}
	if got := fmtRatioRange(nil); got != "—" {
		t.Errorf("fmtRatioRange(nil) = %q", got)
	}
	if !overlap([]float64{1, 5}, []float64{4, 9}) || overlap([]float64{1, 2}, []float64{3, nan, 4}) {
		t.Error("overlap is wrong")
	}
	if overlap(nil, []float64{1}) {
		t.Error("nothing overlaps with something")
	}
	if got := fmtRatioOverlap([]float64{1, 2}, []float64{3, 4}); got != "0.42×" {
		t.Errorf("fmtRatioOverlap = %q", got)
	}
}
