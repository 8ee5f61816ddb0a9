package localcluster_test

// Day-2 operations on real servers (docs/architecture.md §3a): a reloadable
// change, a change that needs a rolling restart, scale out 3 → 5 and in
// 5 → 3, and an upgrade from the previous patch release — each with a
// publisher running throughout whose every acknowledged message must be
// readable afterwards. Which change reloads and which restarts is decided
// by internal/provision, as on the nodes; scale in runs the nodes' own
// leave script.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsnest/pulumi-natsnest/internal/natsbin"
	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
	"github.com/natsnest/pulumi-natsnest/internal/provision"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/localcluster"
	"github.com/natsnest/pulumi-natsnest/internal/version"
)

// opsOptions start the clusters of these tests: a lame duck grace period
// of one second instead of ten (the time clients get before the server
// closes them), so that a restart takes seconds.
func opsOptions() localcluster.Options {
	return localcluster.Options{RenderConfig: func(s natsconf.Server) (natsconf.Files, error) {
		s.LameDuckGracePeriod = time.Second
		return natsconf.RenderServerConfig(s)
	}}
}

func opsContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// appConn connects as the application user to the members, following the
// cluster when a server goes into lame duck mode (as a client should: it
// moves at once instead of waiting to be closed).
func appConn(t *testing.T, c *localcluster.Cluster, cred localcluster.Credentials) *nats.Conn {
	t.Helper()
	var urls []string
	for _, n := range c.Members() {
		urls = append(urls, n.ClientURL)
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.UserInfo(cred.User, cred.Password),
		nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.LameDuckModeHandler(func(nc *nats.Conn) { nc.ForceReconnect() }))
	if err != nil {
		t.Fatalf("connecting as %s: %v", cred.User, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func createStream(ctx context.Context, t *testing.T, js jetstream.JetStream, name string) jetstream.Stream {
	t.Helper()
	var s jetstream.Stream
	var err error
	for range 50 {
		s, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name: name, Subjects: []string{strings.ToLower(name) + ".>"}, Replicas: 3,
			Storage: jetstream.FileStorage, Duplicates: 5 * time.Minute,
		})
		if err == nil {
			return s
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("creating stream %s: %v", name, err)
	return nil
}

// publisher publishes to one stream without pause, each message with a
// message ID and retried until acknowledged, and records what was acked.
type publisher struct {
	t      *testing.T
	name   string
	js     jetstream.JetStream
	stream string
	stop   chan struct{}
	done   chan struct{}

	mu       sync.Mutex
	acked    map[uint64]string // stream sequence → payload
	ids      int               // messages acknowledged (distinct IDs)
	failed   int               // attempts that got no ack
	longest  time.Duration     // longest time between two acks
	lastAck  time.Time
	firstErr error
}

func startPublisher(t *testing.T, nc *nats.Conn, stream string) *publisher {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	p := &publisher{t: t, name: stream, js: js, stream: stream, stop: make(chan struct{}), done: make(chan struct{}), acked: map[uint64]string{}}
	go p.run()
	t.Cleanup(p.halt)
	return p
}

func (p *publisher) stopped() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

func (p *publisher) run() {
	defer close(p.done)
	subject := strings.ToLower(p.stream) + ".m"
	giveUp := time.Now().Add(10 * time.Minute)
	for i := 0; !p.stopped(); i++ {
		id := fmt.Sprintf("%s-%07d", p.stream, i)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			ack, err := p.js.Publish(ctx, subject, []byte(id), jetstream.WithMsgID(id))
			cancel()
			now := time.Now()
			p.mu.Lock()
			if err == nil {
				if !p.lastAck.IsZero() && now.Sub(p.lastAck) > p.longest {
					p.longest = now.Sub(p.lastAck)
				}
				p.lastAck = now
				if prev, ok := p.acked[ack.Sequence]; ok && prev != id {
					p.firstErr = fmt.Errorf("sequence %d acknowledged for %s and for %s", ack.Sequence, prev, id)
				}
				p.acked[ack.Sequence] = id
				p.ids++
			} else {
				p.failed++
				if p.firstErr == nil && now.After(giveUp) {
					p.firstErr = fmt.Errorf("%s unacknowledged for 10 minutes: %w", id, err)
				}
			}
			p.mu.Unlock()
			if err == nil {
				break
			}
			// An unacknowledged message is retried with its ID even after
			// stop: the server deduplicates, and nothing is left in doubt.
			if now.After(giveUp) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(publishInterval)
	}
}

// publishInterval paces the publishers: some hundred messages a second
// each, a steady load rather than a flood the restarted replicas chase.
const publishInterval = 3 * time.Millisecond

func (p *publisher) halt() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// check stops the publisher and reads the stream from the first sequence:
// every acknowledged sequence must be there with its payload, and every
// message ID once. It logs the figures.
func (p *publisher) check(ctx context.Context, op string) {
	t := p.t
	t.Helper()
	p.halt()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.firstErr != nil {
		t.Fatalf("%s: publisher: %v", op, p.firstErr)
	}
	if p.ids == 0 {
		t.Fatalf("%s: nothing was acknowledged", op)
	}
	var last uint64
	for seq := range p.acked {
		last = max(last, seq)
	}
	got := map[uint64]string{}
	var err error
	for attempt := 0; attempt < 60 && uint64(len(got)) < last; attempt++ {
		if attempt > 0 {
			time.Sleep(250 * time.Millisecond)
		}
		got, err = readStream(ctx, p.js, p.stream, last)
	}
	if err != nil {
		t.Fatalf("%s: reading %s back: %v", op, p.stream, err)
	}
	missing, wrong := 0, 0
	for seq, id := range p.acked {
		switch g, ok := got[seq]; {
		case !ok:
			missing++
		case g != id:
			wrong++
		}
	}
	seen := map[string]bool{}
	dups := 0
	for _, id := range got {
		if seen[id] {
			dups++
		}
		seen[id] = true
	}
	t.Logf("%s: %s: %d messages acknowledged, %d publish attempts failed (and were retried), longest gap between acks %s; read back %d, missing %d, wrong %d, duplicates %d",
		op, p.stream, p.ids, p.failed, p.longest.Round(time.Millisecond), len(got), missing, wrong, dups)
	if missing > 0 || wrong > 0 || dups > 0 {
		t.Errorf("%s: %d acknowledged messages missing, %d with the wrong payload, %d stored twice", op, missing, wrong, dups)
	}
}

// readStream reads every message up to sequence last with an ordered consumer.
func readStream(ctx context.Context, js jetstream.JetStream, stream string, last uint64) (map[uint64]string, error) {
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	got := map[uint64]string{}
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return got, err
		}
		n := 0
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				return got, err
			}
			got[md.Sequence.Stream] = string(m.Data())
			n++
			if md.Sequence.Stream >= last {
				return got, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return got, err
		}
		if n == 0 {
			return got, nil
		}
	}
}

// roll applies changes node after node as the nodes' service steps do: a
// restart with lame duck mode (then the next node only after this one
// answers the full /healthz) where provision.NeedsRestart says a reload
// cannot apply the change, or the binary changed; a reload otherwise. It
// returns "reload" or "restart" per node, and checks that a reload kept the
// process and a restart replaced it.
func roll(ctx context.Context, t *testing.T, c *localcluster.Cluster, changes []localcluster.Change, binaryChanged bool) map[string]string {
	t.Helper()
	did := map[string]string{}
	for _, ch := range changes {
		if ch.Before.Name == "" {
			continue // a new node: started by the caller
		}
		restart := binaryChanged || provision.NeedsRestart(provision.RestartSettings(ch.Before), provision.RestartSettings(ch.After))
		pid := c.PID(ch.Index)
		if restart {
			began := time.Now()
			if err := c.LameDuck(ctx, ch.Index); err != nil {
				t.Fatal(err)
			}
			stopped := time.Since(began)
			if err := c.StartNode(ctx, ch.Index); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s restarted: lame duck took %s, back and healthy after %s", ch.After.Name, stopped.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
			did[ch.After.Name] = "restart"
			if c.PID(ch.Index) == pid {
				t.Errorf("%s: same process after a restart", ch.After.Name)
			}
		} else {
			if err := c.Reload(ctx, ch.Index); err != nil {
				t.Fatal(err)
			}
			did[ch.After.Name] = "reload"
			if c.PID(ch.Index) != pid {
				t.Errorf("%s: a reload changed the process", ch.After.Name)
			}
		}
	}
	return did
}

// monitor GETs a node's monitoring path and decodes the JSON answer.
func monitor(t *testing.T, n localcluster.Node, path string, v any) {
	t.Helper()
	resp, err := http.Get(n.MonitorURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%s %s: %v: %s", n.Name, path, err, body)
	}
}

type jsz struct {
	Config struct {
		MaxStore   int64 `json:"max_storage"`
		SyncAlways bool  `json:"sync_always"`
	} `json:"config"`
	Meta struct {
		Size  int `json:"cluster_size"`
		Peers []struct {
			Name string `json:"name"`
		} `json:"replicas"`
	} `json:"meta_cluster"`
}

func everyNode(t *testing.T, c *localcluster.Cluster, f func(n localcluster.Node)) {
	t.Helper()
	for _, n := range c.Members() {
		f(n)
	}
}

// A reloadable change — a new user, raised JetStream limits — is applied
// by SIGHUP: same process, change effective, no publish lost.
func TestDayOpsReload(t *testing.T) {
	t.Parallel()
	ctx := opsContext(t)
	c := localcluster.StartT(t, opsOptions())
	js, _ := jetstream.New(appConn(t, c, c.App()))
	createStream(ctx, t, js, "RELOAD")
	p := startPublisher(t, appConn(t, c, c.App()), "RELOAD")
	time.Sleep(300 * time.Millisecond)

	second := localcluster.Credentials{User: "app2", Password: "app2-password-0123"}
	changes, err := c.Reconfigure(func(s *natsconf.Server) {
		s.Accounts[0].Users = append(s.Accounts[0].Users, natsconf.User{Name: second.User, Password: second.Password})
	})
	if err != nil {
		t.Fatal(err)
	}
	if did := roll(ctx, t, c, changes, false); !maps(did, "reload") {
		t.Errorf("a new user: %v, want a reload everywhere", did)
	}
	// The new user can log in on every node and use the account's stream.
	everyNode(t, c, func(n localcluster.Node) {
		nc, err := nats.Connect(n.ClientURL, nats.UserInfo(second.User, second.Password))
		if err != nil {
			t.Fatalf("%s: the new user cannot log in after the reload: %v", n.Name, err)
		}
		nc.Close()
	})

	// Raised store limits reload too; /jsz shows the new limit at once.
	before, _ := c.Server(0)
	raised := before.JetStream.MaxFileStore * 2
	changes, err = c.Reconfigure(func(s *natsconf.Server) { s.JetStream.MaxFileStore = raised })
	if err != nil {
		t.Fatal(err)
	}
	if did := roll(ctx, t, c, changes, false); !maps(did, "reload") {
		t.Errorf("a raised max_file_store: %v, want a reload everywhere", did)
	}
	everyNode(t, c, func(n localcluster.Node) {
		var j jsz
		monitor(t, n, "/jsz", &j)
		if j.Config.MaxStore != raised {
			t.Errorf("%s: max_storage %d after the reload, want %d", n.Name, j.Config.MaxStore, raised)
		}
	})
	p.check(ctx, "reload")
}

func maps(did map[string]string, want string) bool {
	if len(did) == 0 {
		return false
	}
	for _, v := range did {
		if v != want {
			return false
		}
	}
	return true
}

// Changes a reload cannot apply — sync_interval, a lowered store limit —
// roll: one node at a time, lame duck (SIGUSR2), wait for the exit, start,
// wait for the full /healthz before the next.
func TestDayOpsRollingRestart(t *testing.T) {
	t.Parallel()
	ctx := opsContext(t)
	c := localcluster.StartT(t, opsOptions())
	js, _ := jetstream.New(appConn(t, c, c.App()))
	createStream(ctx, t, js, "ROLL")
	p := startPublisher(t, appConn(t, c, c.App()), "ROLL")
	time.Sleep(300 * time.Millisecond)

	before, _ := c.Server(0)
	lowered := before.JetStream.MaxFileStore / 2
	changes, err := c.Reconfigure(func(s *natsconf.Server) {
		s.JetStream.SyncInterval = natsconf.SyncAlways
		s.JetStream.MaxFileStore = lowered
	})
	if err != nil {
		t.Fatal(err)
	}
	// The decision is right: the pinned server rejects this reload (its
	// config_load_time stays), which is why the service step restarts.
	if err := c.Reload(ctx, 0); err == nil || !strings.Contains(err.Error(), "config reload not supported") {
		t.Errorf("the server applied a reload of sync_interval and a lowered limit, or said nothing: %v", err)
	}
	if did := roll(ctx, t, c, changes, false); !maps(did, "restart") {
		t.Errorf("sync_interval: %v, want a restart everywhere", did)
	}
	everyNode(t, c, func(n localcluster.Node) {
		var j jsz
		monitor(t, n, "/jsz", &j)
		if !j.Config.SyncAlways || j.Config.MaxStore != lowered {
			t.Errorf("%s: sync_always %v, max_storage %d after the restart; want true, %d", n.Name, j.Config.SyncAlways, j.Config.MaxStore, lowered)
		}
	})
	p.check(ctx, "rolling restart (sync_interval: always, lower max_file_store)")
}

// An upgrade: the cluster runs the previous patch release, then rolls to
// the pinned one, node after node, with lame duck.
func TestDayOpsUpgrade(t *testing.T) {
	t.Parallel()
	prev := natsbin.PreviousPatch()
	if prev == "" {
		t.Skipf("the pinned nats-server %s is a .0 release: no previous patch release to upgrade from", version.NATSServer)
	}
	ctx := opsContext(t)
	oldBin, err := natsbin.BuildRelease(ctx, prev)
	if err != nil {
		t.Fatalf("building nats-server v%s to upgrade from: %v", prev, err)
	}
	newBin, err := natsbin.BuildRelease(ctx, version.NATSServer)
	if err != nil {
		t.Fatal(err)
	}
	o := opsOptions()
	o.ServerBinary = oldBin
	c := localcluster.StartT(t, o)
	serverVersions := func() []string {
		var vs []string
		everyNode(t, c, func(n localcluster.Node) {
			var v struct {
				Version string `json:"version"`
			}
			monitor(t, n, "/varz", &v)
			vs = append(vs, n.Name+"="+v.Version)
		})
		return vs
	}
	t.Logf("before: %v", serverVersions())
	js, _ := jetstream.New(appConn(t, c, c.App()))
	createStream(ctx, t, js, "UPGRADE")
	p := startPublisher(t, appConn(t, c, c.App()), "UPGRADE")
	time.Sleep(300 * time.Millisecond)

	if err := c.SetServerBinary(newBin); err != nil {
		t.Fatal(err)
	}
	changes, err := c.Reconfigure(func(*natsconf.Server) {}) // the same configuration
	if err != nil {
		t.Fatal(err)
	}
	if did := roll(ctx, t, c, changes, true); !maps(did, "restart") {
		t.Errorf("upgrade: %v, want a restart everywhere", did)
	}
	after := serverVersions()
	t.Logf("after: %v", after)
	for _, v := range after {
		if !strings.HasSuffix(v, "="+version.NATSServer) {
			t.Errorf("after the upgrade %s, want %s", v, version.NATSServer)
		}
	}
	p.check(ctx, "upgrade "+prev+" → "+version.NATSServer)
}

// Scale out 3 → 5: the two new nodes start with routes to all, the three
// old ones reload with the new routes. Scale in 5 → 3: the remaining nodes
// reload without the leaving ones' routes, then each leaving node runs the
// leave script the nodes run (stop with lame duck, peer-remove through
// another server, wait until the rest is healthy), one after the other.
// Streams stay available, and those that had replicas on the leaving
// servers have them on the remaining ones afterwards.
func TestDayOpsScaleOutAndIn(t *testing.T) {
	t.Parallel()
	ctx := opsContext(t)
	c := localcluster.StartT(t, opsOptions())
	js, _ := jetstream.New(appConn(t, c, c.App()))
	createStream(ctx, t, js, "SCALE")
	p := startPublisher(t, appConn(t, c, c.App()), "SCALE")
	time.Sleep(300 * time.Millisecond)

	// Scale out.
	changes, err := c.AddNodes(2)
	if err != nil {
		t.Fatal(err)
	}
	if did := roll(ctx, t, c, changes, false); !maps(did, "reload") || len(did) != 3 {
		t.Errorf("scale out: the old nodes did %v, want a reload each", did)
	}
	for _, i := range []int{3, 4} {
		if err := c.StartNode(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	waitMeta(ctx, t, c, 5)

	// Streams created now may land on the new servers: they carry the
	// fewest assets. A second publisher writes to them through scale in.
	var moved []string
	var pubs []*publisher
	for k := range 3 {
		name := fmt.Sprintf("MOVED%d", k)
		createStream(ctx, t, js, name)
		moved = append(moved, name)
	}
	for _, name := range moved {
		pubs = append(pubs, startPublisher(t, appConn(t, c, c.App()), name))
	}
	onLeaving := 0
	for _, name := range moved {
		servers := streamServers(ctx, t, js, name)
		t.Logf("stream %s on %v", name, servers)
		if slices.Contains(servers, "n4") || slices.Contains(servers, "n5") {
			onLeaving++
		}
	}
	if onLeaving == 0 {
		t.Log("no stream was placed on n4 or n5; scale in moves nothing")
	}
	time.Sleep(300 * time.Millisecond)

	// The leave script leaves a member alone: every other server still
	// routes to it (this is what a replaced leave command sees).
	peersOf := func(i int) []string {
		var out []string
		for _, n := range c.Members() {
			if n.Index != i {
				out = append(out, strings.TrimPrefix(n.ClientURL, "nats://"))
			}
		}
		return out
	}
	peers5, peers4 := peersOf(4), peersOf(3)
	if out := runLeave(ctx, t, c, 4, peers5, false, "self"); !strings.Contains(out, "it stays in the cluster") {
		t.Fatalf("the leave script did not leave a member alone:\n%s", out)
	}
	if c.PID(4) == 0 {
		t.Fatal("the leave script stopped a member")
	}

	// Scale in: the remaining nodes reload first (pulumi deletes last).
	changes, err = c.RemoveNodes(3, 4)
	if err != nil {
		t.Fatal(err)
	}
	if did := roll(ctx, t, c, changes, false); !maps(did, "reload") || len(did) != 3 {
		t.Errorf("scale in: the remaining nodes did %v, want a reload each", did)
	}
	// Then the leave steps' deletes, last host first, one at a time. n5
	// is dead by then: its leave step, which cannot reach it, runs the
	// script in peer mode elsewhere, which removes it from JetStream and
	// stops nothing.
	if err := c.Kill(4); err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct {
		i     int
		peers []string
		mode  string
	}{{4, peers5, "peer"}, {3, peers4, "self"}} {
		began := time.Now()
		out := runLeave(ctx, t, c, l.i, l.peers, l.mode == "self", l.mode)
		if l.mode == "peer" && !strings.Contains(out, "n5 does not answer: removing it from JetStream through this node") {
			t.Errorf("n5's leave in peer mode:\n%s", out)
		}
		t.Logf("n%d left in %s:\n%s", l.i+1, time.Since(began).Round(time.Millisecond), out)
		if c.PID(l.i) != 0 {
			t.Fatalf("n%d still runs after its leave script", l.i+1)
		}
	}
	waitMeta(ctx, t, c, 3)
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range append([]string{"SCALE"}, moved...) {
		servers := streamServers(ctx, t, js, name)
		if len(servers) != 3 || slices.Contains(servers, "n4") || slices.Contains(servers, "n5") {
			t.Errorf("after scale in, stream %s is on %v, want 3 of n1, n2, n3", name, servers)
		}
	}
	p.check(ctx, "scale out 3 → 5 and in 5 → 3")
	for _, q := range pubs {
		q.check(ctx, "scale in 5 → 3")
	}
}

// waitMeta waits until every running member's /jsz reports a JetStream
// meta group of size want.
func waitMeta(ctx context.Context, t *testing.T, c *localcluster.Cluster, want int) {
	t.Helper()
	for {
		ok := true
		var sizes []int
		everyNode(t, c, func(n localcluster.Node) {
			if c.PID(n.Index) == 0 {
				return
			}
			var j jsz
			monitor(t, n, "/jsz", &j)
			sizes = append(sizes, j.Meta.Size)
			ok = ok && j.Meta.Size == want
		})
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the meta group never had %d peers on every node: %v", want, sizes)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// streamServers are the servers that hold the stream's replicas, current
// ones only, once the stream has a leader and all replicas are current.
func streamServers(ctx context.Context, t *testing.T, js jetstream.JetStream, name string) []string {
	t.Helper()
	var last string
	for {
		s, err := js.Stream(ctx, name)
		if err == nil {
			info, err := s.Info(ctx)
			if err == nil && info.Cluster != nil && info.Cluster.Leader != "" {
				servers := []string{info.Cluster.Leader}
				current := true
				for _, r := range info.Cluster.Replicas {
					servers = append(servers, r.Name)
					current = current && r.Current && !r.Offline
				}
				slices.Sort(servers)
				if current && len(servers) == 3 {
					return servers
				}
				last = fmt.Sprintf("%v, all current: %v", servers, current)
			} else {
				last = fmt.Sprint(err)
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("stream %s: no leader with 3 current replicas: %s", name, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// fakeSystemctl stands in for systemd on the leave script's node: stopping
// natsd asks the test, which puts the local node into lame duck mode.
const fakeSystemctl = `#!/bin/bash
cmd=""
for a in "$@"; do case $a in --*) ;; *) if [ -z "$cmd" ]; then cmd=$a; fi ;; esac; done
case $cmd in
is-active) [ ! -f "$FAKE_STATE/stopped" ] ;;
stop | disable)
	touch "$FAKE_STATE/stop-requested"
	while [ ! -f "$FAKE_STATE/stopped" ]; do sleep 0.1; done ;;
*) echo "fake systemctl: unexpected $*" >&2; exit 1 ;;
esac
`

// runLeave runs the leave script of node i as its leave step's Delete
// would, with the peers it was last rendered with, in mode ("self" on the
// node, "peer" elsewhere when the node does not answer). wantStop says
// whether the script is expected to stop the node; the fake systemctl does
// it with lame duck.
func runLeave(ctx context.Context, t *testing.T, c *localcluster.Cluster, i int, peers []string, wantStop bool, mode string) string {
	t.Helper()
	s, err := c.Server(i)
	if err != nil {
		t.Fatal(err)
	}
	script, err := provision.LeaveScript(provision.DefaultLayout(), provision.LeaveOptions{
		ServerName:     s.Name,
		ClientPort:     s.ClientPort,
		Route:          fmt.Sprintf("127.0.0.1:%d", s.Cluster.Port),
		Peers:          peers,
		RemoveTimeout:  time.Minute,
		HealthyTimeout: 2 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin, state := filepath.Join(dir, "bin"), filepath.Join(dir, "state")
	for _, d := range []string{bin, state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(fakeSystemctl), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "bash", "-c", script, provision.StepLeave, mode)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "FAKE_STATE="+state)
	cmd.Stdin = strings.NewReader(provision.LeavePayload(c.Admin().User, c.Admin().Password))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("leave script of %s: %v\n%s", s.Name, err, out.String())
			}
			if stopped != wantStop {
				t.Fatalf("leave script of %s: stopped the node: %v, want %v\n%s", s.Name, stopped, wantStop, out.String())
			}
			if strings.Contains(out.String(), c.Admin().Password) {
				t.Errorf("the leave script printed the admin's password")
			}
			return out.String()
		case <-time.After(50 * time.Millisecond):
			if _, err := os.Stat(filepath.Join(state, "stop-requested")); err == nil && !stopped {
				stopped = true
				if err := c.LameDuck(ctx, i); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(state, "stopped"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
