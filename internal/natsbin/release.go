package natsbin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"github.com/natsnest/pulumi-natsnest/internal/version"
)

// PreviousPatch is the patch release before the pinned one ("2.15.1" for
// "2.15.2"), or "" when the pinned one is a .0 release: what an upgrade
// test starts from.
func PreviousPatch() string {
	parts := strings.SplitN(version.NATSServer, ".", 3)
	if len(parts) != 3 {
		return ""
	}
	patch, err := strconv.Atoi(parts[2])
	if err != nil || patch == 0 {
		return ""
	}
	return fmt.Sprintf("%s.%s.%d", parts[0], parts[1], patch-1)
}

// BuildRelease returns the path of nats-server v<release> for this
// machine, built with `go install <module>@v<release>` — which fetches
// that release from the module proxy, outside natsnest's module — into
// <cache>/bin/nats-server-v<release>-<goos>-<goarch>, once. It is for tests
// that need a release other than the pinned one (Build), such as an
// upgrade from the previous patch release. The binary must report the
// release when run.
func BuildRelease(ctx context.Context, release string) (string, error) {
	if release == version.NATSServer {
		return Build(ctx, runtime.GOOS, runtime.GOARCH)
	}
	if !releaseNameRE.MatchString(release) {
		return "", fmt.Errorf("natsbin: %q is not a release such as 2.15.1", release)
	}
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "bin", fmt.Sprintf("nats-server-v%s-%s-%s", release, runtime.GOOS, runtime.GOARCH))
	if runtime.GOOS == "windows" {
		path += ".exe"
	}
	if v, err := versionCtx(ctx, path); err == nil && v == release {
		return path, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("natsbin: %w", err)
	}
	unlock, _, err := lockFile(ctx, path+".lock")
	if err != nil {
		return "", fmt.Errorf("natsbin: waiting for the build lock: %w", err)
	}
	defer unlock()
	if v, err := versionCtx(ctx, path); err == nil && v == release {
		return path, nil
	}
	gobin, err := os.MkdirTemp(filepath.Dir(path), ".gobin-*")
	if err != nil {
		return "", fmt.Errorf("natsbin: %w", err)
	}
	defer os.RemoveAll(gobin)
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("natsbin: the go command is needed to build nats-server: %w", err)
	}
	cmd := exec.CommandContext(ctx, goCmd, "install", "-trimpath", version.NATSServerModule+"@v"+release)
	// Outside any module, so natsnest's go.mod (which pins another
	// release) plays no part.
	cmd.Dir = gobin
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOBIN="+gobin, "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("natsbin: go install %s@v%s: %w\n%s", version.NATSServerModule, release, err, bytes.TrimSpace(out))
	}
	built := filepath.Join(gobin, "nats-server")
	if runtime.GOOS == "windows" {
		built += ".exe"
	}
	if v, err := versionCtx(ctx, built); err != nil || v != release {
		return "", fmt.Errorf("natsbin: the nats-server built for v%s reports %q (%v)", release, v, err)
	}
	if err := os.Rename(built, path); err != nil {
		return "", fmt.Errorf("natsbin: %w", err)
	}
	return path, nil
}

var releaseNameRE = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)
