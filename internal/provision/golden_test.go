package provision

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const testSHA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// artifact is one rendered file: a script or the unit.
type artifact struct {
	name   string
	text   string
	script bool
}

// artifacts renders every script and unit variant natsnest produces.
func artifacts(t *testing.T) []artifact {
	t.Helper()
	l := DefaultLayout()
	must := func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return []artifact{
		{"natsd.service", must(RenderUnit(UnitOptions{Layout: l, LameDuckDuration: 30 * time.Second})), false},
		{"natsd-no-data-disk.service", must(RenderUnit(UnitOptions{Layout: l, LameDuckDuration: 2*time.Minute + 500*time.Millisecond, NoDataDisk: true})), false},
		{"base.sh", must(BaseScript(l, BaseOptions{})), true},
		{"base-keys-only.sh", must(BaseScript(l, BaseOptions{KeysOnly: true})), true},
		{"disk-serial.sh", must(DiskScript(l, DiskOptions{Selector: DiskSelector{Serial: "d-bp1hf7y6oek8nqs1amd4"}})), true},
		{"disk-device.sh", must(DiskScript(l, DiskOptions{Selector: DiskSelector{Device: "/dev/vdb"}})), true},
		{"disk-auto.sh", must(DiskScript(l, DiskOptions{})), true},
		{"disk-none.sh", must(DiskScript(l, DiskOptions{NoDataDisk: true})), true},
		{"binary-upload.sh", must(BinaryScript(l, BinaryOptions{Version: "2.15.2", Arch: "amd64", SHA256: testSHA})), true},
		{"binary-url.sh", must(BinaryScript(l, BinaryOptions{Version: "2.15.2", Arch: "arm64", SHA256: testSHA, URL: "https://github.com/nats-io/nats-server/releases/download/v2.15.2/nats-server-v2.15.2-linux-arm64.tar.gz"})), true},
		{"config.sh", must(ConfigScript(l)), true},
		{"start.sh", must(StartScript(l, ServiceOptions{MonitorPort: 8222})), true},
		{"service.sh", must(ServiceScript(l, ServiceOptions{MonitorPort: 8222})), true},
		{"service-https.sh", must(ServiceScript(l, ServiceOptions{MonitorPort: 8222, MonitorTLS: true, Applies: []string{"nats-server v2.15.2 linux/amd64 sha256:" + testSHA, "config sha256:" + testSHA}})), true},
		{"leave.sh", must(LeaveScript(l, LeaveOptions{ServerName: "n2", ClientPort: 4222, Route: "10.0.0.2:4248", Peers: []string{"10.0.0.1:4222", "10.0.0.3:4222"}})), true},
		{"leave-drain.sh", must(LeaveScript(l, LeaveOptions{ServerName: "nats-2", ClientPort: 4222, Route: "172.16.0.6:4248", Peers: []string{"172.16.0.5:4222", "172.16.0.7:4222"}, Drain: true})), true},
		{"leave-single.sh", must(LeaveScript(l, LeaveOptions{ServerName: "nats-1", ClientPort: 4222, Route: "172.16.0.5:4248", Drain: true})), true},
		{"leave-local.sh", must(LeaveLocalScript(LeaveLocalOptions{Remote: "bash -c 'echo the leave script'", User: "root", Drain: true,
			URN:     "urn:pulumi:cluster::natsnest::natsnest:index:Cluster$natsnest:index:Servers$command:local:Command::natsnest-servers-nats-2-leave",
			Targets: []LeaveTarget{{Name: "nats-2", Address: "198.51.100.2", Port: 22}, {Name: "nats-1", Address: "198.51.100.1", Port: 22}, {Name: "nats-3", Address: "198.51.100.3", Port: 22}}})), true},
		{"leave-local-pinned.sh", must(LeaveLocalScript(LeaveLocalOptions{Remote: "sudo -n bash -c 'echo the leave script'", User: "admin",
			URN:     "urn:pulumi:test::natsnest::natsnest:index:Servers$command:local:Command::nats-n1-leave",
			Targets: []LeaveTarget{{Name: "n1", Address: "10.0.0.1", Port: 2222, HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl n1"}, {Name: "n2", Address: "10.0.0.2", Port: 2222, HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB6vQ2SO9m4x2GsWG4hO0bGv0QH3b3c4oKq4yJ0x9QkP"}},
			Bastion: &LeaveTarget{Address: "bastion.example.com", Port: 22, HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKjz1tH0gk2b4dxXv0u8yH0iE3kq8f1b2Z9b0wqH1c2d"}, BastionUser: "jump"})), true},
		{"hostkey.sh", must(HostKeyScript("/etc/ssh/sshd_config", goldenHostKey)), true},
		{"hostkey-pin.sh", must(HostKeyPinScript(HostKeyPinOptions{Node: LeaveTarget{Name: "nats-2", Address: "198.51.100.2", Port: 22, HostKey: goldenHostKey},
			Birth: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB6vQ2SO9m4x2GsWG4hO0bGv0QH3b3c4oKq4yJ0x9QkP", InstanceID: "i-bp1hf7y6oek8nqs1amd4", Origin: "i-bp1hf7y6oek8nqs1amd4",
			Remote: "bash -c 'echo the hostkey script'", User: "root"})), true},
	}
}

// goldenHostKey is a fixed Ed25519 public key for the golden files.
const goldenHostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"

func TestGolden(t *testing.T) {
	for _, a := range artifacts(t) {
		t.Run(a.name, func(t *testing.T) {
			path := filepath.Join("testdata", "golden", a.name)
			if *update {
				if err := os.WriteFile(path, []byte(a.text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/provision -update to create it)", err)
			}
			if !bytes.Equal([]byte(a.text), want) {
				t.Errorf("%s differs from the rendered output; review and run go test ./internal/provision -update\n--- got ---\n%s", path, a.text)
			}
		})
	}
}

func TestRenderingIsDeterministic(t *testing.T) {
	a, b := artifacts(t), artifacts(t)
	for i := range a {
		if a[i].text != b[i].text {
			t.Errorf("%s: two renders differ", a[i].name)
		}
	}
}

// Every rendered script passes shellcheck, at every severity.
func TestScriptsPassShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("shellcheck is not installed, so the rendered scripts are NOT linted here; `make test` installs it (apt-get install shellcheck)")
	}
	t.Parallel()
	dir := t.TempDir()
	// Each script's shell is its shebang's: bash on the nodes, sh for the
	// leave step on the deploying machine.
	args := []string{"--severity=style"}
	for _, a := range artifacts(t) {
		if !a.script {
			continue
		}
		path := filepath.Join(dir, a.name)
		if err := os.WriteFile(path, []byte(a.text), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, path)
	}
	if out, err := exec.Command(sc, args...).CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

// Every script is valid bash (bash -n), also where shellcheck is missing.
func TestScriptsParse(t *testing.T) {
	for _, a := range artifacts(t) {
		if !a.script {
			continue
		}
		shell := "bash"
		if strings.HasPrefix(a.text, "#!/bin/sh\n") {
			shell = "sh"
		}
		cmd := exec.Command(shell, "-n")
		cmd.Stdin = strings.NewReader(a.text)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s -n %s: %v\n%s", shell, a.name, err, out)
		}
		if n := len(RemoteCommand(a.text, true)); n > 100_000 {
			t.Errorf("%s: command line of %d bytes is too long for one SSH exec", a.name, n)
		}
	}
}

// CopyToRemote uploads the binary over SFTP after the base step and cannot
// create directories, so the base step must create the upload directory
// (make e2e failed on real machines without this).
func TestBaseStepCreatesUploadDir(t *testing.T) {
	l := DefaultLayout()
	script, err := BaseScript(l, BaseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(script, "\nUPLOAD_DIR="+ShellQuote(l.UploadDir)+"\n") {
		t.Errorf("base script does not set UPLOAD_DIR to %s", l.UploadDir)
	}
	if !regexp.MustCompile(`(?m)^install -d .*"\$UPLOAD_DIR"$`).MatchString(script) {
		t.Error("base script does not create $UPLOAD_DIR")
	}
}

// The start and service steps refuse what they cannot render safely: a
// port outside 1..65535, an Applies line that would end the comment.
func TestServiceOptionsRefused(t *testing.T) {
	l := DefaultLayout()
	for _, o := range []ServiceOptions{
		{MonitorPort: 0},
		{MonitorPort: 65536},
		{MonitorPort: 8222, Applies: []string{"config sha256:x\nrm -rf /"}},
		{MonitorPort: 8222, Applies: []string{"x\r"}},
		{MonitorPort: 8222, Applies: []string{""}},
	} {
		if s, err := ServiceScript(l, o); err == nil {
			t.Errorf("ServiceScript(%+v) rendered:\n%.300s", o, s)
		}
	}
	for _, port := range []int{0, 65536} {
		if _, err := StartScript(l, ServiceOptions{MonitorPort: port}); err == nil {
			t.Errorf("StartScript rendered monitor port %d", port)
		}
	}
	// Each Applies line is one comment line, in order, right after the header.
	s, err := ServiceScript(l, ServiceOptions{MonitorPort: 8222, Applies: []string{"a b", "c"}})
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(s, "\n"); len(lines) < 6 || lines[3] != "# applies: a b" || lines[4] != "# applies: c" || lines[5] != "set -euo pipefail" {
		t.Errorf("applies lines misplaced:\n%.400s", s)
	}
}
