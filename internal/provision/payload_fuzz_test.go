package provision

import (
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// payloadKeys are the entries the config step accepts on stdin.
var payloadKeys = []string{"nats.conf", "routes.conf", "unit", "restart-settings", "tls-cert", "tls-key", "tls-ca"}

// runPayload runs the config step's stdin parser (the payload fragment, as
// the config script has it) on stdin in a fresh state directory, and lists
// what it decoded: name → content. The parser's $work is removed on exit,
// so the listing is taken inside the same shell.
func runPayload(t *testing.T, stdin []byte) (files map[string]string, stderr string, ok bool) {
	t.Helper()
	root := t.TempDir()
	state := filepath.Join(root, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	script := "set -euo pipefail\nSTEP=config\nSTATE_DIR=" + ShellQuote(state) + "\n" + fragment("lib") + "\n" + fragment("payload") +
		"\nfor f in \"$work\"/*; do [ -e \"$f\" ] || continue; printf '%s %s\\n' \"${f##*/}\" \"$(base64 -w0 <\"$f\")\"; done\n"
	cmd := exec.Command("bash", "-c", script)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	left, _ := os.ReadDir(state)
	if len(left) != 0 {
		t.Errorf("the parser left %d entries in the state directory", len(left))
	}
	if entries, _ := os.ReadDir(root); len(entries) != 1 {
		t.Errorf("the parser wrote outside the state directory: %d entries in its parent", len(entries))
	}
	files = map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if line == "" {
			continue
		}
		name, b64, _ := strings.Cut(line, " ")
		data, derr := base64.StdEncoding.DecodeString(b64)
		if derr != nil {
			t.Fatalf("listing %q: %v", line, derr)
		}
		files[name] = string(data)
	}
	return files, errb.String(), err == nil
}

// FuzzConfigStdin: whatever arrives on the config step's stdin, the parser
// either accepts it — then only known entries exist, the required ones
// among them — or stops with its own error message, never with a shell
// error, and writes nothing outside its work directory. What EncodePayload
// produces comes back byte for byte.
func FuzzConfigStdin(f *testing.F) {
	f.Add([]byte(EncodePayload(NodeFiles{Config: "a: 1\n", Routes: "r\n", Unit: "[Unit]\n", RestartSettings: "x=\"1\"\n"})))
	f.Add([]byte(EncodePayload(NodeFiles{Config: "a", Unit: "u", RestartSettings: "s", TLSCert: "c", TLSKey: "k", TLSCA: "ca"})))
	f.Add([]byte("nats.conf bm90IGJhc2U2NA==\nunit dQ==\nrestart-settings cw==\n../../etc/passwd cm9vdA==\n"))
	f.Add([]byte("nats.conf !!!\n"))
	f.Add([]byte("unit dQ==\n\n\nrestart-settings cw=="))
	f.Add([]byte("$(touch /tmp/pwned) eA==\n"))
	f.Fuzz(func(t *testing.T, stdin []byte) {
		if bytes.IndexByte(stdin, 0) >= 0 {
			t.Skip("bash's read drops NUL bytes")
		}
		files, stderr, ok := runPayload(t, stdin)
		if !ok {
			if !strings.Contains(stderr, "natsnest config: error: ") {
				t.Fatalf("refused without its own message: %q", stderr)
			}
			return
		}
		for name := range files {
			if !slices.Contains(payloadKeys, name) {
				t.Errorf("accepted an unknown entry %q", name)
			}
		}
		for _, required := range []string{"nats.conf", "unit", "restart-settings"} {
			if _, ok := files[required]; !ok {
				t.Errorf("accepted stdin without %s", required)
			}
		}
		if stderr != "" {
			t.Errorf("accepted with messages: %q", stderr)
		}
	})
}

// TestConfigStdinRoundTrip: what the program encodes is what the node gets.
func TestConfigStdinRoundTrip(t *testing.T) {
	want := NodeFiles{Config: "listen: 4222\n", Routes: "routes: []\n", Unit: "[Unit]\nDescription=x\n",
		RestartSettings: "a=\"1\"\n", TLSCert: "-----BEGIN CERTIFICATE-----\n", TLSKey: "k\n", TLSCA: "ca\n"}
	files, stderr, ok := runPayload(t, []byte(EncodePayload(want)))
	if !ok {
		t.Fatalf("refused: %s", stderr)
	}
	got := map[string]string{"nats.conf": want.Config, "routes.conf": want.Routes, "unit": want.Unit,
		"restart-settings": want.RestartSettings, "tls-cert": want.TLSCert, "tls-key": want.TLSKey, "tls-ca": want.TLSCA}
	for name, content := range got {
		if files[name] != content {
			t.Errorf("%s: got %q, want %q", name, files[name], content)
		}
	}
}
