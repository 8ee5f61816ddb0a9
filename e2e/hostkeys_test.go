package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"golang.org/x/crypto/ssh"

	"github.com/natsnest/pulumi-natsnest/internal/testkit/cloud"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/machines"
)

// Nothing trusted on first use (issue #19): every SSH connection natsnest
// makes is pinned to a host key natsnest generated for the node and keeps
// in the stack's state. One stack of the repository's cluster template
// (stacks/Pulumi.cluster.yaml: three nodes, publicAccess) on the emulated
// Alibaba Cloud, through five scenarios:
//
//  1. The parent program — the commit before pinning, extracted with git
//     archive and run by a small Automation API driver built in that tree —
//     deploys the stack: the nodes run with cloud-init's host keys, which
//     natsnest trusted on first use, and the state holds no host key.
//  2. One up of this program migrates it: each node's host key is
//     generated (<instance>-hostkey), its migration step
//     (<instance>-hostkey-migrate: the instance was born without natsnest's
//     key), and the pin step (<instance>-hostkey-pin) trusts the key the
//     node presents once, installs natsnest's, reloads sshd; no instance is
//     touched, no machine reboots, no natsd restarts; every remote command
//     is pinned to the key. A second up changes nothing.
//  3. An imposter — another machine at nats-1's address, with its own host
//     key, root's password the stack's, and sshd logging every
//     authentication attempt — is refused: the up fails on nats-1 with a
//     host key problem, and the imposter's sshd saw connections from the
//     deploying machine but not one authentication request. With nats-1
//     back, the up succeeds.
//  4. A ForceNew change (systemDiskCategory) replaces the three instances:
//     each new one gets natsnest's key (the same, kept in state) through its
//     user data, presents it at once, and the pin step connects pinned
//     without trusting anything once; the cluster answers.
//  5. Destroy: every resource deleted, every leave step (a local OpenSSH
//     command, pinned) unmounts /data on its node.

const (
	// legacyCommit is the last commit before host-key pinning (issue #19):
	// natsnest as it was, trusting whatever key a node presented on first
	// use. Scenario 1 deploys the stack with its program, so that scenario
	// 2 migrates a stack as users have it. The checkout must hold it (a
	// shallow clone does not): the test resolves it and fails saying so.
	legacyCommit = "3739e24"

	hkStack = "cluster"

	// hkUserDataLine begins the line of an instance's user data (a
	// #cloud-config) that names the host key natsnest gave it.
	hkUserDataLine = "# natsnest host key: "

	// hkImposter is the machine scenario 3 boots at nats-1's address.
	hkImposter = "imposter-nats-1"

	// hkDriverPath is the driver written into the extracted parent tree.
	hkDriverPath = "cmd/natsnest-e2e-legacy/main.go"
)

// What the pin step prints, matched case-insensitively and loosely: the
// wording is the library's. The test reports the phrase it matched.
var (
	// The node presented another key and the step trusted it once (the
	// migration of an instance born without natsnest's key).
	hkMigratedPhrases = []string{"trusted once", "trusting once", "trust once", "trusted it once", "migrated", "migrating", "migration"}
	// The node presented natsnest's key: nothing to trust.
	hkPinnedPhrases = []string{"presents natsnest's host key", "presents natsnest’s host key", "presents natsnest", "presented natsnest"}
	// A host key problem, as OpenSSH, golang.org/x/crypto/ssh (through
	// pulumi-command) or the pin step put it.
	hkRefusal = regexp.MustCompile(`(?i)host key (mismatch|verification failed|does not match|doesn't match|is not natsnest|refused|changed)|remote host identification has changed|(refus|not natsnest|does not present|doesn't present|unexpected|unknown|another|imposter|untrusted)[^\n]{0,80}host key|host key[^\n]{0,80}(refus|not natsnest|unexpected|unknown|another|imposter|untrusted|mismatch)`)
	// What sshd at LogLevel DEBUG1 logs once a client sends anything of an
	// authentication (a user name, a password, a key): none of it may
	// appear on the imposter.
	hkAuthLine = regexp.MustCompile(`userauth-request|Accepted |Failed (password|publickey|none|keyboard)|Postponed |session opened|Invalid user|input_userauth|authentication failure`)
)

// legacyDriver is hkDriverPath: the parent program (its internal/program,
// as main.go ran it) through the Automation API, on the stack the test
// made, with the engine's environment.
const legacyDriver = `// Command natsnest-e2e-legacy runs pulumi up of an existing stack with this
// tree's internal/program.Program, inline through the Automation API.
// Written by natsnest's e2e/hostkeys_test.go into a tree extracted with
// git archive; not part of natsnest.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"

	"github.com/natsnest/pulumi-natsnest/internal/program"
)

func main() {
	dir := flag.String("dir", "", "the project directory (Pulumi.yaml, stacks/)")
	stack := flag.String("stack", "", "the stack, which must exist")
	flag.Parse()
	ctx := context.Background()
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	ws, err := auto.NewLocalWorkspace(ctx, auto.WorkDir(*dir), auto.Program(program.Program), auto.EnvVars(env))
	if err != nil {
		fmt.Fprintf(os.Stderr, "natsnest-e2e-legacy: workspace: %v\n", err)
		os.Exit(1)
	}
	st, err := auto.SelectStack(ctx, *stack, ws)
	if err != nil {
		fmt.Fprintf(os.Stderr, "natsnest-e2e-legacy: stack %s: %v\n", *stack, err)
		os.Exit(1)
	}
	res, err := st.Up(ctx, optup.ProgressStreams(os.Stdout))
	if err != nil {
		fmt.Fprintf(os.Stderr, "natsnest-e2e-legacy: up: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("natsnest-e2e-legacy: up done: %v\n", res.Summary.ResourceChanges)
}
`

// hkBackend is the machines' backend with a record of every instance the
// cloud booted, its user data as the cloud passed it to cloud-init.
type hkBackend struct {
	*cloud.Machines
	mu     sync.Mutex
	booted map[string]cloud.Instance
}

func (b *hkBackend) Boot(inst cloud.Instance) error {
	b.mu.Lock()
	b.booted[inst.ID] = inst
	b.mu.Unlock()
	return b.Machines.Boot(inst)
}

// userData is the user data instance id was booted with, and whether the
// cloud booted it.
func (b *hkBackend) userData(id string) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	inst, ok := b.booted[id]
	return inst.UserData, ok
}

// hkNames are the resource names of one node's host key resources.
type hkNames struct{ node string }

func (n hkNames) instance() string { return awayRes{n.node}.instance() }
func (n hkNames) key() string      { return n.instance() + "-hostkey" }
func (n hkNames) migrate() string  { return n.instance() + "-hostkey-migrate" }
func (n hkNames) pin() string      { return n.instance() + "-hostkey-pin" }

// hkNode is what the state (secrets shown) says of one node's host key.
type hkNode struct {
	pub      ssh.PublicKey
	line     string // -hostkey's publicKey as written
	privOK   bool   // its privateKey is the pair of publicKey
	migOut   string // -hostkey-migrate's stdout and stderr as recorded
	pinOut   string // -hostkey-pin's stdout and stderr as recorded
	remote   map[string]string
	leaveKey bool // the leave step's inputs name the key
}

// hkState reads every node's host key, migration and pin output, and each
// remote command's connection.hostKey, from the state with secrets shown.
// A node without a -hostkey resource fails the test.
func hkState(ctx context.Context, t *testing.T, ck *hkCheck, st auto.Stack, what string, nodes []stackNode) map[string]hkNode {
	t.Helper()
	state := exportState(ctx, t, st)
	out := map[string]hkNode{}
	for _, n := range nodes {
		names := hkNames{n.name}
		r, ok := state[names.key()]
		if !ok {
			t.Fatalf("%s: the state has no %s (the host key natsnest generates for %s); resources: %d", what, names.key(), n.name, len(state))
		}
		var doc struct {
			PrivateKey string `json:"privateKey"`
			PublicKey  string `json:"publicKey"`
		}
		if err := json.Unmarshal([]byte(strings.TrimSpace(r.str("stdout"))), &doc); err != nil {
			t.Fatalf("%s: %s's stdout is not the host key's JSON: %v (%d bytes)", what, names.key(), err, len(r.str("stdout")))
		}
		pub, err := hkParseKey(doc.PublicKey)
		if err != nil {
			t.Fatalf("%s: %s's publicKey %q: %v", what, names.key(), doc.PublicKey, err)
		}
		if pub.Type() != ssh.KeyAlgoED25519 {
			ck.Errorf("%s: %s's key is %s, want ssh-ed25519", what, names.key(), pub.Type())
		}
		hn := hkNode{pub: pub, line: strings.TrimSpace(doc.PublicKey), remote: map[string]string{}}
		if signer, err := ssh.ParsePrivateKey([]byte(doc.PrivateKey)); err == nil {
			hn.privOK = hkKeyEqual(signer.PublicKey(), pub)
		}
		if o, ok := state[names.migrate()]; ok {
			hn.migOut = strings.TrimSpace(o.str("stdout") + "\n" + o.str("stderr"))
		} else {
			ck.Errorf("%s: the state has no %s", what, names.migrate())
		}
		if p, ok := state[names.pin()]; ok {
			hn.pinOut = strings.TrimSpace(p.str("stdout") + "\n" + p.str("stderr"))
		} else {
			ck.Errorf("%s: the state has no %s", what, names.pin())
		}
		blob := strings.Fields(hn.line)
		for name, res := range state {
			if !(awayRes{n.name}).stepOf(name) {
				continue
			}
			if strings.HasPrefix(res.Type, "command:remote:") {
				conn, _ := res.Inputs["connection"].(map[string]any)
				hk, _ := conn["hostKey"].(string)
				hn.remote[name] = hk
			}
			if name == (awayRes{n.name}).leave() && len(blob) >= 2 {
				in, _ := json.Marshal(res.Inputs)
				hn.leaveKey = bytes.Contains(in, []byte(blob[1]))
			}
		}
		out[n.name] = hn
	}
	// Every remote command belongs to a node.
	for name, res := range state {
		if !strings.HasPrefix(res.Type, "command:remote:") {
			continue
		}
		if !slices.ContainsFunc(nodes, func(n stackNode) bool { return (awayRes{n.name}).stepOf(name) }) {
			ck.Errorf("%s: remote command %s belongs to no node of %v", what, name, nodes)
		}
	}
	return out
}

func hkParseKey(s string) (ssh.PublicKey, error) {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(s)))
	return k, err
}

func hkKeyEqual(a, b ssh.PublicKey) bool {
	return a != nil && b != nil && bytes.Equal(a.Marshal(), b.Marshal())
}

func hkFP(k ssh.PublicKey) string {
	if k == nil {
		return "(none)"
	}
	return ssh.FingerprintSHA256(k)
}

// hkPresented is the ed25519 host key sshd at addr presents. The client
// hangs up in the key exchange, before any authentication: it sends no
// user name, password or key.
func hkPresented(addr string) (ssh.PublicKey, error) {
	var got ssh.PublicKey
	errSeen := errors.New("host key seen")
	c, err := ssh.Dial("tcp", net.JoinHostPort(addr, "22"), &ssh.ClientConfig{
		User:              "nobody",
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			got = k
			return errSeen
		},
		Timeout: 10 * time.Second,
	})
	if c != nil {
		c.Close()
	}
	if got != nil {
		return got, nil
	}
	return nil, err
}

// hkMatch is the first of phrases text contains, case-insensitively.
func hkMatch(text string, phrases []string) (string, bool) {
	l := strings.ToLower(text)
	for _, p := range phrases {
		if strings.Contains(l, strings.ToLower(p)) {
			return p, true
		}
	}
	return "", false
}

// hkKeyLine is the host key named by the natsnest line of user data, and
// its line number (1-based); 0 when there is none.
func hkKeyLine(userData string) (string, int) {
	for i, l := range strings.Split(userData, "\n") {
		if k, ok := strings.CutPrefix(strings.TrimSpace(l), hkUserDataLine); ok {
			return strings.TrimSpace(k), i + 1
		}
	}
	return "", 0
}

// hkLogsOf is what the engine printed for every resource whose name
// matches keep, one "name: line" per line.
func hkLogsOf(l *opLog, keep func(string) bool) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(l.logs)) {
		if !keep(name) {
			continue
		}
		for _, line := range l.logs[name] {
			for _, part := range strings.Split(line, "\n") {
				fmt.Fprintf(&b, "%s: %s\n", name, part)
			}
		}
	}
	return b.String()
}

// hkCheck counts the failures of one check, so that its "verified" line
// is logged only when the check found none.
type hkCheck struct {
	t *testing.T
	n int
}

func (c *hkCheck) Errorf(format string, args ...any) {
	c.t.Helper()
	c.n++
	c.t.Errorf(format, args...)
}

// Verified logs the check's "verified" line when it found no failure, and
// begins the next check.
func (c *hkCheck) Verified(format string, args ...any) {
	c.t.Helper()
	if c.n == 0 {
		c.t.Logf("verified: %s", fmt.Sprintf(format, args...))
	}
	c.n = 0
}

// begin forgets the failures so far: a check of its own begins.
func (c *hkCheck) begin() { c.n = 0 }

// hkUp is one pulumi up's outcome.
type hkUp struct {
	res auto.UpResult
	log *opLog
	rec *awayLog
	ops map[string][]apitype.OpType
	err error
}

func TestHostKeys(t *testing.T) {
	s := &steps{t: t}
	ck := &hkCheck{t: t}
	began := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	eng := newEngine(t, tmp) // skips without NATSNEST_E2E=1, fails without the CLI

	// The parent commit first: without it there is no legacy stack to
	// migrate, and nothing else is worth booting.
	full := hkResolveCommit(ctx, t)

	s.Step("boot the emulated Alibaba Cloud (a VPC fleet of machines booted with cloud-init), build its provider shim; the repository's Pulumi.yaml and stacks/, stack %s (nodeCount 3, publicAccess), the README's secrets, sshCidr the deploying machine", hkStack)
	var backend *hkBackend
	fleet, _, c, st := cloudStack(ctx, t, eng, tmp, hkStack, func(c *cloud.Cloud) {
		backend = &hkBackend{Machines: c.Backend.(*cloud.Machines), booted: map[string]cloud.Instance{}}
		c.Backend = backend
	})
	destroyed := destroyUnlessDone(t, st, 10*time.Minute)
	readmeConfig(ctx, t, st, fleet, nil)
	project := st.Workspace().WorkDir()

	up := func(what string, timeout time.Duration, opts ...optup.Option) hkUp {
		t.Helper()
		log, rec := collectSteps(), recordAway(c)
		uctx, ucancel := context.WithTimeout(ctx, timeout)
		defer ucancel()
		res, err := st.Up(uctx, append([]optup.Option{optup.SuppressProgress(), optup.EventStreams(log.ch, rec.ch)}, opts...)...)
		u := hkUp{res: res, log: log, rec: rec, ops: log.result(), err: err}
		rec.wait()
		if err == nil {
			t.Logf("step: %s: the engine's change summary %v; %s", what, res.Summary.ResourceChanges, opsSummary(u.ops))
		}
		return u
	}
	// mustUp fails the test when the up fails, after logging what the pin
	// steps printed.
	mustUp := func(what string, timeout time.Duration) hkUp {
		t.Helper()
		u := up(what, timeout)
		if u.err != nil {
			t.Logf("%s: the pin steps printed:\n%s", what, indent(hkLogsOf(u.log, func(n string) bool { return strings.HasSuffix(n, "-hostkey-pin") })))
			t.Fatalf("%s: pulumi up: %v", what, firstLines(u.err.Error(), 40))
		}
		return u
	}
	var nodes []stackNode
	machineOf := func(n stackNode) *machines.Machine {
		t.Helper()
		m := backend.Machine(n.instanceID)
		if m == nil {
			t.Fatalf("node %s: instance %s has no machine", n.name, n.instanceID)
		}
		return m
	}
	readNodes := func(out auto.OutputMap) {
		t.Helper()
		nodes = nodesOf(t, out)
		slices.SortFunc(nodes, func(a, b stackNode) int { return strings.Compare(a.name, b.name) })
		if got := len(nodes); got != 3 {
			t.Fatalf("the stack's outputs name %d nodes, want 3: %v", got, nodes)
		}
	}
	// pinFirst checks that on every node, each remote command the engine
	// ran (the steps that log in to the node) began after the node's pin
	// step had ended.
	pinFirst := func(what string, u hkUp) {
		t.Helper()
		ck.begin()
		types := map[string]string{}
		for name, r := range stackState(ctx, t, st) {
			types[name] = r.typ
		}
		// What runs a step: a create, an update, the create of a
		// replacement (the old one's delete comes later, in reverse).
		running := []apitype.OpType{apitype.OpCreate, apitype.OpUpdate, apitype.OpCreateReplacement}
		checked := 0
		for _, n := range nodes {
			pin := hkNames{n.name}.pin()
			pinEnd := u.rec.find("out", pin, "", running...)
			for name, o := range u.ops {
				if !(awayRes{n.name}).stepOf(name) || !strings.HasPrefix(types[name], "command:remote:") {
					continue
				}
				b := u.rec.find("pre", name, "", running...)
				if b == nil {
					continue
				}
				checked++
				switch {
				case pinEnd == nil:
					ck.Errorf("%s: %s ran (%v) on %s, and the node's pin step %s did not run before it (%v)", what, name, o, n.name, pin, u.ops[pin])
				case b.seq < pinEnd.seq:
					ck.Errorf("%s: %s (%v) began before %s had ended: the pin step must come first", what, name, o, pin)
				}
			}
		}
		ck.Verified("%s each of the %d remote commands the engine ran began after its node's pin step had ended", what, checked)
	}
	// pinnedEverywhere checks the remote commands' connection.hostKey and
	// the leave steps against each node's key.
	pinnedEverywhere := func(what string, keys map[string]hkNode) {
		t.Helper()
		ck.begin()
		total := 0
		for _, n := range nodes {
			k := keys[n.name]
			if len(k.remote) == 0 {
				ck.Errorf("%s: %s has no remote command in the state", what, n.name)
			}
			for name, hk := range k.remote {
				total++
				got, err := hkParseKey(hk)
				if err != nil || !hkKeyEqual(got, k.pub) {
					ck.Errorf("%s: %s's connection.hostKey is %q, want %s's key %s", what, name, hk, n.name, k.line)
				}
			}
			if !k.leaveKey {
				ck.Errorf("%s: %s's inputs do not name %s's host key %s: the leave step is not pinned", what, (awayRes{n.name}).leave(), n.name, hkFP(k.pub))
			}
		}
		ck.Verified("%s all %d remote commands of the %d nodes have connection.hostKey = their node's natsnest key, and each node's leave step names it", what, total, len(nodes))
	}

	// --- (1) the parent program deploys the stack ----------------------
	s.Step("(1) deploy with the parent program: git archive %s (%s) | tar -x into a tree of its own, a driver %s there (its internal/program.Program, inline, through the Automation API), go build -mod=mod, pulumi up of stack %s on the same project directory and engine environment",
		legacyCommit, full[:12], hkDriverPath, hkStack)
	driver := hkBuildLegacy(ctx, t, full, filepath.Join(tmp, "legacy"))
	hkRunLegacy(ctx, t, eng, driver, project, filepath.Join(tmp, "legacy-up.log"))
	outs, err := st.Outputs(ctx)
	if err != nil {
		t.Fatalf("(1) the stack's outputs: %v", err)
	}
	readNodes(outs)
	legacyKeys := map[string]ssh.PublicKey{}
	state := stackState(ctx, t, st)
	for name := range state {
		if strings.Contains(name, "-hostkey") {
			ck.Errorf("(1) the parent program's state holds %s: it predates host keys", name)
		}
	}
	var fps []string
	for _, n := range nodes {
		m := machineOf(n)
		if ns := natsdState(t, m); ns.Active != "active" {
			ck.Errorf("(1) %s: natsd %q, want active", n.name, ns.Active)
		}
		ud, ok := backend.userData(n.instanceID)
		if !ok {
			ck.Errorf("(1) %s: the cloud has no record of booting %s", n.name, n.instanceID)
		}
		if strings.Contains(ud, "natsnest host key") {
			ck.Errorf("(1) %s: instance %s's user data names a natsnest host key: %q", n.name, n.instanceID, ud)
		}
		cur, err := m.CurrentHostKey()
		if err != nil {
			t.Fatalf("(1) %s: its host key: %v", n.name, err)
		}
		if hkKeyEqual(cur, m.HostKey) {
			ck.Errorf("(1) %s: its host key is the one written before its first boot, not cloud-init's", n.name)
		}
		if p, err := hkPresented(n.publicIP); err != nil || !hkKeyEqual(p, cur) {
			ck.Errorf("(1) %s: sshd at %s presents %s (%v), its disk holds %s", n.name, n.publicIP, hkFP(p), err, hkFP(cur))
		}
		legacyKeys[n.name] = cur
		fps = append(fps, fmt.Sprintf("%s (%s, %d bytes of user data) %s", n.name, n.instanceID, len(ud), hkFP(cur)))
	}
	ck.Verified("(1) the parent program deployed %d nodes, natsd active on each; its state holds %d resources, none of them a host key (-hostkey*); the cloud booted each instance with user data without a natsnest host key line; each presents cloud-init's host key (made at its first boot, not the one on its disk before): %s",
		len(nodes), len(state), strings.Join(fps, "; "))

	// --- (2) one up of this program migrates it ------------------------
	s.Step("(2) pulumi up with this program (inline): per node a host key in state (-hostkey), the migration step (-hostkey-migrate), which trusts the legacy key once and installs natsnest's, and the pin step (-hostkey-pin); no instance touched, no reboot, natsd untouched")
	boots := map[string]string{}
	natsd := map[string]serviceState{}
	for _, n := range nodes {
		m := machineOf(n)
		id, err := m.BootID()
		if err != nil {
			t.Fatalf("(2) %s: boot ID: %v", n.name, err)
		}
		boots[n.name], natsd[n.name] = id, natsdState(t, m)
	}
	u := mustUp("(2) migration up", 20*time.Minute)
	types := map[string]string{}
	for name, r := range stackState(ctx, t, st) {
		types[name] = r.typ
	}
	cloudSame := 0
	for _, name := range slices.Sorted(maps.Keys(u.ops)) {
		if !strings.HasPrefix(types[name], "alicloud:") {
			continue
		}
		if op := lastOp(u.ops[name]); op != apitype.OpSame && op != apitype.OpRead {
			ck.Errorf("(2) the engine's step for %s (%s) was %v, want same: the migration touches no cloud resource", name, types[name], u.ops[name])
			continue
		}
		cloudSame++
	}
	for _, n := range nodes {
		inst := hkNames{n.name}.instance()
		if op := lastOp(u.ops[inst]); op != apitype.OpSame {
			ck.Errorf("(2) instance %s: %v, want same (neither updated nor replaced)", inst, u.ops[inst])
		}
		for _, name := range []string{hkNames{n.name}.key(), hkNames{n.name}.migrate(), hkNames{n.name}.pin()} {
			if !slices.Contains(u.ops[name], apitype.OpCreate) {
				ck.Errorf("(2) %s: %v, want create", name, u.ops[name])
			}
		}
	}
	ck.Verified("(2) the up succeeded; the engine left all %d cloud resources as they were (the 3 instances same); it created -hostkey, -hostkey-migrate and -hostkey-pin for each of the 3 nodes", cloudSame)
	pinFirst("(2)", u)
	ck.begin()
	keys := hkState(ctx, t, ck, st, "(2)", nodes)
	distinct := map[string]bool{}
	var lines []string
	for _, n := range nodes {
		k := keys[n.name]
		m := machineOf(n)
		migText := u.log.log(hkNames{n.name}.migrate()) + "\n" + k.migOut
		phrase, ok := hkMatch(migText, hkMigratedPhrases)
		if !ok {
			ck.Errorf("(2) %s's migration step did not say it trusted the presented key once (migrated); it printed:\n%s", n.name, indent(migText))
		}
		if tp, trusted := hkMatch(u.log.log(hkNames{n.name}.pin()), hkMigratedPhrases); trusted {
			ck.Errorf("(2) %s's pin step trusted a key (%q): only the migration step may, once", n.name, tp)
		}
		if !k.privOK {
			ck.Errorf("(2) %s's privateKey is not the pair of its publicKey %s", hkNames{n.name}.key(), hkFP(k.pub))
		}
		cur, err := m.CurrentHostKey()
		if err != nil || !hkKeyEqual(cur, k.pub) {
			ck.Errorf("(2) %s: /etc/ssh/ssh_host_ed25519_key.pub is %s (%v), want natsnest's %s", n.name, hkFP(cur), err, hkFP(k.pub))
		}
		if p, err := hkPresented(n.publicIP); err != nil || !hkKeyEqual(p, k.pub) {
			ck.Errorf("(2) %s: sshd at %s presents %s (%v), want natsnest's %s", n.name, n.publicIP, hkFP(p), err, hkFP(k.pub))
		}
		if hkKeyEqual(k.pub, legacyKeys[n.name]) {
			ck.Errorf("(2) %s: natsnest's key is cloud-init's %s", n.name, hkFP(k.pub))
		}
		distinct[k.line] = true
		lines = append(lines, fmt.Sprintf("%s %s → %s (migration step: %q)", n.name, hkFP(legacyKeys[n.name]), hkFP(k.pub), phrase))
	}
	if len(distinct) != len(nodes) {
		ck.Errorf("(2) %d distinct host keys for %d nodes: each node has its own", len(distinct), len(nodes))
	}
	ck.Verified("(2) each node migrated to its own natsnest key (%d distinct ed25519 keys, each the pair of its private key in state), on its disk and presented by its sshd: %s", len(distinct), strings.Join(lines, "; "))
	sameBoot := 0
	for _, n := range nodes {
		m := machineOf(n)
		if id, err := m.BootID(); err != nil || id != boots[n.name] {
			ck.Errorf("(2) %s: boot ID %s → %s (%v): the machine rebooted", n.name, boots[n.name], id, err)
		} else {
			sameBoot++
		}
		if after := natsdState(t, m); after.MainPID != natsd[n.name].MainPID || after.NRestarts != natsd[n.name].NRestarts || after.Active != "active" {
			ck.Errorf("(2) %s: natsd %+v → %+v, want the same process", n.name, natsd[n.name], after)
		}
	}
	ck.Verified("(2) no reboot and no natsd restart: boot IDs unchanged on %d of %d machines, natsd MainPID and NRestarts unchanged on each (%s)", sameBoot, len(nodes), natsdFigures(natsd))
	pinnedEverywhere("(2)", keys)

	u = mustUp("(2) up again", 10*time.Minute)
	ck.begin()
	for name, o := range u.ops {
		if op := lastOp(o); op != apitype.OpSame && op != apitype.OpRead {
			ck.Errorf("(2) second up: %s: %v, want same", name, o)
		}
	}
	if _, err := st.Preview(ctx, optpreview.SuppressProgress(), optpreview.ExpectNoChanges()); err != nil {
		ck.Errorf("(2) preview after the second up: %v", firstLines(err.Error(), 20))
	}
	ck.Verified("(2) a second up: all %d resources same; a preview with --expect-no-changes passes", len(u.ops))

	// --- (3) an imposter at nats-1's address is refused ----------------
	n1 := nodes[0]
	m1 := machineOf(n1)
	s.Step("(3) nats-1's machine powers off; an imposter %s boots at its address %s (its own cloud-init host key, root's password the stack's instancePassword, sshd at LogLevel DEBUG1); natsnest:maxMemoryStore 1GiB → 2GiB (every node's config step) and pulumi up",
		hkImposter, n1.privateIP)
	if err := m1.PowerOff(); err != nil {
		t.Fatalf("(3) powering nats-1 off: %v", err)
	}
	imp, err := fleet.AddMachine(machines.InstanceSpec{Name: hkImposter, HostName: n1.name, Addr: netip.MustParseAddr(n1.privateIP),
		RootPassword: readmeSecrets["natsnest:instancePassword"]})
	if err != nil {
		t.Fatalf("(3) booting the imposter: %v", err)
	}
	impKey, err := imp.CurrentHostKey()
	if err != nil {
		t.Fatalf("(3) the imposter's host key: %v", err)
	}
	if p, err := hkPresented(n1.publicIP); err != nil || !hkKeyEqual(p, impKey) || hkKeyEqual(p, keys[n1.name].pub) {
		t.Fatalf("(3) at nats-1's address %s sshd presents %s (%v): want the imposter's %s, not natsnest's %s", n1.publicIP, hkFP(p), err, hkFP(impKey), hkFP(keys[n1.name].pub))
	}
	level, err := imp.Exec(`printf '%s\n' '# natsnest e2e: log every authentication attempt' 'LogLevel DEBUG1' >/etc/ssh/sshd_config.d/00-natsnest-e2e-debug.conf && systemctl reload ssh && sshd -T | grep -i '^loglevel '`)
	// sshd -T names DEBUG1 by its alias, DEBUG.
	if l := strings.ToUpper(strings.TrimSpace(level)); err != nil || (l != "LOGLEVEL DEBUG1" && l != "LOGLEVEL DEBUG") {
		t.Fatalf("(3) the imposter's sshd at LogLevel DEBUG1: %q, %v", level, err)
	}
	// journalCursor is the cursor of the last line of the imposter's
	// sshd journal: what comes after it is what sshd logged since.
	journalCursor := func() string {
		t.Helper()
		out, err := imp.Exec("journalctl -u ssh -n 1 --show-cursor --no-pager -o cat")
		cursor := ""
		for _, l := range strings.Split(out, "\n") {
			if c, ok := strings.CutPrefix(l, "-- cursor: "); ok {
				cursor = strings.TrimSpace(c)
			}
		}
		if err != nil || cursor == "" {
			t.Fatalf("(3) the imposter's journal cursor: %q, %v", out, err)
		}
		return cursor
	}
	journalAfter := func(cursor string) string {
		t.Helper()
		out, err := imp.Exec("journalctl -u ssh --no-pager -o short-iso --after-cursor=" + shellWord(cursor))
		if err != nil {
			t.Fatalf("(3) the imposter's journal: %v", err)
		}
		return strings.TrimSpace(out)
	}
	fromHost := "Connection from " + fleet.HostAddr + " "
	// imposterLines are the journal's connections from the deploying
	// machine and its authentication lines.
	imposterLines := func(journal string) (conns, auth []string) {
		for _, l := range strings.Split(strings.TrimSpace(journal), "\n") {
			if strings.Contains(l, fromHost) {
				conns = append(conns, l)
			}
			if hkAuthLine.MatchString(l) {
				auth = append(auth, l)
			}
		}
		return conns, auth
	}
	// The control: a login of the test's own after the reload, which sshd
	// must log as it would log natsnest's — its connection from the
	// deploying machine, the user name requested, the key accepted.
	controlCursor := journalCursor()
	var control string
	if err := eventually(30*time.Second, func() error {
		if _, err := imp.Run("true"); err != nil {
			return err
		}
		control = journalAfter(controlCursor)
		if !strings.Contains(control, fromHost) || !strings.Contains(control, "userauth-request") || !strings.Contains(control, "Accepted publickey") {
			return fmt.Errorf("no %q, userauth-request and Accepted publickey lines yet:\n%s", fromHost, control)
		}
		return nil
	}); err != nil {
		t.Fatalf("(3) the imposter's sshd did not log the test's own login at DEBUG1: %v", err)
	}
	controlAuth := 0
	for _, l := range strings.Split(control, "\n") {
		if hkAuthLine.MatchString(l) {
			controlAuth++
		}
	}
	cursor := journalCursor()
	// What natsnest would leave on a node, and what a login would change.
	const snapshot = `for p in /etc/nats /data/nats-storage /data/jetstream /usr/local/bin/nats-server /var/lib/natsnest /var/lib/natsnest-upload /var/lib/nats /etc/systemd/system/natsd.service; do [ -e "$p" ] && echo "present $p"; done
find / -xdev \( -name '*natsnest*' -o -name 'nats-server*' -o -name 'natsd*' -o -name 'nats.conf' \) ! -path '*natsnest-e2e*' 2>/dev/null | sed 's/^/found /'
sha256sum /etc/ssh/sshd_config /etc/ssh/sshd_config.d/* /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key.pub /root/.ssh/authorized_keys /etc/passwd /etc/shadow /etc/fstab
grep -c '^nats:' /etc/passwd || true`
	before, err := imp.Exec(snapshot)
	if err != nil {
		t.Fatalf("(3) the imposter's files: %v", err)
	}
	// The fixture's own files (/.natsnest-rootfs, …) may match the name
	// search: what counts is that nothing appears.
	if strings.Contains(before, "present ") {
		t.Fatalf("(3) the imposter holds natsnest's files before the up:\n%s", before)
	}
	setConfig(ctx, t, st, map[string]string{"natsnest:maxMemoryStore": "2GiB"}, false)
	u = up("(3) up with the imposter at nats-1's address", 15*time.Minute)
	ck.begin()
	n1Logs := hkLogsOf(u.log, func(name string) bool {
		return strings.Contains(name, "-"+n1.name+"-") || strings.HasSuffix(name, "-"+n1.name)
	})
	othersLogs := hkLogsOf(u.log, func(name string) bool { return !strings.Contains(name, "-"+n1.name) })
	if u.err == nil {
		ck.Errorf("(3) the up succeeded with an imposter at nats-1's address; nats-1's resources printed:\n%s", indent(n1Logs))
	} else {
		errText := u.err.Error()
		if !strings.Contains(errText, n1.name) {
			ck.Errorf("(3) the up's failure does not name %s:\n%s", n1.name, indent(firstLines(errText, 40)))
		}
		match, where := "", ""
		for _, l := range strings.Split(n1Logs, "\n") {
			if m := hkRefusal.FindString(l); m != "" {
				name, _, _ := strings.Cut(l, ": ")
				match, where = m, "what "+name+" printed"
				break
			}
		}
		if match == "" {
			// The engine's error names the failed resource and its error.
			if i := strings.Index(errText, n1.name); i >= 0 {
				match, where = hkRefusal.FindString(errText[i:]), "the up's error after "+n1.name
			}
		}
		if match == "" {
			ck.Errorf("(3) the up failed, but not on a host key problem of nats-1: %s\nnats-1's resources printed:\n%s", firstLines(errText, 30), indent(n1Logs))
		} else {
			ck.Verified("(3) the up failed on nats-1's host key: %q in %s (nats-1's resources printed %d lines; its pin step %s: %v)",
				match, where, strings.Count(n1Logs, "\n"), hkNames{n1.name}.pin(), u.ops[hkNames{n1.name}.pin()])
		}
		if m := hkRefusal.FindString(othersLogs); m != "" {
			ck.Errorf("(3) a host key problem on another node than nats-1: %q", m)
		}
	}
	ck.begin()
	journal := journalAfter(cursor)
	conns, auth := imposterLines(journal)
	if len(conns) == 0 {
		ck.Errorf("(3) the imposter's sshd logged no connection from the deploying machine %s during the up: the test proves nothing\n%s", fleet.HostAddr, indent(journal))
	}
	if len(auth) > 0 {
		ck.Errorf("(3) the imposter's sshd logged %d authentication line(s) during the up: something was sent\n%s", len(auth), indent(strings.Join(auth, "\n")))
	}
	after, err := imp.Exec(snapshot)
	if err != nil {
		t.Fatalf("(3) the imposter's files: %v", err)
	}
	if after != before {
		ck.Errorf("(3) the imposter's files changed during the up:\nbefore:\n%s\nafter:\n%s", indent(before), indent(after))
	}
	if len(conns) > 0 && len(auth) == 0 && after == before {
		ck.Verified("(3) nothing was sent to the imposter: its sshd, at LogLevel DEBUG1 (which logged the test's own login just before as a connection from %s and %d authentication lines: userauth-request, Accepted publickey, …), logged %d connection(s) from the deploying machine %s during the up and, after its journal cursor, no userauth-request, Accepted, Failed password/publickey, Postponed, Invalid user or session line of %d lines: every client hung up in the key exchange, before sending a user name, password or key; none of /etc/nats, /data/nats-storage, /data/jetstream, /usr/local/bin/nats-server, /var/lib/natsnest*, natsd.service or any *natsnest* file appeared, and sshd_config(.d), its host keys, authorized_keys, passwd, shadow and fstab hash as before",
			fleet.HostAddr, controlAuth, len(conns), fleet.HostAddr, strings.Count(journal, "\n")+1)
	}
	t.Logf("(3) the imposter's sshd journal during the up (first lines):\n%s", indent(firstLines(strings.TrimSpace(journal), 12)))

	// natsnest's own check meets the imposter too: nats-1's pin step, run
	// again (`up --replace` of it), must refuse it before logging in.
	pinName := hkNames{n1.name}.pin()
	pinURN := "urn:pulumi:" + hkStack + "::natsnest::natsnest:index:Cluster$command:local:Command::" + pinName
	s.Step("(3) pulumi up --replace %s with the imposter still at nats-1's address: natsnest's pin step meets it", pinName)
	cursor = journalCursor()
	u = up("(3) the pin step against the imposter", 10*time.Minute, optup.Replace([]string{pinURN}))
	ck.begin()
	pinOut := u.log.log(pinName)
	const refusal = "refused before logging in, nothing was sent"
	switch {
	case u.err == nil:
		ck.Errorf("(3) the pin step accepted the imposter; it printed:\n%s", indent(pinOut))
	case !strings.Contains(pinOut, refusal) && !strings.Contains(u.err.Error(), refusal):
		ck.Errorf("(3) the up failed, but not with the pin step's refusal %q: %s\nthe pin step printed:\n%s", refusal, firstLines(u.err.Error(), 20), indent(pinOut))
	}
	// What the step said itself: its messages, not the script text the
	// engine quotes with a failed command, which names every message.
	var said []string
	for _, l := range strings.Split(pinOut, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "natsnest hostkey-pin:") {
			said = append(said, strings.TrimSpace(l))
		}
	}
	if len(said) == 0 {
		ck.Errorf("(3) the pin step printed no message of its own:\n%s", indent(pinOut))
	}
	if tp, trusted := hkMatch(strings.Join(said, "\n"), hkMigratedPhrases); trusted {
		ck.Errorf("(3) the pin step trusted the imposter's key once (%q):\n%s", tp, indent(strings.Join(said, "\n")))
	}
	journal = journalAfter(cursor)
	conns, auth = imposterLines(journal)
	if len(conns) == 0 {
		ck.Errorf("(3) the imposter's sshd logged no connection from %s during the pin step: the check proves nothing\n%s", fleet.HostAddr, indent(journal))
	}
	if len(auth) > 0 {
		ck.Errorf("(3) the imposter's sshd logged %d authentication line(s) during the pin step: something was sent\n%s", len(auth), indent(strings.Join(auth, "\n")))
	}
	if after2, err := imp.Exec(snapshot); err != nil || after2 != before {
		ck.Errorf("(3) the imposter's files after the pin step: %v\n%s", err, indent(after2))
	}
	if len(conns) > 0 && len(auth) == 0 {
		ck.Verified("(3) natsnest's pin step refused the imposter too (%q; %s: %v), with %d connection(s) from %s in the imposter's sshd journal and no authentication line; its files as before",
			refusal, pinName, u.ops[pinName], len(conns), fleet.HostAddr)
	}

	s.Step("(3) the imposter powers off and is removed; nats-1's machine boots again; pulumi up")
	if err := imp.PowerOff(); err != nil {
		ck.Errorf("(3) powering the imposter off: %v", err)
	}
	if err := fleet.RemoveMachine(imp); err != nil {
		ck.Errorf("(3) removing the imposter: %v", err)
	}
	if err := m1.Boot(); err != nil {
		t.Fatalf("(3) booting nats-1 again: %v", err)
	}
	if err := eventually(3*time.Minute, func() error {
		out, err := m1.Run("systemctl is-active natsd")
		if strings.TrimSpace(out) != "active" {
			return fmt.Errorf("natsd %q (%v)", strings.TrimSpace(out), err)
		}
		return nil
	}); err != nil {
		t.Fatalf("(3) nats-1 back: %v", err)
	}
	u = mustUp("(3) up with nats-1 back", 15*time.Minute)
	ck.begin()
	for _, n := range nodes {
		if phrase, ok := hkMatch(u.log.log(hkNames{n.name}.pin())+"\n"+u.log.log(hkNames{n.name}.migrate()), hkMigratedPhrases); ok {
			ck.Errorf("(3) %s's pin step trusted a key once again (%q): the migration is used up", n.name, phrase)
		}
	}
	if p, err := hkPresented(n1.publicIP); err != nil || !hkKeyEqual(p, keys[n1.name].pub) {
		ck.Errorf("(3) nats-1 presents %s (%v), want natsnest's %s", hkFP(p), err, hkFP(keys[n1.name].pub))
	}
	ck.Verified("(3) with nats-1 back (natsd active, presenting natsnest's key %s), the up succeeded; no pin step trusted anything once", hkFP(keys[n1.name].pub))

	// --- (4) a ForceNew replacement comes up pinned --------------------
	s.Step("(4) natsnest:systemDiskCategory cloud_essd → cloud_ssd (ForceNew) and pulumi up: the 3 instances are replaced, each new one born with natsnest's key in its user data")
	old := map[string]string{}
	for _, n := range nodes {
		old[n.name] = n.instanceID
	}
	setConfig(ctx, t, st, map[string]string{"natsnest:systemDiskCategory": "cloud_ssd"}, false)
	u = mustUp("(4) replace the instances", 25*time.Minute)
	ck.begin()
	for _, n := range nodes {
		inst := hkNames{n.name}.instance()
		if op := lastOp(u.ops[inst]); op != apitype.OpReplace {
			ck.Errorf("(4) instance %s: %v, want replace", inst, u.ops[inst])
		}
	}
	ck.Verified("(4) the engine replaced the 3 instances (%s)", opsSummary(u.ops))
	readNodes(u.res.Outputs)
	pinFirst("(4)", u)
	ck.begin()
	newKeys := hkState(ctx, t, ck, st, "(4)", nodes)
	lines = nil
	var ms []*machines.Machine
	for _, n := range nodes {
		k := newKeys[n.name]
		m := machineOf(n)
		ms = append(ms, m)
		if n.instanceID == old[n.name] {
			ck.Errorf("(4) %s is still on instance %s", n.name, n.instanceID)
		}
		if backend.Machine(old[n.name]) != nil {
			ck.Errorf("(4) %s's old instance %s still has a machine", n.name, old[n.name])
		}
		if !hkKeyEqual(k.pub, keys[n.name].pub) {
			ck.Errorf("(4) %s's key in state is %s, was %s: the key is generated once and kept", n.name, hkFP(k.pub), hkFP(keys[n.name].pub))
		}
		ud, ok := backend.userData(n.instanceID)
		line, at := hkKeyLine(ud)
		born, err := hkParseKey(line)
		switch {
		case !ok:
			ck.Errorf("(4) %s: the cloud has no record of booting %s", n.name, n.instanceID)
		case at == 0:
			ck.Errorf("(4) %s: instance %s's user data has no %q line:\n%s", n.name, n.instanceID, hkUserDataLine, indent(firstLines(ud, 3)))
		case err != nil || !hkKeyEqual(born, k.pub):
			ck.Errorf("(4) %s: instance %s's user data names %q (%v), want %s", n.name, n.instanceID, line, err, k.line)
		}
		if at != 0 && at != 2 {
			t.Logf("(4) %s: the natsnest host key line is line %d of the user data (the issue says the second)", n.name, at)
		}
		cur, err := m.CurrentHostKey()
		if err != nil || !hkKeyEqual(cur, k.pub) {
			ck.Errorf("(4) %s: /etc/ssh/ssh_host_ed25519_key.pub is %s (%v), want natsnest's %s", n.name, hkFP(cur), err, hkFP(k.pub))
		}
		if p, err := hkPresented(n.publicIP); err != nil || !hkKeyEqual(p, k.pub) {
			ck.Errorf("(4) %s: sshd at %s presents %s (%v), want natsnest's %s", n.name, n.publicIP, hkFP(p), err, hkFP(k.pub))
		}
		pin := hkNames{n.name}.pin()
		if op := lastOp(u.ops[pin]); op == apitype.OpSame || op == apitype.OpRead || op == "" {
			ck.Errorf("(4) %s: %v, want it to run on the new instance", pin, u.ops[pin])
		}
		pinText := u.log.log(pin) + "\n" + k.pinOut
		phrase, ok := hkMatch(pinText, hkPinnedPhrases)
		if !ok {
			ck.Errorf("(4) %s's pin step did not say the node presents natsnest's host key; it printed:\n%s", n.name, indent(pinText))
		}
		if tp, trusted := hkMatch(u.log.log(pin), hkMigratedPhrases); trusted {
			ck.Errorf("(4) %s's pin step trusted a key once (%q) on an instance born with natsnest's key", n.name, tp)
		}
		mig := hkNames{n.name}.migrate()
		if op := lastOp(u.ops[mig]); op == apitype.OpCreate || op == apitype.OpReplace || op == apitype.OpCreateReplacement {
			ck.Errorf("(4) %s: %v: the migration step must not run again", mig, u.ops[mig])
		}
		if tp, trusted := hkMatch(u.log.log(mig), hkMigratedPhrases); trusted {
			ck.Errorf("(4) %s's migration step trusted a key once (%q) again", n.name, tp)
		}
		if ns := natsdState(t, m); ns.Active != "active" {
			ck.Errorf("(4) %s: natsd %q, want active", n.name, ns.Active)
		}
		lines = append(lines, fmt.Sprintf("%s %s → %s: user data line %d, disk and sshd %s (pin step: %q; migration step: %v)", n.name, old[n.name], n.instanceID, at, hkFP(k.pub), phrase, u.ops[mig]))
	}
	ck.Verified("(4) the 3 instances were replaced; each new one was booted with natsnest's key (the one kept in state since (2)) in its user data, holds it and presents it; its pin step connected pinned without trusting anything once; natsd active: %s", strings.Join(lines, "; "))
	pinnedEverywhere("(4)", newKeys)
	ck.begin()
	if err := eventually(3*time.Minute, func() error { return metaSize(ms, 3) }); err != nil {
		ck.Errorf("(4) JetStream meta group: %v", err)
	}
	public, _ := u.res.Outputs["publicEndpoint"].Value.(string)
	nc, err := nats.Connect(public, nats.UserInfo("app", readmeSecrets["natsnest:appPassword"]), nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond))
	if err != nil {
		t.Fatalf("(4) connecting to %s as app: %v", public, err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	var seq uint64
	if err := eventually(2*time.Minute, func() error {
		actx, acancel := context.WithTimeout(ctx, 10*time.Second)
		defer acancel()
		if _, err := js.CreateOrUpdateStream(actx, jetstream.StreamConfig{Name: "HOSTKEYS", Subjects: []string{"hostkeys.>"}, Replicas: 3, Storage: jetstream.FileStorage}); err != nil {
			return err
		}
		ack, err := js.Publish(actx, "hostkeys.pinned", []byte("pinned"))
		if err != nil {
			return err
		}
		seq = ack.Sequence
		return nil
	}); err != nil {
		ck.Errorf("(4) an R3 stream on the replaced cluster: %v", err)
	} else {
		ck.Verified("(4) the cluster answers at %s: /jsz on the 3 new machines shows a meta group of 3; app created the R3 stream HOSTKEYS and a publish was acknowledged at sequence %d", public, seq)
	}
	nc.Close()

	// --- (5) destroy ----------------------------------------------------
	s.Step("(5) pulumi destroy: every leave step (a local OpenSSH command pinned to its node's key) unmounts /data before the engine detaches the disk")
	destroyed()
	log := collectSteps()
	dctx, dcancel := context.WithTimeout(ctx, 15*time.Minute)
	res, err := st.Destroy(dctx, optdestroy.SuppressProgress(), optdestroy.EventStreams(log.ch))
	dcancel()
	ops := log.result()
	ck.begin()
	if err != nil {
		for _, n := range nodes {
			t.Logf("(5) %s printed:\n%s", (awayRes{n.name}).leave(), indent(log.log((awayRes{n.name}).leave())))
		}
		t.Fatalf("(5) pulumi destroy: %v", firstLines(err.Error(), 40))
	}
	t.Logf("step: (5) destroy: the engine's change summary %v; %s", res.Summary.ResourceChanges, opsSummary(ops))
	for name, o := range ops {
		if lastOp(o) != apitype.OpDelete {
			ck.Errorf("(5) destroy: %s: %v, want delete", name, o)
		}
	}
	for _, n := range nodes {
		if l := log.log((awayRes{n.name}).leave()); !strings.Contains(l, awayUnmounted) {
			ck.Errorf("(5) %s's leave step did not print %q:\n%s", n.name, awayUnmounted, indent(l))
		}
	}
	ck.Verified("(5) destroy deleted all %d resources; the leave step of each of the %d nodes connected pinned and printed %q", len(ops), len(nodes), awayUnmounted)
	t.Logf("e2e: host keys verified in %s", time.Since(began).Round(time.Second))
}

// natsdFigures is "nats-1 MainPID 123 NRestarts 0, …".
func natsdFigures(states map[string]serviceState) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(states)) {
		parts = append(parts, fmt.Sprintf("%s MainPID %d NRestarts %d", name, states[name].MainPID, states[name].NRestarts))
	}
	return strings.Join(parts, ", ")
}

// hkResolveCommit is legacyCommit's full hash in the checkout (..), or
// fails the test saying why it is not there.
func hkResolveCommit(ctx context.Context, t *testing.T) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, "git", "-C", "..", "rev-parse", "--verify", "--quiet", legacyCommit+"^{commit}").Output()
	if err != nil {
		shallow, _ := exec.CommandContext(ctx, "git", "-C", "..", "rev-parse", "--is-shallow-repository").Output()
		t.Fatalf("the checkout has no commit %s, the parent program this test deploys first (git rev-parse: %v; shallow clone: %s): fetch the history (git fetch --unshallow) or clone without --depth",
			legacyCommit, err, strings.TrimSpace(string(shallow)))
	}
	return strings.TrimSpace(string(out))
}

// hkBuildLegacy extracts commit into dir (git archive | tar -x), writes the
// driver there and builds it; it returns the binary.
func hkBuildLegacy(ctx context.Context, t *testing.T, commit, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	x := exec.CommandContext(ctx, "bash", "-c", `set -o pipefail; git -C .. archive "$1" | tar -x -C "$2"`, "bash", commit, dir)
	if out, err := x.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s | tar -x -C %s: %v\n%s", commit, dir, err, out)
	}
	driver := filepath.Join(dir, hkDriverPath)
	if err := os.MkdirAll(filepath.Dir(driver), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(driver, []byte(legacyDriver), 0o644); err != nil {
		t.Fatal(err)
	}
	// The Automation API's dependencies may lack checksums in the parent's
	// go.sum (its main module does not import auto): e2e/go.sum has them
	// for the same versions, so -mod=mod need not ask the checksum
	// database. Only the extracted tree's go.sum changes.
	sums, err := os.ReadFile("go.sum")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "go.sum"), os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(sums); err != nil {
		t.Fatal(err)
	}
	f.Close()
	bin := filepath.Join(dir, "natsnest-e2e-legacy")
	build := exec.CommandContext(ctx, "go", "build", "-mod=mod", "-o", bin, "./"+filepath.Dir(hkDriverPath))
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false", "GOWORK=off")
	began := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the legacy driver in %s: %v\n%s", dir, err, out)
	}
	t.Logf("step: (1) extracted %s and built %s in %s", commit[:12], hkDriverPath, time.Since(began).Round(time.Second))
	return bin
}

// hkRunLegacy runs the driver's pulumi up on the project directory with
// the engine's environment, its progress into logPath.
func hkRunLegacy(ctx context.Context, t *testing.T, eng *engine, bin, project, logPath string) {
	t.Helper()
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	uctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(uctx, bin, "-dir", project, "-stack", hkStack)
	cmd.Dir = project
	cmd.Env = os.Environ()
	for _, k := range slices.Sorted(maps.Keys(eng.env)) {
		cmd.Env = append(cmd.Env, k+"="+eng.env[k])
	}
	cmd.Stdout, cmd.Stderr = out, out
	began := time.Now()
	err = cmd.Run()
	data, _ := os.ReadFile(logPath)
	if err != nil {
		t.Fatalf("(1) the parent program's pulumi up: %v\n%s", err, indent(tailLines(string(data), 40)))
	}
	summary := ""
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "natsnest-e2e-legacy: up done: ") {
			summary = strings.TrimPrefix(l, "natsnest-e2e-legacy: up done: ")
		}
	}
	t.Logf("step: (1) the parent program's pulumi up took %s; the engine's change summary %s", time.Since(began).Round(time.Second), summary)
}

// tailLines is the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// shellWord quotes s for sh.
func shellWord(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
