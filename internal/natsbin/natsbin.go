// Package natsbin builds the pinned nats-server release from the Go module
// proxy, so that the local cluster, the demo and provisioning all run the
// binary of version.NATSServer: what is tested is what is shipped.
//
// The build is reproducible and isolated. It runs in a module of its own,
// written under the cache directory from files embedded here (buildmod/):
// its go.mod requires exactly the pinned release, with the dependency
// versions of that release's own go.mod, and its go.sum — written with the
// Go checksum database — is enforced (-mod=readonly). The Go toolchain is
// pinned (GOTOOLCHAIN=go<version.Go>, which the go command fetches through
// the module proxy when the local one differs, verified by the checksum
// database), the build is -trimpath, CGO_ENABLED=0 and GOAMD64=v1 or
// GOARM64=v8.0, and nothing of the caller's environment that changes the
// output (GOFLAGS, GOEXPERIMENT, CGO_*, GOAMD64, …) gets in. So the same
// release gives the same bytes on every machine (version.NATSServerSHA256),
// and nothing is ever written into the caller's module: a program that
// imports natsnest needs neither nats-server in its go.mod nor a go.mod
// that the build may change.
//
// The binary is built once per platform into the cache and reused. A cached
// file is checked before every use — its build information must name the
// pinned module version and platform, its SHA-256 must be the committed
// one, and a binary for this machine must also report that version when
// run — and is rebuilt when it does not pass, so a stale or half-written
// cache cannot slip through.
package natsbin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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
// directory (default: the user's cache directory's natsnest/, e.g.
// ~/.cache/natsnest). Binaries go to its bin/, the build module to build/.
const CacheEnv = "NATSNEST_CACHE"

//go:embed buildmod/go.mod.txt buildmod/go.sum.txt buildmod/tools.go.txt
var buildModule embed.FS

// CacheDir returns $NATSNEST_CACHE, or natsnest/ in the user's cache
// directory (os.UserCacheDir), as an absolute path. Never the working
// directory: natsnest runs inside its users' repositories.
func CacheDir() (string, error) {
	if d := os.Getenv(CacheEnv); d != "" {
		return filepath.Abs(d)
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("natsbin: no cache directory (set %s): %w", CacheEnv, err)
	}
	return filepath.Join(dir, "natsnest"), nil
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

// SHA256 is the committed checksum of the pinned release built for
// goos/goarch (version.NATSServerSHA256), and whether there is one.
func SHA256(goos, goarch string) (string, bool) {
	sum, ok := version.NATSServerSHA256[goos+"/"+goarch]
	return sum, ok
}

// Build returns the path of the pinned nats-server built for goos/goarch,
// building it (BuildCommand) when the cache has no valid binary. Build
// checks the result against version.NATSServer and, where one is
// committed, its SHA-256.
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

	dir, argv, env, err := BuildCommand(goos, goarch, tmp)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("natsbin: %s for %s/%s in %s: %w\n%s", strings.Join(argv, " "), goos, goarch, dir, err, bytes.TrimSpace(out))
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

// BuildCommand writes the isolated build module (once per release) under
// the cache directory and returns it with the command that builds the
// pinned nats-server for goos/goarch into out, and that command's
// environment: the caller's, without what would change the output, with
// the pinned toolchain and build settings.
func BuildCommand(goos, goarch, out string) (dir string, argv, env []string, err error) {
	if !platformRE.MatchString(goos) || !platformRE.MatchString(goarch) {
		return "", nil, nil, fmt.Errorf("natsbin: invalid platform %q/%q", goos, goarch)
	}
	cache, err := CacheDir()
	if err != nil {
		return "", nil, nil, err
	}
	dir = filepath.Join(cache, "build", "nats-server-v"+version.NATSServer)
	if err := writeBuildModule(dir); err != nil {
		return "", nil, nil, err
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", nil, nil, fmt.Errorf("natsbin: the go command is needed to build nats-server: %w", err)
	}
	return dir, []string{gobin, "build", "-trimpath", "-o", out, version.NATSServerModule}, buildEnv(os.Environ(), goos, goarch), nil
}

// buildEnv is environ without the variables that change what go build
// produces or which modules it uses, plus the pinned settings.
func buildEnv(environ []string, goos, goarch string) []string {
	drop := map[string]bool{
		"GOFLAGS": true, "GOOS": true, "GOARCH": true, "GOTOOLCHAIN": true, "GOWORK": true, "GOEXPERIMENT": true,
		"GOAMD64": true, "GOARM64": true, "GOARM": true, "GO386": true, "GOPPC64": true, "GORISCV64": true,
		"GOMIPS": true, "GOMIPS64": true, "GOWASM": true, "GODEBUG": true, "GOROOT": true, "GOBIN": true,
		"CGO_ENABLED": true, "CGO_CFLAGS": true, "CGO_CPPFLAGS": true, "CGO_CXXFLAGS": true, "CGO_LDFLAGS": true,
		"CC": true, "CXX": true, "AR": true, "PKG_CONFIG": true,
		// The module checks stay on: go.sum is enforced, the toolchain
		// download verified by the checksum database.
		"GOSUMDB": true, "GONOSUMDB": true, "GONOSUMCHECK": true, "GOPRIVATE": true, "GOINSECURE": true,
		"GOVCS": true, "GONOPROXY": true,
	}
	var env []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	return append(env,
		"GOTOOLCHAIN=go"+version.Go, "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false",
		"CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOAMD64=v1", "GOARM64=v8.0", "GOARM=7")
}

// writeBuildModule writes the embedded build module into dir, unless it is
// there already with the same content.
func writeBuildModule(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("natsbin: %w", err)
	}
	for _, name := range []string{"go.mod", "go.sum", "tools.go"} {
		want, err := buildModule.ReadFile("buildmod/" + name + ".txt")
		if err != nil {
			return fmt.Errorf("natsbin: %w", err)
		}
		path := filepath.Join(dir, name)
		if got, err := os.ReadFile(path); err == nil && bytes.Equal(got, want) {
			continue
		}
		tmp, err := os.CreateTemp(dir, name+".tmp-*")
		if err != nil {
			return fmt.Errorf("natsbin: %w", err)
		}
		_, werr := tmp.Write(want)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("natsbin: %w", err)
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("natsbin: %w", err)
		}
	}
	return nil
}

// FileSHA256 is the hex SHA-256 of the file at path.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
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
	if want, ok := SHA256(goos, goarch); ok {
		got, err := FileSHA256(path)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s has SHA-256 %s, not the reproducible build's %s", path, got, want)
		}
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
