package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// architecture is docs/architecture.json: the parts of the repository, the
// ideas (parts not built yet), the imports drawn between them, and the
// imports that must never exist.
type architecture struct {
	Parts map[string]struct {
		Is []string `json:"is"`
	} `json:"parts"`
	Ideas  map[string]any `json:"ideas"`
	Arrows [][]string     `json:"arrows"`
	Never  [][]string     `json:"never"`
}

// goPackage is what the check reads of `go list -json`: a package's
// non-test imports, direct and transitive.
type goPackage struct {
	ImportPath string
	Name       string
	Dir        string   // relative to the repository's root, slash-separated
	GoFiles    []string // non-test files
	Imports    []string // direct, non-test
	Deps       []string // transitive, non-test
}

// examplesDir holds programs a user can copy: the public API only.
const examplesDir = "examples"

// partOf returns the part pkg belongs to, "" for none: the part with the
// longest entry that names its folder, or one of its files.
func (a architecture) partOf(pkg goPackage) string {
	best, bestLen := "", -1
	for name, part := range a.Parts {
		for _, entry := range part.Is {
			var match bool
			if dir, ok := strings.CutSuffix(entry, "/"); ok {
				match = pkg.Dir == dir || strings.HasPrefix(pkg.Dir, dir+"/")
			} else {
				match = path.Dir(entry) == pkg.Dir && slices.Contains(pkg.GoFiles, path.Base(entry))
			}
			if match && len(entry) > bestLen {
				best, bestLen = name, len(entry)
			}
		}
	}
	return best
}

func pairIn(pairs [][]string, from, to string) (reason string, ok bool) {
	for _, p := range pairs {
		if len(p) >= 2 && p[0] == from && p[1] == to {
			if len(p) > 2 {
				reason = p[2]
			}
			return reason, true
		}
	}
	return "", false
}

// violations lists every way pkgs (every package of the repository) break
// a: an import, direct or transitive, that a never forbids; a direct import
// between parts with no arrow drawn; a package of no part outside
// examples/; an example that imports internal/.
func (a architecture) violations(pkgs []goPackage) []string {
	var out []string
	for _, pair := range a.Arrows {
		for _, p := range pair[:min(2, len(pair))] {
			if _, ok := a.Parts[p]; !ok {
				if _, idea := a.Ideas[p]; !idea {
					out = append(out, fmt.Sprintf("docs/architecture.json: the arrow %v names %q, which is neither a part nor an idea", pair, p))
				}
			}
		}
	}
	for _, pair := range a.Never {
		for _, p := range pair[:min(2, len(pair))] {
			if _, ok := a.Parts[p]; !ok {
				out = append(out, fmt.Sprintf("docs/architecture.json: the never %v names %q, which is not a part", pair, p))
			}
		}
	}
	byPath := map[string]goPackage{}
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
	}
	for _, p := range pkgs {
		if p.Dir == examplesDir || strings.HasPrefix(p.Dir, examplesDir+"/") {
			for _, imp := range p.Imports {
				if dep, ok := byPath[imp]; ok && (dep.Dir == "internal" || strings.HasPrefix(dep.Dir, "internal/")) {
					out = append(out, fmt.Sprintf("%s imports %s: examples use the public API only", p.ImportPath, imp))
				}
			}
			continue
		}
		from := a.partOf(p)
		if from == "" {
			out = append(out, fmt.Sprintf("%s (%s/) belongs to no part of docs/architecture.json: add it to a part, or put it in a part's folder", p.ImportPath, p.Dir))
			continue
		}
		for _, imp := range p.Deps {
			dep, ok := byPath[imp]
			if !ok {
				continue // not the repository's
			}
			to := a.partOf(dep)
			if to == "" || to == from {
				continue
			}
			direct := slices.Contains(p.Imports, imp)
			if reason, never := pairIn(a.Never, from, to); never {
				how := "imports"
				if !direct {
					how = "depends, through other packages, on"
				}
				out = append(out, fmt.Sprintf("%s (%s) %s %s (%s): never, %s", p.ImportPath, from, how, imp, to, reason))
				continue
			}
			if _, drawn := pairIn(a.Arrows, from, to); direct && !drawn {
				out = append(out, fmt.Sprintf("%s (%s) imports %s (%s): no arrow %s → %s in docs/architecture.json: draw it, or do not import", p.ImportPath, from, imp, to, from, to))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// repoPackages lists, with `go list -json`, every package of every module
// (every go.mod) in the repository at root.
func repoPackages(t *testing.T, root string) []goPackage {
	t.Helper()
	var modules []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == "go.mod" {
			modules = append(modules, filepath.Dir(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(modules) == 0 {
		t.Fatal("no go.mod found")
	}
	var pkgs []goPackage
	for _, mod := range modules {
		cmd := exec.Command("go", "list", "-json", "./...")
		cmd.Dir = mod
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -json ./... in %s: %v\n%s", mod, err, stderr.Bytes())
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		for {
			var p goPackage
			if err := dec.Decode(&p); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			rel, err := filepath.Rel(root, p.Dir)
			if err != nil {
				t.Fatal(err)
			}
			p.Dir = filepath.ToSlash(rel)
			pkgs = append(pkgs, p)
		}
	}
	return pkgs
}

func loadArchitecture(t *testing.T) architecture {
	t.Helper()
	b, err := os.ReadFile("docs/architecture.json")
	if err != nil {
		t.Fatal(err)
	}
	var a architecture
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("docs/architecture.json: %v", err)
	}
	return a
}

// TestArchitecture holds every module of the repository to the layout in
// docs/architecture.json (docs/architecture.md §1.2).
func TestArchitecture(t *testing.T) {
	a := loadArchitecture(t)
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// A package of tests only (e2e/) ships nothing and has no non-test
	// imports to hold to the layout; like farm-studio, the check draws no
	// room for it. Every package with code belongs to a part.
	pkgs := slices.DeleteFunc(repoPackages(t, root), func(p goPackage) bool { return len(p.GoFiles) == 0 })
	parts := map[string]int{}
	for _, p := range pkgs {
		parts[a.partOf(p)]++
	}
	for _, want := range []string{"Program", "API", "Core", "Demos", "Fixtures"} {
		if parts[want] == 0 {
			t.Errorf("no package found in part %s: is the part's path right?", want)
		}
	}
	for _, v := range a.violations(pkgs) {
		t.Error(v)
	}
}

// TestExamplesArePrograms: every package under examples/ is a Pulumi
// program a user can copy — a main package with its own Pulumi.yaml — and
// at least one of them is a module of its own, as a user's program is.
func TestExamplesArePrograms(t *testing.T) {
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	ownModule := 0
	for _, p := range repoPackages(t, root) {
		if p.Dir != examplesDir && !strings.HasPrefix(p.Dir, examplesDir+"/") {
			continue
		}
		if p.Name != "main" {
			t.Errorf("%s is package %s, not a program (package main)", p.Dir, p.Name)
		}
		if _, err := os.Stat(filepath.Join(root, p.Dir, "Pulumi.yaml")); err != nil {
			t.Errorf("%s has no Pulumi.yaml of its own", p.Dir)
		}
		if _, err := os.Stat(filepath.Join(root, p.Dir, "go.mod")); err == nil {
			ownModule++
		}
	}
	if ownModule == 0 {
		t.Error("no example is a module of its own")
	}
}

// TestArchitectureCheckFails: the check finds each kind of violation in a
// repository made up for it, so a check that passes means something.
func TestArchitectureCheckFails(t *testing.T) {
	a := loadArchitecture(t)
	const m = "example.com/repo/"
	pkgs := []goPackage{
		{ImportPath: m, Dir: ".", GoFiles: []string{"main.go"}, Imports: []string{m + "internal/program"}, Deps: []string{m + "internal/program", m + "natsnest"}},
		{ImportPath: m + "internal/program", Dir: "internal/program", GoFiles: []string{"program.go"}, Imports: []string{m + "natsnest"}, Deps: []string{m + "natsnest", m + "internal/natsconf", m + "internal/testkit/testpki"}},
		// The API imports a fixture: never.
		{ImportPath: m + "natsnest", Dir: "natsnest", GoFiles: []string{"cluster.go"}, Imports: []string{m + "internal/natsconf", m + "internal/testkit/testpki"}, Deps: []string{m + "internal/natsconf", m + "internal/testkit/testpki"}},
		// The core imports the API: never.
		{ImportPath: m + "internal/natsconf", Dir: "internal/natsconf", GoFiles: []string{"render.go"}, Imports: []string{m + "natsnest"}, Deps: []string{m + "natsnest"}},
		{ImportPath: m + "internal/testkit/testpki", Dir: "internal/testkit/testpki", GoFiles: []string{"testpki.go"}},
		// An example imports internal/.
		{ImportPath: m + "examples/embed", Dir: "examples/embed", GoFiles: []string{"main.go"}, Imports: []string{m + "natsnest", m + "internal/natsconf"}},
		// A package of no part.
		{ImportPath: m + "scratch/gen", Dir: "scratch/gen", GoFiles: []string{"gen.go"}},
		// A demo importing the program: no arrow drawn.
		{ImportPath: m + "cmd/quickstart", Dir: "cmd/quickstart", GoFiles: []string{"main.go"}, Imports: []string{m + "internal/program"}, Deps: []string{m + "internal/program"}},
	}
	got := strings.Join(a.violations(pkgs), "\n")
	for _, want := range []string{
		m + "natsnest (API) imports " + m + "internal/testkit/testpki (Fixtures): never",
		m + "internal/natsconf (Core) imports " + m + "natsnest (API): never",
		m + "internal/program (Program) depends, through other packages, on " + m + "internal/testkit/testpki (Fixtures): never",
		m + "examples/embed imports " + m + "internal/natsconf: examples use the public API only",
		m + "scratch/gen (scratch/gen/) belongs to no part",
		m + "cmd/quickstart (Demos) imports " + m + "internal/program (Program): no arrow Demos → Program",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the check missed: %s\nit found:\n%s", want, got)
		}
	}
	if strings.Contains(got, m+" (Program)") {
		t.Errorf("main.go → internal/program is inside one part, yet reported:\n%s", got)
	}
}
