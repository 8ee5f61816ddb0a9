package natsnest_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/natsnest/pulumi-natsnest/natsnest"
	"github.com/natsnest/pulumi-natsnest/natsnest/natsnesttest"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"golang.org/x/crypto/ssh"
)

// hostKeyOf is node n's key as its hostkey step keeps it (its stdout).
func hostKeyOf(t *testing.T, m *clusterMocks, n string) (pub, priv string) {
	t.Helper()
	r := m.byName(t, "c-"+n+"-hostkey")
	out := r.State["stdout"]
	if !out.IsSecret() {
		t.Errorf("%s-hostkey's stdout is not a secret", n)
	}
	var rec struct{ PrivateKey, PublicKey string }
	if err := json.Unmarshal([]byte(out.SecretValue().Element.StringValue()), &rec); err != nil {
		t.Fatalf("%s-hostkey's stdout: %v", n, err)
	}
	return rec.PublicKey, rec.PrivateKey
}

// TestClusterNodesHaveNatsnestsHostKeys: every node's key is made by the
// program and kept in a hostkey step that never logs it, installed by its
// instance's user_data (secret, ignored once the instance exists), and
// pinned in every connection to the node, after the node's pin step.
func TestClusterNodesHaveNatsnestsHostKeys(t *testing.T) {
	d := deploy(t, validClusterArgs())
	m := d.mocks
	keys := map[string]bool{}
	for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
		pub, priv := hostKeyOf(t, m, n)
		keys[pub] = true
		signer, err := ssh.ParsePrivateKey([]byte(priv))
		if err != nil {
			t.Fatalf("%s: the private key: %v", n, err)
		}
		if got := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))); got != pub || !strings.HasPrefix(pub, "ssh-ed25519 ") {
			t.Errorf("%s: public key %q, private key's %q", n, pub, got)
		}
		k := m.byName(t, "c-"+n+"-hostkey")
		if k.Input("logging") != "none" || !slices.Contains(k.IgnoreChanges, "stdin") || !k.Inputs["stdin"].IsSecret() {
			t.Errorf("%s-hostkey: logging %q, ignoreChanges %v, stdin secret %v", n, k.Input("logging"), k.IgnoreChanges, k.Inputs["stdin"].IsSecret())
		}

		inst := m.byName(t, "c-"+n)
		ud := inst.Inputs["userData"]
		if !ud.IsSecret() || !strings.Contains(inst.Input("userData"), "# natsnest host key: "+pub+"\n") || !strings.Contains(inst.Input("userData"), strings.ReplaceAll(strings.TrimSpace(priv), "\n", "\n    ")) {
			t.Errorf("%s: user_data (secret %v) does not install its key:\n%s", n, ud.IsSecret(), inst.Input("userData"))
		}
		if !slices.Contains(inst.IgnoreChanges, "userData") {
			t.Errorf("%s: userData not in ignoreChanges %v: a change would reboot the node", n, inst.IgnoreChanges)
		}

		// The migration runs when its step is created and never on an
		// update; for an instance born with the key it trusts nothing.
		mig := m.byName(t, "c-"+n+"-hostkey-migrate")
		if mig.Input("update") != "true" || !strings.Contains(mig.Input("create"), "ORIGIN=''") || !strings.Contains(mig.Input("create"), "PINNED='"+pub+"'") {
			t.Errorf("%s-hostkey-migrate: update %q; create:\n%s", n, mig.Input("update"), mig.Input("create"))
		}
		pin := m.byName(t, "c-"+n+"-hostkey-pin")
		if !slices.Contains(pin.Dependencies, mig.URN) {
			t.Errorf("%s-hostkey-pin does not wait for the migration step", n)
		}
		// Born with the key (the instance's state names it): no origin
		// instance whose key could be trusted once.
		if !strings.Contains(pin.Input("create"), "BIRTH='"+pub+"'") || !strings.Contains(pin.Input("create"), "ORIGIN=''") {
			t.Errorf("%s-hostkey-pin: the birth key is not the node's, or an origin instance is named", n)
		}
		if !strings.Contains(pin.Input("create"), "PINNED='"+pub+"'") || pin.Input("stdin") != priv || !pin.Inputs["stdin"].IsSecret() {
			t.Errorf("%s-hostkey-pin pins %q and gets the private key on a secret stdin: %s", n, pub, pin.Input("create"))
		}
		for _, c := range m.ofType(natsnesttest.Command) {
			if !strings.Contains(c.Name, "-"+n+"-") {
				continue
			}
			conn := c.Inputs["connection"]
			for conn.IsSecret() {
				conn = conn.SecretValue().Element
			}
			hk := conn.ObjectValue()["hostKey"]
			for hk.IsSecret() {
				hk = hk.SecretValue().Element
			}
			if !hk.IsString() || hk.StringValue() != pub {
				t.Errorf("%s: connection.hostKey %v, want %s", c.Name, hk, pub)
			}
			if !slices.Contains(c.Dependencies, pin.URN) && !dependsOnTransitively(m, c, pin.URN) {
				t.Errorf("%s does not wait for %s", c.Name, pin.Name)
			}
		}
		leave := m.byName(t, "c-servers-"+n+"-leave")
		if !strings.Contains(leave.Input("delete"), n+" ") || !strings.Contains(leave.Input("delete"), pub) {
			t.Errorf("%s's leave step does not pin its key", n)
		}
	}
	if len(keys) != 3 {
		t.Errorf("%d distinct keys for 3 nodes", len(keys))
	}
}

// dependsOnTransitively says whether r waits for urn through its
// dependencies.
func dependsOnTransitively(m *clusterMocks, r clusterReg, urn string) bool {
	seen := map[string]bool{}
	var walk func(deps []string) bool
	walk = func(deps []string) bool {
		for _, d := range deps {
			if d == urn {
				return true
			}
			if seen[d] {
				continue
			}
			seen[d] = true
			for _, o := range m.registrations() {
				if o.URN == d && walk(o.Dependencies) {
					return true
				}
			}
		}
		return false
	}
	return walk(r.Dependencies)
}

// TestClusterHostKeysAcrossRuns: the next up keeps every node's key and
// user_data; a change that replaces the instances (systemDiskCategory)
// drops userData from ignoreChanges, so the replacement is created with the
// key rather than the value the state keeps, which for a node deployed
// before natsnest pinned host keys is none (make e2e's TestHostKeys
// migrates such a stack on the engine).
func TestClusterHostKeysAcrossRuns(t *testing.T) {
	args := validClusterArgs()
	first := deploy(t, args)
	second := deploy(t, args, after(first))
	for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
		a, _ := hostKeyOf(t, first.mocks, n)
		b, _ := hostKeyOf(t, second.mocks, n)
		if a != b {
			t.Errorf("%s: key %s, then %s", n, a, b)
		}
		ua, ub := first.mocks.byName(t, "c-"+n).Input("userData"), second.mocks.byName(t, "c-"+n).Input("userData")
		if ua != ub {
			t.Errorf("%s: user_data changed on the next run: the instance would reboot", n)
		}
		if ic := second.mocks.byName(t, "c-"+n).IgnoreChanges; !slices.Contains(ic, "userData") {
			t.Errorf("%s: next run: ignoreChanges %v", n, ic)
		}
	}

	replacing := validClusterArgs()
	replacing.SystemDiskCategory = "cloud_ssd"
	third := deploy(t, replacing, after(second))
	for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
		inst := third.mocks.byName(t, "c-"+n)
		if slices.Contains(inst.IgnoreChanges, "userData") {
			t.Errorf("%s: systemDiskCategory changed, yet userData is ignored: the replacement would get the state's user_data", n)
		}
		a, _ := hostKeyOf(t, first.mocks, n)
		if !strings.Contains(inst.Input("userData"), "# natsnest host key: "+a+"\n") {
			t.Errorf("%s: the replacement's user_data does not carry the node's key", n)
		}
	}
}

// legacyInstances are mocks whose instances' state holds no user_data, as
// the engine's state of instances created before natsnest pinned host keys.
type legacyInstances struct{ *clusterMocks }

func (m legacyInstances) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	id, state, err := m.clusterMocks.NewResource(args)
	if args.TypeToken == tInstance {
		state = state.Copy()
		delete(state, "userData")
	}
	return id, state, err
}

// TestClusterMigratesInstancesBornWithoutTheKey: for an instance whose
// state names no natsnest key, only the migration step — run when it is
// created, never on an update — may trust the key the node presents once;
// the pin step, which runs again whenever the instance is replaced or the
// step itself is, never may.
func TestClusterMigratesInstancesBornWithoutTheKey(t *testing.T) {
	stubBuild(t)
	m := newClusterMocks()
	if err := runWithMocks(legacyInstances{m}, func(ctx *pulumi.Context) error {
		_, err := natsnest.NewCluster(ctx, "c", validClusterArgs())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
		inst := m.byName(t, "c-"+n)
		mig, pin := m.byName(t, "c-"+n+"-hostkey-migrate"), m.byName(t, "c-"+n+"-hostkey-pin")
		if !strings.Contains(mig.Input("create"), "ORIGIN='"+inst.ID+"'") || !strings.Contains(mig.Input("create"), "BIRTH='- -'") || mig.Input("update") != "true" {
			t.Errorf("%s: the migration step may not trust the legacy instance %s once:\n%s", n, inst.ID, mig.Input("create"))
		}
		if !strings.Contains(pin.Input("create"), "ORIGIN=''") || !strings.Contains(pin.Input("update"), "ORIGIN=''") {
			t.Errorf("%s: the pin step may trust a key once", n)
		}
	}
}
