package provision

import (
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// scriptPreamble is a rendered script's header and input assignments: what
// comes before the library fragments. The fragments are fixed text after
// every value, so the last occurrence of the library is the real one.
func scriptPreamble(t *testing.T, script string) string {
	t.Helper()
	i := strings.LastIndex(script, "\n\n"+fragment("lib"))
	if i < 0 || !strings.HasPrefix(script, "#!/bin/bash\n") {
		t.Fatalf("not a rendered script:\n%.300s", script)
	}
	return strings.TrimPrefix(script[:i+1], "#!/bin/bash\n")
}

// quoted is one rendered script and the variables that must read back.
type quoted struct {
	script string
	names  []string
	want   []string
}

// runPreambles runs each script's preamble the way a node runs a script —
// the command line RemoteCommand builds, through sh, then bash — each in
// its own subshell with a DEBUG trap that counts every simple command, and
// prints the named variables back. It returns, per script, the values and
// the command count. Anything on stderr fails the test. One process for
// all of them keeps the fuzzer fast.
func runPreambles(t *testing.T, scripts []quoted) ([][]string, []int) {
	t.Helper()
	var b strings.Builder
	for _, q := range scripts {
		b.WriteString("(\n__natsnest_commands=0\ntrap '((++__natsnest_commands))' DEBUG\n")
		b.WriteString(scriptPreamble(t, q.script))
		b.WriteString("trap - DEBUG\n")
		for _, n := range q.names {
			b.WriteString("printf '%s\\0' \"$" + n + "\"\n")
		}
		b.WriteString("printf '%s\\0' \"$__natsnest_commands\"\n)\n")
	}
	cmd := exec.Command("sh", "-c", RemoteCommand(b.String(), false))
	cmd.Dir = t.TempDir() // an injected relative write would land here
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() != 0 {
		t.Fatalf("the preambles failed: %v\nstderr: %s\nscript:\n%s", err, stderr.String(), b.String())
	}
	fields := strings.Split(stdout.String(), "\x00")
	values, counts := make([][]string, len(scripts)), make([]int, len(scripts))
	for i, q := range scripts {
		if len(fields) < len(q.names)+1 {
			t.Fatalf("script %d: too few values back: %q", i, stdout.String())
		}
		values[i] = fields[:len(q.names)]
		n, err := strconv.Atoi(fields[len(q.names)])
		if err != nil {
			t.Fatalf("script %d: command count %q (a value ended the subshell?)", i, fields[len(q.names)])
		}
		counts[i] = n
		fields = fields[len(q.names)+1:]
	}
	if len(fields) != 1 || fields[0] != "" {
		t.Fatalf("more output than values: %q", fields)
	}
	return values, counts
}

// baseline caches the command counts of the benign scripts.
var baseline = struct {
	sync.Mutex
	counts map[string]int
}{counts: map[string]int{}}

func baselineCount(t *testing.T, benign quoted) int {
	t.Helper()
	baseline.Lock()
	defer baseline.Unlock()
	n, ok := baseline.counts[benign.script]
	if !ok {
		_, counts := runPreambles(t, []quoted{benign})
		n = counts[0]
		baseline.counts[benign.script] = n
	}
	return n
}

// FuzzRenderedScriptsQuote proves that every string that reaches a node's
// script is quoted: hostile values, in the renderer's variables and in each
// public script's string inputs (the disk serial and device, the binary
// URL and version), read back exactly and run nothing — the preamble runs
// as many commands as with benign values — and the scripts still parse.
// Inputs a renderer refuses never reach a script and are skipped.
func FuzzRenderedScriptsQuote(f *testing.F) {
	for _, s := range hostile {
		f.Add(s, "x")
	}
	f.Add("'$(touch pwned)'", "`touch pwned`")
	f.Add("a'\n; touch pwned; echo '", "\\'")
	f.Add("d-bp1$(id)", "/dev/vd$(id)")
	f.Add("%s%n", "${IFS}")
	f.Fuzz(func(t *testing.T, a, b string) {
		if strings.ContainsRune(a, 0) || strings.ContainsRune(b, 0) || len(a)+len(b) > 4096 {
			t.Skip("NUL cannot be in an argument; very long values only slow the fuzzer")
		}
		l := DefaultLayout()
		const sum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		binary := func(url, version string) (string, error) {
			return BinaryScript(l, BinaryOptions{Version: version, Arch: "amd64", SHA256: sum, URL: url})
		}
		must := func(s string, err error) string {
			if err != nil {
				t.Fatalf("benign inputs refused: %v", err)
			}
			return s
		}
		url, version := "https://mirror.example.com/"+a, "2.15.2-"+b
		type check struct {
			benign string
			fuzzed func() (string, error)
			names  []string
			want   []string
		}
		checks := []check{
			{render(StepBase, "fuzz", []variable{{"V1", "x"}, {"V2", "y"}}, "base"),
				func() (string, error) {
					return render(StepBase, "fuzz", []variable{{"V1", a}, {"V2", b}}, "base"), nil
				}, []string{"V1", "V2"}, []string{a, b}},
			{must(DiskScript(l, DiskOptions{Selector: DiskSelector{Serial: "d-x"}})),
				func() (string, error) { return DiskScript(l, DiskOptions{Selector: DiskSelector{Serial: a}}) },
				[]string{"DATA_SERIAL"}, []string{a}},
			{must(DiskScript(l, DiskOptions{Selector: DiskSelector{Device: "/dev/vdb"}})),
				func() (string, error) { return DiskScript(l, DiskOptions{Selector: DiskSelector{Device: b}}) },
				[]string{"DATA_DEVICE"}, []string{b}},
			{must(binary("https://mirror.example.com/n", "2.15.2")),
				func() (string, error) { return binary(url, "2.15.2") }, []string{"URL_SHOWN"}, []string{RedactURL(url)}},
			{must(binary("https://mirror.example.com/n", "2.15.2")),
				func() (string, error) { return binary("https://mirror.example.com/n", version) }, []string{"VERSION"}, []string{version}},
		}

		var run []quoted
		var wantCounts []int
		var parse strings.Builder
		for _, c := range checks {
			script, err := c.fuzzed()
			if err != nil {
				continue // refused: nothing reaches a script
			}
			run = append(run, quoted{script, c.names, c.want})
			wantCounts = append(wantCounts, baselineCount(t, quoted{script: c.benign, names: c.names}))
			fmt.Fprintf(&parse, "check_%d() {\n%s\n}\n", len(run), script)
		}
		if len(run) == 0 {
			return
		}
		values, counts := runPreambles(t, run)
		for i, q := range run {
			for j, name := range q.names {
				if values[i][j] != q.want[j] {
					t.Errorf("%s read back as %q, want %q", name, values[i][j], q.want[j])
				}
			}
			if counts[i] != wantCounts[i] {
				t.Errorf("setting %v ran %d commands, %d with benign values: a value was executed", q.names, counts[i], wantCounts[i])
			}
		}
		cmd := exec.Command("bash", "-n")
		cmd.Stdin = strings.NewReader(parse.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("bash -n: %v\n%s", err, out)
		}
	})
}
