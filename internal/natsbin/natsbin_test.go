package natsbin

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natsnest/pulumi-natsnest/internal/version"
)

func testContext(t *testing.T) context.Context {
	// The first build on a fresh machine compiles nats-server from source.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// The binary the local cluster and the demo run is the pinned release, and a
// second Build reuses the cached file instead of building again.
func TestBuildReportsPinnedVersionAndReusesCache(t *testing.T) {
	ctx := testContext(t)
	path, err := Build(ctx, runtime.GOOS, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Path(runtime.GOOS, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	if path != want {
		t.Fatalf("Build returned %s, want the cache path %s", path, want)
	}
	if !strings.HasSuffix(path, "nats-server-v"+version.NATSServer+"-"+runtime.GOOS+"-"+runtime.GOARCH) {
		t.Errorf("cache file name %s does not name the version and platform", path)
	}
	got, err := Version(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != version.NATSServer {
		t.Fatalf("built nats-server reports %s, want %s", got, version.NATSServer)
	}

	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Build(ctx, runtime.GOOS, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(again)
	if err != nil {
		t.Fatal(err)
	}
	if again != path || !os.SameFile(before, after) || !before.ModTime().Equal(after.ModTime()) {
		t.Fatalf("second Build replaced the cached binary (%s -> %s)", path, again)
	}
}

// NATSNEST_CACHE moves the cache; a valid binary found there is used as is.
func TestBuildUsesCacheFromEnvironment(t *testing.T) {
	ctx := testContext(t)
	src, err := Build(ctx, runtime.GOOS, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	t.Setenv(CacheEnv, cache)
	dst, err := Path(runtime.GOOS, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dst, filepath.Join(cache, "bin")+string(filepath.Separator)) {
		t.Fatalf("Path = %s, want it under %s/bin", dst, cache)
	}
	copyFile(t, src, dst)
	before, _ := os.Stat(dst)

	got, err := Build(ctx, runtime.GOOS, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(got)
	if err != nil {
		t.Fatal(err)
	}
	if got != dst || !os.SameFile(before, after) {
		t.Fatalf("Build returned %s and did not reuse %s", got, dst)
	}
}

// A cached file that is not the pinned release (here: garbage, as a killed
// copy would leave) is rebuilt; concurrent builders all get a valid binary
// and leave no temporary files behind.
func TestBuildReplacesInvalidCachedFile(t *testing.T) {
	ctx := testContext(t)
	// Warm the Go build cache first so the rebuild below is mostly a link.
	if _, err := Build(ctx, runtime.GOOS, runtime.GOARCH); err != nil {
		t.Fatal(err)
	}
	t.Setenv(CacheEnv, t.TempDir())
	path, err := Path(runtime.GOOS, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho 'nats-server: v0.0.1'\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make([]error, 3)
	paths := make([]string, 3)
	for i := range errs {
		wg.Go(func() { paths[i], errs[i] = Build(ctx, runtime.GOOS, runtime.GOARCH) })
	}
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("concurrent Build %d: %v", i, errs[i])
		}
		if paths[i] != path {
			t.Fatalf("concurrent Build %d returned %s, want %s", i, paths[i], path)
		}
	}
	got, err := Version(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != version.NATSServer {
		t.Fatalf("rebuilt binary reports %s, want %s", got, version.NATSServer)
	}
	left, _ := filepath.Glob(path + ".tmp-*")
	if len(left) > 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
}

// TestReproducibleBuild: the pinned release built in two fresh cache
// directories — the second time with a caller's environment that would
// change a plain go build (GOTOOLCHAIN, GOFLAGS, GOAMD64, CGO_ENABLED, a
// go.work) — has the same SHA-256, the committed one, for every platform
// that has one: a deployment from another machine restarts no node.
func TestReproducibleBuild(t *testing.T) {
	ctx := testContext(t)
	for _, platform := range []string{"linux/amd64", "linux/arm64"} {
		goos, goarch, _ := strings.Cut(platform, "/")
		want, ok := SHA256(goos, goarch)
		if !ok {
			t.Fatalf("no committed checksum for %s", platform)
		}
		for i, env := range []map[string]string{
			{},
			{"GOTOOLCHAIN": "local", "GOFLAGS": "-race -ldflags=-X=main.x=y", "GOAMD64": "v3", "GOARM64": "v9.0",
				"CGO_ENABLED": "1", "GOEXPERIMENT": "nocoverageredesign", "GOWORK": filepath.Join(t.TempDir(), "go.work")},
		} {
			t.Setenv(CacheEnv, t.TempDir())
			for k, v := range env {
				t.Setenv(k, v)
			}
			path, err := Build(ctx, goos, goarch)
			if err != nil {
				t.Fatalf("%s, build %d: %v", platform, i+1, err)
			}
			got, err := FileSHA256(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s, build %d (environment %v): SHA-256 %s, committed %s", platform, i+1, env, got, want)
			}
			if err := verify(ctx, path, "linux", map[string]string{"amd64": "arm64", "arm64": "amd64"}[goarch]); err == nil {
				t.Errorf("a %s binary passed as the other architecture", platform)
			}
		}
	}
}

// TestBuildModule: the embedded build module requires exactly the pinned
// release and toolchain, and nothing of the caller's environment that
// changes the output reaches the build.
func TestBuildModule(t *testing.T) {
	mod, err := buildModule.ReadFile("buildmod/go.mod.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\nrequire " + version.NATSServerModule + " v" + version.NATSServer + "\n",
		"\ntoolchain go" + version.Go + "\n",
	} {
		if !strings.Contains(string(mod), want) {
			t.Errorf("buildmod/go.mod.txt lacks %q", strings.TrimSpace(want))
		}
	}
	if sum, _ := buildModule.ReadFile("buildmod/go.sum.txt"); !strings.Contains(string(sum), version.NATSServerModule+" v"+version.NATSServer+" h1:") {
		t.Error("buildmod/go.sum.txt lacks the pinned release's hash")
	}
	env := buildEnv([]string{"HOME=/h", "GOPROXY=https://proxy.example", "GOFLAGS=-race", "GOAMD64=v3", "CGO_ENABLED=1",
		"GOTOOLCHAIN=local", "GOSUMDB=off", "GOWORK=/w/go.work", "CC=clang", "GOOS=windows"}, "linux", "amd64")
	want := []string{"HOME=/h", "GOPROXY=https://proxy.example", "GOTOOLCHAIN=go" + version.Go, "GOWORK=off",
		"GOFLAGS=-mod=readonly -buildvcs=false", "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOAMD64=v1", "GOARM64=v8.0", "GOARM=7"}
	if strings.Join(env, " ") != strings.Join(want, " ") {
		t.Errorf("buildEnv = %q\nwant        %q", env, want)
	}
}

// TestCacheDirIsNotTheWorkingDirectory: without NATSNEST_CACHE the cache is
// the user's, never the repository a program runs in.
func TestCacheDirIsNotTheWorkingDirectory(t *testing.T) {
	t.Setenv(CacheEnv, "")
	dir, err := CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	user, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(user, "natsnest") {
		t.Errorf("CacheDir = %s, want %s", dir, filepath.Join(user, "natsnest"))
	}
}

func TestVersionParsesServerOutput(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses shell scripts as fake binaries")
	}
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if got, err := Version(script("good", "echo 'nats-server: v2.15.2'")); err != nil || got != "2.15.2" {
		t.Errorf("Version = %q, %v; want 2.15.2", got, err)
	}
	for name, body := range map[string]string{
		"other":  "echo 'nats: v0.5.0'",
		"failed": "echo 'nats-server: v2.15.2'; exit 3",
		"empty":  "true",
	} {
		if got, err := Version(script(name, body)); err == nil {
			t.Errorf("%s: Version = %q, want an error", name, got)
		}
	}
	if _, err := Version(filepath.Join(dir, "missing")); err == nil {
		t.Error("Version of a missing file: want an error")
	}
}

func TestPathRejectsInvalidPlatform(t *testing.T) {
	for _, p := range [][2]string{{"", "amd64"}, {"linux", ""}, {"../x", "amd64"}, {"linux", "amd64/.."}} {
		if _, err := Path(p[0], p[1]); err == nil {
			t.Errorf("Path(%q, %q): want an error", p[0], p[1])
		}
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
}
