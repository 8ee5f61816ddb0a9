package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/natsnest/pulumi-natsnest/internal/program"
	"github.com/natsnest/pulumi-natsnest/internal/provision"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/cloud"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/machines"
)

// Nodes that go away (docs/architecture.md §4b): a node's leave step runs
// from the deploying machine whenever the node goes — scale in, a replaced
// instance, destroy — and on a node that answers it stops natsd with lame
// duck, syncs and unmounts /data before the engine detaches the disk and
// releases the instance; on a node that does not answer over SSH (its
// power cut) it warns, and when the node leaves the cluster peer-removes
// it through another node. One stack of the repository's cluster template
// on the emulated Alibaba Cloud, five nodes, one publisher on an R3 file
// stream throughout; each scenario first makes sure the stream has a
// replica on the node that goes, then checks the engine's steps per
// resource, the leave step's output, the machines, the cloud's record of
// disks detached while mounted, and reads back every message acknowledged
// so far.
//
// NATSNEST_AWAY_SCENARIOS (default "b,a,c,d") runs a subset, in that order,
// on the same stack; without (b) the stack keeps its five nodes.

const (
	awayStream  = "AWAY"
	awaySubject = "away.m"

	// What the leave step prints (the natsnest side of issue "nodes go away").
	awayNoAnswer  = "does not answer over SSH"
	awayUnmounted = "/data unmounted"
)

// awayRes are the resource names of one node of the root program's cluster.
type awayRes struct{ node string }

func (r awayRes) instance() string { return program.ClusterName + "-" + r.node }
func (r awayRes) disk() string     { return r.instance() + "-data" }
func (r awayRes) attach() string   { return r.instance() + "-data-attach" }
func (r awayRes) eip() string      { return r.instance() + "-eip" }
func (r awayRes) eipAssoc() string { return r.instance() + "-eip-assoc" }
func (r awayRes) step(s string) string {
	return fmt.Sprintf("%s-servers-%s-%s", program.ClusterName, r.node, s)
}
func (r awayRes) leave() string { return r.step(provision.StepLeave) }

// cloudOf says whether name is one of the node's cloud resources.
func (r awayRes) cloudOf(name string) bool {
	return name == r.instance() || strings.HasPrefix(name, r.instance()+"-")
}

// stepOf says whether name is one of the node's steps (commands, upload).
func (r awayRes) stepOf(name string) bool {
	return strings.HasPrefix(name, fmt.Sprintf("%s-servers-%s-", program.ClusterName, r.node))
}

// awayEvent is one engine event of interest, as received.
type awayEvent struct {
	seq   int
	at    time.Time
	kind  string // "pre" (a step began), "out" (it ended), "diag" (a line printed for the resource)
	name  string
	op    apitype.OpType
	text  string
	cloud int // how many events the emulated cloud had recorded when this one arrived
}

// awayLog records, alongside collectSteps, every step's beginning and end
// and every line printed, in the engine's order, each with the time it
// arrived and the length of the cloud's event record at that moment.
type awayLog struct {
	ch   chan events.EngineEvent
	done chan struct{}
	mu   sync.Mutex
	evs  []awayEvent
	urns map[string]string
}

func recordAway(c *cloud.Cloud) *awayLog {
	l := &awayLog{ch: make(chan events.EngineEvent), done: make(chan struct{}), urns: map[string]string{}}
	go func() {
		defer close(l.done)
		for ev := range l.ch {
			e := awayEvent{at: time.Now(), cloud: len(c.Events())}
			switch {
			case ev.ResourcePreEvent != nil:
				e.kind, e.op = "pre", ev.ResourcePreEvent.Metadata.Op
				e.name = resource.URN(ev.ResourcePreEvent.Metadata.URN).Name()
				l.mu.Lock()
				l.urns[e.name] = ev.ResourcePreEvent.Metadata.URN
				l.mu.Unlock()
			case ev.ResOutputsEvent != nil:
				e.kind, e.op = "out", ev.ResOutputsEvent.Metadata.Op
				e.name = resource.URN(ev.ResOutputsEvent.Metadata.URN).Name()
			case ev.DiagnosticEvent != nil && ev.DiagnosticEvent.URN != "":
				e.kind, e.text = "diag", strings.TrimRight(ev.DiagnosticEvent.Message, "\n")
				e.name = resource.URN(ev.DiagnosticEvent.URN).Name()
			default:
				continue
			}
			l.mu.Lock()
			e.seq = len(l.evs) + 1
			l.evs = append(l.evs, e)
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *awayLog) wait() {
	select {
	case <-l.done:
	case <-time.After(5 * time.Second):
	}
}

// find is the first event of kind for name whose op is one of ops (any op
// when none) and whose text contains text.
func (l *awayLog) find(kind, name, text string, ops ...apitype.OpType) *awayEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.evs {
		e := l.evs[i]
		if e.kind == kind && e.name == name && strings.Contains(e.text, text) && (len(ops) == 0 || slices.Contains(ops, e.op)) {
			return &e
		}
	}
	return nil
}

// lastOf is the last event of name.
func (l *awayLog) lastOf(name string) *awayEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.evs) - 1; i >= 0; i-- {
		if l.evs[i].name == name {
			e := l.evs[i]
			return &e
		}
	}
	return nil
}

// typeOf is the resource type of name, from its URN.
func (l *awayLog) typeOf(name string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if u, ok := l.urns[name]; ok {
		return string(resource.URN(u).Type())
	}
	return ""
}

var deleting = []apitype.OpType{apitype.OpDelete, apitype.OpDeleteReplaced}

// stateRes is one resource of the stack's state.
type stateRes struct{ urn, typ, id string }

// stackState is the stack's exported state by resource name.
func stackState(ctx context.Context, t *testing.T, st auto.Stack) map[string]stateRes {
	t.Helper()
	dep, err := st.Export(ctx)
	if err != nil {
		t.Fatalf("pulumi stack export: %v", err)
	}
	var d apitype.DeploymentV3
	if err := json.Unmarshal(dep.Deployment, &d); err != nil {
		t.Fatalf("the exported state: %v", err)
	}
	out := map[string]stateRes{}
	for _, r := range d.Resources {
		if r.Delete {
			continue
		}
		out[r.URN.Name()] = stateRes{urn: string(r.URN), typ: string(r.Type), id: string(r.ID)}
	}
	return out
}

func TestNodesGoAway(t *testing.T) {
	s := &steps{t: t}
	began := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	eng := newEngine(t, tmp) // skips without NATSNEST_E2E=1, fails without the CLI

	run := map[string]bool{}
	sel := os.Getenv("NATSNEST_AWAY_SCENARIOS")
	if sel == "" {
		sel = "b,a,c,d"
	}
	for _, x := range strings.Split(sel, ",") {
		run[strings.TrimSpace(x)] = true
	}

	s.Step("boot the emulated Alibaba Cloud (a VPC fleet of machines), build its provider shim; the repository's Pulumi.yaml and stacks/ with the cluster template, natsnest:nodeCount 5, the README's secrets")
	fleet, backend, c, st := cloudStack(ctx, t, eng, tmp, "cluster", nil)
	// A node whose machine is dead may keep a destroy after a failure from
	// finishing (the leave step's SSH attempts): it is bounded, and the
	// fleet's teardown removes the machines either way.
	destroyed := destroyUnlessDone(t, st, 4*time.Minute)
	readmeConfig(ctx, t, st, fleet, map[string]string{"natsnest:nodeCount": "5"})

	// up runs pulumi up with opts and fails the test when it fails, after
	// logging what the node's leave step printed (why it failed, mostly).
	up := func(what string, leaves []string, opts ...optup.Option) (auto.UpResult, *opLog, *awayLog, map[string][]apitype.OpType) {
		t.Helper()
		log, rec := collectSteps(), recordAway(c)
		opts = append(opts, optup.SuppressProgress(), optup.EventStreams(log.ch, rec.ch))
		// Bounded: a leave step that keeps dialling a dead node must fail
		// the scenario, not use up the test's time.
		uctx, ucancel := context.WithTimeout(ctx, 12*time.Minute)
		defer ucancel()
		res, err := st.Up(uctx, opts...)
		ops := log.result()
		rec.wait()
		for _, l := range leaves {
			t.Logf("%s: %s printed:\n%s", what, l, indent(log.log(l)))
		}
		if err != nil {
			t.Fatalf("%s: pulumi up: %v", what, firstLines(err.Error(), 40))
		}
		t.Logf("step: %s: the engine's change summary %v; %s", what, res.Summary.ResourceChanges, opsSummary(ops))
		return res, log, rec, ops
	}

	s.Step("pulumi up: 5 nodes nats-1..5")
	first, _, _, ops := up("first up", nil)
	for name, o := range ops {
		if !slices.Contains(o, apitype.OpCreate) {
			t.Errorf("first up: %s: %v, want create", name, o)
		}
	}
	nodes := map[string]stackNode{}
	var public string
	readNodes := func(out auto.OutputMap) {
		nodes = map[string]stackNode{}
		for _, n := range nodesOf(t, out) {
			nodes[n.name] = n
		}
		public = out["publicEndpoint"].Value.(string)
	}
	readNodes(first.Outputs)
	if len(nodes) != 5 {
		t.Fatalf("first up: %d nodes, want 5: %v", len(nodes), slices.Sorted(maps.Keys(nodes)))
	}
	machineOf := func(node string) *machines.Machine {
		t.Helper()
		n, ok := nodes[node]
		if !ok {
			t.Fatalf("no node %s in the stack's outputs", node)
		}
		m := backend.Machine(n.instanceID)
		if m == nil {
			t.Fatalf("node %s: instance %s has no machine", node, n.instanceID)
		}
		return m
	}
	// onDisk checks a node's machine: its hostname, natsd active, and
	// /data on the disk diskID (found by its serial).
	onDisk := func(what, node, diskID string) {
		t.Helper()
		out := mustRun(t, machineOf(node), "hostname; systemctl is-active natsd; findmnt -no SOURCE /data | xargs lsblk -dno SERIAL")
		if got := strings.Fields(out); len(got) != 3 || got[0] != node || got[1] != "active" || (diskID != "" && got[2] != diskID) {
			t.Errorf("%s: node %s (%s): hostname, natsd, /data's disk serial: %q, want %s active %s", what, node, nodes[node].instanceID, out, node, diskID)
		}
	}
	state := stackState(ctx, t, st)
	for _, n := range slices.Sorted(maps.Keys(nodes)) {
		onDisk("first up", n, state[awayRes{n}.disk()].id)
	}
	s.Verified("first up: %d resources created; nats-1..5 on machines named by their instances, natsd active, /data on each node's data disk", len(ops))

	// The publisher, on the public endpoint as the README's app user.
	nc, err := nats.Connect(public, nats.UserInfo("app", readmeSecrets["natsnest:appPassword"]), nats.Name("away-publisher"),
		nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond), nats.PingInterval(2*time.Second), nats.MaxPingsOutstanding(2),
		nats.LameDuckModeHandler(func(nc *nats.Conn) { nc.ForceReconnect() }))
	if err != nil {
		t.Fatalf("connecting to %s: %v", public, err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	var stream jetstream.Stream
	if err := eventually(2*time.Minute, func() error {
		attempt, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		stream, err = js.CreateStream(attempt, jetstream.StreamConfig{Name: awayStream, Subjects: []string{"away.>"}, Replicas: 3,
			Storage: jetstream.FileStorage, Duplicates: 30 * time.Minute})
		return err
	}); err != nil {
		t.Fatalf("creating the R3 file stream %s: %v", awayStream, err)
	}
	s.Step("start a publisher: acknowledged publishes to the R3 file stream %s, each retried with its message ID until acknowledged", awayStream)
	pub := startOpsPublisher(js, awaySubject)
	defer pub.stop()
	if err := eventually(2*time.Minute, func() error {
		if a, _, _ := pub.figures(); a < 300 {
			return fmt.Errorf("%d acknowledged", a)
		}
		return nil
	}); err != nil {
		t.Fatalf("publisher: %v", err)
	}

	// placement is the stream's leader and replicas, when it has three,
	// each current.
	placement := func() ([]string, error) {
		info, err := streamInfo(ctx, stream)
		if err != nil {
			return nil, err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
			return nil, fmt.Errorf("cluster %+v", info.Cluster)
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Offline {
				return nil, fmt.Errorf("replica %s not current (offline %v, lag %d)", r.Name, r.Offline, r.Lag)
			}
		}
		on := append(replicaNames(info), info.Cluster.Leader)
		slices.Sort(on)
		return on, nil
	}
	// settled waits for three current replicas, on exactly want when given.
	settled := func(what string, timeout time.Duration, want ...string) []string {
		t.Helper()
		var on []string
		err := eventually(timeout, func() error {
			var err error
			if on, err = placement(); err != nil {
				return err
			}
			if len(want) > 0 && !slices.Equal(on, want) {
				return fmt.Errorf("on %v, want %v", on, want)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: stream %s: %v", what, awayStream, err)
		}
		return on
	}
	// replicaOn makes sure the stream has a replica on target: while it
	// has none, another peer (a follower) is peer-removed, and the meta
	// leader places its replacement on a server that holds none.
	replicaOn := func(what, target string) []string {
		t.Helper()
		for attempt := 1; attempt <= 10; attempt++ {
			on := settled(what, 3*time.Minute)
			if slices.Contains(on, target) {
				s.Verified("%s: stream %s has a replica on %s (on %v)", what, awayStream, target, on)
				return on
			}
			info, err := streamInfo(ctx, stream)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			victim := replicaNames(info)[attempt%2]
			t.Logf("%s: stream %s on %v, none on %s: peer-removing %s from it (attempt %d)", what, awayStream, on, target, victim, attempt)
			if err := eventually(time.Minute, func() error {
				msg, err := nc.Request("$JS.API.STREAM.PEER.REMOVE."+awayStream, []byte(fmt.Sprintf(`{"peer":%q}`, victim)), 10*time.Second)
				if err != nil {
					return err
				}
				var answer struct {
					Success bool `json:"success"`
				}
				if err := json.Unmarshal(msg.Data, &answer); err != nil || !answer.Success {
					return fmt.Errorf("%s", msg.Data)
				}
				return nil
			}); err != nil {
				t.Fatalf("%s: peer-removing %s from %s: %v", what, victim, awayStream, err)
			}
			if err := eventually(3*time.Minute, func() error {
				on, err := placement()
				if err != nil {
					return err
				}
				if slices.Contains(on, victim) {
					return fmt.Errorf("still on %s: %v", victim, on)
				}
				return nil
			}); err != nil {
				t.Fatalf("%s: after peer-removing %s: %v", what, victim, err)
			}
		}
		t.Fatalf("%s: could not place a replica of %s on %s in 10 peer removals", what, awayStream, target)
		return nil
	}
	// progress ends a scenario: every message acknowledged so far is read
	// back from the stream.
	progress := func(what string) {
		t.Helper()
		acked, read := pub.readBack(ctx, t, what, stream)
		_, f, l := pub.figures()
		s.Verified("%s: %d acknowledged, %d read back (%d publish attempts failed and were retried, longest gap between acks %s)",
			what, acked, read, f, l.Round(time.Millisecond))
	}
	// caughtUp waits until node's replica of the stream is current and its
	// /jsz shows the stream's messages: as the publisher keeps writing, the
	// two are compared at the same sequence (no message is ever deleted,
	// so equal counts up to the stream's last sequence are equal counts).
	caughtUp := func(what, node string) {
		t.Helper()
		var m, l, sm, sl uint64
		err := eventually(3*time.Minute, func() error {
			on, err := placement()
			if err != nil {
				return err
			}
			if !slices.Contains(on, node) {
				return fmt.Errorf("no replica on %s: %v", node, on)
			}
			info, err := streamInfo(ctx, stream)
			if err != nil {
				return err
			}
			sm, sl = info.State.Msgs, info.State.LastSeq
			var ok bool
			m, l, ok, err = streamOnServer(nodes[node].privateIP, awayStream)
			if err != nil || !ok {
				return fmt.Errorf("%s's /jsz: holds %s %v (%v)", node, awayStream, ok, err)
			}
			if l < sl {
				return fmt.Errorf("%s at sequence %d, the stream at %d", node, l, sl)
			}
			if m-(l-sl) != sm {
				return fmt.Errorf("%s holds %d messages up to %d; the stream %d up to %d", node, m, l, sm, sl)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %s's replica of %s did not catch up: %v", what, node, awayStream, err)
		}
		s.Verified("%s: %s's replica of %s is current; its /jsz holds %d messages up to sequence %d, as the stream (%d up to %d)", what, node, awayStream, m, l, sm, sl)
	}
	// checkOps compares what the engine did to each resource: want names
	// an op per resource; a resource of a node in others may be updated
	// (its peers' addresses); everything else is left alone.
	checkOps := func(what string, rec *awayLog, ops map[string][]apitype.OpType, want map[string]apitype.OpType, others []string) {
		t.Helper()
		for _, name := range slices.Sorted(maps.Keys(ops)) {
			got := lastOp(ops[name])
			if w, ok := want[name]; ok {
				if got != w {
					t.Errorf("%s: the engine's step for %s was %v, want %s", what, name, ops[name], w)
				}
				continue
			}
			ok := got == apitype.OpSame || got == apitype.OpRead
			if rec.typeOf(name) == "pulumi:pulumi:Stack" {
				ok = ok || got == apitype.OpUpdate
			}
			for _, n := range others {
				if (awayRes{n}).stepOf(name) && got == apitype.OpUpdate {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s: the engine's step for %s was %v, want it left alone", what, name, ops[name])
			}
		}
		for _, name := range slices.Sorted(maps.Keys(want)) {
			if _, seen := ops[name]; !seen {
				t.Errorf("%s: the engine did nothing to %s, want %s", what, name, want[name])
			}
		}
	}
	noDetachedWhileMounted := func(what string) {
		t.Helper()
		if d := c.DetachedWhileMounted(); len(d) > 0 {
			t.Errorf("%s: the emulated cloud pulled disks from under a running store: %q", what, d)
		} else {
			s.Verified("%s: no disk detached while mounted", what)
		}
	}
	stepTook := func(rec *awayLog, name string) string {
		b := rec.find("pre", name, "", deleting...)
		if b == nil {
			return "unknown (no delete of it began)"
		}
		e := rec.find("out", name, "", b.op)
		if e == nil { // it failed: its last line
			e = rec.lastOf(name)
		}
		return fmt.Sprintf("%s (engine timestamps: %s to %s)", e.at.Sub(b.at).Round(100*time.Millisecond), b.at.Format("15:04:05.0"), e.at.Format("15:04:05.0"))
	}
	// replaced checks a node whose instance was replaced: a new instance
	// on a new machine named after the node, natsd active, /data on the
	// node's disk (the same ID, now attached to the new instance), and the
	// old machine gone.
	replaced := func(what, node, oldInst, diskID string) {
		t.Helper()
		n := nodes[node]
		if n.instanceID == oldInst {
			t.Errorf("%s: %s still on instance %s", what, node, oldInst)
		}
		if backend.Machine(oldInst) != nil {
			t.Errorf("%s: the old instance %s of %s still has a machine", what, oldInst, node)
		}
		if now := stackState(ctx, t, st)[awayRes{node}.disk()].id; now != diskID {
			t.Errorf("%s: %s's data disk is %s, was %s: want the same disk", what, node, now, diskID)
		}
		if on := backend.DiskOn(diskID); on != n.instanceID {
			t.Errorf("%s: disk %s is attached to %q, want the new instance %s", what, diskID, on, n.instanceID)
		}
		onDisk(what, node, diskID)
		s.Verified("%s: %s on a new instance %s (was %s), a new machine named %s, natsd active, /data on the same disk %s", what, node, n.instanceID, oldInst, node, diskID)
	}
	replaceOps := func(node string) map[string]apitype.OpType {
		r := awayRes{node}
		want := map[string]apitype.OpType{r.instance(): apitype.OpReplace, r.attach(): apitype.OpReplace, r.eipAssoc(): apitype.OpReplace,
			// The host key steps: the pin step is keyed on the instance;
			// the migration step's inputs name it, and its update does
			// nothing (it may trust a key only when created).
			r.instance() + "-hostkey-pin": apitype.OpReplace, r.instance() + "-hostkey-migrate": apitype.OpUpdate}
		for name := range state {
			if r.stepOf(name) {
				want[name] = apitype.OpReplace
			}
		}
		return want
	}

	// (b) A node lost for good, then scale in.
	if run["b"] {
		s.Step("(b) nats-5's machine loses its power for good; then natsnest:nodeCount 5 → 3 and pulumi up: nats-5's leave step warns that it does not answer over SSH and peer-removes it through another node, nats-4 leaves as usual")
		replicaOn("(b) before", "nats-5")
		state = stackState(ctx, t, st)
		gone := map[string]string{} // node → instance
		disks := map[string]string{}
		for _, n := range []string{"nats-4", "nats-5"} {
			gone[n] = nodes[n].instanceID
			disks[n] = state[awayRes{n}.disk()].id
		}
		machineOf("nats-5").Kill()
		if err := st.SetConfig(ctx, "natsnest:nodeCount", auto.ConfigValue{Value: "3"}); err != nil {
			t.Fatal(err)
		}
		res, log, rec, ops := up("(b) scale in 5 → 3 with nats-5 dead", []string{awayRes{"nats-5"}.leave(), awayRes{"nats-4"}.leave()})
		t.Logf("(b) nats-5's leave step took %s", stepTook(rec, awayRes{"nats-5"}.leave()))
		want := map[string]apitype.OpType{}
		for name := range state {
			for _, n := range []string{"nats-4", "nats-5"} {
				if (awayRes{n}).cloudOf(name) || (awayRes{n}).stepOf(name) {
					want[name] = apitype.OpDelete
				}
			}
		}
		checkOps("(b)", rec, ops, want, []string{"nats-1", "nats-2", "nats-3"})
		l5 := log.log(awayRes{"nats-5"}.leave())
		if !strings.Contains(l5, awayNoAnswer) {
			t.Errorf("(b) nats-5's leave step did not say that nats-5 %s:\n%s", awayNoAnswer, indent(l5))
		}
		if !strings.Contains(l5, "nats-5 removed from JetStream (through ") && !strings.Contains(l5, "nats-5 is no longer a JetStream peer") {
			t.Errorf("(b) nats-5's leave step did not peer-remove nats-5 through another node:\n%s", indent(l5))
		}
		readNodes(res.Outputs)
		if got := slices.Sorted(maps.Keys(nodes)); !slices.Equal(got, []string{"nats-1", "nats-2", "nats-3"}) {
			t.Fatalf("(b) nodes after scale in: %v", got)
		}
		for n, inst := range gone {
			if backend.Machine(inst) != nil {
				t.Errorf("(b) %s's instance %s still has a machine", n, inst)
			}
			if on := backend.DiskOn(disks[n]); on != "" {
				t.Errorf("(b) %s's data disk %s is still attached to %s", n, disks[n], on)
			}
			if !slices.Contains(c.Live(), cloud.DiskToken+" "+disks[n]) {
				t.Errorf("(b) %s's data disk %s is no longer in the cloud: it is retained", n, disks[n])
			}
		}
		three := []*machines.Machine{machineOf("nats-1"), machineOf("nats-2"), machineOf("nats-3")}
		for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
			onDisk("(b)", n, "")
		}
		if err := eventually(2*time.Minute, func() error { return metaSize(three, 3) }); err != nil {
			t.Errorf("(b) JetStream meta group: %v", err)
		} else {
			s.Verified("(b) /jsz on nats-1..3: a meta group of 3")
		}
		on := settled("(b) after scale in", 3*time.Minute, "nats-1", "nats-2", "nats-3")
		noDetachedWhileMounted("(b)")
		s.Verified("(b) nats-4 and nats-5's resources deleted, their instances released, their disks retained and detached; nats-5's leave warned and peer-removed it; %s on %v, all current", awayStream, on)
		progress("(b) after scale in with nats-5 dead")
	}

	// (a) A live node's instance replaced.
	if run["a"] {
		s.Step("(a) pulumi up --replace nats-2's instance while nats-2 runs: its leave step stops natsd, syncs and unmounts /data before the engine detaches the disk; the new instance gets the same disk")
		replicaOn("(a) before", "nats-2")
		state = stackState(ctx, t, st)
		r := awayRes{"nats-2"}
		oldInst, diskID := nodes["nats-2"].instanceID, state[r.disk()].id
		urn := state[r.instance()].urn
		if urn == "" {
			t.Fatalf("(a) no %s in the stack's state", r.instance())
		}
		want := replaceOps("nats-2")
		res, log, rec, ops := up("(a) replace nats-2's instance", []string{r.leave()}, optup.Replace([]string{urn}))
		checkOps("(a)", rec, ops, want, []string{"nats-1", "nats-3"})
		l2 := log.log(r.leave())
		line := rec.find("diag", r.leave(), awayUnmounted)
		leaveBegan := rec.find("pre", r.leave(), "", deleting...)
		detachBegan := rec.find("pre", r.attach(), "", deleting...)
		switch {
		case line == nil:
			t.Errorf("(a) nats-2's leave step did not print %q:\n%s", awayUnmounted, indent(l2))
		case detachBegan == nil:
			t.Errorf("(a) the engine did not delete nats-2's attachment")
		case line.seq > detachBegan.seq:
			t.Errorf("(a) nats-2's leave printed %q after the engine began deleting the attachment", awayUnmounted)
		default:
			s.Verified("(a) nats-2's leave printed %q before the engine began deleting %s", line.text, r.attach())
		}
		// The cloud's side: the detach of the old disk, after the leave
		// step began, with nothing mounted.
		evs := c.Events()
		detach := -1
		for i, e := range evs {
			if strings.HasPrefix(e, "detach "+diskID+" from "+oldInst) {
				detach = i
			}
		}
		switch {
		case detach < 0:
			t.Errorf("(a) the cloud never detached %s from %s: %q", diskID, oldInst, evs)
		case strings.Contains(evs[detach], "detached while mounted"):
			t.Errorf("(a) %s", evs[detach])
		case leaveBegan == nil || detach < leaveBegan.cloud:
			t.Errorf("(a) the cloud detached %s (%q) before nats-2's leave step began (%v)", diskID, evs[detach], leaveBegan)
		default:
			s.Verified("(a) the cloud's record: %q, after the leave step began", evs[detach])
		}
		readNodes(res.Outputs)
		replaced("(a)", "nats-2", oldInst, diskID)
		noDetachedWhileMounted("(a)")
		caughtUp("(a)", "nats-2")
		progress("(a) after replacing nats-2's instance")
	}

	// (c) A dead node's instance replaced.
	if run["c"] {
		s.Step("(c) nats-3's machine loses its power for good, then pulumi up --replace its instance: the leave step warns that nats-3 does not answer over SSH; a new nats-3 runs on the same disk")
		replicaOn("(c) before", "nats-3")
		state = stackState(ctx, t, st)
		r := awayRes{"nats-3"}
		oldInst, diskID := nodes["nats-3"].instanceID, state[r.disk()].id
		urn := state[r.instance()].urn
		if urn == "" {
			t.Fatalf("(c) no %s in the stack's state", r.instance())
		}
		machineOf("nats-3").Kill()
		want := replaceOps("nats-3")
		res, log, rec, ops := up("(c) replace dead nats-3's instance", []string{r.leave()}, optup.Replace([]string{urn}))
		t.Logf("(c) nats-3's leave step took %s", stepTook(rec, r.leave()))
		checkOps("(c)", rec, ops, want, []string{"nats-1", "nats-2"})
		if l3 := log.log(r.leave()); !strings.Contains(l3, awayNoAnswer) {
			t.Errorf("(c) nats-3's leave step did not say that nats-3 %s:\n%s", awayNoAnswer, indent(l3))
		} else {
			s.Verified("(c) nats-3's leave step warned that it %s", awayNoAnswer)
		}
		readNodes(res.Outputs)
		replaced("(c)", "nats-3", oldInst, diskID)
		noDetachedWhileMounted("(c)")
		settled("(c) after the replacement", 3*time.Minute, "nats-1", "nats-2", "nats-3")
		caughtUp("(c)", "nats-3")
		progress("(c) after replacing dead nats-3's instance")
	}

	// (d) Destroy with a node dead.
	if run["d"] {
		s.Step("(d) nats-1's machine loses its power, then pulumi destroy under the publisher: nats-1's leave step warns, the live nodes' leave steps unmount /data; the cloud keeps the data disks only")
		replicaOn("(d) before", "nats-1")
		state = stackState(ctx, t, st)
		current := map[string]string{} // node → its data disk
		var liveNodes []string
		for n := range nodes {
			current[n] = state[awayRes{n}.disk()].id
			if n != "nats-1" {
				liveNodes = append(liveNodes, n)
			}
		}
		slices.Sort(liveNodes)
		machineOf("nats-1").Kill()
		log, rec := collectSteps(), recordAway(c)
		destroyed()
		dctx, dcancel := context.WithTimeout(ctx, 12*time.Minute)
		res, err := st.Destroy(dctx, optdestroy.SuppressProgress(), optdestroy.EventStreams(log.ch, rec.ch))
		dcancel()
		ops := log.result()
		rec.wait()
		pub.stop()
		for _, n := range slices.Sorted(maps.Keys(nodes)) {
			t.Logf("(d) %s printed:\n%s", awayRes{n}.leave(), indent(log.log(awayRes{n}.leave())))
		}
		if err != nil {
			t.Fatalf("(d) pulumi destroy: %v", firstLines(err.Error(), 40))
		}
		t.Logf("step: (d) destroy: the engine's change summary %v; %s", res.Summary.ResourceChanges, opsSummary(ops))
		t.Logf("(d) nats-1's leave step took %s", stepTook(rec, awayRes{"nats-1"}.leave()))
		for name, o := range ops {
			if lastOp(o) != apitype.OpDelete {
				t.Errorf("(d) destroy: %s: %v, want delete", name, o)
			}
		}
		if l1 := log.log(awayRes{"nats-1"}.leave()); !strings.Contains(l1, awayNoAnswer) {
			t.Errorf("(d) nats-1's leave step did not say that nats-1 %s:\n%s", awayNoAnswer, indent(l1))
		}
		for _, n := range liveNodes {
			if l := log.log(awayRes{n}.leave()); !strings.Contains(l, awayUnmounted) {
				t.Errorf("(d) %s's leave step did not print %q:\n%s", n, awayUnmounted, indent(l))
			}
		}
		noDetachedWhileMounted("(d)")
		var retained []string
		for _, obj := range c.Live() {
			token, id, _ := strings.Cut(obj, " ")
			if token != cloud.DiskToken {
				t.Errorf("(d) destroy left %s %s in the cloud: only the retained data disks may stay", token, id)
				continue
			}
			retained = append(retained, id)
		}
		for n, id := range current {
			if !slices.Contains(retained, id) {
				t.Errorf("(d) %s's data disk %s was not retained", n, id)
			}
		}
		s.Verified("(d) destroy: every resource deleted; the cloud holds only the data disks %v (the last nodes' %v)", retained, current)

		// Every acknowledged message, on a majority of the last nodes'
		// disks: JetStream acknowledged each once two of its three
		// replicas had stored it.
		var last []string
		for _, n := range slices.Sorted(maps.Keys(current)) {
			last = append(last, current[n])
		}
		found := onRetainedDisks(t, backend, last, awayStream, awaySubject)
		pub.mu.Lock()
		acked := slices.Collect(maps.Values(pub.acked))
		pub.mu.Unlock()
		read := 0
		for _, id := range acked {
			if found[id] >= 2 {
				read++
			}
		}
		if read != len(acked) {
			t.Errorf("(d) %d acknowledged, %d read back from at least 2 of the last nodes' retained disks: %d lost", len(acked), read, len(acked)-read)
		}
		s.Verified("(d) destroy: %d acknowledged, %d read back from the stores (block files or Raft log) of at least 2 of the %d last nodes' retained disks", len(acked), read, len(current))
	}
	t.Logf("e2e: nodes going away verified in %s", time.Since(began).Round(time.Second))
}

func indent(s string) string {
	if s == "" {
		return "        (nothing)"
	}
	s = firstLines(s, 30)
	return "        " + strings.ReplaceAll(s, "\n", "\n        ")
}

// firstLines is the first n lines of s.
func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append(lines[:n], fmt.Sprintf("… (%d more lines)", len(lines)-n))
	}
	return strings.Join(lines, "\n")
}
