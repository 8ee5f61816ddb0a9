package machines

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// EnvVar must be "1" for machine tests to run; `make e2e` sets it. Without
// it, `go test ./...` (and `make test`) skip them at once.
const EnvVar = "NATSNEST_E2E"

// Require skips t, saying plainly why, unless machines can be booted here:
// NATSNEST_E2E=1, Linux, root, and systemd-nspawn, debootstrap, ip and
// losetup on PATH.
func Require(t testing.TB) {
	t.Helper()
	if reason := Unavailable(); reason != "" {
		t.Skip(reason)
	}
}

// Unavailable says why machines cannot be booted here, or "" when they can.
func Unavailable() string {
	if os.Getenv(EnvVar) != "1" {
		return "machine tests run only with " + EnvVar + "=1 (make e2e)"
	}
	if runtime.GOOS != "linux" {
		return "machine tests need Linux (systemd-nspawn); this is " + runtime.GOOS
	}
	if os.Geteuid() != 0 {
		return "machine tests need root (systemd-nspawn, loop devices, network namespaces); run make e2e as root"
	}
	for _, tool := range []string{"systemd-nspawn", "debootstrap", "ip", "losetup", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "machine tests need " + tool + " on PATH (make e2e installs debootstrap and systemd-container)"
		}
	}
	return ""
}
