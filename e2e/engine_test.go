package e2e

import (
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/internal/testkit/machines"
)

// engine is the real Pulumi CLI for one test: a state backend, plugin home
// and work directory of the test's own, and plugins built from this
// repository.
type engine struct {
	tmp string
	env map[string]string
}

// newEngine finds the Pulumi CLI on PATH, or fails saying how to get it.
// The engine tier runs in make e2e (NATSNEST_E2E=1), not in make test,
// whose newcomer need not have the CLI.
func newEngine(t *testing.T, tmp string) *engine {
	t.Helper()
	if os.Getenv(machines.EnvVar) != "1" {
		t.Skip("the real engine's tests run only with " + machines.EnvVar + "=1 (make e2e)")
	}
	if _, err := exec.LookPath("pulumi"); err != nil {
		t.Fatalf("the Pulumi CLI is not on PATH (%v): install it (https://www.pulumi.com/docs/install/), or on these offline machines run `eval \"$(../shared/tools/pulumi-toolchain.sh --env)\"` as .ci/run does", err)
	}
	for _, dir := range []string{"work", "state", "bin"} {
		if err := os.MkdirAll(filepath.Join(tmp, dir), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return &engine{tmp: tmp, env: map[string]string{
		"PULUMI_HOME":              filepath.Join(tmp, "pulumi-home"),
		"PULUMI_CONFIG_PASSPHRASE": "e2e-only-passphrase",
		"PULUMI_SKIP_UPDATE_CHECK": "true",
	}}
}

// build compiles the main package in dir (relative to the repository, a
// module of its own) into the engine's bin folder as name, and returns the
// folder.
func (e *engine) build(t *testing.T, name, dir string) string {
	t.Helper()
	bin := filepath.Join(e.tmp, "bin")
	cmd := exec.Command("go", "build", "-o", filepath.Join(bin, name), ".")
	cmd.Dir = filepath.Join("..", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s from %s: %v\n%s", name, dir, err, out)
	}
	return bin
}

// ambient puts the engine's bin folder first on the CLI's PATH, where the
// engine finds plugins no version was asked for.
func (e *engine) ambient() {
	e.env["PATH"] = filepath.Join(e.tmp, "bin") + string(os.PathListSeparator) + os.Getenv("PATH")
}

// stack is a stack "dev" of an inline program, destroyed when the test
// ends if a step left resources behind.
func (e *engine) stack(ctx context.Context, t *testing.T, project string, program pulumi.RunFunc, plugins *workspace.Plugins) auto.Stack {
	t.Helper()
	st, err := auto.UpsertStackInlineSource(ctx, "dev", project, program,
		auto.Project(workspace.Project{
			Name:    tokens.PackageName(project),
			Runtime: workspace.NewProjectRuntimeInfo("go", nil),
			Backend: &workspace.ProjectBackend{URL: "file://" + filepath.Join(e.tmp, "state")},
			Plugins: plugins,
		}),
		auto.WorkDir(filepath.Join(e.tmp, "work")),
		auto.EnvVars(e.env))
	if err != nil {
		t.Fatalf("creating the stack: %v", err)
	}
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		_, _ = st.Destroy(dctx)
	})
	return st
}

// opLog collects the engine's step per resource name from an operation's
// events: "same", "create", "update", "replace", "delete", ….
type opLog struct {
	ch   chan events.EngineEvent
	done chan struct{}
	mu   sync.Mutex
	ops  map[string][]apitype.OpType
	// began and ended are, per resource name, the position in the event
	// stream of its last step's start and end: a step that began after
	// another ended ran after it.
	began, ended map[string]int
	// logs are, per resource name, the lines the engine printed for it
	// (a command's streamed stdout and stderr, warnings, errors).
	logs map[string][]string
	seq  int
}

func collectSteps() *opLog {
	s := &opLog{ch: make(chan events.EngineEvent), done: make(chan struct{}), ops: map[string][]apitype.OpType{},
		began: map[string]int{}, ended: map[string]int{}, logs: map[string][]string{}}
	go func() {
		defer close(s.done)
		for ev := range s.ch {
			s.mu.Lock()
			s.seq++
			switch {
			case ev.ResourcePreEvent != nil:
				name := resource.URN(ev.ResourcePreEvent.Metadata.URN).Name()
				s.ops[name] = append(s.ops[name], ev.ResourcePreEvent.Metadata.Op)
				s.began[name] = s.seq
			case ev.ResOutputsEvent != nil:
				s.ended[resource.URN(ev.ResOutputsEvent.Metadata.URN).Name()] = s.seq
			case ev.DiagnosticEvent != nil && ev.DiagnosticEvent.URN != "":
				name := resource.URN(ev.DiagnosticEvent.URN).Name()
				s.logs[name] = append(s.logs[name], strings.TrimRight(ev.DiagnosticEvent.Message, "\n"))
			}
			s.mu.Unlock()
		}
	}()
	return s
}

// log is what the engine printed for the resource name, one string.
func (s *opLog) log(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.logs[name], "\n")
}

// after says whether name's step began after prev's had ended.
func (s *opLog) after(name, prev string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended[prev] != 0 && s.began[name] > s.ended[prev]
}

// result is the steps seen. The Automation API closes the channel when an
// operation ends, but not when it fails before the engine starts (a config
// the CLI refuses): then what was seen is all there is.
func (s *opLog) result() map[string][]apitype.OpType {
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.ops)
}
