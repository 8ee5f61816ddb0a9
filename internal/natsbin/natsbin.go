// Package natsbin builds the pinned nats-server release from the Go module
// proxy, so that the local cluster, the demo and provisioning all run the
// binary of version.NATSServer: what is tested is what is shipped.
//
// The binary is built once per platform into a cache directory and reused. A
// cached file is checked before every use — its embedded build information
// must name the pinned module version and platform, and a binary for this
// machine must also report that version when run — and is rebuilt when it
// does not pass, so a stale or half-written cache cannot slip through.
package natsbin

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/natsnest/pulumi-natsnest/internal/version"
)

// CacheEnv names the environment variable that overrides the cache
// directory (default: <module root>/.cache). Binaries go to its bin/.
const CacheEnv = "NATSNEST_CACHE"

// ModuleRoot returns the directory of the nearest go.mod at or above the
// working directory: the module whose go.mod pins the nats-server version.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !fi.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("natsbin: no go.mod in the working directory or above it; run from inside the natsnest module")
		}
		dir = parent
	}
}

// CacheDir returns $NATSNEST_CACHE, or <module root>/.cache, as an absolute path.
func CacheDir() (string, error) {
	if d := os.Getenv(CacheEnv); d != "" {
		return filepath.Abs(d)
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache"), nil
}

var platformRE = regexp.MustCompile(`^[a-z0-9]+$`)

// Path returns where Build puts the binary for goos/goarch:
// <cache>/bin/nats-server-v<version>-<goos>-<goarch>. The file may not exist yet.
func Path(goos, goarch string) (string, error) {
	if !platformRE.MatchString(goos) || !platformRE.MatchString(goarch) {
		return "", fmt.Errorf("natsbin: invalid platform %q/%q", goos, goarch)
	}
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("nats-server-v%s-%s-%s", version.NATSServer, goos, goarch)
	if goos == "windows" {
		name += ".exe"
	}
	return filepath.Join(dir, "bin", name), nil
}

// Build returns the path of the pinned nats-server built for goos/goarch
// (CGO_ENABLED=0), building it with `go build` from the module root when the
// cache has no valid binary. The module proxy serves the version go.mod
// requires, which a test in internal/version keeps equal to
// version.NATSServer; Build checks the result against that constant.
//
// Concurrent calls, also from other processes, are safe: the build runs under
// a lock file and writes a temporary file that is renamed into place.
func Build(ctx context.Context, goos, goarch string) (string, error) {
	path, err := Path(goos, goarch)
	if err != nil {
		return "", err
	}
	if verify(ctx, path, goos, goarch) == nil {
		return path, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("natsbin: %w", err)
	}
	unlock, locked, err := lockFile(ctx, path+".lock")
	if err != nil {
		return "", fmt.Errorf("natsbin: waiting for the build lock: %w", err)
	}
	defer unlock()
	// Another process may have built it while we waited for the lock.
	if verify(ctx, path, goos, goarch) == nil {
		return path, nil
	}
	if locked {
		// Under the lock nobody else is building: temporary files left
		// over are from builds that were killed.
		stale, _ := filepath.Glob(path + ".tmp-*")
		for _, f := range stale {
			os.Remove(f)
		}
	}

	tmpf, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("natsbin: %w", err)
	}
	tmp := tmpf.Name()
	tmpf.Close()
	defer os.Remove(tmp) // a no-op after the rename

	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("natsbin: the go command is needed to build nats-server: %w", err)
	}
	cmd := exec.CommandContext(ctx, gobin, "build", "-trimpath", "-o", tmp, version.NATSServerModule)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("natsbin: go build %s for %s/%s in %s: %w\n%s", version.NATSServerModule, goos, goarch, root, err, bytes.TrimSpace(out))
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("natsbin: %w", err)
	}
	if err := verify(ctx, tmp, goos, goarch); err != nil {
		return "", fmt.Errorf("natsbin: the freshly built binary is not the pinned release: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("natsbin: %w", err)
	}
	return path, nil
}

// verify checks that path is nats-server v<version.NATSServer> for
// goos/goarch, built without cgo; a binary for this machine must also say so
// itself.
func verify(ctx context.Context, path, goos, goarch string) error {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return err
	}
	want := "v" + version.NATSServer
	mod := findModule(bi, version.NATSServerModule)
	switch {
	case bi.Path != version.NATSServerModule:
		return fmt.Errorf("%s is a build of %q, not %s", path, bi.Path, version.NATSServerModule)
	case mod == nil:
		return fmt.Errorf("%s: no build information for module %s", path, version.NATSServerModule)
	case mod.Replace != nil:
		return fmt.Errorf("%s: module %s is replaced by %s", path, mod.Path, mod.Replace.Path)
	case mod.Version != want:
		return fmt.Errorf("%s: module %s is %s, want %s", path, mod.Path, mod.Version, want)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["GOOS"] != goos || settings["GOARCH"] != goarch || settings["CGO_ENABLED"] != "0" {
		return fmt.Errorf("%s is built for %s/%s with CGO_ENABLED=%q, want %s/%s without cgo",
			path, settings["GOOS"], settings["GOARCH"], settings["CGO_ENABLED"], goos, goarch)
	}
	if goos == runtime.GOOS && goarch == runtime.GOARCH {
		got, err := versionCtx(ctx, path)
		if err != nil {
			return err
		}
		if got != version.NATSServer {
			return fmt.Errorf("%s reports version %s, want %s", path, got, version.NATSServer)
		}
	}
	return nil
}

func findModule(bi *buildinfo.BuildInfo, path string) *debug.Module {
	if bi.Main.Path == path {
		return &bi.Main
	}
	for _, d := range bi.Deps {
		if d.Path == path {
			return d
		}
	}
	return nil
}

var versionRE = regexp.MustCompile(`^nats-server: v(\S+)$`)

// Version runs `<path> --version` and returns the version it reports
// without the "v" ("2.15.2"), comparable with version.NATSServer.
func Version(path string) (string, error) {
	return versionCtx(context.Background(), path)
}

func versionCtx(ctx context.Context, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").CombinedOutput()
	line := strings.TrimSpace(string(out))
	if err != nil {
		return "", fmt.Errorf("natsbin: %s --version: %w: %s", path, err, line)
	}
	m := versionRE.FindStringSubmatch(line)
	if m == nil {
		return "", fmt.Errorf("natsbin: %s --version printed %q, not \"nats-server: v<version>\"", path, line)
	}
	return m[1], nil
}
