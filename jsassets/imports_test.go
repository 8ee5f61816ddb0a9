package jsassets_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The package imports nothing beyond nats.go (and what nats.go itself
// imports), so the plugin, the API and the demo can all share it.
func TestImportsNothingBeyondNatsGo(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{
		"github.com/natsnest/pulumi-natsnest/jsassets",
		"github.com/nats-io/nats.go", "github.com/nats-io/nkeys", "github.com/nats-io/nuid",
		"github.com/klauspost/compress", "golang.org/x/crypto", "golang.org/x/sys",
	}
	for _, p := range strings.Fields(string(out)) {
		ok := false
		for _, a := range allowed {
			if p == a || strings.HasPrefix(p, a+"/") {
				ok = true
			}
		}
		if !ok {
			t.Errorf("jsassets depends on %s: it may import nothing beyond nats.go", p)
		}
	}
}
