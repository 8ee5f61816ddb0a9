package main

import (
	"fmt"
	"slices"
	"time"
)

// graphNode is one registered resource of the deployment graph: its own
// (simulated) creation time and the resources it waited for.
type graphNode struct {
	Key   string        `json:"key"` // type::name
	Type  string        `json:"type"`
	Delay time.Duration `json:"delay"`
	Deps  []string      `json:"deps,omitempty"`
}

// longestChain returns the longest dependency chain of the graph: the
// path whose resources' delays add up to the most, which bounds from below
// how long any engine that creates independent resources in parallel can
// take. Dependencies on keys that are not in the graph (the stack, a
// provider) count as done at once. It is an error if the graph has a cycle.
func longestChain(nodes []graphNode) (time.Duration, []string, error) {
	byKey := make(map[string]*graphNode, len(nodes))
	for i := range nodes {
		byKey[nodes[i].Key] = &nodes[i]
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	finish := map[string]time.Duration{} // the chain's length up to and including the node
	prev := map[string]string{}
	var visit func(k string) error
	visit = func(k string) error {
		switch state[k] {
		case visiting:
			return fmt.Errorf("dependency cycle through %s", k)
		case done:
			return nil
		}
		state[k] = visiting
		n := byKey[k]
		var best time.Duration
		bestDep := ""
		deps := slices.Clone(n.Deps)
		slices.Sort(deps) // ties resolve the same way every time
		for _, d := range deps {
			if _, ok := byKey[d]; !ok {
				continue
			}
			if err := visit(d); err != nil {
				return err
			}
			if f := finish[d]; f > best || bestDep == "" {
				best, bestDep = f, d
			}
		}
		finish[k] = best + n.Delay
		if bestDep != "" {
			prev[k] = bestDep
		}
		state[k] = done
		return nil
	}
	keys := make([]string, 0, len(nodes))
	for _, n := range nodes {
		keys = append(keys, n.Key)
	}
	slices.Sort(keys)
	var total time.Duration
	last := ""
	for _, k := range keys {
		if err := visit(k); err != nil {
			return 0, nil, err
		}
		if finish[k] > total || last == "" {
			total, last = finish[k], k
		}
	}
	var path []string
	for k := last; k != ""; k = prev[k] {
		path = append(path, k)
	}
	slices.Reverse(path)
	return total, path, nil
}

// span is when a resource's creation ran in a measured run, from the run's
// start.
type span struct{ Start, End time.Duration }

// pathStep is one resource of the measured critical path.
type pathStep struct {
	Key string `json:"key"`
	// Lag is from the end of the dependency it waited for longest (or the
	// run's start) to its own start: time the program or the engine spent
	// before registering it.
	Lag  time.Duration `json:"lag"`
	Took time.Duration `json:"took"`
}

// measuredPath walks back from the resource that finished last, each time
// to the dependency that finished last, and returns that path in order:
// where a run's wall time went.
func measuredPath(nodes []graphNode, spans map[string]span) []pathStep {
	last := ""
	for _, n := range nodes {
		s, ok := spans[n.Key]
		if ok && (last == "" || s.End > spans[last].End || (s.End == spans[last].End && n.Key < last)) {
			last = n.Key
		}
	}
	deps := map[string][]string{}
	for _, n := range nodes {
		deps[n.Key] = n.Deps
	}
	var path []pathStep
	seen := map[string]bool{}
	for k := last; k != "" && !seen[k]; {
		seen[k] = true
		s := spans[k]
		prev := ""
		var ready time.Duration
		for _, d := range deps[k] {
			if ds, ok := spans[d]; ok && (prev == "" || ds.End > ready || (ds.End == ready && d < prev)) {
				prev, ready = d, ds.End
			}
		}
		path = append(path, pathStep{Key: k, Lag: s.Start - ready, Took: s.End - s.Start})
		k = prev
	}
	slices.Reverse(path)
	return path
}
