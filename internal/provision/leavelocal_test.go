package provision

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeSSH answers like OpenSSH by destination, as the test says in
// $FAKE/<address>: "ok" runs nothing and prints the remote command, "down"
// is a connection timeout, "refused" a refused login, "fail" a remote
// script that fails. Each call records its arguments, its stdin, the
// password the askpass program gives and the known_hosts file it was told
// to use, in $FAKE/calls.
const fakeSSH = `#!/bin/bash
set -eu
n=$(ls "$FAKE/calls" | wc -l)
d="$FAKE/calls/$n"
mkdir -p "$d"
printf '%s\n' "$@" >"$d/args"
cat >"$d/stdin"
"$SSH_ASKPASS" >"$d/askpass"
known=""
for a in "$@"; do
	case $a in UserKnownHostsFile=*) known=${a#UserKnownHostsFile=} ;; esac
	case $a in */id) cp "$a" "$d/key" ;; esac
done
cp "$known" "$d/known"
dest=${*: -2:1}
strict=""
for a in "$@"; do
	case $a in StrictHostKeyChecking=*) strict=${a#StrictHostKeyChecking=} ;; esac
done
# $FAKE/<address>.key: the host key the node presents (TYPE KEY); checked
# against the pinned one before any login, as OpenSSH does.
if [ -f "$FAKE/$dest.key" ] && [ "$strict" = yes ] && ! grep -qF "$(cat "$FAKE/$dest.key")" "$known"; then
	echo "Host key verification failed." >&2
	exit 255
fi
echo login >"$d/login"
case $(cat "$FAKE/$dest" 2>/dev/null || echo down) in
ok)
	echo "ran: ${*: -1}"
	# $FAKE/<address>.next: the key it presents once a command other
	# than "true" ran (an install).
	if [ "${*: -1}" != true ] && [ -f "$FAKE/$dest.next" ]; then mv "$FAKE/$dest.next" "$FAKE/$dest.key"; fi
	;;
down) echo "ssh: connect to host $dest port 22: Connection timed out" >&2; exit 255 ;;
refused) echo "root@$dest: Permission denied (publickey,password)." >&2; exit 255 ;;
fail) echo "natsnest leave: error: on purpose" >&2; exit 1 ;;
esac
`

type leaveRun struct {
	out, err string
	code     int
	calls    []map[string]string // file name → content
}

// runLeaveLocal runs the rendered script with the fake ssh first on PATH.
func runLeaveLocal(t *testing.T, o LeaveLocalOptions, hosts map[string]string, env ...string) leaveRun {
	t.Helper()
	script, err := LeaveLocalScript(o)
	if err != nil {
		t.Fatal(err)
	}
	return runLocal(t, script, "user YWRtaW4=\npassword c2VjcmV0\n", hosts, env...)
}

// runLocal runs a local step's script with stdin and the fake ssh first on
// PATH; fake holds the fake's files by name ("10.0.0.2": how it answers,
// "10.0.0.2.key": the host key it presents, …).
func runLocal(t *testing.T, script, stdin string, hosts map[string]string, env ...string) leaveRun {
	t.Helper()
	dir := t.TempDir()
	bin, fake := filepath.Join(dir, "bin"), filepath.Join(dir, "fake")
	for _, d := range []string{bin, filepath.Join(fake, "calls")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(fakeSSH), 0o755); err != nil {
		t.Fatal(err)
	}
	for addr, how := range hosts {
		if err := os.WriteFile(filepath.Join(fake, addr), []byte(how), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = append([]string{"PATH=" + bin + ":" + os.Getenv("PATH"), "FAKE=" + fake, "TMPDIR=" + dir}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &stderr
	r := leaveRun{}
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		r.code = ee.ExitCode()
	}
	r.out, r.err = out.String(), stderr.String()
	entries, _ := os.ReadDir(filepath.Join(fake, "calls"))
	for i := range entries {
		call := map[string]string{}
		for _, f := range []string{"args", "stdin", "askpass", "known", "key", "login"} {
			if b, err := os.ReadFile(filepath.Join(fake, "calls", strconv.Itoa(i), f)); err == nil {
				call[f] = string(b)
			}
		}
		r.calls = append(r.calls, call)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "natsnest-*")); len(left) > 0 {
		t.Errorf("the script left %v behind (credentials)", left)
	}
	return r
}

func threeNodes(drain bool) LeaveLocalOptions {
	return LeaveLocalOptions{Remote: "bash -c 'the leave script'", User: "root", Drain: drain,
		URN:     "urn:pulumi:s::p::natsnest:index:Servers$command:local:Command::x-nats-2-leave",
		Targets: []LeaveTarget{{Name: "nats-2", Address: "10.0.0.2", Port: 22}, {Name: "nats-1", Address: "10.0.0.1", Port: 22}, {Name: "nats-3", Address: "10.0.0.3", Port: 22}}}
}

const testPassword = "pass word $(not run)"

func TestLeaveLocalOnTheNode(t *testing.T) {
	r := runLeaveLocal(t, threeNodes(true), map[string]string{"10.0.0.2": "ok"}, "NATSNEST_SSH_PASSWORD="+testPassword)
	if r.code != 0 || len(r.calls) != 1 {
		t.Fatalf("exit %d, %d calls; stderr:\n%s", r.code, len(r.calls), r.err)
	}
	c := r.calls[0]
	args := strings.Split(strings.TrimSpace(c["args"]), "\n")
	if last := args[len(args)-1]; last != "bash -c 'the leave script' leave self" {
		t.Errorf("remote command %q, want the script in self mode", last)
	}
	for _, want := range []string{"ConnectTimeout=20", "ConnectionAttempts=3", "ServerAliveInterval=10", "StrictHostKeyChecking=no", "PubkeyAuthentication=no"} {
		if !strings.Contains(c["args"], want) {
			t.Errorf("ssh options lack %s:\n%s", want, c["args"])
		}
	}
	if c["stdin"] != "user YWRtaW4=\npassword c2VjcmV0\n" {
		t.Errorf("the remote script got stdin %q", c["stdin"])
	}
	if c["askpass"] != testPassword+"\n" {
		t.Errorf("askpass printed %q, want the password", c["askpass"])
	}
	if strings.Contains(c["args"], "pass word") {
		t.Error("the password is on ssh's command line")
	}
	if !strings.Contains(r.out, "ran: bash -c") {
		t.Errorf("the remote output is not passed on: %q", r.out)
	}
}

func TestLeaveLocalPinsHostKeysAndUsesTheKey(t *testing.T) {
	o := threeNodes(false)
	o.Targets[0].Port = 2222
	o.Targets[0].HostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl nats-2"
	key := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----"
	r := runLeaveLocal(t, o, map[string]string{"10.0.0.2": "ok"}, "NATSNEST_SSH_KEY="+key)
	if r.code != 0 || len(r.calls) != 1 {
		t.Fatalf("exit %d, %d calls; stderr:\n%s", r.code, len(r.calls), r.err)
	}
	c := r.calls[0]
	if c["known"] != "[10.0.0.2]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n" || !strings.Contains(c["args"], "StrictHostKeyChecking=yes") {
		t.Errorf("known_hosts %q, options:\n%s", c["known"], c["args"])
	}
	if c["key"] != key+"\n" || strings.Contains(c["args"], "BEGIN OPENSSH") || !strings.Contains(c["args"], "IdentitiesOnly=yes") ||
		!strings.Contains(c["args"], "PreferredAuthentications=publickey\n") {
		t.Errorf("the key file holds %q; options:\n%s", c["key"], c["args"])
	}

	// A key and a password: the key first, then the password.
	r = runLeaveLocal(t, o, map[string]string{"10.0.0.2": "ok"}, "NATSNEST_SSH_KEY="+key, "NATSNEST_SSH_PASSWORD="+testPassword)
	if r.code != 0 || !strings.Contains(r.calls[0]["args"], "PreferredAuthentications=publickey,password,keyboard-interactive") || r.calls[0]["askpass"] != testPassword+"\n" {
		t.Errorf("key and password: exit %d, options:\n%s", r.code, r.calls[0]["args"])
	}
}

func TestLeaveLocalDeadNode(t *testing.T) {
	// The node does not answer; the first other node that does runs the
	// script in peer mode.
	r := runLeaveLocal(t, threeNodes(true), map[string]string{"10.0.0.2": "down", "10.0.0.1": "down", "10.0.0.3": "ok"}, "NATSNEST_SSH_PASSWORD=x")
	if r.code != 0 || len(r.calls) != 3 {
		t.Fatalf("exit %d, %d calls; stderr:\n%s", r.code, len(r.calls), r.err)
	}
	for i, want := range []string{"10.0.0.2\nbash -c 'the leave script' leave self", "10.0.0.1\nbash -c 'the leave script' leave peer", "10.0.0.3\nbash -c 'the leave script' leave peer"} {
		if !strings.HasSuffix(strings.TrimSpace(r.calls[i]["args"]), want) {
			t.Errorf("call %d: %q, want it to end in %q", i, r.calls[i]["args"], want)
		}
	}
	for _, want := range []string{
		"nats-2 (10.0.0.2) does not answer over SSH (3 attempts, 20s each): natsd on it was not stopped and /data not unmounted before its disk is detached",
		"nats-1 (10.0.0.1) does not answer over SSH either",
	} {
		if !strings.Contains(r.err, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.err)
		}
	}

	// A single node that does not answer: reported, and done.
	single := threeNodes(true)
	single.Targets = single.Targets[:1]
	r = runLeaveLocal(t, single, nil, "NATSNEST_SSH_PASSWORD=x")
	if r.code != 0 || len(r.calls) != 1 || !strings.Contains(r.err, "does not answer over SSH") {
		t.Errorf("single dead node: exit %d, %d calls, stderr:\n%s", r.code, len(r.calls), r.err)
	}
}

func TestLeaveLocalFailures(t *testing.T) {
	// Nobody answers: the step fails, naming the command that takes it out
	// of the state.
	r := runLeaveLocal(t, threeNodes(true), nil, "NATSNEST_SSH_PASSWORD=x")
	if r.code == 0 || len(r.calls) != 3 || !strings.Contains(r.err, "pulumi state delete 'urn:pulumi:s::p::natsnest:index:Servers$command:local:Command::x-nats-2-leave'") {
		t.Errorf("nobody answers: exit %d, %d calls, stderr:\n%s", r.code, len(r.calls), r.err)
	}
	// A refused login is not an absence: no other node is tried.
	r = runLeaveLocal(t, threeNodes(true), map[string]string{"10.0.0.2": "refused", "10.0.0.1": "ok"}, "NATSNEST_SSH_PASSWORD=x")
	if r.code == 0 || len(r.calls) != 1 || !strings.Contains(r.err, "Permission denied") {
		t.Errorf("refused: exit %d, %d calls, stderr:\n%s", r.code, len(r.calls), r.err)
	}
	// The remote script's failure is the step's.
	r = runLeaveLocal(t, threeNodes(true), map[string]string{"10.0.0.2": "fail"}, "NATSNEST_SSH_PASSWORD=x")
	if r.code != 1 || len(r.calls) != 1 || !strings.Contains(r.err, "on purpose") {
		t.Errorf("remote failure: exit %d, %d calls, stderr:\n%s", r.code, len(r.calls), r.err)
	}
}

func TestLeaveLocalRefusesBadInput(t *testing.T) {
	for name, mutate := range map[string]func(*LeaveLocalOptions){
		"no targets":    func(o *LeaveLocalOptions) { o.Targets = nil },
		"bad address":   func(o *LeaveLocalOptions) { o.Targets[1].Address = "10.0.0.1; rm -rf /" },
		"bad port":      func(o *LeaveLocalOptions) { o.Targets[0].Port = 0 },
		"bad host key":  func(o *LeaveLocalOptions) { o.Targets[0].HostKey = "not a key" },
		"bad user":      func(o *LeaveLocalOptions) { o.User = "root --oops" },
		"bad URN":       func(o *LeaveLocalOptions) { o.URN = "x" },
		"no remote":     func(o *LeaveLocalOptions) { o.Remote = " " },
		"bad name":      func(o *LeaveLocalOptions) { o.Targets[2].Name = "a b" },
		"bad bastion":   func(o *LeaveLocalOptions) { o.Bastion = &LeaveTarget{Address: "-oProxyCommand=x", Port: 22} },
		"bad bast user": func(o *LeaveLocalOptions) { o.Bastion = &LeaveTarget{Address: "b", Port: 22}; o.BastionUser = "A B" },
	} {
		o := threeNodes(false)
		mutate(&o)
		if _, err := LeaveLocalScript(o); err == nil {
			t.Errorf("%s: rendered", name)
		}
	}
}
