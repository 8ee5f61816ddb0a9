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

// Cross-compiling for a node's architecture takes minutes on a cold cache,
// so it runs only when asked for: NATSNEST_TEST_CROSS=1.
func TestBuildCrossCompiles(t *testing.T) {
	if os.Getenv("NATSNEST_TEST_CROSS") == "" {
		t.Skip("set NATSNEST_TEST_CROSS=1 to cross-compile nats-server for another architecture")
	}
	goarch := "arm64"
	if runtime.GOARCH == "arm64" {
		goarch = "amd64"
	}
	path, err := Build(testContext(t), "linux", goarch)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(context.Background(), path, "linux", goarch); err != nil {
		t.Fatal(err)
	}
	if err := verify(context.Background(), path, "linux", runtime.GOARCH); err == nil {
		t.Fatalf("a linux/%s binary passed as linux/%s", goarch, runtime.GOARCH)
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

func TestModuleRootFindsThisModule(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mod), "module github.com/natsnest/pulumi-natsnest\n") {
		t.Fatalf("%s/go.mod is not the natsnest module", root)
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
