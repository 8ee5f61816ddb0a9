package e2e

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/internal/natsbin"
	"github.com/natsnest/pulumi-natsnest/internal/provision"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/machines"
	"github.com/natsnest/pulumi-natsnest/internal/version"
	"github.com/natsnest/pulumi-natsnest/natsnest"
)

// Day-2 operations on machines (issue 6): natsnest.Servers deployed onto
// nspawn machines through the executing mock, then changed the way a user
// changes a stack — a new user (reload), durability (rolling restart), an
// upgrade from the previous patch release, scale out 3 → 5 and scale in
// 5 → 3 — with a publisher running throughout whose every acknowledged
// message must be readable at the end.

const (
	opsStack    = "dayops"
	opsSecret   = "e2e-dayops-stack-secret-0123456789"
	opsStream   = "OPS"
	opsSubject  = "ops.m"
	opsUser2    = "app2"
	opsUser2Pwd = "e2e-app2-password-42"
)

// opsConfig is what the test changes between deployments.
type opsConfig struct {
	hosts      int
	version    string
	binary     string // local path, uploaded
	secondUser bool
	durability string
}

func opsProgram(f *machines.Fleet, c opsConfig) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		users := []natsnest.User{{Name: appUser, Password: pulumi.String(appPassword)}}
		if c.secondUser {
			users = append(users, natsnest.User{Name: opsUser2, Password: pulumi.String(opsUser2Pwd)})
		}
		var hosts []natsnest.Host
		for _, m := range f.Machines[:c.hosts] {
			hosts = append(hosts, natsnest.Host{
				Name:           m.Name,
				Connect:        pulumi.String(m.Addr),
				PrivateAddress: pulumi.String(m.Addr),
				NoDataDisk:     true,
				HostKey:        pulumi.String(m.HostKeyLine),
			})
		}
		_, err := natsnest.NewServers(ctx, opsStack, &natsnest.ServersArgs{
			ServerOptions: natsnest.ServerOptions{
				NATSVersion:   c.version,
				AdminPassword: pulumi.String(adminPassword),
				StackSecret:   pulumi.String(opsSecret),
				Accounts:      []natsnest.Account{{Users: users}},
				MaxFileStore:  1 << 30,
				Durability:    c.durability,
			},
			Hosts:  hosts,
			SSH:    natsnest.SSH{User: "root", PrivateKey: pulumi.ToSecret(pulumi.String(f.PrivateKeyPEM)).(pulumi.StringOutput)},
			Binary: natsnest.Binary{LocalPath: c.binary},
		})
		return err
	}
}

// serviceActions is what each host's service step said it did
// ("reloaded", "restarted", "started", "unchanged"), and checks that the
// service steps ran one host after the other.
func serviceActions(t *testing.T, d *Deployment, names []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var prev *Event
	for _, name := range names {
		ev := d.Find(fmt.Sprintf("%s-%s-%s", opsStack, name, provision.StepService))
		if ev == nil {
			t.Fatalf("no service step of %s", name)
		}
		if ev.Script == "" {
			// Unchanged, or created (a service step runs nothing then).
			out[name] = "not run"
			continue
		}
		for _, a := range []string{"restarted (reload rejected)", "reloaded", "restarted", "started", "unchanged"} {
			if strings.Contains(ev.Stdout, "natsd "+a+",") {
				out[name] = a
				break
			}
		}
		if prev != nil && prev.Script != "" && ev.Start < prev.End {
			t.Errorf("the service step of %s began before %s's had finished: not rolling", name, prev.Host)
		}
		prev = ev
	}
	return out
}

// firstBoot checks the steps that bring new hosts up: each host's start
// step started natsd, and its service step, which rolls changes one host
// after the other, was created and ran nothing. It says how long the start
// steps took, which run in parallel, and how long the chain of service
// steps took, which run one after the other.
func firstBoot(t *testing.T, d *Deployment, prefix string, names []string) string {
	t.Helper()
	var starts []string
	var chainStart, chainEnd time.Duration
	for _, name := range names {
		st := d.Find(fmt.Sprintf("%s-%s-%s", prefix, name, provision.StepStart))
		sv := d.Find(fmt.Sprintf("%s-%s-%s", prefix, name, provision.StepService))
		if st == nil || sv == nil {
			t.Fatalf("%s: no start or service step", name)
		}
		if !strings.Contains(st.Stdout, "natsd started,") {
			t.Errorf("%s: the start step did not start natsd:\n%s%s", name, st.Stdout, st.Stderr)
		}
		if sv.Op != "create" || sv.Script != "" {
			t.Errorf("%s: the service step was %s and ran %q, want created, running nothing", name, sv.Op, firstLines(sv.Script, 2))
		}
		if sv.Start < st.End {
			t.Errorf("%s: the service step began before the start step had finished", name)
		}
		starts = append(starts, (st.End - st.Start).Round(10*time.Millisecond).String())
		if chainStart == 0 || sv.Start < chainStart {
			chainStart = sv.Start
		}
		chainEnd = max(chainEnd, sv.End)
	}
	return fmt.Sprintf("start steps (in parallel) took %s; the chain of %d service steps, created running nothing, %s",
		strings.Join(starts, " "), len(names), (chainEnd - chainStart).Round(time.Millisecond))
}

// runRemovedDeletes does what `pulumi up` does last: it runs the Delete of
// every command the previous deployment had and this one dropped — the
// leave commands of the hosts that left — last host first, as their
// dependency chain orders them, and returns their output.
func (m *ExecMock) runRemovedDeletes(t *testing.T) []Event {
	t.Helper()
	type removed struct {
		name, script string
		in           resource.PropertyMap
	}
	var gone []removed
	m.mu.Lock()
	for key, in := range m.prev {
		typ, name, _ := strings.Cut(key, "::")
		if _, still := m.cur[key]; still || typ != typeRemoteCommand {
			continue
		}
		if del, _ := optString(in, "delete"); del != "" {
			gone = append(gone, removed{name, del, in})
		}
	}
	start := m.start
	m.mu.Unlock()
	sort.Slice(gone, func(i, j int) bool { return gone[i].name > gone[j].name })
	var out []Event
	for _, g := range gone {
		ev := Event{Type: typeRemoteCommand, Name: g.name, Op: "delete", Changed: true, Start: time.Since(start), Script: g.script}
		ev.Stdout, ev.Stderr, ev.Err = m.runCommand(pulumi.MockResourceArgs{TypeToken: typeRemoteCommand, Name: g.name}, g.in, g.script, &ev)
		ev.End = time.Since(start)
		m.logExec(&ev, ev.Err)
		out = append(out, ev)
		if ev.Err != nil {
			break // pulumi stops at a failed delete
		}
	}
	return out
}

// opsPublisher publishes without pause, each message with an ID and retried
// until acknowledged, and records the acknowledged sequences.
type opsPublisher struct {
	js      jetstream.JetStream
	quit    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	acked   map[uint64]string
	failed  int
	longest time.Duration
	last    time.Time
}

func startOpsPublisher(js jetstream.JetStream) *opsPublisher {
	p := &opsPublisher{js: js, quit: make(chan struct{}), done: make(chan struct{}), acked: map[uint64]string{}}
	go func() {
		defer close(p.done)
		for i := 1; ; i++ {
			select {
			case <-p.quit:
				return
			default:
			}
			id := fmt.Sprintf("ops-%07d", i)
			for attempt := 0; ; attempt++ {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				ack, err := p.js.Publish(ctx, opsSubject, []byte(id), jetstream.WithMsgID(id))
				cancel()
				now := time.Now()
				p.mu.Lock()
				if err == nil {
					if !p.last.IsZero() && now.Sub(p.last) > p.longest {
						p.longest = now.Sub(p.last)
					}
					p.last = now
					p.acked[ack.Sequence] = id
				} else {
					p.failed++
				}
				p.mu.Unlock()
				if err == nil {
					break
				}
				if attempt > 3000 { // ten minutes
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return p
}

func (p *opsPublisher) figures() (acked, failed int, longest time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked), p.failed, p.longest
}

func (p *opsPublisher) stop() {
	close(p.quit)
	<-p.done
}

func TestDayOps(t *testing.T) {
	machines.Require(t)
	s := &steps{t: t}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()

	prev := natsbin.PreviousPatch()
	if prev == "" {
		t.Skipf("the pinned nats-server %s is a .0 release: no previous patch release to upgrade from", version.NATSServer)
	}
	s.Step("build nats-server v%s (the previous patch release, to upgrade from) and v%s (pinned) for the machines", prev, version.NATSServer)
	oldBin, err := natsbin.BuildRelease(ctx, prev)
	if err != nil {
		t.Fatalf("building nats-server v%s: %v", prev, err)
	}
	newBin, err := natsbin.Build(ctx, "linux", "amd64")
	if err != nil {
		t.Fatal(err)
	}

	s.Step("boot 5 Debian %s machines, ops-1..ops-5", machines.Suite)
	names := []string{"ops-1", "ops-2", "ops-3", "ops-4", "ops-5"}
	fleet := machines.New(t, machines.Options{Names: names, NoDisk: true})
	logJournalsOnFailure(t, fleet, 40)
	mock := &ExecMock{Fleet: fleet, Logf: t.Logf}
	deploy := func(what string, c opsConfig) *Deployment {
		t.Helper()
		d, err := mock.Deploy(opsProgram(fleet, c))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return d
	}
	pids := func(ms []*machines.Machine) map[string]int {
		out := map[string]int{}
		for _, m := range ms {
			out[m.Name] = natsdState(t, m).MainPID
		}
		return out
	}
	cfg := opsConfig{hosts: 3, version: prev, binary: oldBin, durability: natsnest.DurabilityDefault}
	three, five := fleet.Machines[:3], fleet.Machines

	s.Step("deploy natsnest.Servers onto ops-1..3 running nats-server v%s", prev)
	d := deploy("first deployment", cfg)
	s.Verified("deployed in %s: %s", d.Took.Round(time.Second), firstBoot(t, d, opsStack, names[:3]))

	urls := func(ms []*machines.Machine) string {
		var u []string
		for _, m := range ms {
			u = append(u, "nats://"+m.Addr+":4222")
		}
		return strings.Join(u, ",")
	}
	nc, err := nats.Connect(urls(five), nats.UserInfo(appUser, appPassword), nats.MaxReconnects(-1),
		nats.ReconnectWait(200*time.Millisecond), nats.LameDuckModeHandler(func(nc *nats.Conn) { nc.ForceReconnect() }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	var stream jetstream.Stream
	if err := eventually(time.Minute, func() error {
		// Each attempt is bounded: the test's context lasts 40 minutes, and a
		// request whose answer is lost while the meta leader settles would
		// otherwise wait that long instead of being tried again.
		attempt, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		stream, err = js.CreateStream(attempt, jetstream.StreamConfig{Name: opsStream, Subjects: []string{"ops.>"}, Replicas: 3,
			Storage: jetstream.FileStorage, Duplicates: 30 * time.Minute})
		return err
	}); err != nil {
		t.Fatalf("creating the R3 stream: %v", err)
	}
	s.Step("start a publisher: acknowledged publishes to the R3 stream %s, each retried with its message ID until acknowledged", opsStream)
	pub := startOpsPublisher(js)
	defer func() {
		select {
		case <-pub.quit:
		default:
			pub.stop()
		}
	}()
	progress := func(op string) {
		a, f, l := pub.figures()
		s.Verified("%s: publisher so far: %d acknowledged, %d attempts failed and retried, longest gap %s", op, a, f, l.Round(time.Millisecond))
	}
	time.Sleep(2 * time.Second)

	// 1. A reloadable change.
	s.Step("add a user: a reload on every node, one after the other")
	before := pids(three)
	cfg.secondUser = true
	d = deploy("adding a user", cfg)
	acts := serviceActions(t, d, names[:3])
	after := pids(three)
	for _, m := range three {
		if acts[m.Name] != "reloaded" || after[m.Name] != before[m.Name] {
			t.Errorf("%s: %q, MainPID %d → %d; want reloaded, same process", m.Name, acts[m.Name], before[m.Name], after[m.Name])
		}
		nc2, err := nats.Connect("nats://"+m.Addr+":4222", nats.UserInfo(opsUser2, opsUser2Pwd))
		if err != nil {
			t.Errorf("%s: the new user cannot log in: %v", m.Name, err)
		} else {
			nc2.Close()
		}
	}
	progress(fmt.Sprintf("new user reloaded on every node (%v), same MainPIDs, the user logs in everywhere", acts))

	// 2. A change that needs a restart.
	s.Step("durability always (sync_interval: always): a rolling restart with lame duck, each node after the previous answers the full /healthz")
	before = pids(three)
	cfg.durability = natsnest.DurabilityAlways
	d = deploy("durability", cfg)
	acts = serviceActions(t, d, names[:3])
	after = pids(three)
	for _, m := range three {
		if acts[m.Name] != "restarted" || after[m.Name] == before[m.Name] {
			t.Errorf("%s: %q, MainPID %d → %d; want restarted, a new process", m.Name, acts[m.Name], before[m.Name], after[m.Name])
		}
	}
	progress(fmt.Sprintf("durability rolled in %s (%v)", d.Took.Round(time.Second), acts))

	// 3. Upgrade.
	s.Step("upgrade nats-server v%s → v%s: binary and service steps re-run, restarts roll", prev, version.NATSServer)
	cfg.version, cfg.binary = version.NATSServer, newBin
	d = deploy("upgrade", cfg)
	acts = serviceActions(t, d, names[:3])
	for _, m := range three {
		var v struct {
			Version string `json:"version"`
		}
		if err := getJSON("http://"+m.Addr+":8222/varz", &v); err != nil || v.Version != version.NATSServer || acts[m.Name] != "restarted" {
			t.Errorf("%s: %q, version %q (%v), want restarted on %s", m.Name, acts[m.Name], v.Version, err, version.NATSServer)
		}
	}
	progress(fmt.Sprintf("upgraded in %s (%v)", d.Took.Round(time.Second), acts))

	// 4. Scale out.
	s.Step("scale out 3 → 5: the old nodes reload with the new routes, the new ones start")
	cfg.hosts = 5
	d = deploy("scale out", cfg)
	acts = serviceActions(t, d, names)
	newNodes := firstBoot(t, d, opsStack, names[3:])
	if err := eventually(2*time.Minute, func() error { return metaSize(five, 5) }); err != nil {
		t.Fatal(err)
	}
	for _, n := range names[:3] {
		if acts[n] != "reloaded" {
			t.Errorf("%s: %q after scale out, want reloaded", n, acts[n])
		}
	}
	progress(fmt.Sprintf("scaled out in %s (%v; new nodes: %s); JetStream meta group of 5", d.Took.Round(time.Second), acts, newNodes))

	// A stream created now lands on the new, empty servers.
	moved, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OPSMOVED", Subjects: []string{"opsmoved.>"}, Replicas: 3, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if _, err := js.Publish(ctx, "opsmoved.m", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if info, err := streamInfo(ctx, moved); err == nil && info.Cluster != nil {
		s.Verified("stream OPSMOVED (200 messages) on leader %s and %d replicas %v", info.Cluster.Leader, len(info.Cluster.Replicas), replicaNames(info))
	}

	// A leave command's Delete also runs when pulumi replaces the command
	// (a new SSH key or address): on a member, it must do nothing.
	s.Step("run the leave command's Delete of ops-3, a member (as a replacement of the command would)")
	mock.mu.Lock()
	leaveIn := mock.cur[typeRemoteCommand+"::"+opsStack+"-ops-3-"+provision.StepLeave]
	mock.mu.Unlock()
	del, _ := optString(leaveIn, "delete")
	beforeLeave := natsdState(t, fleet.Machines[2])
	var ev Event
	out, _, err := mock.runCommand(pulumi.MockResourceArgs{TypeToken: typeRemoteCommand, Name: "leave-of-a-member"}, leaveIn, del, &ev)
	if err != nil || !strings.Contains(out, "it stays in the cluster") || natsdState(t, fleet.Machines[2]) != beforeLeave {
		t.Fatalf("the leave script touched a member: %v\n%s", err, out)
	}
	s.Verified("ops-3's leave script left it alone: %q; natsd untouched (MainPID %d)", strings.TrimSpace(out), beforeLeave.MainPID)

	// 5. Scale in.
	s.Step("scale in 5 → 3: the remaining nodes reload without ops-4 and ops-5; then, as pulumi does last, the leave commands' Delete runs on ops-5, then ops-4: lame duck, peer-remove, wait for the rest to be healthy")
	cfg.hosts = 3
	d = deploy("scale in", cfg)
	acts = serviceActions(t, d, names[:3])
	for _, n := range names[:3] {
		if acts[n] != "reloaded" {
			t.Errorf("%s: %q after scale in, want reloaded", n, acts[n])
		}
	}
	deletes := mock.runRemovedDeletes(t)
	var order []string
	for _, ev := range deletes {
		order = append(order, ev.Host)
		t.Logf("%s on %s:\n%s%s", ev.Name, ev.Host, ev.Stdout, ev.Stderr)
		if ev.Err != nil {
			t.Fatalf("%s: %v", ev.Name, ev.Err)
		}
	}
	if want := []string{"ops-5", "ops-4"}; !slices.Equal(order, want) {
		t.Errorf("leave commands ran on %v, want %v", order, want)
	}
	for _, m := range fleet.Machines[3:] {
		st := natsdState(t, m)
		enabled, _ := m.Run("systemctl is-enabled natsd")
		if st.Active == "active" || strings.TrimSpace(enabled) == "enabled" {
			t.Errorf("%s: natsd %s, %s after leaving", m.Name, st.Active, strings.TrimSpace(enabled))
		}
		if err := m.PowerOff(); err != nil { // the machine is destroyed
			t.Error(err)
		}
	}
	if err := eventually(2*time.Minute, func() error { return metaSize(three, 3) }); err != nil {
		t.Fatal(err)
	}
	for _, st := range []jetstream.Stream{stream, moved} {
		var info *jetstream.StreamInfo
		err := eventually(2*time.Minute, func() error {
			info, err = streamInfo(ctx, st)
			if err != nil {
				return err
			}
			servers := append(replicaNames(info), info.Cluster.Leader)
			for _, n := range servers {
				if !slices.Contains(names[:3], n) {
					return fmt.Errorf("on %v", servers)
				}
			}
			for _, r := range info.Cluster.Replicas {
				if !r.Current {
					return fmt.Errorf("replica %s not current", r.Name)
				}
			}
			if len(info.Cluster.Replicas) != 2 {
				return fmt.Errorf("%d replicas", len(info.Cluster.Replicas))
			}
			return nil
		})
		if err != nil {
			t.Errorf("after scale in, stream: %v", err)
		} else {
			s.Verified("stream %s on %s and %v, all current, %d messages", info.Config.Name, info.Cluster.Leader, replicaNames(info), info.State.Msgs)
		}
	}
	if info, err := streamInfo(ctx, moved); err != nil || info.State.Msgs != 200 {
		t.Errorf("OPSMOVED after scale in: %v, %v messages, want 200", err, info)
	}
	progress("scaled in: ops-4 and ops-5 left JetStream one after the other and were powered off")

	// Every acknowledged message is readable.
	s.Step("stop the publisher and read %s back", opsStream)
	pub.stop()
	got := readSubject(ctx, t, stream, opsSubject)
	pub.mu.Lock()
	missing, dups := 0, 0
	for _, id := range pub.acked {
		if got[id] == 0 {
			missing++
		}
	}
	for _, n := range got {
		if n > 1 {
			dups++
		}
	}
	a, f, l := len(pub.acked), pub.failed, pub.longest
	pub.mu.Unlock()
	t.Logf("day-2 operations on machines: %d messages acknowledged, %d publish attempts failed (retried), longest gap between acks %s; %d missing, %d stored twice", a, f, l.Round(time.Millisecond), missing, dups)
	if missing > 0 || dups > 0 {
		t.Errorf("%d acknowledged messages missing, %d stored twice", missing, dups)
	}
	s.Verified("every one of the %d acknowledged messages is readable, none twice; %d publish attempts failed and were retried; longest gap between acks %s",
		a, f, l.Round(time.Millisecond))
	t.Logf("e2e: day-2 operations verified in %s", time.Since(began).Round(time.Second))
}

// metaSize checks that every machine's /jsz reports a meta group of want.
func metaSize(ms []*machines.Machine, want int) error {
	for _, m := range ms {
		var j struct {
			Meta struct {
				Size int `json:"cluster_size"`
			} `json:"meta_cluster"`
		}
		if err := getJSON("http://"+m.Addr+":8222/jsz", &j); err != nil {
			return err
		}
		if j.Meta.Size != want {
			return fmt.Errorf("%s: meta group of %d, want %d", m.Name, j.Meta.Size, want)
		}
	}
	return nil
}

func replicaNames(info *jetstream.StreamInfo) []string {
	var out []string
	if info.Cluster != nil {
		for _, r := range info.Cluster.Replicas {
			out = append(out, r.Name)
		}
	}
	slices.Sort(out)
	return out
}
