package natsnest_test

import (
	"fmt"
	"os/exec"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/natsnest"
)

// Day-2 operations under mocks (issue 6): which commands re-run, and which
// are deleted, when a cluster grows, shrinks or is upgraded. The local
// cluster tier (internal/testkit/localcluster/dayops_test.go) runs the same
// operations on real servers, the machine tier (e2e/) over SSH.

// Every host of a cluster gets a leave step that runs nothing until it is
// deleted: then, from the deploying machine over OpenSSH, it stops natsd on
// the host with lame duck and peer-removes the server — or, when the host
// does not answer within a bounded wait, says so and peer-removes it
// through another host. The deletes are chained, last host first.
func TestServersLeaveCommands(t *testing.T) {
	r := svMustDeploy(t, svArgs(t, 3))
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("nats-n%d-leave", i)
		reg, ok := r.regs[name]
		if !ok {
			t.Fatalf("no %s; have %v", name, r.names())
		}
		if reg.Type != "command:local:Command" || reg.Parent != "nats" {
			t.Errorf("%s: type %s, parent %s", name, reg.Type, reg.Parent)
		}
		for _, key := range []string{"create", "update"} {
			if v, ok := reg.Inputs[resource.PropertyKey(key)]; ok && !v.IsNull() {
				t.Errorf("%s runs something on %s: %v", name, key, v)
			}
		}
		// A Servers host without an InstanceID is never replaced under the
		// step: a trigger would run its Delete on a mere change.
		if v, ok := reg.Inputs["triggers"]; ok && !v.IsNull() && len(v.ArrayValue()) > 0 {
			t.Errorf("%s has triggers: %v", name, v)
		}
		del := r.str(t, name, "delete")
		vars := shellVars(t, del, "SERVER_NAME", "TARGETS", "CONNECT_TIMEOUT", "CONNECT_ATTEMPTS", "DRAIN", "URN", "REMOTE")
		if vars["SERVER_NAME"] != fmt.Sprintf("n%d", i) || vars["DRAIN"] != "0" ||
			vars["URN"] != "urn:pulumi:test::natsnest::natsnest:index:Servers$command:local:Command::"+name {
			t.Errorf("%s: %v", name, vars)
		}
		// This host first, then the others, each at its SSH address.
		order := map[int][]int{1: {1, 2, 3}, 2: {2, 1, 3}, 3: {3, 1, 2}}[i]
		var targets []string
		for _, j := range order {
			targets = append(targets, fmt.Sprintf("n%d 203.0.113.%d 22 - -", j, j))
		}
		if vars["TARGETS"] != strings.Join(targets, "\n") {
			t.Errorf("%s: targets %q, want %q", name, vars["TARGETS"], targets)
		}
		// The wait for a host that is gone, on the registered resource:
		// OpenSSH's connect timeout × attempts, at most two minutes.
		timeout, _ := strconv.Atoi(vars["CONNECT_TIMEOUT"])
		attempts, _ := strconv.Atoi(vars["CONNECT_ATTEMPTS"])
		if timeout <= 0 || attempts <= 0 || timeout*attempts > 120 || !strings.Contains(del, "ConnectTimeout=$CONNECT_TIMEOUT -o ConnectionAttempts=$CONNECT_ATTEMPTS") {
			t.Errorf("%s: waits %d × %ds for a host that is gone, want at most 120 s in all", name, attempts, timeout)
		}
		remote := shellWords(t, vars["REMOTE"])
		if len(remote) != 3 || remote[0] != "bash" || remote[1] != "-c" {
			t.Fatalf("%s: remote command %q", name, vars["REMOTE"])
		}
		peers := map[int]string{1: "10.0.0.2:4222 10.0.0.3:4222", 2: "10.0.0.1:4222 10.0.0.3:4222", 3: "10.0.0.1:4222 10.0.0.2:4222"}[i]
		script := remote[2]
		for _, want := range []string{
			"natsnest leave step",
			fmt.Sprintf("SERVER_NAME='n%d'", i),
			fmt.Sprintf("SELF_ROUTE='10.0.0.%d:4248'", i),
			"SELF_CLIENT='127.0.0.1:4222'",
			"PEERS='" + peers + "'",
			"DRAIN='0'",
			"$JS.API.SERVER.REMOVE",
		} {
			if !strings.Contains(script, want) {
				t.Errorf("%s: the remote script lacks %q", name, want)
			}
		}
		// The admin's credentials travel on stdin, the SSH key in the
		// environment, both secrets; neither is in the script.
		if v := r.input(t, name, "stdin"); !v.IsSecret() {
			t.Errorf("%s: stdin is not secret", name)
		}
		if got := r.str(t, name, "stdin"); !strings.Contains(got, "user YWRtaW4=\n") || strings.Contains(del, svAdminPassword) {
			t.Errorf("%s: stdin %q, or the password is in the script", name, got)
		}
		env := r.input(t, name, "environment")
		if !env.IsSecret() && !unsecret(env).ObjectValue()["NATSNEST_SSH_KEY"].IsSecret() {
			t.Errorf("%s: the SSH key in the environment is not secret", name)
		}
		if got := unsecret(unsecret(env).ObjectValue()["NATSNEST_SSH_KEY"]).StringValue(); got != svSSHKey || strings.Contains(del, "PRIVATE KEY") {
			t.Errorf("%s: NATSNEST_SSH_KEY %q, or the key is in the script", name, got)
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
		t.Error("a single Servers host, which has no JetStream cluster to leave and no instance to drain, has a leave step")
	}
}

// A host with an InstanceID — every Cluster node — is drained by its leave
// step, which its instance's ID triggers: a replaced instance deletes the
// step first, so natsd stops and /data is unmounted before the disk goes.
// A single such host gets the step too.
func TestServersLeaveDrainsInstances(t *testing.T) {
	for _, n := range []int{1, 3} {
		args := svArgs(t, n)
		for i := range args.Hosts {
			args.Hosts[i].InstanceID = pulumi.String(fmt.Sprintf("i-bp1inst%d", i+1))
		}
		r := svMustDeploy(t, args)
		for i := 1; i <= n; i++ {
			name := fmt.Sprintf("nats-n%d-leave", i)
			if _, ok := r.regs[name]; !ok {
				t.Fatalf("%d hosts: no %s", n, name)
			}
			trig := unsecret(r.input(t, name, "triggers"))
			if !trig.IsArray() || len(trig.ArrayValue()) != 1 || unsecret(trig.ArrayValue()[0]).StringValue() != fmt.Sprintf("i-bp1inst%d", i) {
				t.Errorf("%d hosts: %s triggers %v, want the instance ID", n, name, trig)
			}
			vars := shellVars(t, r.str(t, name, "delete"), "DRAIN", "TARGETS", "REMOTE")
			script := shellWords(t, vars["REMOTE"])[2]
			if vars["DRAIN"] != "1" || !strings.Contains(script, "DRAIN='1'") || !strings.Contains(script, "umount \"$DATA_MOUNT\"") {
				t.Errorf("%d hosts: %s does not drain the node", n, name)
			}
			if n == 1 && (vars["TARGETS"] != "n1 203.0.113.1 22 - -" || !strings.Contains(script, "PEERS=''")) {
				t.Errorf("single host: targets %q", vars["TARGETS"])
			}
		}
	}
}

// shellVars evaluates the assignments at the top of the leave step's script
// (everything before its own first function) with sh, and returns the named
// variables' values.
func shellVars(t *testing.T, script string, names ...string) map[string]string {
	t.Helper()
	end := strings.LastIndex(script, "\nwarn() {") // the remote script in REMOTE has one too
	if end < 0 {
		t.Fatalf("no function in the script:\n%s", script)
	}
	head := script[:end]
	var print strings.Builder
	print.WriteString(head + "\n")
	for _, n := range names {
		fmt.Fprintf(&print, "printf '%%s\\0' \"$%s\"\n", n)
	}
	cmd := exec.Command("sh", "-c", print.String())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("evaluating the script's variables: %v\n%s", err, stderr.String())
	}
	vals := strings.Split(string(out), "\x00")
	m := map[string]string{}
	for i, n := range names {
		m[n] = vals[i]
	}
	return m
}

// shellWords splits a command line as sh does.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	out, err := exec.Command("sh", "-c", "eval \"set -- $1\"; for w; do printf '%s\\0' \"$w\"; done", "sh", line).Output()
	if err != nil {
		t.Fatalf("splitting %q: %v", line, err)
	}
	words := strings.Split(string(out), "\x00")
	return words[:len(words)-1]
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
