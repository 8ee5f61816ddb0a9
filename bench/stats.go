package main

import (
	"math"
	"slices"
	"time"
)

// median returns the median of xs (the mean of the two middle values for an
// even count), or NaN for none. xs is not modified.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// medianDuration is median over durations; 0 for none.
func medianDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(math.Round(median(xs)))
}

// percentile returns the p-th percentile (0 < p <= 100) of ds by the
// nearest-rank method: the smallest sample that at least p% of the samples
// are less than or equal to. 0 for no samples. ds is not modified.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = max(1, min(rank, len(s)))
	return s[rank-1]
}

// medianRatio is the median of a[i]/b[i] over the pairs where both were
// measured (b[i] != 0): each ratio compares two figures of the same round,
// so drift of the machine between rounds cancels out. NaN for no pairs.
func medianRatio(a, b []float64) float64 {
	return median(ratios(a, b))
}

// ratios are a[i]/b[i] over the pairs where both were measured and b[i]
// is not 0, in round order.
func ratios(a, b []float64) []float64 {
	var rs []float64
	for i := range min(len(a), len(b)) {
		if b[i] != 0 && !math.IsNaN(a[i]) && !math.IsNaN(b[i]) {
			rs = append(rs, a[i]/b[i])
		}
	}
	return rs
}

// overlap reports whether the ranges of a and b (NaN ignored) overlap:
// then a difference of their medians is within the spread between runs.
func overlap(a, b []float64) bool {
	amin, amax, aok := span1(a)
	bmin, bmax, bok := span1(b)
	return aok && bok && amin <= bmax && bmin <= amax
}

func span1(xs []float64) (lo, hi float64, ok bool) {
	for _, x := range xs {
		if math.IsNaN(x) {
			continue
		}
		if !ok {
			lo, hi, ok = x, x, true
		}
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi, ok
}

// longestGap returns the longest time between consecutive instants of ts,
// which must be sorted, and between start and the first one and the last
// one and end, so a window with no instant at all is one long gap.
func longestGap(start, end time.Time, ts []time.Time) time.Duration {
	var longest time.Duration
	prev := start
	for _, t := range ts {
		if t.Before(start) {
			continue
		}
		if t.After(end) {
			break
		}
		longest = max(longest, t.Sub(prev))
		prev = t
	}
	return max(longest, end.Sub(prev))
}
