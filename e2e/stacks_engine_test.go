package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/natsnest/pulumi-natsnest/internal/program"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/cloud"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/machines"
	"github.com/natsnest/pulumi-natsnest/natsnest"
)

// The README's commands for the single and cluster stacks, run by the real
// engine — the repository's Pulumi.yaml and stacks/, the program main.go
// runs, the real command provider — on the emulated Alibaba Cloud made of
// machines. Then the seed's walkthrough against the stack's outputs,
// anonymous clients refused, and a second up that changes nothing.
func TestStacksOnTheEmulatedCloud(t *testing.T) {
	for _, name := range []string{"single", "cluster"} {
		t.Run(name, func(t *testing.T) { runStack(t, name) })
	}
}

// The secrets the README has users set, with values of the test's own.
var readmeSecrets = map[string]string{
	"natsnest:instancePassword": "Emulated-Ecs-Pw-42",
	"natsnest:adminPassword":    "emulated-admin-password-0123",
	"natsnest:appPassword":      "emulated-app-password-0123",
	"natsnest:stackSecret":      "0123456789abcdef0123456789abcdef0123456789abcdef",
}

func runStack(t *testing.T, stackName string) {
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Minute)
	defer cancel()
	tmp := t.TempDir()

	fleet, backend, c, st := cloudStack(ctx, t, newEngine(t, tmp), tmp, stackName, nil)
	destroyed := destroyUnlessDone(t, st, 10*time.Minute)
	readmeConfig(ctx, t, st, fleet, nil)

	log := collectSteps()
	up, err := st.Up(ctx, optup.SuppressProgress(), optup.EventStreams(log.ch))
	ops := log.result()
	if err != nil {
		t.Fatalf("pulumi up (%s): %v", stackName, err)
	}
	t.Logf("step: pulumi up %s: the engine's change summary %v; %s", stackName, up.Summary.ResourceChanges, opsSummary(ops))
	for name, o := range ops {
		if !slices.Contains(o, apitype.OpCreate) {
			t.Errorf("first up: %s: %v, want create", name, o)
		}
	}

	nodes := nodesOf(t, up.Outputs)
	private := up.Outputs["privateEndpoint"].Value.(string)
	public := up.Outputs["publicEndpoint"].Value.(string)
	for _, n := range nodes {
		m := backend.Machine(n.instanceID)
		if m == nil {
			t.Fatalf("node %s: instance %s has no machine", n.name, n.instanceID)
		}
		out := mustRun(t, m, "hostname; systemctl is-active natsd; findmnt -no SOURCE /data | xargs lsblk -dno SERIAL")
		if got := strings.Fields(out); len(got) != 3 || got[0] != n.name || got[1] != "active" || !strings.HasPrefix(got[2], "d-") {
			t.Errorf("node %s (%s): hostname, natsd, /data's disk serial: %q", n.name, n.instanceID, out)
		}
	}
	t.Logf("verified: %d node(s) on machines named by their instances, natsd active, /data on the data disk found by its ID; privateEndpoint %s, publicEndpoint %s",
		len(nodes), private, public)

	// Anonymous clients are refused.
	if nc, err := nats.Connect(private, nats.MaxReconnects(0), nats.Timeout(5*time.Second)); err == nil {
		nc.Close()
		t.Errorf("an anonymous client connected to %s", private)
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Errorf("an anonymous client: %v, want an authorization error", err)
	} else {
		t.Logf("verified: an anonymous client is refused: %v", err)
	}

	replicas := min(3, len(nodes))
	walkthrough{t: t, servers: public, user: "app", password: readmeSecrets["natsnest:appPassword"], replicas: replicas,
		kill: func(leader string) func() {
			for _, n := range nodes {
				if n.name == leader {
					m := backend.Machine(n.instanceID)
					m.Kill()
					return func() {
						if err := m.Boot(); err != nil {
							t.Fatalf("booting %s again: %v", leader, err)
						}
					}
				}
			}
			t.Fatalf("no node named %s", leader)
			return nil
		}}.run(ctx)

	// up again: nothing changes, and no natsd restarts.
	before := map[string]serviceState{}
	for _, n := range nodes {
		before[n.name] = natsdState(t, backend.Machine(n.instanceID))
	}
	log = collectSteps()
	again, err := st.Up(ctx, optup.SuppressProgress(), optup.EventStreams(log.ch))
	ops = log.result()
	if err != nil {
		t.Fatalf("second up: %v", err)
	}
	t.Logf("step: pulumi up again: the engine's change summary %v", again.Summary.ResourceChanges)
	for name, o := range ops {
		if slices.ContainsFunc(o, func(op apitype.OpType) bool { return op != apitype.OpSame && op != apitype.OpRead }) {
			t.Errorf("second up: %s: %v, want nothing done", name, o)
		}
	}
	for _, n := range nodes {
		if after := natsdState(t, backend.Machine(n.instanceID)); after != before[n.name] {
			t.Errorf("second up: %s's natsd %+v → %+v, want the same process", n.name, before[n.name], after)
		}
	}
	t.Logf("verified: up again changed nothing, and no natsd restarted (MainPID and NRestarts the same on %d node(s))", len(nodes))
	if _, err := st.Preview(ctx, optpreview.SuppressProgress(), optpreview.ExpectNoChanges()); err != nil {
		t.Errorf("preview after the second up: %v", err)
	}

	destroyed()
	destroyStack(ctx, t, st, c, backend, public, "app", readmeSecrets["natsnest:appPassword"], replicas)
}

// cloudStack is what the README's commands run on, emulated: an Alibaba
// Cloud region (cloud.Cloud) whose instances are machines of a VPC fleet on
// the program's default VPC, served to the real engine through the shim
// plugin, and the stack name of a copy of the repository's Pulumi.yaml and
// stacks/ with program.Program inline, run by eng. setup, when not nil, changes the
// cloud before it is served (a key pair, a backend wrapping the machines').
func cloudStack(ctx context.Context, t *testing.T, eng *engine, tmp, name string, setup func(*cloud.Cloud)) (*machines.Fleet, *cloud.Machines, *cloud.Cloud, auto.Stack) {
	t.Helper()
	// The VPC the program creates by default: New fails when the host
	// uses that range.
	fleet := machines.New(t, machines.Options{VPC: true, VPCPrefix: netip.MustParsePrefix(natsnest.DefaultVpcCIDR)})
	logJournalsOnFailure(t, fleet, 60)
	backend := cloud.NewMachines(fleet)
	c := &cloud.Cloud{Region: "cn-hangzhou", Zones: []string{"cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"},
		ImageID: "debian_12_11_x64_20G_alibase_20250701.vhd", PublicPool: netip.MustParsePrefix("198.51.100.0/27"), Backend: backend}
	if setup != nil {
		setup(c)
	}
	eng.build(t, "pulumi-resource-alicloud", "internal/testkit/cloud/shim")
	eng.ambient()
	eng.env[cloud.SocketEnv] = c.Serve(t, tmp)
	eng.env["PULUMI_BACKEND_URL"] = "file://" + filepath.Join(tmp, "state")
	project := copyProject(t, filepath.Join(tmp, "project"))
	ws, err := auto.NewLocalWorkspace(ctx, auto.WorkDir(project), auto.Program(program.Program), auto.EnvVars(eng.env))
	if err != nil {
		t.Fatal(err)
	}
	st, err := auto.UpsertStack(ctx, name, ws)
	if err != nil {
		t.Fatalf("pulumi stack init %s: %v", name, err)
	}
	return fleet, backend, c, st
}

// readmeConfig configures st as the README says: the secrets with
// --secret, sshCidr the deploying machine; then the keys of extra.
func readmeConfig(ctx context.Context, t *testing.T, st auto.Stack, fleet *machines.Fleet, extra map[string]string) {
	t.Helper()
	setConfig(ctx, t, st, readmeSecrets, true)
	kv := map[string]string{"natsnest:sshCidr": fleet.HostAddr + "/32"}
	maps.Copy(kv, extra)
	setConfig(ctx, t, st, kv, false)
}

// destroyUnlessDone destroys st, within timeout, when the test ends before
// its own destroy, which calls the function returned.
func destroyUnlessDone(t *testing.T, st auto.Stack, timeout time.Duration) (done func()) {
	t.Helper()
	destroyed := false
	t.Cleanup(func() {
		if destroyed {
			return
		}
		dctx, dcancel := context.WithTimeout(context.Background(), timeout)
		defer dcancel()
		if _, err := st.Destroy(dctx); err != nil {
			if t.Failed() {
				t.Logf("destroy after the failure: %v", firstLines(err.Error(), 10))
			} else {
				t.Errorf("destroy: %v", err)
			}
		}
	})
	return func() { destroyed = true }
}

// setConfig sets the stack's config keys, as secrets (`--secret`) or not.
func setConfig(ctx context.Context, t *testing.T, st auto.Stack, kv map[string]string, secret bool) {
	t.Helper()
	for k, v := range kv {
		if err := st.SetConfig(ctx, k, auto.ConfigValue{Value: v, Secret: secret}); err != nil {
			t.Fatal(err)
		}
	}
}

type stackNode struct{ name, instanceID, privateIP, publicIP string }

func nodesOf(t *testing.T, out auto.OutputMap) []stackNode {
	t.Helper()
	raw, ok := out["nodes"].Value.([]any)
	if !ok {
		t.Fatalf("output nodes: %#v", out["nodes"].Value)
	}
	var nodes []stackNode
	for _, r := range raw {
		m := r.(map[string]any)
		nodes = append(nodes, stackNode{name: fmt.Sprint(m["name"]), instanceID: fmt.Sprint(m["instanceId"]),
			privateIP: fmt.Sprint(m["privateIp"]), publicIP: fmt.Sprint(m["publicIp"])})
	}
	return nodes
}

func opsSummary(ops map[string][]apitype.OpType) string {
	count := map[apitype.OpType]int{}
	for _, o := range ops {
		for _, op := range o {
			count[op]++
		}
	}
	var parts []string
	for op, n := range count {
		parts = append(parts, fmt.Sprintf("%s %d", op, n))
	}
	sort.Strings(parts)
	return "steps: " + strings.Join(parts, ", ")
}

// copyProject copies Pulumi.yaml and stacks/ into dir, so that the engine's
// runs leave the checkout as it was.
func copyProject(t *testing.T, dir string) string {
	t.Helper()
	root := ".."
	files := []string{"Pulumi.yaml"}
	_ = filepath.WalkDir(filepath.Join(root, "stacks"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel)
		}
		return nil
	})
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
