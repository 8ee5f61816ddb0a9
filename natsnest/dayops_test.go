package natsnest_test

import (
	"fmt"
	"github.com/natsnest/pulumi-natsnest/natsnest"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// Day-2 operations under mocks (issue 6): which commands re-run, and which
// are deleted, when a cluster grows, shrinks or is upgraded. The local
// cluster tier (internal/testkit/localcluster/dayops_test.go) runs the same
// operations on real servers, the machine tier (e2e/) over SSH.

// Every host of a cluster gets a leave command that runs nothing until it
// is deleted: then, on the host, it stops natsd with lame duck and
// peer-removes the server. The deletes are chained, last host first.
func TestServersLeaveCommands(t *testing.T) {
	r := svMustDeploy(t, svArgs(t, 3))
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("nats-n%d-leave", i)
		reg, ok := r.regs[name]
		if !ok {
			t.Fatalf("no %s; have %v", name, r.names())
		}
		if reg.Type != "command:remote:Command" || reg.Parent != "nats" {
			t.Errorf("%s: type %s, parent %s", name, reg.Type, reg.Parent)
		}
		if v, ok := reg.Inputs["create"]; ok && !v.IsNull() {
			t.Errorf("%s runs something on create: %v", name, v)
		}
		if v, ok := reg.Inputs["triggers"]; ok && !v.IsNull() && len(v.ArrayValue()) > 0 {
			t.Errorf("%s has triggers, whose change would replace it and run its delete: %v", name, v)
		}
		del := r.str(t, name, "delete")
		peers := map[int]string{1: "10.0.0.2:4222 10.0.0.3:4222", 2: "10.0.0.1:4222 10.0.0.3:4222", 3: "10.0.0.1:4222 10.0.0.2:4222"}[i]
		for _, want := range []string{
			"natsnest leave step",
			fmt.Sprintf("SERVER_NAME='\\''n%d'\\''", i),
			fmt.Sprintf("SELF_ROUTE='\\''10.0.0.%d:4248'\\''", i),
			"SELF_CLIENT='\\''127.0.0.1:4222'\\''",
			"PEERS='\\''" + peers + "'\\''",
			"$JS.API.SERVER.REMOVE",
		} {
			if !strings.Contains(del, want) {
				t.Errorf("%s: delete lacks %q", name, want)
			}
		}
		// The admin's credentials travel on stdin, as a secret.
		if v := r.input(t, name, "stdin"); !v.IsSecret() {
			t.Errorf("%s: stdin is not secret", name)
		}
		if got := r.str(t, name, "stdin"); !strings.Contains(got, "user YWRtaW4=\n") || strings.Contains(del, svAdminPassword) {
			t.Errorf("%s: stdin %q, or the password is on the command line", name, got)
		}
		want := []string{fmt.Sprintf("nats-n%d-service", i), "ssh-rule"}
		if i > 1 {
			// Pulumi deletes a resource before what it depends on: n3's
			// leave runs before n2's, one host at a time.
			want = append(want, fmt.Sprintf("nats-n%d-leave", i-1))
		}
		for _, d := range want {
			if !contains(reg.Deps, d) {
				t.Errorf("%s depends on %v, not on %s", name, reg.Deps, d)
			}
		}
	}

	single := svArgs(t, 1)
	r = svMustDeploy(t, single)
	if _, ok := r.regs["nats-n1-leave"]; ok {
		t.Error("a single node, which has no JetStream cluster to leave, has a leave command")
	}
}

// Scale out 3 → 5: the new hosts get every step; the old ones get new
// routes (config and service: a reload, as only routes.conf changes) and
// their leave commands learn the new peers. Nothing else re-runs.
// Scale in 5 → 3: the same on the remaining hosts, and every resource of
// the two leaving hosts is deleted — their leave commands' Delete takes
// them out of JetStream first.
func TestServersScaleOutAndIn(t *testing.T) {
	three, five := svArgs(t, 3), svArgs(t, 5)
	five.Binary = three.Binary
	steps := append(append([]string{}, svSteps...), "leave")
	var wantOut []string
	wantOut = append(wantOut, hostSteps("config", "service", "leave")(1, 2, 3)...)
	wantOut = append(wantOut, hostSteps(steps...)(4, 5)...)
	sort.Strings(wantOut)
	if got := changedSteps(t, three, func(a *natsnest.ServersArgs) { a.Hosts = append(a.Hosts, five.Hosts[3:]...) }); !reflect.DeepEqual(got, wantOut) {
		t.Errorf("scale out 3 → 5 changed %v\nwant %v", got, wantOut)
	}

	var wantIn []string
	wantIn = append(wantIn, hostSteps("config", "service", "leave")(1, 2, 3)...)
	for _, s := range hostSteps(steps...)(4, 5) {
		wantIn = append(wantIn, s+"(gone)")
	}
	sort.Strings(wantIn)
	if got := changedSteps(t, five, func(a *natsnest.ServersArgs) { a.Hosts = a.Hosts[:3] }); !reflect.DeepEqual(got, wantIn) {
		t.Errorf("scale in 5 → 3 changed %v\nwant %v", got, wantIn)
	}

	// The remaining nodes' restart settings do not change: their service
	// step reloads (routes reload), it does not restart.
	before, after := svMustDeploy(t, five), svMustDeploy(t, three)
	for i := 1; i <= 3; i++ {
		host := fmt.Sprintf("n%d", i)
		b, a := before.payload(t, host), after.payload(t, host)
		if b.RestartSettings != a.RestartSettings || b.Unit != a.Unit {
			t.Errorf("%s: scale in changes the restart settings or the unit: a restart, not a reload", host)
		}
		if b.Routes == a.Routes {
			t.Errorf("%s: routes unchanged by the scale in", host)
		}
	}
}

// An upgrade of nats-server re-runs upload, binary and service on every
// host — the service steps one host after the other, each restart with lame
// duck mode and waiting for the full /healthz — and nothing else.
func TestServersUpgradeReRunsBinaryAndService(t *testing.T) {
	base := svArgs(t, 3)
	got := changedSteps(t, base, func(a *natsnest.ServersArgs) {
		a.NATSVersion = "2.15.3"
		a.Binary.LocalPath = svBinary(t, "#!/bin/sh\necho 'nats-server: v2.15.3'\n")
	})
	if want := hostSteps("upload", "binary", "service")(1, 2, 3); !reflect.DeepEqual(got, want) {
		t.Errorf("upgrade changed %v\nwant %v", got, want)
	}
	r := svMustDeploy(t, base)
	if s := r.str(t, "nats-n2-service", "update"); !strings.Contains(s, "wait_healthz \"\" \"$ROLL_TIMEOUT\"") {
		t.Error("a restart does not wait for the full /healthz")
	}
	// Only the chained service step restarts: the start step, which runs
	// on every host at once, never does.
	if s := r.str(t, "nats-n2-start", "create"); strings.Contains(s, "systemctl restart") || strings.Contains(s, "systemctl reload") {
		t.Error("the start step restarts or reloads a running server")
	}
	if f := r.payload(t, "n1"); !strings.Contains(f.Unit, "KillSignal=SIGUSR2") {
		t.Error("the unit does not stop with lame duck mode")
	}
}
