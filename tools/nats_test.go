package tools

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// The README's command runs the natscli release tools/go.mod pins.
func TestNatsCLIRunsFromTheRoot(t *testing.T) {
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/nats-io/natscli\s+(v\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("tools/go.mod does not require github.com/nats-io/natscli")
	}
	cmd := exec.Command("go", "tool", "-modfile=tools/go.mod", "nats", "--version")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go tool -modfile=tools/go.mod nats --version: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != string(m[1]) {
		t.Errorf("nats --version says %q, tools/go.mod pins %s", got, m[1])
	}
}
