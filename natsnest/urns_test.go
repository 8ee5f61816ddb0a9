package natsnest_test

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/internal/testkit/urns"
)

// TestServersNoResourceRenamed: the Servers tests' program (three hosts, an
// uploaded binary, so every step and the leave commands) registers every
// URN it registered when internal/testkit/urns/registered/servers.txt was
// written, so a refactor never makes the next `pulumi up` replace a step.
func TestServersNoResourceRenamed(t *testing.T) {
	var rec *urns.Recorder
	_, err := svDeployOn(t, svArgs(t, 3), &svMocks{}, func(m pulumi.MockResourceMonitor) pulumi.MockResourceMonitor {
		rec = urns.NewRecorder("natsnest", "test", m)
		return rec
	})
	if err != nil {
		t.Fatal(err)
	}
	rec.Check(t, "servers")
}
