package version

import (
	"os"
	"regexp"
	"testing"
)

// The demo and the tests build nats-server from go.mod; provisioning installs
// NATSServer. They must be the same release.
func TestGoModRequiresPinnedServer(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(NATSServerModule) + `\s+v(\S+)`)
	m := re.FindSubmatch(mod)
	if m == nil {
		t.Fatalf("go.mod does not require %s", NATSServerModule)
	}
	if got := string(m[1]); got != NATSServer {
		t.Fatalf("go.mod requires %s v%s, but version.NATSServer is %s", NATSServerModule, got, NATSServer)
	}
}
