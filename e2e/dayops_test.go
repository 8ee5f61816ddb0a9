package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"golang.org/x/crypto/ssh"

	"github.com/natsnest/pulumi-natsnest/internal/natsbin"
	"github.com/natsnest/pulumi-natsnest/internal/provision"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/machines"
	"github.com/natsnest/pulumi-natsnest/internal/version"
	"github.com/natsnest/pulumi-natsnest/natsnest"
)

// Day-2 operations through the real engine (issue 16): natsnest.Servers
// deployed by the Pulumi CLI and pulumi-command v1.2.1 onto five Debian
// machines, then changed the way a user changes a stack — a new user
// (reload), durability (rolling restart), an upgrade from the previous patch
// release, scale out 3 → 5, a new SSH key, scale in 5 → 3 — with one
// publisher running throughout whose every acknowledged message must be
// readable at the end. Each `up` is checked per resource against the
// engine's own steps, and on the machines.

const (
	opsStack    = "dayops"
	opsSecret   = "e2e-dayops-stack-secret-0123456789"
	opsStream   = "OPS"
	opsSubject  = "ops.m"
	opsUser2    = "app2"
	opsUser2Pwd = "e2e-app2-password-42"
)

// opsConfig is what the test changes between ups; the inline program reads
// it each time it runs.
type opsConfig struct {
	hosts      int
	version    string
	binary     string // local path, uploaded
	secondUser bool
	durability string
	key        string // the SSH private key the program connects with (PEM)
}

func opsProgram(f *machines.Fleet, c *opsConfig) pulumi.RunFunc {
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
			SSH:    natsnest.SSH{User: "root", PrivateKey: pulumi.ToSecret(pulumi.String(c.key)).(pulumi.StringOutput)},
			Binary: natsnest.Binary{LocalPath: c.binary},
		})
		return err
	}
}

// newSSHKey is a fresh Ed25519 login key: its private key (OpenSSH PEM) and
// its authorized_keys line, tagged with comment.
func newSSHKey(t *testing.T, comment string) (private, authorized string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		t.Fatal(err)
	}
	spub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block)), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(spub))) + " " + comment
}

// loginWith logs in to m as root with the private key, pinning m's host key.
func loginWith(m *machines.Machine, private string) error {
	signer, err := ssh.ParsePrivateKey([]byte(private))
	if err != nil {
		return err
	}
	c, err := ssh.Dial("tcp", m.Addr+":22", &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(m.HostKey), Timeout: 10 * time.Second})
	if err != nil {
		return err
	}
	return c.Close()
}

// stepName is the resource name of a host's step.
func stepName(host, step string) string { return fmt.Sprintf("%s-%s-%s", opsStack, host, step) }

// hostSteps are the steps natsnest.Servers registers per host of a cluster
// with an uploaded binary.
var hostSteps = []string{provision.StepBase, provision.StepDisk, "upload", provision.StepBinary,
	provision.StepConfig, provision.StepStart, provision.StepService, provision.StepLeave}

// lastOp is what the engine did to a resource in one operation: a replace
// shows as create-replacement, replace, delete-replaced.
func lastOp(ops []apitype.OpType) apitype.OpType {
	if slices.Contains(ops, apitype.OpReplace) || slices.Contains(ops, apitype.OpCreateReplacement) {
		return apitype.OpReplace
	}
	if len(ops) == 0 {
		return ""
	}
	return ops[len(ops)-1]
}

// checkSteps compares what the engine did to every resource with want:
// the resources want names got that step, every other one was left alone
// ("same").
func checkSteps(t *testing.T, what string, ops map[string][]apitype.OpType, want map[string]apitype.OpType) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(ops)) {
		got := lastOp(ops[name])
		w, ok := want[name]
		if !ok {
			w = apitype.OpSame
		}
		if got != w && !(w == apitype.OpSame && got == apitype.OpRead) {
			t.Errorf("%s: the engine's step for %s was %v, want %s", what, name, ops[name], w)
		}
	}
	for name, w := range want {
		if _, seen := ops[name]; !seen {
			t.Errorf("%s: the engine did nothing to %s, want %s", what, name, w)
		}
	}
}

// stepsFor is want for checkSteps: the steps of every host in hosts.
func stepsFor(hosts []string, steps map[string]apitype.OpType) map[string]apitype.OpType {
	out := map[string]apitype.OpType{}
	for _, h := range hosts {
		for step, op := range steps {
			out[stepName(h, step)] = op
		}
	}
	return out
}

// serviceActions is what each host's service step printed it did to natsd
// ("reloaded", "restarted", "unchanged", …), and checks that the service
// steps ran one host after the other: each began after the previous one had
// ended, its full /healthz included.
func serviceActions(t *testing.T, log *opLog, hosts []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i, h := range hosts {
		name := stepName(h, provision.StepService)
		text := log.log(name)
		out[h] = "nothing printed"
		for _, a := range []string{"restarted (reload rejected)", "reloaded", "restarted", "started", "unchanged"} {
			if strings.Contains(text, "natsd "+a+",") {
				out[h] = a
				break
			}
		}
		if i > 0 && !log.after(name, stepName(hosts[i-1], provision.StepService)) {
			t.Errorf("the service step of %s began before %s's had ended: not rolling", h, hosts[i-1])
		}
	}
	return out
}

// opsPublisher publishes to one subject without pause, each message with an
// ID (also its payload: the subject, dots as dashes, and a number) retried
// until acknowledged, and records the acknowledged sequences.
type opsPublisher struct {
	js      jetstream.JetStream
	subject string
	quit    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	acked   map[uint64]string
	failed  int
	longest time.Duration
	last    time.Time
}

func startOpsPublisher(js jetstream.JetStream, subject string) *opsPublisher {
	p := &opsPublisher{js: js, subject: subject, quit: make(chan struct{}), done: make(chan struct{}), acked: map[uint64]string{}}
	go func() {
		defer close(p.done)
		for i := 1; ; i++ {
			select {
			case <-p.quit:
				return
			default:
			}
			id := fmt.Sprintf("%s-%07d", strings.ReplaceAll(p.subject, ".", "-"), i)
			for attempt := 0; ; attempt++ {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				ack, err := p.js.Publish(ctx, p.subject, []byte(id), jetstream.WithMsgID(id))
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
				select {
				case <-p.quit: // gave up on this message: it was never acknowledged
					return
				case <-time.After(100 * time.Millisecond):
				}
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

// readBack reads stream back (readIDs) and counts how many of the messages
// acknowledged so far it holds; a missing one fails the test.
func (p *opsPublisher) readBack(ctx context.Context, t *testing.T, what string, stream jetstream.Stream) (acked, read int) {
	t.Helper()
	p.mu.Lock()
	ids := slices.Collect(maps.Values(p.acked))
	p.mu.Unlock()
	var got map[string]int
	if err := eventually(3*time.Minute, func() error {
		var err error
		got, err = readIDs(ctx, stream, p.subject)
		return err
	}); err != nil {
		t.Fatalf("%s: reading the stream back: %v", what, err)
	}
	for _, id := range ids {
		if got[id] > 0 {
			read++
		}
	}
	if read != len(ids) {
		t.Errorf("%s: %d acknowledged, %d read back: %d lost", what, len(ids), read, len(ids)-read)
	}
	return len(ids), read
}

func (p *opsPublisher) stop() {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
	<-p.done
}

func TestDayOps(t *testing.T) {
	machines.Require(t)
	s := &steps{t: t}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()

	prev := natsbin.PreviousPatch()
	if prev == "" {
		t.Skipf("the pinned nats-server %s is a .0 release: no previous patch release to upgrade from", version.NATSServer)
	}
	tmp := t.TempDir()
	eng := newEngine(t, tmp)
	s.Step("build nats-server v%s (the previous patch release, to upgrade from) and v%s (pinned) for the machines", prev, version.NATSServer)
	oldBin, err := natsbin.BuildRelease(ctx, prev)
	if err != nil {
		t.Fatalf("building nats-server v%s: %v", prev, err)
	}
	newBin, err := natsbin.Build(ctx, "linux", "amd64")
	if err != nil {
		t.Fatal(err)
	}

	names := []string{"ops-1", "ops-2", "ops-3", "ops-4", "ops-5"}
	s.Step("boot 5 Debian %s machines, %s; authorise two SSH keys of the deployment's own on each (the first deploys, the second replaces it later)", machines.Suite, strings.Join(names, " "))
	fleet := machines.New(t, machines.Options{Names: names, NoDisk: true})
	logJournalsOnFailure(t, fleet, 40)
	key1, auth1 := newSSHKey(t, "natsnest-e2e-key-1")
	key2, auth2 := newSSHKey(t, "natsnest-e2e-key-2")
	for _, m := range fleet.Machines {
		mustRun(t, m, fmt.Sprintf("printf '%%s\\n' %s %s >>/root/.ssh/authorized_keys", provision.ShellQuote(auth1), provision.ShellQuote(auth2)))
	}

	cfg := &opsConfig{hosts: 3, version: prev, binary: oldBin, durability: natsnest.DurabilityDefault, key: key1}
	st := eng.stack(ctx, t, opsStack, opsProgram(fleet, cfg), nil)
	three, five := fleet.Machines[:3], fleet.Machines
	up := func(what string) (*opLog, map[string][]apitype.OpType) {
		t.Helper()
		log := collectSteps()
		start := time.Now()
		res, err := st.Up(ctx, optup.SuppressProgress(), optup.EventStreams(log.ch))
		ops := log.result()
		if err != nil {
			t.Fatalf("pulumi up (%s): %v", what, err)
		}
		t.Logf("step: pulumi up (%s) in %s: the engine's change summary %v", what, time.Since(start).Round(time.Second), res.Summary.ResourceChanges)
		return log, ops
	}
	pids := func(ms []*machines.Machine) map[string]serviceState {
		out := map[string]serviceState{}
		for _, m := range ms {
			out[m.Name] = natsdState(t, m)
		}
		return out
	}

	s.Step("pulumi up: natsnest.Servers onto ops-1..3 running nats-server v%s, uploaded from this machine", prev)
	log, ops := up("first deployment")
	for name, o := range ops {
		if lastOp(o) != apitype.OpCreate {
			t.Errorf("first up: %s: %v, want create", name, o)
		}
	}
	for _, h := range names[:3] {
		if l := log.log(stepName(h, provision.StepService)); l != "" {
			t.Errorf("%s: the service step printed %q when created, want nothing (the start step starts natsd)", h, l)
		}
		if st := natsdState(t, fleet.Machine(h)); st.Active != "active" {
			t.Errorf("%s: natsd %+v after the first up", h, st)
		}
	}
	s.Verified("first up: every resource created (%d), natsd active on ops-1..3; the service steps printed nothing", len(ops))

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
		// Each attempt is bounded: a request whose answer is lost while the
		// meta leader settles would otherwise wait for the test's context.
		attempt, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		stream, err = js.CreateStream(attempt, jetstream.StreamConfig{Name: opsStream, Subjects: []string{"ops.>"}, Replicas: 3,
			Storage: jetstream.FileStorage, Duplicates: 30 * time.Minute})
		return err
	}); err != nil {
		t.Fatalf("creating the R3 stream: %v", err)
	}
	// placed is where the stream's leader and replicas are; it fails the
	// test unless every server in must hold one and all are current.
	placed := func(what string, in ...string) []string {
		t.Helper()
		var servers []string
		err := eventually(2*time.Minute, func() error {
			info, err := streamInfo(ctx, stream)
			if err != nil {
				return err
			}
			if info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
				return fmt.Errorf("cluster %+v", info.Cluster)
			}
			for _, r := range info.Cluster.Replicas {
				if !r.Current {
					return fmt.Errorf("replica %s not current", r.Name)
				}
			}
			servers = append(replicaNames(info), info.Cluster.Leader)
			slices.Sort(servers)
			for _, n := range in {
				if !slices.Contains(servers, n) {
					return fmt.Errorf("on %v, not on %s", servers, n)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: stream %s: %v", what, opsStream, err)
		}
		return servers
	}
	s.Step("start a publisher: acknowledged publishes to the R3 stream %s, each retried with its message ID until acknowledged", opsStream)
	pub := startOpsPublisher(js, opsSubject)
	defer pub.stop()
	// progress ends a scenario: every message acknowledged so far is read
	// back from the stream.
	progress := func(op string) {
		t.Helper()
		acked, read := pub.readBack(ctx, t, op, stream)
		_, f, l := pub.figures()
		s.Verified("%s: %d messages acknowledged so far, %d of them read back; %d attempts failed and retried, longest gap %s", op, acked, read, f, l.Round(time.Millisecond))
	}
	time.Sleep(2 * time.Second)

	// (a) A reloadable change, then one that needs a restart.
	s.Step("(a) add a user: the engine updates each node's config and service steps; the service steps reload natsd one node after the other")
	on := placed("before the new user", names[:3]...)
	before := pids(three)
	cfg.secondUser = true
	log, ops = up("a new user")
	checkSteps(t, "a new user", ops, stepsFor(names[:3], map[string]apitype.OpType{provision.StepConfig: apitype.OpUpdate, provision.StepService: apitype.OpUpdate}))
	acts := serviceActions(t, log, names[:3])
	after := pids(three)
	for _, m := range three {
		if acts[m.Name] != "reloaded" || after[m.Name] != before[m.Name] {
			t.Errorf("%s: %q, natsd %+v → %+v; want reloaded, the same process", m.Name, acts[m.Name], before[m.Name], after[m.Name])
		}
		nc2, err := nats.Connect("nats://"+m.Addr+":4222", nats.UserInfo(opsUser2, opsUser2Pwd))
		if err != nil {
			t.Errorf("%s: the new user cannot log in: %v", m.Name, err)
		} else {
			nc2.Close()
		}
	}
	progress(fmt.Sprintf("(a) stream on %v; config and service steps updated on every node, nothing else; %v; same MainPIDs; the new user logs in everywhere", on, acts))

	s.Step("(a) durability always (sync_interval: always): a rolling restart with lame duck, each node after the previous one answers the full /healthz")
	placed("before the durability change", names[:3]...)
	before = pids(three)
	cfg.durability = natsnest.DurabilityAlways
	log, ops = up("durability")
	checkSteps(t, "durability", ops, stepsFor(names[:3], map[string]apitype.OpType{provision.StepConfig: apitype.OpUpdate, provision.StepService: apitype.OpUpdate}))
	acts = serviceActions(t, log, names[:3])
	after = pids(three)
	for _, m := range three {
		if acts[m.Name] != "restarted" || after[m.Name].MainPID == before[m.Name].MainPID {
			t.Errorf("%s: %q, MainPID %d → %d; want restarted, a new process", m.Name, acts[m.Name], before[m.Name].MainPID, after[m.Name].MainPID)
		}
	}
	progress(fmt.Sprintf("(a) durability rolled (%v), a new MainPID on each node", acts))

	// (b) Upgrade.
	s.Step("(b) upgrade nats-server v%s → v%s: a new upload (its checksum is a trigger), the binary step installs it, the service steps restart one node after the other", prev, version.NATSServer)
	placed("before the upgrade", names[:3]...)
	cfg.version, cfg.binary = version.NATSServer, newBin
	log, ops = up("upgrade")
	checkSteps(t, "upgrade", ops, stepsFor(names[:3], map[string]apitype.OpType{
		"upload": apitype.OpReplace, provision.StepBinary: apitype.OpUpdate, provision.StepService: apitype.OpUpdate}))
	acts = serviceActions(t, log, names[:3])
	for _, m := range three {
		var v struct {
			Version string `json:"version"`
		}
		if err := getJSON("http://"+m.Addr+":8222/varz", &v); err != nil || v.Version != version.NATSServer || acts[m.Name] != "restarted" {
			t.Errorf("%s: %q, version %q (%v), want restarted on %s", m.Name, acts[m.Name], v.Version, err, version.NATSServer)
		}
	}
	progress(fmt.Sprintf("(b) upgraded to v%s (%v)", version.NATSServer, acts))

	// (d) Scale out.
	s.Step("(d) scale out 3 → 5: ops-4 and ops-5 created and started; ops-1..3 reload with the new routes")
	cfg.hosts = 5
	log, ops = up("scale out")
	want := stepsFor(names[:3], map[string]apitype.OpType{provision.StepConfig: apitype.OpUpdate, provision.StepService: apitype.OpUpdate, provision.StepLeave: apitype.OpUpdate})
	for _, step := range hostSteps {
		for _, h := range names[3:] {
			want[stepName(h, step)] = apitype.OpCreate
		}
	}
	checkSteps(t, "scale out", ops, want)
	acts = serviceActions(t, log, names)
	for _, n := range names[:3] {
		if acts[n] != "reloaded" {
			t.Errorf("%s: %q after scale out, want reloaded", n, acts[n])
		}
	}
	if err := eventually(2*time.Minute, func() error { return metaSize(five, 5) }); err != nil {
		t.Fatal(err)
	}
	progress(fmt.Sprintf("(d) scaled out (%v); JetStream meta group of 5", acts))

	// The stream gets a replica on a node that will leave: ops-1 is
	// removed from its peers, and the meta leader places a new one on a
	// server that holds none — ops-4 or ops-5.
	s.Step("(d) move a replica of %s onto a node that will leave: peer-remove ops-1 from the stream, the meta leader places the replica on ops-4 or ops-5", opsStream)
	var answer struct {
		Success bool `json:"success"`
		Error   *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := eventually(time.Minute, func() error {
		msg, err := nc.Request("$JS.API.STREAM.PEER.REMOVE."+opsStream, []byte(`{"peer":"ops-1"}`), 10*time.Second)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(msg.Data, &answer); err != nil || !answer.Success {
			return fmt.Errorf("%s", msg.Data)
		}
		return nil
	}); err != nil {
		t.Fatalf("peer-removing ops-1 from %s: %v", opsStream, err)
	}
	var leaving []string
	if err := eventually(2*time.Minute, func() error {
		on = placed("after the peer removal")
		leaving = nil
		for _, n := range on {
			if n == "ops-1" {
				return fmt.Errorf("still on ops-1: %v", on)
			}
			if slices.Contains(names[3:], n) {
				leaving = append(leaving, n)
			}
		}
		if len(leaving) == 0 {
			return fmt.Errorf("on %v: no replica on ops-4 or ops-5", on)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	progress(fmt.Sprintf("(d) stream %s now on %v: a replica on %v, which will leave", opsStream, on, leaving))

	// (c) A new SSH key.
	s.Step("(c) a new SSH key: the engine updates every command of every node (a connection is no trigger), each step's create runs again over the new key, nothing restarts; then the old key is removed from the machines")
	before = pids(five)
	cfg.key = key2
	log, ops = up("a new SSH key")
	want = map[string]apitype.OpType{}
	for _, step := range hostSteps {
		for _, h := range names {
			want[stepName(h, step)] = apitype.OpUpdate
		}
	}
	checkSteps(t, "a new SSH key", ops, want)
	acts = serviceActions(t, log, names)
	after = pids(five)
	for _, m := range five {
		if acts[m.Name] != "unchanged" || after[m.Name] != before[m.Name] {
			t.Errorf("%s: the service step said %q, natsd %+v → %+v; want unchanged, the same process, no restart", m.Name, acts[m.Name], before[m.Name], after[m.Name])
		}
		mustRun(t, m, "sed -i '/ natsnest-e2e-key-1$/d' /root/.ssh/authorized_keys; ! grep -q natsnest-e2e-key-1 /root/.ssh/authorized_keys")
		if err := loginWith(m, key1); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Errorf("%s: logging in with the old key after its removal: %v, want refused", m.Name, err)
		}
	}
	progress(fmt.Sprintf("(c) every command updated over the new key, service steps %v, MainPID and NRestarts unchanged on all 5; the old key no longer logs in anywhere", acts))

	// (d) Scale in.
	s.Step("(d) scale in 5 → 3: ops-1..3 reload without ops-4 and ops-5; then the engine deletes ops-5's steps, then ops-4's, whose leave Delete (over the new key, from the state) stops natsd with lame duck, peer-removes the server and waits for the rest to be healthy")
	placed("before scale in", leaving...)
	cfg.hosts = 3
	log, ops = up("scale in")
	want = stepsFor(names[:3], map[string]apitype.OpType{provision.StepConfig: apitype.OpUpdate, provision.StepService: apitype.OpUpdate, provision.StepLeave: apitype.OpUpdate})
	for _, step := range hostSteps {
		for _, h := range names[3:] {
			want[stepName(h, step)] = apitype.OpDelete
		}
	}
	checkSteps(t, "scale in", ops, want)
	acts = serviceActions(t, log, names[:3])
	for _, n := range names[:3] {
		if acts[n] != "reloaded" {
			t.Errorf("%s: %q after scale in, want reloaded", n, acts[n])
		}
	}
	for _, h := range names[3:] {
		l := log.log(stepName(h, provision.StepLeave))
		t.Logf("%s's leave step printed:\n%s", h, l)
		if !strings.Contains(l, "natsd stopped and disabled") || !strings.Contains(l, "removed from JetStream") && !strings.Contains(l, "no longer a JetStream peer") {
			t.Errorf("%s: the leave step did not stop natsd and remove the peer:\n%s", h, l)
		}
	}
	if !log.after(stepName("ops-4", provision.StepLeave), stepName("ops-5", provision.StepLeave)) {
		t.Errorf("ops-4's leave step began before ops-5's had ended: not one node at a time")
	}
	for _, m := range fleet.Machines[3:] {
		st := natsdState(t, m)
		enabled, _ := m.Run("systemctl is-enabled natsd")
		if st.Active == "active" || strings.TrimSpace(enabled) == "enabled" {
			t.Errorf("%s: natsd %s, %s after leaving", m.Name, st.Active, strings.TrimSpace(enabled))
		}
	}
	if err := eventually(2*time.Minute, func() error { return metaSize(three, 3) }); err != nil {
		t.Fatal(err)
	}
	on = placed("after scale in", names[:3]...)
	progress(fmt.Sprintf("(d) scaled in: ops-5 then ops-4 left (natsd stopped and disabled, peer removed); meta group of 3; %s moved back onto %v, all current", opsStream, on))

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
	read := 0
	for _, n := range got {
		read += n
		if n > 1 {
			dups++
		}
	}
	a, f, l := len(pub.acked), pub.failed, pub.longest
	pub.mu.Unlock()
	t.Logf("day-2 operations through the engine: %d messages acknowledged, %d read back; %d publish attempts failed (retried), longest gap between acks %s; %d missing, %d stored twice",
		a, read, f, l.Round(time.Millisecond), missing, dups)
	if missing > 0 || dups > 0 {
		t.Errorf("%d acknowledged messages missing, %d stored twice", missing, dups)
	}
	s.Verified("%d messages acknowledged, %d read back: every acknowledged one is there, none twice; %d publish attempts failed and were retried; longest gap between acks %s",
		a, read, f, l.Round(time.Millisecond))
	t.Logf("e2e: day-2 operations through the engine verified in %s", time.Since(began).Round(time.Second))
}

// readIDs reads the stream from its first message to its last at the time
// of the call with an ordered consumer, and counts each payload on subject.
func readIDs(ctx context.Context, stream jetstream.Stream, subject string) (map[string]int, error) {
	info, err := streamInfo(ctx, stream)
	if err != nil {
		return nil, err
	}
	got := map[string]int{}
	last := info.State.LastSeq
	if last == 0 {
		return got, nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, err
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			md, err := msg.Metadata()
			if err != nil {
				return nil, err
			}
			if msg.Subject() == subject {
				got[string(msg.Data())]++
			}
			if md.Sequence.Stream >= last {
				return got, nil
			}
		}
		if err := batch.Error(); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("no message after %d of %d read", len(got), last)
		}
	}
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
