package provision

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// These tests run the rendered scripts for real against a layout under a
// temporary directory, with systemctl and journalctl faked on PATH. They
// need root, as the scripts set owners.

type testNode struct {
	t     *testing.T
	l     Layout
	state string // the fakes' state: calls, active, starts, reloads
	env   []string
}

const fakeSystemctl = `#!/bin/bash
state=$FAKE_STATE
echo "$*" >>"$state/calls"
cmd=""
for a in "$@"; do
	case $a in --*) ;; *) if [ -z "$cmd" ]; then cmd=$a; fi ;; esac
done
case $cmd in
enable)
	if [[ " $* " == *" --now "* ]]; then touch "$state/active"; echo x >>"$state/starts"; fi ;;
is-active) [ -f "$state/active" ] ;;
start | restart) touch "$state/active"; echo x >>"$state/starts" ;;
reload) if [ ! -f "$state/reject" ]; then echo x >>"$state/reloads"; fi ;;
show) echo 4242 ;;
reset-failed | daemon-reload) ;;
*) echo "fake systemctl: unexpected $*" >&2; exit 1 ;;
esac
`

func newTestNode(t *testing.T) *testNode {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("runs the node scripts against a temporary root and sets owners: needs root")
	}
	root := t.TempDir()
	l := Layout{
		Binary:    root + "/usr/local/bin/nats-server",
		ConfigDir: root + "/etc/nats",
		UnitDir:   root + "/etc/systemd/system",
		StateDir:  root + "/var/lib/natsnest",
		UploadDir: root + "/var/lib/natsnest-upload",
		FSTab:     root + "/etc/fstab",
		DataMount: root + "/data",
		StoreDir:  root + "/data/nats-storage",
		User:      "root",
		Group:     "root",
	}
	for _, d := range []string{filepath.Dir(l.Binary), l.ConfigDir, l.UnitDir, l.StateDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fake := filepath.Join(root, "fakebin")
	state := filepath.Join(root, "fakestate")
	for _, d := range []string{fake, state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(fake, "systemctl"), fakeSystemctl, 0o755)
	write(t, filepath.Join(fake, "journalctl"), "#!/bin/sh\necho 'fake journal tail'\n", 0o755)
	return &testNode{t: t, l: l, state: state, env: append(os.Environ(), "PATH="+fake+":"+os.Getenv("PATH"), "FAKE_STATE="+state)}
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func (n *testNode) run(script, stdin string) (string, error) {
	n.t.Helper()
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = n.env
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (n *testNode) mustRun(script, stdin string) string {
	n.t.Helper()
	out, err := n.run(script, stdin)
	if err != nil {
		n.t.Fatalf("script failed: %v\n%s", err, out)
	}
	return out
}

func (n *testNode) count(name string) int {
	b, _ := os.ReadFile(filepath.Join(n.state, name))
	return strings.Count(string(b), "\n")
}

func fakeNATSServer(version string) string {
	return "#!/bin/sh\ncase \"$1\" in\n--version) echo \"nats-server: v" + version + "\" ;;\n" +
		"-t) if grep -q INVALID \"$3\"; then echo \"$3: invalid configuration\" >&2; exit 1; fi ;;\n*) exit 2 ;;\nesac\n"
}

func sha(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func nodeArch(t *testing.T) string {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skipf("the binary step knows amd64 and arm64, not %s", runtime.GOARCH)
	}
	return runtime.GOARCH
}

func TestBinaryStepUpload(t *testing.T) {
	t.Parallel()
	n := newTestNode(t)
	arch := nodeArch(t)
	bin := fakeNATSServer("2.15.2")
	write(t, n.l.StagedBinary(sha(bin)), bin, 0o644)
	write(t, n.l.StagedBinary(sha("old upload")), "old upload", 0o644)
	script, err := BinaryScript(n.l, BinaryOptions{Version: "2.15.2", Arch: arch, SHA256: sha(bin)})
	if err != nil {
		t.Fatal(err)
	}
	out := n.mustRun(script, "")
	if got, _ := os.ReadFile(n.l.Binary); string(got) != bin || !strings.Contains(out, "installed nats-server v2.15.2") {
		t.Fatalf("not installed:\n%s", out)
	}
	if fi, _ := os.Stat(n.l.Binary); fi.Mode().Perm() != 0o755 {
		t.Errorf("mode %v", fi.Mode())
	}
	if _, err := os.Stat(n.l.StagedBinary(sha("old upload"))); !os.IsNotExist(err) {
		t.Error("an earlier upload was not cleaned up")
	}
	if _, err := os.Stat(n.l.StagedBinary(sha(bin))); err != nil {
		t.Error("the current upload was removed; the step could not run again without a new upload")
	}
	if out := n.mustRun(script, ""); !strings.Contains(out, "already installed") {
		t.Errorf("second run:\n%s", out)
	}
}

// A binary whose checksum, version or architecture is wrong is refused with
// a clear error, and the installed binary stays.
func TestBinaryStepKeepsThePreviousBinary(t *testing.T) {
	t.Parallel()
	n := newTestNode(t)
	arch := nodeArch(t)
	previous := fakeNATSServer("2.15.1")
	write(t, n.l.Binary, previous, 0o755)
	other := map[string]string{"amd64": "arm64", "arm64": "amd64"}[arch]

	tampered := fakeNATSServer("2.15.2")
	wrongVersion := fakeNATSServer("2.14.0")
	write(t, n.l.StagedBinary(sha("what was meant")), tampered, 0o644)
	write(t, n.l.StagedBinary(sha(wrongVersion)), wrongVersion, 0o644)
	for _, c := range []struct {
		name string
		opts BinaryOptions
		want string
	}{
		{"checksum", BinaryOptions{Version: "2.15.2", Arch: arch, SHA256: sha("what was meant")}, "checksum mismatch for the uploaded binary"},
		{"version", BinaryOptions{Version: "2.15.2", Arch: arch, SHA256: sha(wrongVersion)}, "not v2.15.2"},
		{"arch", BinaryOptions{Version: "2.15.2", Arch: other, SHA256: sha(wrongVersion)}, "set Binary.Arch"},
		{"missing upload", BinaryOptions{Version: "2.15.2", Arch: arch, SHA256: sha("never uploaded")}, "is missing"},
	} {
		script, err := BinaryScript(n.l, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		out, err := n.run(script, "")
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("%s: got %v, want an error saying %q:\n%s", c.name, err, c.want, out)
		}
		if got, _ := os.ReadFile(n.l.Binary); string(got) != previous {
			t.Errorf("%s: the previous binary was replaced", c.name)
		}
		if _, err := os.Stat(n.l.Binary + ".natsnest-new"); !os.IsNotExist(err) {
			t.Errorf("%s: a temporary binary was left behind", c.name)
		}
	}
}

func tarGz(t *testing.T, files map[string]string) string {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(content))
	}
	tw.Close()
	gz.Close()
	return buf.String()
}

func TestBinaryStepDownload(t *testing.T) {
	t.Parallel()
	n := newTestNode(t)
	arch := nodeArch(t)
	if _, err := exec.LookPath("curl"); err != nil {
		if _, err := exec.LookPath("wget"); err != nil {
			t.Skip("neither curl nor wget here")
		}
	}
	bin := fakeNATSServer("2.15.2")
	release := tarGz(t, map[string]string{
		"nats-server-v2.15.2-linux-" + arch + "/nats-server": bin,
		"nats-server-v2.15.2-linux-" + arch + "/README.md":   "readme",
	})
	mirror := tarGz(t, map[string]string{"some/dir/nats-server": bin})
	files := map[string]string{
		"/nats-server-v2.15.2-linux-" + arch + ".tar.gz": release,
		"/mirror.tgz":  mirror,
		"/nats-server": bin,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, ok := files[r.URL.Path]; ok {
			w.Write([]byte(b))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()

	previous := fakeNATSServer("2.15.1")
	for _, c := range []struct {
		path, sum, want string
		ok              bool
	}{
		{"/nats-server-v2.15.2-linux-" + arch + ".tar.gz", sha(release), "installed nats-server v2.15.2", true},
		{"/mirror.tgz", sha(mirror), "installed nats-server v2.15.2", true},
		{"/nats-server", sha(bin), "installed nats-server v2.15.2", true},
		{"/nats-server-v2.15.2-linux-" + arch + ".tar.gz", sha("something else"), "checksum mismatch for " + srv.URL, false},
		{"/missing.tar.gz", sha(release), "download of " + srv.URL + "/missing.tar.gz failed", false},
		// A presigned URL: its signature reaches curl on stdin only, and
		// the step's output shows the URL without its query.
		{"/nats-server?X-Signature=s3cr3t-signature", sha(bin), "downloaded " + srv.URL + "/nats-server?<redacted>", true},
		{"/missing?X-Signature=s3cr3t-signature", sha(bin), "download of " + srv.URL + "/missing?<redacted> failed", false},
	} {
		write(t, n.l.Binary, previous, 0o755)
		u := srv.URL + c.path
		script, err := BinaryScript(n.l, BinaryOptions{Version: "2.15.2", Arch: arch, SHA256: c.sum, URL: u})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(script, "s3cr3t") {
			t.Errorf("%s: the script holds the URL's signature", c.path)
		}
		out, err := n.run(script, BinaryPayload(u))
		if strings.Contains(out, "s3cr3t") {
			t.Errorf("%s: the step's output holds the URL's signature:\n%s", c.path, out)
		}
		if (err == nil) != c.ok || !strings.Contains(out, c.want) {
			t.Errorf("%s: got %v, want ok=%v and %q:\n%s", c.path, err, c.ok, c.want, out)
		}
		want := previous
		if c.ok {
			want = bin
		}
		if got, _ := os.ReadFile(n.l.Binary); string(got) != want {
			t.Errorf("%s: installed binary is %q", c.path, got)
		}
		if !c.ok && !strings.Contains(out, "the installed nats-server is unchanged") {
			t.Errorf("%s: the error does not say the binary is unchanged:\n%s", c.path, out)
		}
	}
}

func testFiles(conf string) NodeFiles {
	return NodeFiles{
		Config:          "server_name: n1\n" + conf + "include \"routes.conf\"\n",
		Routes:          "routes: [\"nats-route://route:s3cret@10.0.0.1:4248\"]\n",
		Unit:            "[Unit]\nDescription=test\n",
		RestartSettings: "server_name=\"n1\"\n",
	}
}

func TestConfigStep(t *testing.T) {
	t.Parallel()
	n := newTestNode(t)
	write(t, n.l.Binary, fakeNATSServer("2.15.2"), 0o755)
	script, err := ConfigScript(n.l)
	if err != nil {
		t.Fatal(err)
	}
	files := testFiles("")
	out := n.mustRun(script, EncodePayload(files))
	for path, want := range map[string]struct {
		content string
		mode    os.FileMode
	}{
		n.l.ConfigPath(): {files.Config, 0o640},
		filepath.Join(n.l.ConfigDir, "routes.conf"): {files.Routes, 0o640},
		n.l.UnitPath(): {files.Unit, 0o644},
		filepath.Join(n.l.StateDir, "restart-settings"): {files.RestartSettings, 0o644},
	} {
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want.content {
			t.Errorf("%s: %q, %v", path, got, err)
			continue
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != want.mode {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want.mode)
		}
	}
	if n.count("calls") != 1 {
		t.Errorf("daemon-reload not called once for a new unit: %d calls", n.count("calls"))
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("the step printed a secret:\n%s", out)
	}

	// Unchanged: nothing written, no daemon-reload.
	if out := n.mustRun(script, EncodePayload(files)); !strings.Contains(out, "configuration unchanged") || n.count("calls") != 1 {
		t.Errorf("second run changed something:\n%s", out)
	}

	// A config the installed server rejects is not installed.
	bad := testFiles("INVALID: yes\n")
	if out, err := n.run(script, EncodePayload(bad)); err == nil || !strings.Contains(out, "rejects the new configuration") {
		t.Errorf("invalid config accepted: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(n.l.ConfigPath()); string(got) != files.Config {
		t.Error("a rejected config replaced the good one")
	}

	// A single node has no routes file.
	single := files
	single.Routes = ""
	single.Config = "server_name: n1\n"
	n.mustRun(script, EncodePayload(single))
	if _, err := os.Stat(filepath.Join(n.l.ConfigDir, "routes.conf")); !os.IsNotExist(err) {
		t.Error("routes.conf of a former cluster was left")
	}

	// Garbage on stdin is refused.
	for _, in := range []string{"", "evil AAAA\n", "nats.conf !!!\n"} {
		if out, err := n.run(script, in); err == nil {
			t.Errorf("stdin %q accepted:\n%s", in, out)
		}
	}
}

// monitor is a fake nats-server monitoring endpoint for the service step.
func (n *testNode) monitor(t *testing.T) int { return n.monitorOn(t, "127.0.0.1") }

// monitorOn is monitor listening on host only.
func (n *testNode) monitorOn(t *testing.T, host string) int {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			if _, err := os.Stat(filepath.Join(n.state, "unhealthy")); err == nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, `{"status":"unavailable","error":"JetStream has not established contact with a meta leader"}`)
				return
			}
			os.WriteFile(filepath.Join(n.state, "last-healthz"), []byte(r.URL.RawQuery), 0o644)
			fmt.Fprintln(w, `{"status":"ok"}`)
		case "/varz":
			fmt.Fprintf(w, "{\n  \"server_id\": \"X\",\n  \"config_load_time\": \"2026-01-01T00:00:%02d.123456789Z\",\n  \"now\": \"x\"\n}", n.count("reloads"))
		default:
			http.NotFound(w, r)
		}
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	var port int
	fmt.Sscan(u.Port(), &port)
	return port
}

// The health checks ask monitoring where nats.conf serves it — a node's
// private address, not loopback — and fall back to 127.0.0.1 for a server
// still running with an older nats.conf.
func TestHealthChecksFollowTheMonitorAddress(t *testing.T) {
	t.Parallel()
	n := newTestNode(t)
	port := n.monitorOn(t, "127.0.0.2")
	opts := ServiceOptions{MonitorPort: port, StartTimeout: 3 * time.Second, RollTimeout: 3 * time.Second, ReloadTimeout: 2 * time.Second}
	start, err := StartScript(n.l, opts)
	if err != nil {
		t.Fatal(err)
	}
	files := NodeFiles{Config: fmt.Sprintf("listen: \"0.0.0.0:4222\"\nhttp: \"127.0.0.2:%d\"\n", port), Routes: "r\n", Unit: "u\n", RestartSettings: "s\n"}
	n.install(files, fakeNATSServer("2.15.2"))
	if out := n.mustRun(start, ""); !strings.Contains(out, "natsd answers /healthz") {
		t.Errorf("start with monitoring on 127.0.0.2:\n%s", out)
	}
	// Only on loopback (an older nats.conf says every address).
	n2 := newTestNode(t)
	port2 := n2.monitor(t)
	opts.MonitorPort = port2
	start2, _ := StartScript(n2.l, opts)
	n2.install(NodeFiles{Config: fmt.Sprintf("http: \"0.0.0.0:%d\"\n", port2), Routes: "r\n", Unit: "u\n", RestartSettings: "s\n"}, fakeNATSServer("2.15.2"))
	if out := n2.mustRun(start2, ""); !strings.Contains(out, "natsd answers /healthz") {
		t.Errorf("start with monitoring on every address:\n%s", out)
	}
}

// install writes what the binary and config steps would: the files the
// start and service steps fingerprint.
func (n *testNode) install(f NodeFiles, bin string) {
	t := n.t
	t.Helper()
	write(t, n.l.Binary, bin, 0o755)
	write(t, n.l.ConfigPath(), f.Config, 0o640)
	write(t, filepath.Join(n.l.ConfigDir, "routes.conf"), f.Routes, 0o600)
	write(t, n.l.UnitPath(), f.Unit, 0o644)
	write(t, filepath.Join(n.l.StateDir, "restart-settings"), f.RestartSettings, 0o644)
}

// lastHealthz is the query of the last healthy /healthz answered.
func (n *testNode) lastHealthz() string {
	b, _ := os.ReadFile(filepath.Join(n.state, "last-healthz"))
	return string(b)
}

// TestStartStep: the start step starts a server that is not running and
// records what it runs, so the service step that follows finds nothing to
// do; it never restarts or reloads a running server, whatever changed.
func TestStartStep(t *testing.T) {
	t.Parallel()
	n := newTestNode(t)
	port := n.monitor(t)
	opts := ServiceOptions{MonitorPort: port, StartTimeout: 3 * time.Second, RollTimeout: 3 * time.Second, ReloadTimeout: 2 * time.Second}
	start, err := StartScript(n.l, opts)
	if err != nil {
		t.Fatal(err)
	}
	service, err := ServiceScript(n.l, opts)
	if err != nil {
		t.Fatal(err)
	}
	run := func(name, script, want string, starts, reloads int) {
		t.Helper()
		out := n.mustRun(script, "")
		if !strings.Contains(out, want) {
			t.Errorf("%s: want %q:\n%s", name, want, out)
		}
		if n.count("starts") != starts || n.count("reloads") != reloads {
			t.Errorf("%s: %d starts and %d reloads, want %d and %d", name, n.count("starts"), n.count("reloads"), starts, reloads)
		}
	}
	files := NodeFiles{Config: "a\n", Routes: "r\n", Unit: "u\n", RestartSettings: "s\n"}
	n.install(files, fakeNATSServer("2.15.2"))
	run("first start", start, "natsd started, main pid 4242", 1, 0)
	if q := n.lastHealthz(); q != "js-server-only=true" {
		t.Errorf("first start waited for /healthz?%s, want the server alone (js-server-only=true)", q)
	}
	run("service after the first start", service, "natsd unchanged", 1, 0)
	run("start again", start, "natsd is running (main pid 4242)", 1, 0)

	// Changes wait for the service step, which rolls them.
	files.Config = "b\n"
	n.install(files, fakeNATSServer("2.15.2"))
	run("start with a new config", start, "natsd is running", 1, 0)
	run("service with a new config", service, "natsd reloaded", 1, 1)
	files.RestartSettings = "s2\n"
	n.install(files, fakeNATSServer("2.15.3"))
	run("start with a new binary", start, "natsd is running", 1, 1)
	run("service with a new binary", service, "natsd restarted", 2, 1)

	// A server that is down is started, with the files now on disk.
	os.Remove(filepath.Join(n.state, "active"))
	files.Config = "c\n"
	n.install(files, fakeNATSServer("2.15.3"))
	run("start when down", start, "natsd started", 3, 1)
	run("service after it", service, "natsd unchanged", 3, 1)

	// A server that does not come up fails the step, with the journal,
	// and records nothing: the service step tries again.
	os.Remove(filepath.Join(n.state, "active"))
	write(t, filepath.Join(n.state, "unhealthy"), "", 0o644)
	files.Config = "d\n"
	n.install(files, fakeNATSServer("2.15.3"))
	out, err := n.run(start, "")
	if err == nil || !strings.Contains(out, "natsd is not healthy") || !strings.Contains(out, "fake journal tail") {
		t.Errorf("unhealthy server: %v\n%s", err, out)
	}
	os.Remove(filepath.Join(n.state, "unhealthy"))
	run("service after a failed start", service, "natsd reloaded", 4, 2)
}

func TestServiceStep(t *testing.T) {
	t.Parallel()
	n := newTestNode(t)
	port := n.monitor(t)
	script, err := ServiceScript(n.l, ServiceOptions{MonitorPort: port, StartTimeout: 3 * time.Second, RollTimeout: 3 * time.Second, ReloadTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	config := NodeFiles{Config: "a\n", Routes: "r\n", Unit: "u\n", RestartSettings: "s\n"}
	apply := n.install
	lastHealthz := n.lastHealthz
	bin := fakeNATSServer("2.15.2")
	step := func(name string, f NodeFiles, bin, wantAction string, starts, reloads int, wantHealthz string) {
		t.Helper()
		apply(f, bin)
		out := n.mustRun(script, "")
		if !strings.Contains(out, "natsd "+wantAction+", main pid 4242") {
			t.Errorf("%s: want %q:\n%s", name, wantAction, out)
		}
		if n.count("starts") != starts || n.count("reloads") != reloads {
			t.Errorf("%s: %d starts and %d reloads, want %d and %d", name, n.count("starts"), n.count("reloads"), starts, reloads)
		}
		if lastHealthz() != wantHealthz {
			t.Errorf("%s: waited for /healthz?%s, want ?%s", name, lastHealthz(), wantHealthz)
		}
	}
	step("first start", config, bin, "started", 1, 0, "js-server-only=true")
	step("unchanged", config, bin, "unchanged", 1, 0, "js-server-only=true")
	c2 := config
	c2.Config = "b\n"
	step("nats.conf changed", c2, bin, "reloaded", 1, 1, "js-server-only=true")
	step("unchanged after reload", c2, bin, "unchanged", 1, 1, "js-server-only=true")
	c3 := c2
	c3.Routes = "r2\n"
	step("routes changed", c3, bin, "reloaded", 1, 2, "js-server-only=true")
	c4 := c3
	c4.RestartSettings = "s2\n"
	step("restart setting changed", c4, bin, "restarted", 2, 2, "")
	step("binary changed", c4, fakeNATSServer("2.15.3"), "restarted", 3, 2, "")
	c5 := c4
	c5.Unit = "u2\n"
	step("unit changed", c5, fakeNATSServer("2.15.3"), "restarted", 4, 2, "")
	step("unchanged again", c5, fakeNATSServer("2.15.3"), "unchanged", 4, 2, "js-server-only=true")

	// A reload the server rejects (config_load_time stays) becomes a restart.
	write(t, filepath.Join(n.state, "reject"), "", 0o644)
	c6 := c5
	c6.Config = "c\n"
	step("reload rejected", c6, fakeNATSServer("2.15.3"), "restarted (reload rejected)", 5, 2, "")
	os.Remove(filepath.Join(n.state, "reject"))

	// A server that is down is started again.
	os.Remove(filepath.Join(n.state, "active"))
	step("was down", c6, fakeNATSServer("2.15.3"), "started", 6, 2, "js-server-only=true")

	// An unhealthy server fails the step, with the journal.
	write(t, filepath.Join(n.state, "unhealthy"), "", 0o644)
	c7 := c6
	c7.RestartSettings = "s3\n"
	apply(c7, fakeNATSServer("2.15.3"))
	out, err := n.run(script, "")
	if err == nil || !strings.Contains(out, "natsd is not healthy") || !strings.Contains(out, "fake journal tail") || !strings.Contains(out, "meta leader") {
		t.Errorf("unhealthy server: %v\n%s", err, out)
	}
}

func TestServiceStepWithoutMonitor(t *testing.T) {
	t.Parallel()
	n := newTestNode(t)
	// A port nobody listens on: connection refused, quickly.
	script, err := ServiceScript(n.l, ServiceOptions{MonitorPort: 1, StartTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	write(t, n.l.Binary, "x", 0o755)
	// The script must give up by itself, with its own message: one that
	// hangs is killed after 20s and fails the message check.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Env = n.env
	b, err := cmd.CombinedOutput()
	if out := string(b); err == nil || !strings.Contains(out, "did not answer /healthz?js-server-only=true within 1s") {
		t.Errorf("got %v:\n%s", err, out)
	}
}
