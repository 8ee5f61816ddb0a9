package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLongestChain(t *testing.T) {
	s := time.Second
	// vpc → vsw → inst → attach → cmd; disk → attach; sg → inst; sg → rule.
	nodes := []graphNode{
		{Key: "vpc", Delay: 5 * s},
		{Key: "vsw", Delay: 5 * s, Deps: []string{"vpc"}},
		{Key: "sg", Delay: 2 * s, Deps: []string{"vpc"}},
		{Key: "rule", Delay: 1 * s, Deps: []string{"sg"}},
		{Key: "inst", Delay: 60 * s, Deps: []string{"vsw", "sg", "stack-root"}},
		{Key: "disk", Delay: 10 * s},
		{Key: "attach", Delay: 5 * s, Deps: []string{"disk", "inst"}},
		{Key: "cmd", Delay: 20 * s, Deps: []string{"attach", "rule"}},
		{Key: "component"},
	}
	total, path, err := longestChain(nodes)
	if err != nil {
		t.Fatal(err)
	}
	if total != 95*s {
		t.Errorf("total %s, want 1m35s", total)
	}
	if want := []string{"vpc", "vsw", "inst", "attach", "cmd"}; !slices.Equal(path, want) {
		t.Errorf("path %v, want %v", path, want)
	}
}

func TestLongestChainParallelNodesDoNotAdd(t *testing.T) {
	// Eleven independent node chains take as long as one.
	var nodes []graphNode
	for i := range 11 {
		k := string(rune('a' + i))
		nodes = append(nodes, graphNode{Key: k + "-inst", Delay: time.Minute, Deps: []string{"net"}},
			graphNode{Key: k + "-svc", Delay: 10 * time.Second, Deps: []string{k + "-inst"}})
	}
	nodes = append(nodes, graphNode{Key: "net", Delay: 5 * time.Second})
	total, _, err := longestChain(nodes)
	if err != nil || total != 75*time.Second {
		t.Fatalf("total %s, %v; want 1m15s", total, err)
	}
	// Chaining each service to the previous one adds them all up.
	for i := 1; i < 11; i++ {
		k, prev := string(rune('a'+i)), string(rune('a'+i-1))
		for j := range nodes {
			if nodes[j].Key == k+"-svc" {
				nodes[j].Deps = append(nodes[j].Deps, prev+"-svc")
			}
		}
	}
	total, path, err := longestChain(nodes)
	if err != nil || total != 65*time.Second+11*10*time.Second {
		t.Fatalf("chained total %s, %v; want 2m55s", total, err)
	}
	if len(path) != 13 || path[len(path)-1] != "k-svc" {
		t.Errorf("chained path %v", path)
	}
}

func TestLongestChainRejectsCycles(t *testing.T) {
	_, _, err := longestChain([]graphNode{{Key: "a", Deps: []string{"b"}}, {Key: "b", Deps: []string{"a"}}})
	if err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("err = %v, want a cycle", err)
	}
	if total, path, err := longestChain(nil); err != nil || total != 0 || len(path) != 0 {
		t.Fatalf("empty graph: %s %v %v", total, path, err)
	}
}

func TestLatencyOf(t *testing.T) {
	for _, c := range []struct {
		typ, name string
		want      time.Duration
	}{
		{"alicloud:ecs/instance:Instance", "natsnest-nats-1", 60 * time.Second},
		{remoteCommandType, "natsnest-servers-nats-3-binary", 20 * time.Second},
		{remoteCommandType, "natsnest-servers-nats-3-start", 10 * time.Second},
		{remoteCommandType, "natsnest-servers-nats-3-service", 0},
		{remoteCommandType, "natsnest-servers-nats-3-unknown", 0},
		{"natsnest:index:Cluster", "natsnest", 0},
	} {
		if got := latencyOf(c.typ, c.name); got != c.want {
			t.Errorf("latencyOf(%s, %s) = %s, want %s", c.typ, c.name, got, c.want)
		}
	}
	if got := urnKey("urn:pulumi:bench::natsnest::natsnest:index:Cluster$alicloud:ecs/instance:Instance::natsnest-nats-1"); got != "alicloud:ecs/instance:Instance::natsnest-nats-1" {
		t.Errorf("urnKey = %q", got)
	}
}

func TestMeasuredPath(t *testing.T) {
	ms := time.Millisecond
	nodes := []graphNode{
		{Key: "inst"},
		{Key: "disk"},
		{Key: "cfg", Deps: []string{"inst", "disk", "elsewhere"}},
		{Key: "svc", Deps: []string{"cfg"}},
		{Key: "side", Deps: []string{"inst"}},
	}
	spans := map[string]span{
		"inst": {10 * ms, 600 * ms},
		"disk": {10 * ms, 100 * ms},
		"cfg":  {900 * ms, 1000 * ms}, // 300ms after inst finished
		"svc":  {1010 * ms, 1100 * ms},
		"side": {600 * ms, 700 * ms},
	}
	got := measuredPath(nodes, spans)
	want := []pathStep{
		{"inst", 10 * ms, 590 * ms},
		{"cfg", 300 * ms, 100 * ms},
		{"svc", 10 * ms, 90 * ms},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("path %+v, want %+v", got, want)
	}
	if p := measuredPath(nil, nil); len(p) != 0 {
		t.Fatalf("empty: %+v", p)
	}
}
