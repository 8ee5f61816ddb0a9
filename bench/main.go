// Command bench measures natsnest and writes BENCHMARKS.md and a chart:
//
//   - deploy: the production program under Pulumi mocks that delay every
//     resource by a scaled cloud latency, for 1, 3, 5 and 11 nodes, against
//     the longest dependency chain of the recorded resource graph;
//   - throughput: JetStream publish throughput and latency on local 3-node
//     clusters: the seed's nats.conf, natsnest's default durability and
//     natsnest's sync_interval: always, R1 and R3, 128 B and 16 KiB;
//   - failover: kill -9 and a planned restart of the stream leader's node,
//     seen by a publisher that keeps publishing;
//   - newcomer: the wall time of make test, make demo and the nats-server
//     build.
//
// Every comparison is a ratio of two figures measured side by side in the
// same round; every figure is a median over rounds. Results of each part are
// kept in bench/results.json, so one part can be measured again alone
// (-only) and BENCHMARKS.md still shows all of them. `make bench` runs all.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/natsnest/pulumi-natsnest/internal/natsbin"
)

// Parts, in the order `make bench` runs them.
var allParts = []string{"throughput", "failover", "deploy", "newcomer", "coldbuild"}

// Part is what every figure records about its run.
type Part struct {
	Name    string        `json:"name"`
	Date    time.Time     `json:"date"`
	Runs    int           `json:"runs"` // N: rounds, each measuring everything once
	Elapsed time.Duration `json:"elapsed"`
	Machine Machine       `json:"machine"`
	// Reproduce is the one command that measures this figure again.
	Reproduce string `json:"reproduce"`
}

// Results is bench/results.json: the latest result of every part.
type Results struct {
	Throughput *ThroughputResult `json:"throughput,omitempty"`
	Failover   *FailoverResult   `json:"failover,omitempty"`
	Deploy     *DeployResult     `json:"deploy,omitempty"`
	Newcomer   *NewcomerResult   `json:"newcomer,omitempty"`
	ColdBuild  *NewcomerResult   `json:"coldBuild,omitempty"`
	// LastRun is the latest invocation: which parts and how long.
	LastRun *Invocation `json:"lastRun,omitempty"`
}

// Invocation is one run of the bench command.
type Invocation struct {
	Parts   []string      `json:"parts"`
	Skipped []string      `json:"skipped,omitempty"` // for lack of budget
	Date    time.Time     `json:"date"`
	Elapsed time.Duration `json:"elapsed"`
}

// env is what every part runs with.
type env struct {
	runs              int // 0: each part's default
	window, latWindow time.Duration
	deployScale       float64
	deployNodeCounts  []int
	budget            time.Duration
	deadline          time.Time // zero: no budget
	storeRoot         string
	storeFS           string // description of the stores' filesystem
	serverBin         string
	machine           Machine
	logf, vlogf       func(format string, args ...any)
	beforeRun         func() // newcomer: called before each timed run
}

func (e *env) runsOr(def int) int {
	if e.runs > 0 {
		return e.runs
	}
	return def
}

func (e *env) part(name string, runs int) Part {
	m := e.machine
	m.LoadAvg = firstLine("/proc/loadavg")
	if name == "throughput" || name == "failover" {
		m.Store = e.storeFS
	}
	return Part{Name: name, Date: time.Now().UTC(), Runs: runs, Machine: m, Reproduce: "make bench BENCH_FLAGS=-only=" + name}
}

func main() {
	var (
		only       = flag.String("only", "", "comma-separated parts to measure: "+strings.Join(allParts, ",")+" (default: all)")
		runs       = flag.Int("runs", 0, "rounds per part (default: 3 for throughput, failover and newcomer; 5 for deploy)")
		out        = flag.String("out", "BENCHMARKS.md", "the report to write")
		chart      = flag.String("chart", "bench/throughput.png", "the chart to write (PNG)")
		results    = flag.String("results", "bench/results.json", "where results of every part are kept between runs")
		dir        = flag.String("dir", "", "directory for the JetStream stores, on a real disk (default: $NATSNEST_CACHE/bench or <module>/.cache/bench)")
		window     = flag.Duration("window", 1500*time.Millisecond, "throughput: how long each asynchronous publishing run lasts")
		latWindow  = flag.Duration("latency-window", time.Second, "throughput: how long each synchronous (latency) run lasts, at most 2000 publishes")
		scale      = flag.Float64("deploy-scale", 0.01, "deploy: factor applied to the assumed cloud latencies")
		budget     = flag.Duration("budget", 13*time.Minute, "time for this run (compiling bench comes on top): repeated newcomer runs stop, and the coldbuild part is skipped (keeping its last result), when they would not fit; 0: no budget")
		renderOnly = flag.Bool("render-only", false, "measure nothing: rewrite the report and chart from the results file")
		verbose    = flag.Bool("verbose", false, "also print the local cluster runner's progress")
	)
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *only, *runs, *out, *chart, *results, *dir, *window, *latWindow, *scale, *budget, *renderOnly, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, only string, runs int, out, chart, resultsPath, dir string,
	window, latWindow time.Duration, scale float64, budget time.Duration, renderOnly, verbose bool) error {
	began := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}
	parts := allParts
	if only != "" {
		parts = nil
		for _, p := range strings.Split(only, ",") {
			p = strings.TrimSpace(p)
			if !slices.Contains(allParts, p) {
				return fmt.Errorf("-only: unknown part %q (parts: %s)", p, strings.Join(allParts, ", "))
			}
			parts = append(parts, p)
		}
	}
	res, err := loadResults(resultsPath)
	if err != nil {
		return err
	}
	if renderOnly {
		return writeReport(res, out, chart, logf)
	}

	e := &env{
		runs: runs, window: window, latWindow: latWindow, deployScale: scale,
		logf: logf, vlogf: func(string, ...any) {},
		deployNodeCounts: []int{1, 3, 5, 11},
		budget:           budget,
	}
	if budget > 0 {
		e.deadline = began.Add(budget)
	}
	if verbose {
		e.vlogf = logf
	}
	if e.storeRoot, err = storeRoot(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(e.storeRoot, 0o755); err != nil {
		return err
	}
	fsType, desc, err := storeFilesystem(e.storeRoot)
	switch {
	case err != nil:
		e.storeFS = "unknown (" + err.Error() + ")"
	case isMemoryFS(fsType):
		return fmt.Errorf("%s is on %s: stores in memory would hide what fsync costs; give -dir on a real disk", e.storeRoot, desc)
	default:
		e.storeFS = desc
	}
	logf("bench: parts %s; JetStream stores in %s on %s", strings.Join(parts, ", "), e.storeRoot, e.storeFS)

	if slices.Contains(parts, "throughput") || slices.Contains(parts, "failover") {
		logf("bench: building (or finding) the pinned nats-server")
		if e.serverBin, err = natsbin.Build(ctx, runtime.GOOS, runtime.GOARCH); err != nil {
			return err
		}
	} else if p, err := natsbin.Path(runtime.GOOS, runtime.GOARCH); err == nil {
		if _, err := os.Stat(p); err == nil {
			e.serverBin = p
		}
	}
	e.machine = describeMachine(ctx, e.serverBin)
	logf("bench: %d CPUs (%s), %s GiB, Linux %s, %s, nats-server %s, load %s",
		e.machine.CPUs, e.machine.CPUModel, e.machine.MemoryGiB, e.machine.Kernel, e.machine.GoVersion, e.machine.NATSServer, e.machine.LoadAvg)

	var errs []error
	var skipped []string
	for _, p := range parts {
		if ctx.Err() != nil {
			break
		}
		t0 := time.Now()
		logf("bench: part %s", p)
		var err error
		switch p {
		case "throughput":
			var r *ThroughputResult
			if r, err = e.runThroughput(ctx); err == nil {
				res.Throughput = r
			}
		case "failover":
			var r *FailoverResult
			if r, err = e.runFailover(ctx); err == nil {
				res.Failover = r
			}
		case "deploy":
			var r *DeployResult
			if r, err = e.runDeploy(ctx); err == nil {
				res.Deploy = r
			}
		case "newcomer":
			var r *NewcomerResult
			if r, err = e.runNewcomer(ctx); err == nil {
				res.Newcomer = r
			}
		case "coldbuild":
			if left := time.Until(e.deadline); !e.deadline.IsZero() && left < coldBuildAllowance {
				msg := "not enough budget left"
				if res.ColdBuild != nil {
					msg += "; BENCHMARKS.md keeps the result of " + res.ColdBuild.Date.Format("2006-01-02 15:04 MST")
				}
				logf("bench: skipping part coldbuild: %s of the %s budget (-budget) left, a cold build takes up to %s here; %s. Measure it alone: make bench BENCH_FLAGS=-only=coldbuild",
					fmtDur(left.Round(time.Second)), fmtDur(e.budget), fmtDur(coldBuildAllowance), msg)
				skipped = append(skipped, "coldbuild")
				continue
			}
			var r *NewcomerResult
			if r, err = e.runColdBuild(ctx); err == nil {
				res.ColdBuild = r
			}
		}
		if err != nil {
			logf("bench: part %s failed after %s: %v", p, fmtDur(time.Since(t0)), err)
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		logf("bench: part %s done in %s", p, fmtDur(time.Since(t0)))
		// Keep what is measured even if a later part fails.
		if err := saveResults(resultsPath, res); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	res.LastRun = &Invocation{Parts: parts, Skipped: skipped, Date: began.UTC(), Elapsed: time.Since(began)}
	if err := saveResults(resultsPath, res); err != nil {
		return err
	}
	if err := writeReport(res, out, chart, logf); err != nil {
		return err
	}
	logf("bench: done in %s", fmtDur(time.Since(began)))
	return errors.Join(errs...)
}

func storeRoot(dir string) (string, error) {
	if dir != "" {
		return filepath.Abs(dir)
	}
	cache, err := natsbin.CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "bench"), nil
}

func loadResults(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Results{}, nil
	}
	if err != nil {
		return nil, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w (delete it to start afresh)", path, err)
	}
	return &r, nil
}

func saveResults(path string, r *Results) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func writeReport(r *Results, out, chart string, logf func(string, ...any)) error {
	link := chart
	if abs, err := filepath.Abs(chart); err == nil {
		if dir, err := filepath.Abs(filepath.Dir(out)); err == nil {
			if rel, err := filepath.Rel(dir, abs); err == nil {
				link = rel
			}
		}
	}
	if r.Throughput == nil {
		link = ""
	}
	if err := os.WriteFile(out, []byte(renderMarkdown(r, link)), 0o644); err != nil {
		return err
	}
	logf("bench: wrote %s", out)
	if r.Throughput != nil {
		png, err := renderChart(r)
		if err != nil {
			return err
		}
		if err := os.WriteFile(chart, png, 0o644); err != nil {
			return err
		}
		logf("bench: wrote %s", chart)
	}
	return nil
}
