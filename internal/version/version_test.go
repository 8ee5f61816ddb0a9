package version

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every module of the repository that builds nats-server — the test helper,
// the benchmarks, natsbin's isolated build module — requires the release
// provisioning installs, and the root module, which users import, does not
// require it at all.
func TestModulesRequirePinnedServer(t *testing.T) {
	re := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(NATSServerModule) + `\s+v(\S+)`)
	found := 0
	err := filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && p != "../.." {
			return filepath.SkipDir
		}
		if d.IsDir() || (d.Name() != "go.mod" && d.Name() != "go.mod.txt") {
			return nil
		}
		mod, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		m := re.FindSubmatch(mod)
		switch {
		case p == filepath.Join("../..", "go.mod"):
			if m != nil {
				t.Errorf("the root go.mod requires %s: a program that imports natsnest would inherit it", NATSServerModule)
			}
		case m != nil:
			found++
			if got := string(m[1]); got != NATSServer {
				t.Errorf("%s requires %s v%s, but version.NATSServer is %s", p, NATSServerModule, got, NATSServer)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 3 {
		t.Errorf("%d modules require %s; want at least natsbin's build module, the test helper and the benchmarks", found, NATSServerModule)
	}
}
