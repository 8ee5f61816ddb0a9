package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/natsnest/pulumi-natsnest/internal/provision"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/cloud"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/machines"
	"github.com/natsnest/pulumi-natsnest/internal/version"
)

// What TestProduction needs of the real engine besides engine_test.go: every
// event of an operation as the engine sent it, the stack's state with its
// secrets shown, and the checks it makes on each node.

// eventLog keeps every engine event of an operation, as JSON.
type eventLog struct {
	ch   chan events.EngineEvent
	done chan struct{}
	mu   sync.Mutex
	all  []string
}

func collectEvents() *eventLog {
	l := &eventLog{ch: make(chan events.EngineEvent), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for ev := range l.ch {
			b, err := json.Marshal(ev.EngineEvent)
			if err != nil {
				b = []byte(fmt.Sprintf("unmarshalable event: %v", err))
			}
			l.mu.Lock()
			l.all = append(l.all, string(b))
			l.mu.Unlock()
		}
	}()
	return l
}

// result is the events seen (see opLog.result for the timeout).
func (l *eventLog) result() []string {
	select {
	case <-l.done:
	case <-time.After(5 * time.Second):
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.all)
}

// engineUp is one `pulumi up`: its result, the step per resource, every
// event, and the error.
type engineUp struct {
	res    auto.UpResult
	ops    map[string][]apitype.OpType
	events []string
	err    error
	took   time.Duration
}

func upObserved(ctx context.Context, st auto.Stack, opts ...optup.Option) engineUp {
	steps, evs := collectSteps(), collectEvents()
	began := time.Now()
	res, err := st.Up(ctx, append([]optup.Option{optup.SuppressProgress(), optup.EventStreams(steps.ch, evs.ch)}, opts...)...)
	return engineUp{res: res, ops: steps.result(), events: evs.result(), err: err, took: time.Since(began)}
}

// changeSummary is the engine's change summary of an up.
func changeSummary(res auto.UpResult) map[string]int {
	if res.Summary.ResourceChanges == nil {
		return nil
	}
	return *res.Summary.ResourceChanges
}

// onlyOps fails unless every resource's steps are all in allowed, and
// returns how many resources there were.
func onlyOps(t *testing.T, what string, ops map[string][]apitype.OpType, allowed ...apitype.OpType) int {
	t.Helper()
	if len(ops) == 0 {
		t.Errorf("%s: the engine reported no step at all", what)
	}
	for name, o := range ops {
		for _, op := range o {
			if !slices.Contains(allowed, op) {
				t.Errorf("%s: %s: %v, want only %v", what, name, o, allowed)
				break
			}
		}
	}
	return len(ops)
}

// stateResource is a resource of the stack's state, secrets shown.
type stateResource struct {
	URN     string
	Name    string
	Type    string
	Inputs  map[string]any
	Outputs map[string]any
}

// exportState is `pulumi stack export --show-secrets`: the stack's state
// with every secret decrypted, as the engine recorded it.
func exportState(ctx context.Context, t *testing.T, st auto.Stack) map[string]stateResource {
	t.Helper()
	ws := st.Workspace()
	cmd := exec.CommandContext(ctx, "pulumi", "stack", "export", "--show-secrets", "--non-interactive", "--stack", st.Name())
	cmd.Dir = ws.WorkDir()
	cmd.Env = os.Environ()
	for k, v := range ws.GetEnvVars() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("pulumi stack export --show-secrets: %v: %s", err, stderr)
	}
	var doc struct {
		Deployment struct {
			Resources []struct {
				URN     string         `json:"urn"`
				Type    string         `json:"type"`
				Inputs  map[string]any `json:"inputs"`
				Outputs map[string]any `json:"outputs"`
			} `json:"resources"`
		} `json:"deployment"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("pulumi stack export: %v", err)
	}
	rs := map[string]stateResource{}
	for _, r := range doc.Deployment.Resources {
		name := resource.URN(r.URN).Name()
		rs[name] = stateResource{URN: r.URN, Name: name, Type: r.Type,
			Inputs: stateValue(r.Inputs).(map[string]any), Outputs: stateValue(r.Outputs).(map[string]any)}
	}
	return rs
}

// stateValue replaces the secrets of an exported state (shown: an object with
// Pulumi's secret signature and the value as JSON under "plaintext") by
// their values.
func stateValue(v any) any {
	switch v := v.(type) {
	case nil:
		return map[string]any{}
	case map[string]any:
		if v[resource.SigKey] == resource.SecretSig {
			if p, ok := v["plaintext"].(string); ok {
				var inner any
				if json.Unmarshal([]byte(p), &inner) == nil {
					return stateValue(inner)
				}
				return p
			}
		}
		out := map[string]any{}
		for k, x := range v {
			out[k] = stateValue(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = stateValue(x)
		}
		return out
	}
	return v
}

// str is a state value as text; "" when missing.
func (r stateResource) str(key string) string {
	if s, ok := r.Outputs[key].(string); ok {
		return s
	}
	return ""
}

// renderedFromState decodes the files the config step of a host was given
// on its stdin, as the engine recorded it: what the program rendered.
func renderedFromState(t *testing.T, state map[string]stateResource, step string) provision.NodeFiles {
	t.Helper()
	r, ok := state[step]
	if !ok {
		var names []string
		for n := range state {
			names = append(names, n)
		}
		sort.Strings(names)
		t.Fatalf("the stack's state has no %s; it has %s", step, strings.Join(names, " "))
	}
	files, err := provision.DecodePayload(r.str("stdin"))
	if err != nil {
		t.Fatalf("%s: stdin in the state: %v", step, err)
	}
	if files.Config == "" || files.Unit == "" {
		t.Fatalf("%s: stdin in the state decodes to no nats.conf or no unit", step)
	}
	return files
}

// rootPasswordsMatch is an sshd_config Match block that lets root log in
// with a password, which the keys-only base step must overrule.
const rootPasswordsMatch = "Match User root\n\tPasswordAuthentication yes\n\tKbdInteractiveAuthentication yes\n"

// plantedUploadLink is where natsnest once staged uploads: a symbolic link
// there must not redirect one.
const plantedUploadLink = "/var/tmp/natsnest"

// plant leaves on m what an admin or another local user may have left: the
// Match block and the link to /usr/local/sbin. It returns what sshd -T
// says of root's password logins afterwards.
func plant(m *machines.Machine) error {
	// Retried: right after boot sshd may still be restarting. The check runs
	// in the same session: a reloaded sshd re-executes itself and refuses
	// connections for a moment.
	script := fmt.Sprintf("grep -qx 'Match User root' /etc/ssh/sshd_config || printf '%%s' %s >>/etc/ssh/sshd_config; systemctl reload ssh && ln -sfn /usr/local/sbin %s && sshd -T -C user=root,host=localhost,addr=127.0.0.1 | grep -E '^passwordauthentication '",
		provision.ShellQuote("\n"+rootPasswordsMatch), plantedUploadLink)
	var out string
	if err := eventually(60*time.Second, func() error { var err error; out, err = m.Run(script); return err }); err != nil {
		return fmt.Errorf("%s: planting: %w", m.Name, err)
	}
	if strings.TrimSpace(out) != "passwordauthentication yes" {
		return fmt.Errorf("%s: the planted Match block does not turn passwords on for root: %q", m.Name, out)
	}
	return nil
}

// plantingBackend is the emulated cloud's machines, each instance planted
// (see plant) as soon as it has booted: before the engine creates any of
// the node's commands, as an image with an admin's leftovers would be.
type plantingBackend struct {
	*cloud.Machines
	mu      sync.Mutex
	planted []string // instance IDs
}

func (b *plantingBackend) Boot(inst cloud.Instance) error {
	if err := b.Machines.Boot(inst); err != nil {
		return err
	}
	m := b.Machine(inst.ID)
	if m == nil {
		return fmt.Errorf("no machine for %s after its boot", inst.ID)
	}
	if err := plant(m); err != nil {
		return err
	}
	b.mu.Lock()
	b.planted = append(b.planted, inst.ID)
	b.mu.Unlock()
	return nil
}

func (b *plantingBackend) wasPlanted(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Contains(b.planted, id)
}

// nodeCheck is what checkNode expects of one node.
type nodeCheck struct {
	name      string // server_name
	m         *machines.Machine
	files     provision.NodeFiles // as the program rendered them
	binarySHA string
	delivery  string // "uploaded" or "downloaded"
	// dataSource checks findmnt's SOURCE of /data, and says what it is.
	dataSource func(source string) (string, error)
	wantRoutes bool
}

// checkNode checks natsd under systemd as the layout's user, the binary,
// /data, and the files on disk against the rendered ones.
func checkNode(t *testing.T, s *steps, n nodeCheck) {
	t.Helper()
	layout := provision.DefaultLayout()
	m := n.m
	st := natsdState(t, m)
	if st.Active != "active" || st.MainPID == 0 || st.User != layout.User {
		t.Errorf("%s: natsd %+v, want active, running as %s", n.name, st, layout.User)
	}
	out := mustRun(t, m, fmt.Sprintf("sha256sum %s | cut -d' ' -f1; %s --version; findmnt -n -o SOURCE,FSTYPE %s; stat -c '%%a %%U' %s/routes.conf 2>/dev/null || echo no-routes",
		layout.Binary, layout.Binary, layout.DataMount, layout.ConfigDir))
	lines := strings.Split(out, "\n")
	if len(lines) < 4 {
		t.Fatalf("%s: %q", n.name, out)
	}
	if lines[0] != n.binarySHA || !strings.Contains(lines[1], "v"+version.NATSServer) {
		t.Errorf("%s: binary: %q, want sha256 %s and version %s", n.name, out, n.binarySHA, version.NATSServer)
	}
	mount := strings.Fields(lines[2])
	data := ""
	if len(mount) != 2 || mount[1] != "ext4" {
		t.Errorf("%s: %s is %q, want the data disk, ext4", n.name, layout.DataMount, lines[2])
	} else if d, err := n.dataSource(mount[0]); err != nil {
		t.Errorf("%s: %s: %v", n.name, layout.DataMount, err)
	} else {
		data = d
	}
	disk := map[string]string{layout.ConfigPath(): n.files.Config, layout.UnitPath(): n.files.Unit}
	if n.wantRoutes != (n.files.Routes != "") {
		t.Errorf("%s: the program rendered routes.conf %q, want one: %v", n.name, n.files.Routes, n.wantRoutes)
	}
	if n.files.Routes != "" {
		disk[path.Join(layout.ConfigDir, "routes.conf")] = n.files.Routes
		if lines[3] != "640 root" {
			t.Errorf("%s: routes.conf (holds the route password) is %q, want mode 640 owned by root (group %s)", n.name, lines[3], layout.Group)
		}
	} else if lines[3] != "no-routes" {
		t.Errorf("%s: routes.conf on disk (%s) though the program rendered none", n.name, lines[3])
	}
	for p, want := range disk {
		got, err := m.Run("cat " + p)
		if err != nil {
			t.Errorf("%s: %v", n.name, err)
		} else if got != want {
			t.Errorf("%s: %s on disk differs from what the program rendered:\n--- disk\n%s\n--- rendered\n%s", n.name, p, got, want)
		}
	}
	for _, secret := range []string{adminPassword, appPassword, readmeSecrets["natsnest:adminPassword"], readmeSecrets["natsnest:appPassword"]} {
		if strings.Contains(n.files.Config, secret) {
			t.Errorf("%s: nats.conf holds a plaintext password", n.name)
		}
	}
	routes := "no routes.conf"
	if n.files.Routes != "" {
		routes = "routes.conf (640 root)"
	}
	s.Verified("%s: natsd active (MainPID %d, user %s), nats-server v%s %s (sha256 %s…), %s on %s ext4; nats.conf, natsd.service and %s byte-identical to the config step's stdin in the engine's state; no plaintext passwords in nats.conf",
		n.name, st.MainPID, st.User, version.NATSServer, n.delivery, n.binarySHA[:12], layout.DataMount, data, routes)
}

// checkHardening checks the unit's exposure, root's password logins off
// despite the planted Match block, and where the binary was staged: with
// an upload in the layout's upload directory only; never through the
// planted link.
func checkHardening(t *testing.T, s *steps, name string, m *machines.Machine, uploaded bool) {
	t.Helper()
	layout := provision.DefaultLayout()
	out := mustRun(t, m, "systemd-analyze security natsd --no-pager 2>&1 | tail -n 3")
	exposure, ok := provision.ParseExposure(out)
	if !ok || exposure > provision.MaxUnitExposure {
		t.Errorf("%s: systemd-analyze security natsd: %q, want at most %.1f", name, out, provision.MaxUnitExposure)
	}
	if st := natsdState(t, m); st.Active != "active" {
		t.Errorf("%s: natsd %+v under the hardened unit", name, st)
	}
	sshdT := mustRun(t, m, "sshd -T -C user=root,host=localhost,addr=127.0.0.1 | grep -E '^(passwordauthentication|kbdinteractiveauthentication) '")
	if sshdT != "passwordauthentication no\nkbdinteractiveauthentication no" {
		t.Errorf("%s: sshd -T for root after the base step: %q, want both off", name, sshdT)
	}
	if !strings.Contains(mustRun(t, m, "cat /etc/ssh/sshd_config"), "Match User root") {
		t.Errorf("%s: the planted Match block is gone from sshd_config: the check proves nothing", name)
	}
	staged := mustRun(t, m, fmt.Sprintf("ls /usr/local/sbin | grep -c '^nats-server-' || true; stat -c '%%F %%a %%U' %s; ls %s", layout.UploadDir, layout.UploadDir))
	lines := strings.Split(staged, "\n")
	if lines[0] != "0" || len(lines) < 2 || lines[1] != "directory 700 root" {
		t.Errorf("%s: /usr/local/sbin and %s: %q: want no nats-server-* in /usr/local/sbin and %s a directory of root's, mode 700", name, layout.UploadDir, staged, layout.UploadDir)
	}
	where := "the download staged in nothing the planted link reaches"
	if uploaded {
		if len(lines) < 3 || !strings.HasPrefix(lines[2], "nats-server-") {
			t.Errorf("%s: %s holds %q, want the upload staged there", name, layout.UploadDir, lines[2:])
		}
		where = "the upload staged in " + layout.UploadDir
	}
	s.Verified("%s: natsd active, exposure %.1f (at most %.1f); sshd -T -C user=root: passwords and keyboard-interactive off despite the planted Match block; %s, nothing through %s → /usr/local/sbin",
		name, exposure, provision.MaxUnitExposure, where, plantedUploadLink)
}

// checkAuth checks that url refuses anonymous clients and a wrong
// password, and that the application user publishes and subscribes.
func checkAuth(t *testing.T, url string) {
	t.Helper()
	if nc, err := nats.Connect(url, nats.NoReconnect(), nats.Timeout(5*time.Second)); err == nil {
		nc.Close()
		t.Errorf("%s accepted an anonymous client", url)
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Errorf("%s: anonymous client: %v, want an authorization violation", url, err)
	}
	if nc, err := nats.Connect(url, nats.UserInfo(appUser, appPassword+"x"), nats.NoReconnect(), nats.Timeout(5*time.Second)); err == nil {
		nc.Close()
		t.Errorf("%s accepted a wrong password", url)
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Errorf("%s: wrong password: %v, want an authorization violation", url, err)
	}
	nc, err := nats.Connect(url, nats.UserInfo(appUser, appPassword), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("%s: application user: %v", url, err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("e2e.hello")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("e2e.hello", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if msg, err := sub.NextMsg(5 * time.Second); err != nil || string(msg.Data) != "hi" {
		t.Errorf("%s: publish/subscribe as %s: %v", url, appUser, err)
	}
}

// sysServers asks $SYS.REQ.SERVER.PING as the system account's admin and
// returns the server names that answered.
func sysServers(t *testing.T, url string) []string {
	t.Helper()
	sys, err := nats.Connect(url, nats.UserInfo("admin", adminPassword), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("admin in $SYS: %v", err)
	}
	defer sys.Close()
	inbox := nats.NewInbox()
	sub, err := sys.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.PublishRequest("$SYS.REQ.SERVER.PING", inbox, nil); err != nil {
		t.Fatal(err)
	}
	var names []string
	for {
		msg, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			break
		}
		var r struct {
			Server struct {
				Name string `json:"name"`
			} `json:"server"`
		}
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			t.Errorf("$SYS.REQ.SERVER.PING answer: %v: %s", err, msg.Data)
			continue
		}
		if !slices.Contains(names, r.Server.Name) {
			names = append(names, r.Server.Name)
		}
	}
	slices.Sort(names)
	return names
}

// checkRoutes waits until the node at addr has routes to exactly peers
// (server names) and returns them.
func checkRoutes(t *testing.T, name, addr string, peers []string) routez {
	t.Helper()
	var r routez
	err := eventually(60*time.Second, func() error {
		if err := getJSON("http://"+addr+":8222/routez", &r); err != nil {
			return err
		}
		var got []string
		for _, rt := range r.Routes {
			if !slices.Contains(got, rt.RemoteName) {
				got = append(got, rt.RemoteName)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, peers) {
			return fmt.Errorf("routes to %v, want %v", got, peers)
		}
		return nil
	})
	if err != nil {
		t.Errorf("%s /routez: %v", name, err)
	}
	return r
}
