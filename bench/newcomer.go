package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/natsnest/pulumi-natsnest/internal/natsbin"
)

// coldBuildAllowance is what a cold nats-server build takes on the 2-core
// machine BENCHMARKS.md was made on, with some margin: `make bench` runs the
// coldbuild part only if this much of its budget is left.
const coldBuildAllowance = 3 * time.Minute

// CommandSample is one timed run of a command.
type CommandSample struct {
	Wall     time.Duration `json:"wall"`
	ExitCode int           `json:"exitCode"`
	// Tail is the end of the output when the command failed.
	Tail string `json:"tail,omitempty"`
}

// CommandFigure is a command timed N times.
type CommandFigure struct {
	Key     string          `json:"key"`
	Label   string          `json:"label"`
	Command string          `json:"command"`
	Caches  string          `json:"caches"` // what was warm or cold
	Samples []CommandSample `json:"samples"`
	// Note says why fewer runs than planned were made.
	Note string `json:"note,omitempty"`
}

// NewcomerResult is what a newcomer waits for.
type NewcomerResult struct {
	Part
	Figures []CommandFigure `json:"figures"`
}

func (e *env) runNewcomer(ctx context.Context) (*NewcomerResult, error) {
	res := &NewcomerResult{Part: e.part("newcomer", e.runsOr(3))}
	began := time.Now()
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	gobin := e.goCmd()
	makeCmd := func(target string) []string { return []string{"make", "--no-print-directory", target, "GO=" + gobin} }

	// make test once: it takes minutes, and its result is reported with
	// its exit status (the checkout may hold other engineers' work).
	res.Figures = append(res.Figures, e.timeCommand(ctx, root, CommandFigure{
		Key: "make-test", Label: "`make test` (unit + local-cluster tiers, then fuzzing)", Command: "make test",
		Caches: "warm Go build cache and module cache; tests run with -count=1, so no test result is cached",
	}, 1, nil, makeCmd("test")...))

	res.Figures = append(res.Figures, e.timeCommand(ctx, root, CommandFigure{
		Key: "make-demo", Label: "`make demo` (the seed's walkthrough on a local 3-node cluster)", Command: "make demo",
		Caches: "warm: the pinned nats-server binary is cached in .cache/bin, the demo's build in the Go build cache",
	}, res.Runs, nil, makeCmd("demo")...))

	// The nats-server build that the first `make demo` or `make test`
	// pays: the same `go build` natsbin.Build runs, into a scratch
	// directory so the shared cached binary is never touched.
	scratch, err := os.MkdirTemp(e.storeRoot, "natsbuild-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	buildDir, build, buildEnv, err := natsbin.BuildCommand(runtime.GOOS, runtime.GOARCH, filepath.Join(scratch, "nats-server"))
	if err != nil {
		return nil, err
	}
	// go build skips the link when the output is already up to date:
	// each run starts without it.
	e.beforeRun = func() { os.Remove(filepath.Join(scratch, "nats-server")) }
	res.Figures = append(res.Figures, e.timeCommand(ctx, buildDir, CommandFigure{
		Key: "build-warm", Label: "nats-server build, warm Go build cache (binary not cached)", Command: strings.Join(build[1:], " "),
		Caches: "warm Go build cache: compiled packages reused, the binary linked",
	}, res.Runs, buildEnv, build...))
	e.beforeRun = nil
	// What every later run pays: natsbin.Build finds the cached binary and
	// checks it (build info and --version).
	fig := CommandFigure{Key: "build-cached", Label: "nats-server from the cache (natsbin.Build with the binary in .cache/bin)", Command: "natsbin.Build",
		Caches: "binary cached: checked, not rebuilt"}
	for range res.Runs {
		t0 := time.Now()
		_, err := natsbin.Build(ctx, runtime.GOOS, runtime.GOARCH)
		s := CommandSample{Wall: time.Since(t0)}
		if err != nil {
			s.ExitCode, s.Tail = 1, err.Error()
		}
		fig.Samples = append(fig.Samples, s)
	}
	res.Figures = append(res.Figures, fig)
	res.Elapsed = time.Since(began)
	return res, nil
}

// moduleRoot is the directory of the nearest go.mod at or above the
// working directory: the repository `make bench` runs in.
func moduleRoot() (string, error) {
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
			return "", errors.New("bench: no go.mod in the working directory or above it; run it from the repository")
		}
		dir = parent
	}
}

// runColdBuild times the nats-server build with an empty Go build cache:
// what the first `make demo` or `make test` on a fresh machine pays.
func (e *env) runColdBuild(ctx context.Context) (*NewcomerResult, error) {
	res := &NewcomerResult{Part: e.part("coldbuild", 1)}
	began := time.Now()
	scratch, err := os.MkdirTemp(e.storeRoot, "natscold-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	buildDir, build, env, err := natsbin.BuildCommand(runtime.GOOS, runtime.GOARCH, filepath.Join(scratch, "nats-server"))
	if err != nil {
		return nil, err
	}
	env = append(env, "GOCACHE="+filepath.Join(scratch, "gocache"))
	res.Figures = append(res.Figures, e.timeCommand(ctx, buildDir, CommandFigure{
		Key: "build-cold", Label: "nats-server build, cold Go build cache (the first `make demo` or `make test` on a fresh machine)",
		Command: "GOCACHE=<empty dir> " + strings.Join(build[1:], " "),
		Caches:  "empty GOCACHE; the module cache was warm, so no download is included",
	}, 1, env, build...))
	res.Elapsed = time.Since(began)
	return res, nil
}

// timeCommand runs argv in dir n times and records each wall time; env,
// when not nil, is the command's whole environment (else the bench's own).
func (e *env) timeCommand(ctx context.Context, dir string, fig CommandFigure, n int, env []string, argv ...string) CommandFigure {
	for i := range n {
		e.logf("newcomer: %s (run %d of %d)", fig.Command, i+1, n)
		if e.beforeRun != nil {
			e.beforeRun()
		}
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = dir
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		t0 := time.Now()
		err := cmd.Run()
		s := CommandSample{Wall: time.Since(t0)}
		if err != nil {
			s.ExitCode = -1
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				s.ExitCode = ee.ExitCode()
			}
			s.Tail = tailLines(out.String(), 15)
		}
		e.logf("newcomer: %s took %s (exit %d)", fig.Command, fmtDur(s.Wall), s.ExitCode)
		if s.ExitCode != 0 {
			e.logf("newcomer: last lines:\n%s", s.Tail)
		}
		fig.Samples = append(fig.Samples, s)
		if ctx.Err() != nil {
			break
		}
		// Within the budget, a run is only started if one like the last
		// still fits, with room for what follows it.
		if left := time.Until(e.deadline); i+1 < n && !e.deadline.IsZero() && left < 2*s.Wall+newcomerReserve {
			fig.Note = fmt.Sprintf("%d of %d runs: the budget (-budget %s) left no time for more", i+1, n, fmtDur(e.budget))
			e.logf("newcomer: %s: %s", fig.Command, fig.Note)
			break
		}
	}
	return fig
}

// newcomerReserve is kept free of repeated runs for the figures after
// them (the warm builds and the cache check take well under this).
const newcomerReserve = 30 * time.Second

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// goCmd is the go command: $GO (which `make bench` sets to its $(GO)),
// else go on $PATH, else the toolchain's own.
func (e *env) goCmd() string {
	name := os.Getenv("GO")
	if name == "" {
		name = "go"
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}
