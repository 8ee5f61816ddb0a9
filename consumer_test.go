package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/natsnest/pulumi-natsnest/internal/version"
)

// consumerEnv is this process's environment as a user's shell has it: no
// NATSNEST_* variable (the Makefile exports NATSNEST_CACHE), no workspace,
// with the user's cache directory moved to cache so that what natsnest
// caches can be found, and the Go build cache kept where it is.
func consumerEnv(t *testing.T, cache string) []string {
	t.Helper()
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "NATSNEST_") || k == "GOFLAGS" || k == "GOWORK" || k == "XDG_CACHE_HOME" || k == "GOCACHE" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOWORK=off", "XDG_CACHE_HOME="+cache, "GOCACHE="+strings.TrimSpace(string(gocache)))
}

// snapshot is every file of a module directory with its content's hash.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func sameFiles(t *testing.T, when string, before, after map[string]string) {
	t.Helper()
	for f, h := range after {
		if before[f] == "" {
			t.Errorf("%s: %s appeared in the user's module", when, f)
		} else if before[f] != h {
			t.Errorf("%s: %s changed in the user's module", when, f)
		}
	}
	for f := range before {
		if after[f] == "" {
			t.Errorf("%s: %s disappeared from the user's module", when, f)
		}
	}
}

// TestConsumerModule uses natsnest as a user does: a fresh module outside
// the repository (go mod init, a replace to this checkout, go mod tidy
// through the module proxy) holding the README's program — a Cluster with
// the default Binary and secrets from config — and its unit test under
// natsnesttest's mocks. go vet and
// go test pass there, nothing natsnest does writes into that module, and
// the default binary, built from there through the code path an up uses
// (natsnest.PrepareBinary), is the reproducible build.
func TestConsumerModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module of its own: not with -short")
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	mod := filepath.Join(t.TempDir(), "events")
	cache := t.TempDir()
	env := consumerEnv(t, cache)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir, cmd.Env = mod, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out.Bytes())
		}
		return out.String()
	}

	if err := os.MkdirAll(filepath.Join(mod, "prepare"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The README's program and its test, as a user copies them.
	files := readmeFiles(t, root)
	pulumiYAML, err := os.ReadFile(filepath.Join(root, "examples", "cluster", "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for f, content := range map[string]string{
		"main.go": files["examples/cluster/main.go"], "main_test.go": files["examples/cluster/main_test.go"], "Pulumi.yaml": string(pulumiYAML),
	} {
		if content == "" {
			t.Fatalf("the README holds no %s", f)
		}
		if err := os.WriteFile(filepath.Join(mod, f), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// What a user runs before a preview without network, in CI say.
	prepare := `package main

import (
	"context"
	"fmt"
	"os"

	"github.com/natsnest/pulumi-natsnest/natsnest"
)

func main() {
	path, err := natsnest.PrepareBinary(context.Background(), "amd64")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(path)
}
`
	if err := os.WriteFile(filepath.Join(mod, "prepare", "main.go"), []byte(prepare), 0o644); err != nil {
		t.Fatal(err)
	}
	run("go", "mod", "init", "example.com/events")
	run("go", "mod", "edit", "-require=github.com/natsnest/pulumi-natsnest@v0.0.0", "-replace=github.com/natsnest/pulumi-natsnest="+root)
	run("go", "mod", "tidy")
	written := snapshot(t, mod)
	checkLean(t, root, run("go", "list", "-m", "all"), run("go", "list", "-deps", "-test", "./..."))

	run("go", "vet", "./...")
	run("go", "test", "-count=1", "./...")
	sameFiles(t, "after go vet and go test", written, snapshot(t, mod))
	if _, err := os.Stat(filepath.Join(cache, "natsnest")); err == nil {
		t.Errorf("the unit test under mocks built or cached something in %s", filepath.Join(cache, "natsnest"))
	}

	path := strings.TrimSpace(run("go", "run", "./prepare"))
	sameFiles(t, "after building the default binary", written, snapshot(t, mod))
	if want := filepath.Join(cache, "natsnest", "bin", "nats-server-v"+version.NATSServer+"-linux-amd64"); path != want {
		t.Errorf("the binary is at %s, want the user's cache %s", path, want)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got, want := hex.EncodeToString(sum[:]), version.NATSServerSHA256["linux/amd64"]; got != want {
		t.Errorf("built from the user's module, nats-server has SHA-256 %s, not the reproducible build's %s", got, want)
	}
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		out, err := exec.Command(path, "--version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "v"+version.NATSServer) {
			t.Errorf("%s --version: %s, %v", path, out, err)
		}
	}
}

// leanCount matches the README's report of a fresh consumer's module graph.
var leanCount = regexp.MustCompile("`go list -m all`" + `\s+in\s+a\s+fresh\s+consumer's\s+module\s+lists\s+(\d+)\s+modules`)

// checkLean holds a consumer's module graph (go list -m all) and the
// packages it builds, tests included (go list -deps -test), to what the
// library needs: none of the tools, test helpers or benchmarks of this
// repository, and as many modules as the README says.
func checkLean(t *testing.T, root, modules, packages string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(modules), "\n")
	for _, l := range lines {
		path, _, _ := strings.Cut(l, " ")
		for _, never := range []string{"github.com/nats-io/natscli", "github.com/nats-io/nats-server/v2", "github.com/pulumi/pulumi/pkg/v3",
			"github.com/pulumi/pulumi-go-provider", "github.com/natsnest/pulumi-natsnest/cmd/pulumi-resource-natsnest"} {
			if path == never {
				t.Errorf("the consumer's module graph holds %s (%s): a program that imports natsnest must not inherit it", never, l)
			}
		}
	}
	for _, p := range strings.Fields(packages) {
		if strings.HasPrefix(p, "github.com/stretchr/testify") {
			t.Errorf("the consumer builds %s", p)
		}
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := leanCount.FindSubmatch(readme)
	if m == nil {
		t.Fatalf("the README does not report the consumer's module count (%q)", leanCount)
	}
	if want, _ := strconv.Atoi(string(m[1])); len(lines) != want {
		t.Errorf("a fresh consumer's go list -m all lists %d modules; the README says %d: update it", len(lines), want)
	}
	t.Logf("a fresh consumer's module graph: %d modules (go list -m all)", len(lines))
}

// readmeFileRE is a file the README shows whole: a comment naming it, then
// a fenced Go block.
var readmeFileRE = regexp.MustCompile("(?s)<!-- ([a-z0-9_./-]+) -->\n```go\n(.*?)```\n")

// readmeFiles are the files the README shows whole, by path.
func readmeFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, m := range readmeFileRE.FindAllSubmatch(readme, -1) {
		files[string(m[1])] = string(m[2])
	}
	return files
}

// The program and test the README shows are examples/cluster's, byte for
// byte, so the example a user copies is the one make test runs.
func TestReadmeShowsTheExample(t *testing.T) {
	files := readmeFiles(t, ".")
	for _, f := range []string{"examples/cluster/main.go", "examples/cluster/main_test.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if files[f] != string(b) {
			t.Errorf("README's %s is not the file's content: copy it again", f)
		}
	}
}
