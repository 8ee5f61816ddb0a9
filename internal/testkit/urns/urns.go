// Package urns holds the URNs that natsnest's programs registered when each
// list was written, and checks that they are still registered.
//
// A URN is a resource's identity in a stack's state: a change that renames a
// resource or moves it under another parent changes its URN, and the next
// `pulumi up` deletes the old resource and creates a new one — for an ECS
// instance, a new machine. The lists in registered/ are written by hand: a
// resource added on purpose is added to its list in the commit that adds
// it; no flag regenerates them. A listed URN that is no longer registered
// fails the check, unless a registered resource names it in
// pulumi.Aliases (directly or through an alias of a parent), which is how
// Pulumi moves a resource without replacing it.
package urns

import (
	"bufio"
	"embed"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

//go:embed registered/*.txt
var lists embed.FS

// Listed returns the URNs of list (a file name in registered/, without
// ".txt"); lines starting with # are comments.
func Listed(list string) ([]string, error) {
	b, err := lists.ReadFile("registered/" + list + ".txt")
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out, sc.Err()
}

// Recorder is a pulumi.MockResourceMonitor that records the URN of every
// resource registered through it, and the URNs its aliases name, and
// passes every call on to the monitor it wraps.
type Recorder struct {
	pulumi.MockResourceMonitor
	project, stack string

	mu      sync.Mutex
	urns    []string
	aliases map[string][]string // a resource's URN → the URNs it is an alias for
}

// NewRecorder wraps m for a program run with pulumi.WithMocks(project, stack, …).
func NewRecorder(project, stack string, m pulumi.MockResourceMonitor) *Recorder {
	return &Recorder{MockResourceMonitor: m, project: project, stack: stack, aliases: map[string][]string{}}
}

// urn is the URN the engine gives a resource of type typ named name under
// parent (a URN; the root stack's or "" for none), in the same way as the
// mock monitor and the engine: the parent's qualified type, then typ.
func urn(project, stack, parent, typ, name string) string {
	parentType := tokens.Type("")
	if p := resource.URN(parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(stack), tokens.PackageName(project), parentType, tokens.Type(typ), name))
}

// NewResource records args' URN and aliases, then registers it with the
// wrapped monitor.
func (r *Recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	req := args.RegisterRPC
	parent := ""
	if req != nil {
		parent = req.GetParent()
	}
	self := urn(r.project, r.stack, parent, args.TypeToken, args.Name)
	var aliases []string
	if req != nil {
		aliases = append(aliases, req.GetAliasURNs()...)
		for _, a := range req.GetAliases() {
			if u := a.GetUrn(); u != "" {
				aliases = append(aliases, u)
				continue
			}
			spec := a.GetSpec()
			if spec == nil {
				continue
			}
			name, typ, project, stack, p := args.Name, args.TypeToken, r.project, r.stack, parent
			if spec.GetName() != "" {
				name = spec.GetName()
			}
			if spec.GetType() != "" {
				typ = spec.GetType()
			}
			if spec.GetProject() != "" {
				project = spec.GetProject()
			}
			if spec.GetStack() != "" {
				stack = spec.GetStack()
			}
			if spec.GetNoParent() {
				p = ""
			} else if spec.GetParentUrn() != "" {
				p = spec.GetParentUrn()
			}
			aliases = append(aliases, urn(project, stack, p, typ, name))
		}
	}
	r.mu.Lock()
	// A child of an aliased parent is known by the URNs it had under each
	// of the parent's old URNs, as the engine infers.
	for _, pa := range r.aliases[parent] {
		aliases = append(aliases, urn(r.project, r.stack, pa, args.TypeToken, args.Name))
	}
	r.urns = append(r.urns, self)
	if len(aliases) > 0 {
		r.aliases[self] = aliases
	}
	r.mu.Unlock()
	return r.MockResourceMonitor.NewResource(args)
}

// Registered returns, sorted and without repeats, the URNs registered so far.
func (r *Recorder) Registered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.urns)
	slices.Sort(out)
	return slices.Compact(out)
}

// Check fails t with each of Problems for list.
func (r *Recorder) Check(t testing.TB, list string) {
	t.Helper()
	listed, err := Listed(list)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Problems(list, listed) {
		t.Error(p)
	}
}

// Problems names every URN of listed (the list called list) that was not
// registered and that no registered resource names as an alias, every
// registered URN that listed lacks (to be added by hand, in the commit that
// adds the resource), and a run that registered nothing.
func (r *Recorder) Problems(list string, listed []string) []string {
	registered := r.Registered()
	if len(registered) == 0 {
		return []string{fmt.Sprintf("nothing was registered for %s", list)}
	}
	r.mu.Lock()
	aliased := map[string]bool{}
	for _, as := range r.aliases {
		for _, a := range as {
			aliased[a] = true
		}
	}
	r.mu.Unlock()
	var problems, missing []string
	for _, u := range listed {
		if !slices.Contains(registered, u) && !aliased[u] {
			problems = append(problems, fmt.Sprintf("%s is listed in registered/%s.txt but no longer registered, and no resource names it in pulumi.Aliases: the next `pulumi up` would replace it", u, list))
		}
	}
	for _, u := range registered {
		if !slices.Contains(listed, u) {
			missing = append(missing, u)
		}
	}
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("registered but not in internal/testkit/urns/registered/%s.txt (add each by hand in the commit that adds the resource):\n%s",
			list, strings.Join(missing, "\n")))
	}
	return problems
}
