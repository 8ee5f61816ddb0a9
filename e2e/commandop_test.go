package e2e

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// commandOp is how the executing mock decides what a command runs; it must
// be pulumi-command v1.2.1's rule (provider/pkg/provider/remote/command.go
// and commandController.go: Create runs create if set, Update runs update
// else create; only triggers is replaceOnChanges, the connection is tagged
// secret and nothing more), or e2e proves the wrong deployment.
// Pure: runs in `make test`.
func TestCommandOp(t *testing.T) {
	props := func(kv ...string) resource.PropertyMap {
		m := resource.PropertyMap{}
		for i := 0; i < len(kv); i += 2 {
			m[resource.PropertyKey(kv[i])] = resource.NewProperty(kv[i+1])
		}
		return m
	}
	both := props("create", "C", "update", "U", "triggers", "t1", "connection", "h1")
	updateOnly := props("update", "U", "triggers", "t1", "connection", "h1")
	createOnly := props("create", "C", "triggers", "t1", "connection", "h1")
	for _, c := range []struct {
		name                    string
		in, prev                resource.PropertyMap
		existed, changed, rerun bool
		op, script              string
	}{
		{"new", both, nil, false, true, false, "create", "C"},
		{"new, no create", updateOnly, nil, false, true, false, "create", ""},
		{"trigger changed", both, props("create", "C", "update", "U", "triggers", "t0", "connection", "h1"), true, true, false, "replace", "C"},
		{"trigger changed, no create", updateOnly, props("update", "U", "triggers", "t0", "connection", "h1"), true, true, false, "replace", ""},
		{"connection changed", updateOnly, props("update", "U", "triggers", "t1", "connection", "h0"), true, true, false, "update", "U"},
		{"connection changed, create only", createOnly, props("create", "C", "triggers", "t1", "connection", "h0"), true, true, false, "update", "C"},
		{"update changed", both, props("create", "C", "update", "U0", "triggers", "t1", "connection", "h1"), true, true, false, "update", "U"},
		{"create changed, no update", createOnly, props("create", "C0", "triggers", "t1", "connection", "h1"), true, true, false, "update", "C"},
		{"unchanged", both, both, true, false, false, "same", ""},
		{"unchanged, rerun", both, both, true, false, true, "rerun", "U"},
		{"unchanged, rerun, no update", createOnly, createOnly, true, false, true, "rerun", "C"},
	} {
		op, script, err := commandOp(c.in, c.prev, c.existed, c.changed, c.rerun)
		if err != nil || op != c.op || script != c.script {
			t.Errorf("%s: %s %q (%v), want %s %q", c.name, op, script, err, c.op, c.script)
		}
	}
}
