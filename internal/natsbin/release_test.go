package natsbin

import (
	"strings"
	"testing"

	"github.com/natsnest/pulumi-natsnest/internal/version"
)

func TestPreviousPatch(t *testing.T) {
	got := PreviousPatch()
	if got == "" || got == version.NATSServer || !strings.HasPrefix(version.NATSServer, got[:strings.LastIndex(got, ".")+1]) {
		t.Errorf("PreviousPatch() = %q for the pinned %s", got, version.NATSServer)
	}
}

func TestBuildReleaseRefusesNonReleases(t *testing.T) {
	for _, r := range []string{"", "latest", "v2.15.1", "2.15", "2.15.1; rm -rf /"} {
		if _, err := BuildRelease(t.Context(), r); err == nil {
			t.Errorf("BuildRelease(%q) succeeded", r)
		}
	}
}
