package provision

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests run the security-relevant parts of the rendered scripts for
// real, like node_test.go: the TLS files of the config step, keys-only SSH
// of the base step and HTTPS health checks of the service step.

func tlsFiles(conf string) NodeFiles {
	f := testFiles(conf)
	f.TLSCert = "-----BEGIN CERTIFICATE-----\ncert\n-----END CERTIFICATE-----\n"
	f.TLSKey = "-----BEGIN PRIVATE KEY-----\ns3cret-key\n-----END PRIVATE KEY-----\n"
	f.TLSCA = "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n"
	return f
}

// serviceAccount is a non-root user and group for the TLS key's owner, so
// the test tells "owned by the service user" from "owned by root".
func serviceAccount(t *testing.T) (string, string) {
	t.Helper()
	for _, name := range []string{"nobody", "daemon"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			continue
		}
		return u.Username, g.Name
	}
	t.Skip("no unprivileged user (nobody, daemon) to own the key")
	return "", ""
}

func owner(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("stat", "-c", "%a %U %G", path).Output()
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return strings.TrimSpace(string(out))
}

// The TLS PEMs arrive on stdin like the other files and land in
// ConfigDir/tls: the key 0600 owned by the service user, the certificates
// 0644 owned by root. nats-server checks the new config against the new
// files (staged), so a first deployment with TLS passes the check. Turning
// TLS off removes them.
func TestConfigStepWritesTLSFiles(t *testing.T) {
	t.Parallel()
	n := newTestNode(t)
	n.l.User, n.l.Group = serviceAccount(t)
	// The fake server checks that every cert_file/key_file/ca_file named by
	// the config it is given exists: the staged files, not the final ones.
	checker := `#!/bin/bash
case "$1" in
--version) echo "nats-server: v2.15.2" ;;
-t)
	for f in $(grep -o '_file: "[^"]*"' "$3" | cut -d'"' -f2); do
		[ -f "$f" ] || { echo "$3: cannot read $f" >&2; exit 1; }
		case $f in ` + n.l.ConfigDir + `/tls/*) echo "$3: checked the installed $f, not the new one" >&2; exit 1 ;; esac
	done ;;
*) exit 2 ;;
esac
`
	write(t, n.l.Binary, checker, 0o755)
	os.MkdirAll(n.l.ConfigDir, 0o750)
	script, err := ConfigScript(n.l)
	if err != nil {
		t.Fatal(err)
	}
	tlsBlock := fmt.Sprintf("tls {\n  cert_file: %q\n  key_file: %q\n  ca_file: %q\n}\n",
		n.l.TLSPath(TLSCertFile), n.l.TLSPath(TLSKeyFile), n.l.TLSPath(TLSCAFile))
	files := tlsFiles(tlsBlock)
	out := n.mustRun(script, EncodePayload(files))
	if strings.Contains(out, "s3cret-key") {
		t.Errorf("the step printed the private key:\n%s", out)
	}
	for path, want := range map[string]struct{ content, stat string }{
		n.l.TLSPath(TLSCertFile): {files.TLSCert, "644 root root"},
		n.l.TLSPath(TLSKeyFile):  {files.TLSKey, "640 root " + n.l.Group},
		n.l.TLSPath(TLSCAFile):   {files.TLSCA, "644 root root"},
		n.l.TLSDir():             {"", "750 root " + n.l.Group},
	} {
		if want.content != "" {
			if got, err := os.ReadFile(path); err != nil || string(got) != want.content {
				t.Errorf("%s: %q, %v", path, got, err)
			}
		}
		if got := owner(t, path); got != want.stat {
			t.Errorf("%s: %s, want %s", path, got, want.stat)
		}
	}

	// Unchanged: nothing is written.
	if out := n.mustRun(script, EncodePayload(files)); !strings.Contains(out, "configuration unchanged") {
		t.Errorf("second run changed something:\n%s", out)
	}
	// A new certificate is installed; a key whose mode was loosened is
	// put back to 0640.
	os.Chmod(n.l.TLSPath(TLSKeyFile), 0o644)
	files.TLSCert = strings.Replace(files.TLSCert, "cert", "renewed", 1)
	out = n.mustRun(script, EncodePayload(files))
	if !strings.Contains(out, n.l.TLSPath(TLSCertFile)) || !strings.Contains(out, n.l.TLSPath(TLSKeyFile)) {
		t.Errorf("renewal or key mode not reported as a change:\n%s", out)
	}
	if got := owner(t, n.l.TLSPath(TLSKeyFile)); !strings.HasPrefix(got, "640 root ") {
		t.Errorf("key mode not restored: %s", got)
	}

	// A key without its certificate is refused, and nothing changes.
	half := files
	half.TLSCert = ""
	if out, err := n.run(script, EncodePayload(half)); err == nil || !strings.Contains(out, "lacks tls-cert or tls-key") {
		t.Errorf("key without certificate: %v\n%s", err, out)
	}

	// Without the CA, ca.pem goes; without TLS, the directory goes.
	noCA := files
	noCA.TLSCA = ""
	noCA.Config = testFiles(fmt.Sprintf("tls {\n  cert_file: %q\n  key_file: %q\n}\n", n.l.TLSPath(TLSCertFile), n.l.TLSPath(TLSKeyFile))).Config
	n.mustRun(script, EncodePayload(noCA))
	if _, err := os.Stat(n.l.TLSPath(TLSCAFile)); !os.IsNotExist(err) {
		t.Error("ca.pem left after the CA was dropped")
	}
	out = n.mustRun(script, EncodePayload(testFiles("")))
	if _, err := os.Stat(n.l.TLSDir()); !os.IsNotExist(err) {
		t.Errorf("TLS files left after TLS was switched off:\n%s", out)
	}
}

// fakeSSHD stands in for sshd -t and -T [-C user=U,…]: it reads the config
// as OpenSSH 9 does — Include expands its glob in place, in name order; the
// first value read for a keyword wins; a Match block ("Match all", "Match
// User U") that matches the -C user overrides the global value, the first
// matching block's value winning; a Match block ends with its file — and
// fails -t for a config with a line "Bogus". FAKE_SSHD_OLD=1 is OpenSSH
// before 8.7, which does not know KbdInteractiveAuthentication. The rules
// were checked against the real sshd -T of Debian 12 (OpenSSH 9.2p1);
// TestKeysOnlyWinsOverMatchWithRealSSHD checks the drop-in with it.
const fakeSSHD = `#!/bin/bash
mode=$1 file=$3 user=""
if [ "${4:-}" = -C ]; then user=$(printf '%s' "$5" | tr ',' '\n' | sed -n 's/^user=//p'); fi
declare -A seen mseen
readconf() {
	local k v rest inc match=global
	while read -r k v rest || [ -n "$k" ]; do
		case ${k,,} in
		'' | '#'*) ;;
		include) for inc in $v; do if [ -f "$inc" ]; then readconf "$inc" || return 1; fi; done ;;
		bogus) echo "$1: Bad configuration option: Bogus" >&2; return 1 ;;
		match)
			case ${v,,} in
			all) match=yes ;;
			user) if [ -n "$user" ] && [ "$rest" = "$user" ]; then match=yes; else match=no; fi ;;
			*) match=no ;;
			esac ;;
		*)
			key=${k,,}
			if [ "$key" = challengeresponseauthentication ]; then key=kbdinteractiveauthentication; fi
			if [ "$key" = kbdinteractiveauthentication ] && [ "${k,,}" = kbdinteractiveauthentication ] && [ "${FAKE_SSHD_OLD:-}" = 1 ]; then
				echo "$1: Bad configuration option: $k" >&2; return 1
			fi
			case $match in
			global) [ -n "${seen[$key]+x}" ] || seen[$key]=${v,,} ;;
			yes) [ -n "${mseen[$key]+x}" ] || mseen[$key]=${v,,} ;;
			esac ;;
		esac
	done <"$1"
}
readconf "$file" || exit 255
if [ -n "${FAKE_SSHD_REJECT:-}" ] && [ "$mode" = -t ]; then echo "sshd: rejected" >&2; exit 255; fi
value() { if [ -n "$user" ] && [ -n "${mseen[$1]+x}" ]; then echo "${mseen[$1]}"; else echo "${seen[$1]:-yes}"; fi; }
if [ "$mode" = -T ]; then
	echo "passwordauthentication $(value passwordauthentication)"
	if [ "${FAKE_SSHD_OLD:-}" != 1 ]; then echo "kbdinteractiveauthentication $(value kbdinteractiveauthentication)"; fi
	echo "challengeresponseauthentication $(value kbdinteractiveauthentication)"
fi
`

// sshdNode is a test node with a fake sshd and an sshd_config of its own,
// running the base step's SSH part (the rest needs systemd).
type sshdNode struct {
	*testNode
	config string
	script string
}

func newSSHDNode(t *testing.T, keysOnly bool, sshdConfig string, dropIns map[string]string) *sshdNode {
	t.Helper()
	n := newTestNode(t)
	dir := filepath.Join(filepath.Dir(n.l.ConfigDir), "ssh")
	cfg := filepath.Join(dir, "sshd_config")
	write(t, cfg, strings.ReplaceAll(sshdConfig, "@DIR@", dir), 0o644)
	for name, content := range dropIns {
		write(t, filepath.Join(dir, "sshd_config.d", name), content, 0o644)
	}
	write(t, filepath.Join(filepath.Dir(n.state), "fakebin", "sshd"), fakeSSHD, 0o755)
	vars, err := baseVariables(n.l, BaseOptions{KeysOnly: keysOnly, SSHDConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	return &sshdNode{testNode: n, config: cfg, script: render(StepBase, "test: keys-only SSH", vars, "sshd")}
}

func (n *sshdNode) effective(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(filepath.Dir(n.state), "fakebin", "sshd"), "-T", "-f", n.config)
	cmd.Env = n.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sshd -T: %v\n%s", err, out)
	}
	return string(out)
}

const debianSSHDConfig = "Include @DIR@/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\n"

// rootPasswordsMatch is an sshd_config's Match block that lets root in with a
// password, whatever the global settings say.
const rootPasswordsMatch = "Match User root\n\tPasswordAuthentication yes\n\tKbdInteractiveAuthentication yes\n"

// Debian 12 with cloud-init's drop-in that turns passwords on: natsnest's
// drop-in sorts first and wins; sshd is reloaded once, and a second run
// changes nothing.
func TestBaseStepSwitchesPasswordLoginOff(t *testing.T) {
	t.Parallel()
	cloudInit := map[string]string{"50-cloud-init.conf": "PasswordAuthentication yes\n"}
	n := newSSHDNode(t, true, debianSSHDConfig, cloudInit)
	if !strings.Contains(n.effective(t), "passwordauthentication yes") {
		t.Fatal("the fixture does not start with password logins on")
	}
	out := n.mustRun(n.script, "")
	dropIn := filepath.Join(filepath.Dir(n.config), "sshd_config.d", SSHDDropIn)
	got, err := os.ReadFile(dropIn)
	if err != nil || !strings.Contains(string(got), "PasswordAuthentication no\n") || !strings.Contains(string(got), "KbdInteractiveAuthentication no\n") {
		t.Fatalf("drop-in %s: %q, %v\n%s", dropIn, got, err, out)
	}
	if eff := n.effective(t); !strings.Contains(eff, "passwordauthentication no") || !strings.Contains(eff, "kbdinteractiveauthentication no") {
		t.Errorf("effective config:\n%s", eff)
	}
	if !strings.Contains(out, "password logins over SSH are off ("+dropIn+")") {
		t.Errorf("output:\n%s", out)
	}
	if c, _ := os.ReadFile(filepath.Join(n.state, "calls")); !strings.Contains(string(c), "try-reload-or-restart ssh.service") {
		t.Errorf("sshd not reloaded: %q", c)
	}
	if c, _ := os.ReadFile(n.config); string(c) != strings.ReplaceAll(debianSSHDConfig, "@DIR@", filepath.Dir(n.config)) {
		t.Errorf("sshd_config itself was changed:\n%s", c)
	}
	calls := n.count("calls")
	if out := n.mustRun(n.script, ""); !strings.Contains(out, "(unchanged)") || n.count("calls") != calls {
		t.Errorf("second run reloaded sshd or changed something:\n%s", out)
	}
}

// Without an Include of sshd_config.d, a marked block goes at the top of
// sshd_config (first value wins), once; old OpenSSH gets the older keyword.
func TestBaseStepWithoutDropInDirectory(t *testing.T) {
	t.Parallel()
	const legacy = "Port 22\nPasswordAuthentication yes\nChallengeResponseAuthentication yes\n"
	n := newSSHDNode(t, true, legacy, nil)
	n.env = append(n.env, "FAKE_SSHD_OLD=1")
	n.mustRun(n.script, "")
	got, _ := os.ReadFile(n.config)
	if !strings.HasPrefix(string(got), "# natsnest: begin") || !strings.HasSuffix(string(got), "# natsnest: end\n"+legacy) ||
		!strings.Contains(string(got), "ChallengeResponseAuthentication no\n") || strings.Contains(string(got), "KbdInteractive") {
		t.Fatalf("sshd_config:\n%s", got)
	}
	if eff := n.effective(t); !strings.Contains(eff, "passwordauthentication no") || !strings.Contains(eff, "challengeresponseauthentication no") {
		t.Errorf("effective config:\n%s", eff)
	}
	n.mustRun(n.script, "")
	if again, _ := os.ReadFile(n.config); string(again) != string(got) {
		t.Errorf("second run changed sshd_config:\n%s", again)
	}
	if _, err := os.Stat(n.config + ".natsnest-old"); !os.IsNotExist(err) {
		t.Error("the backup was left behind")
	}
}

// A configuration sshd rejects is rolled back before any reload; a setting
// that wins over natsnest's fails the step with what to do; with keys-only
// off nothing is touched.
func TestBaseStepSSHFailuresAndOptOut(t *testing.T) {
	t.Parallel()
	t.Run("rejected", func(t *testing.T) {
		n := newSSHDNode(t, true, debianSSHDConfig, nil)
		n.env = append(n.env, "FAKE_SSHD_REJECT=1")
		out, err := n.run(n.script, "")
		if err == nil || !strings.Contains(out, "rolled back") {
			t.Fatalf("got %v:\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(n.config), "sshd_config.d", SSHDDropIn)); !os.IsNotExist(err) {
			t.Error("the rejected drop-in stayed")
		}
		if n.count("calls") != 0 {
			t.Error("sshd was reloaded with a rejected configuration")
		}
	})
	t.Run("an earlier global setting loses to the drop-in's Match block", func(t *testing.T) {
		// Before the Include, "yes" is the global value; the drop-in's
		// Match all block overrides it for every connection.
		n := newSSHDNode(t, true, "PasswordAuthentication yes\n"+debianSSHDConfig, nil)
		n.mustRun(n.script, "")
		cmd := exec.Command(filepath.Join(filepath.Dir(n.state), "fakebin", "sshd"), "-T", "-f", n.config, "-C", "user=root,host=localhost,addr=127.0.0.1")
		cmd.Env = n.env
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "passwordauthentication no") {
			t.Errorf("sshd -T for root: %v\n%s", err, out)
		}
	})
	t.Run("a Match block for root wins without the drop-in", func(t *testing.T) {
		// No Include: the block at the top of sshd_config is global, and
		// sshd -T for root finds the Match block that overrides it.
		n := newSSHDNode(t, true, "PasswordAuthentication yes\n"+rootPasswordsMatch, nil)
		out, err := n.run(n.script, "")
		if err == nil || !strings.Contains(out, "password logins are still on for root") || !strings.Contains(out, "Match block") {
			t.Fatalf("got %v:\n%s", err, out)
		}
	})
	t.Run("a Match block for root loses to the drop-in's", func(t *testing.T) {
		n := newSSHDNode(t, true, debianSSHDConfig+rootPasswordsMatch, nil)
		out := n.mustRun(n.script, "")
		if !strings.Contains(out, "password logins over SSH are off") {
			t.Fatalf("output:\n%s", out)
		}
	})
	t.Run("keys-only off", func(t *testing.T) {
		n := newSSHDNode(t, false, debianSSHDConfig, nil)
		n.mustRun(n.script, "")
		if entries, _ := os.ReadDir(filepath.Join(filepath.Dir(n.config), "sshd_config.d")); len(entries) != 0 {
			t.Errorf("drop-ins written with keys-only off: %v", entries)
		}
		if n.count("calls") != 0 {
			t.Error("sshd reloaded with keys-only off")
		}
	})
}

// With HTTPS monitoring the service step's health checks speak TLS (with
// curl), to a certificate that does not name 127.0.0.1.
func TestServiceStepHTTPSMonitoring(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	n := newTestNode(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			fmt.Fprintln(w, `{"status":"ok"}`)
		case "/varz":
			fmt.Fprintln(w, `{"config_load_time": "2026-01-01T00:00:00Z"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	_, portStr, _ := net.SplitHostPort(u.Host)
	var port int
	fmt.Sscan(portStr, &port)

	script, err := ServiceScript(n.l, ServiceOptions{MonitorPort: port, MonitorTLS: true, StartTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	write(t, n.l.Binary, "x", 0o755)
	if out := n.mustRun(script, ""); !strings.Contains(out, "natsd answers /healthz?js-server-only=true") {
		t.Errorf("output:\n%s", out)
	}
	// Plain HTTP against the HTTPS port fails: the scheme matters.
	plain, _ := ServiceScript(n.l, ServiceOptions{MonitorPort: port, StartTimeout: time.Second})
	os.Remove(filepath.Join(n.state, "active"))
	if out, err := n.run(plain, ""); err == nil {
		t.Errorf("plain HTTP health check passed against HTTPS:\n%s", out)
	}
}

// The same with the real sshd where one is installed: Debian's layout with
// cloud-init's drop-in, and a config without the Include.
func TestBaseStepWithRealSSHD(t *testing.T) {
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		t.Skip("sshd is not installed; the fake stands in above")
	}
	if _, err := os.Stat("/run/sshd"); err != nil {
		t.Skip("sshd -T needs its privilege separation directory /run/sshd")
	}
	t.Parallel()
	for name, c := range map[string]struct {
		config  string
		dropIns map[string]string
	}{
		"debian":     {debianSSHDConfig, map[string]string{"50-cloud-init.conf": "PasswordAuthentication yes\n"}},
		"no include": {"PasswordAuthentication yes\nMatch User foo\n  X11Forwarding no\n", nil},
		// A Match block for root that allows passwords: the drop-in's own
		// Match block comes first and wins, for root as for everyone.
		"match root": {debianSSHDConfig + rootPasswordsMatch, nil},
	} {
		t.Run(name, func(t *testing.T) {
			n := newSSHDNode(t, true, c.config, c.dropIns)
			os.Remove(filepath.Join(filepath.Dir(n.state), "fakebin", "sshd"))
			key := filepath.Join(filepath.Dir(n.config), "hostkey")
			if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
				t.Skipf("ssh-keygen: %v %s", err, out)
			}
			// HostKey is a global keyword: it goes before any Match block.
			cfg, _ := os.ReadFile(n.config)
			write(t, n.config, "HostKey "+key+"\n"+string(cfg), 0o644)
			// What sshd applies to a connection of root, Match blocks included.
			effective := func() string {
				out, err := exec.Command(sshd, "-T", "-f", n.config, "-C", "user=root,host=localhost,addr=127.0.0.1").CombinedOutput()
				if err != nil {
					t.Fatalf("sshd -T: %v\n%s", err, out)
				}
				return string(out)
			}
			if !strings.Contains(effective(), "\npasswordauthentication yes\n") {
				t.Fatal("the fixture does not start with password logins on")
			}
			n.mustRun(n.script, "")
			if eff := effective(); !strings.Contains(eff, "\npasswordauthentication no\n") || !strings.Contains(eff, "\nkbdinteractiveauthentication no\n") {
				t.Errorf("effective config for root after the step:\n%s", eff)
			}
			if out := n.mustRun(n.script, ""); !strings.Contains(out, "(unchanged)") {
				t.Errorf("second run:\n%s", out)
			}
		})
	}
}

// SECURITY.md states the unit's hardening and the sshd drop-in as they are
// rendered: a change to either must update the threat model too.
func TestSecurityMDMatchesWhatIsRendered(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "SECURITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	unit, err := RenderUnit(UnitOptions{Layout: DefaultLayout(), LameDuckDuration: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var checked int
	for _, line := range strings.Split(unit, "\n") {
		key, _, _ := strings.Cut(line, "=")
		switch key {
		case "User", "Group", "NoNewPrivileges", "ProtectSystem", "ReadWritePaths", "ProtectHome", "PrivateTmp", "PrivateDevices",
			"ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups", "RestrictSUIDSGID", "LockPersonality", "UMask", "LimitNOFILE",
			"CapabilityBoundingSet", "AmbientCapabilities", "ProtectClock", "ProtectHostname", "ProtectKernelLogs", "ProtectProc", "PrivateIPC",
			"RestrictAddressFamilies", "RestrictNamespaces", "RestrictRealtime", "MemoryDenyWriteExecute", "RemoveIPC", "DevicePolicy",
			"KeyringMode", "SystemCallArchitectures", "SystemCallFilter", "SystemCallErrorNumber":
			checked++
			want := "`" + line + "`"
			if key == "User" || key == "Group" {
				want = "`" + strings.TrimPrefix(line, key+"=") + "`"
			}
			if !strings.Contains(string(doc), want) {
				t.Errorf("SECURITY.md does not state %s", want)
			}
		}
	}
	if checked < 33 {
		t.Errorf("only %d hardening settings in the unit", checked)
	}
	for _, want := range []string{"/etc/ssh/sshd_config.d/" + SSHDDropIn, "`" + DefaultLayout().TLSDir() + "`", "`" + DefaultLayout().StateDir + "`"} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("SECURITY.md does not name %s", want)
		}
	}
}

// The upload directory is where only root can create entries, and a planted
// one is refused: a symbolic link another local user made there before the
// first upload would redirect the root upload (and the binary step's
// writes) onto any file.
func TestUploadDirRefusesWhatOthersPlanted(t *testing.T) {
	if DefaultLayout().UploadDir != "/var/lib/natsnest-upload" {
		t.Errorf("UploadDir %s: want it under /var/lib, which only root can write", DefaultLayout().UploadDir)
	}
	t.Parallel()
	arch := nodeArch(t)
	bin := fakeNATSServer("2.15.2")
	for name, plant := range map[string]func(n *testNode, target string){
		"symlink": func(n *testNode, target string) {
			if err := os.Symlink(target, n.l.UploadDir); err != nil {
				t.Fatal(err)
			}
		},
		"world-writable parent": func(n *testNode, target string) {
			if err := os.Chmod(filepath.Dir(n.l.UploadDir), 0o1777); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			n := newTestNode(t)
			if err := os.MkdirAll(filepath.Dir(n.l.UploadDir), 0o755); err != nil {
				t.Fatal(err)
			}
			target := t.TempDir()
			plant(n, target)
			// The base step's check (the rest of it needs a running systemd).
			vars, err := baseVariables(n.l, BaseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			base := render(StepBase, "test: the upload directory", vars, "uploaddir") + "\nupload_dir_safe\n"
			binary, err := BinaryScript(n.l, BinaryOptions{Version: "2.15.2", Arch: arch, SHA256: sha(bin)})
			if err != nil {
				t.Fatal(err)
			}
			for step, script := range map[string]string{"base": base, "binary": binary} {
				out, err := n.run(script, "")
				if err == nil || !strings.Contains(out, n.l.UploadDir) && !strings.Contains(out, filepath.Dir(n.l.UploadDir)) {
					t.Errorf("%s step ran through a planted upload directory: %v\n%s", step, err, out)
				}
			}
			if entries, _ := os.ReadDir(target); len(entries) != 0 {
				t.Errorf("something was written where the planted link points: %v", entries)
			}
		})
	}
}
