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
	}
}

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
	args := []string{"--shell=bash", "--severity=style"}
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
		cmd := exec.Command("bash", "-n")
		cmd.Stdin = strings.NewReader(a.text)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", a.name, err, out)
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
