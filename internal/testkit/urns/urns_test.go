package urns

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// nopMocks is the least monitor Recorder can wrap: this package's tests
// check the recorder alone (natsnesttest would be the Fixtures part
// importing the API, which the layout has no arrow for).
type nopMocks struct{}

func (nopMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	return args.Name + "-id", args.Inputs, nil
}
func (nopMocks) Call(pulumi.MockCallArgs) (resource.PropertyMap, error) { return nil, nil }

// run registers a component "app" with a child "disk" and a grandchild,
// under the parent chosen by move, and returns what Problems finds against
// the URNs of the original layout.
func run(t *testing.T, move func(ctx *pulumi.Context, app pulumi.Resource) []pulumi.ResourceOption) []string {
	t.Helper()
	rec := NewRecorder("proj", "dev", nopMocks{})
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		var app pulumi.ResourceState
		if err := ctx.RegisterComponentResource("pkg:index:App", "app", &app); err != nil {
			return err
		}
		var disk pulumi.CustomResourceState
		if err := ctx.RegisterResource("pkg:index:Disk", "disk", nil, &disk, move(ctx, &app)...); err != nil {
			return err
		}
		var part pulumi.CustomResourceState
		return ctx.RegisterResource("pkg:index:Part", "part", nil, &part, pulumi.Parent(&disk))
	}, pulumi.WithMocks("proj", "dev", rec))
	if err != nil {
		t.Fatal(err)
	}
	return rec.Problems("original", []string{
		"urn:pulumi:dev::proj::pkg:index:App::app",
		"urn:pulumi:dev::proj::pkg:index:App$pkg:index:Disk::disk",
		"urn:pulumi:dev::proj::pkg:index:App$pkg:index:Disk$pkg:index:Part::part",
	})
}

func TestProblems(t *testing.T) {
	unchanged := run(t, func(_ *pulumi.Context, app pulumi.Resource) []pulumi.ResourceOption {
		return []pulumi.ResourceOption{pulumi.Parent(app)}
	})
	if len(unchanged) != 0 {
		t.Errorf("unchanged layout: %q", unchanged)
	}

	moved := run(t, func(*pulumi.Context, pulumi.Resource) []pulumi.ResourceOption { return nil })
	joined := strings.Join(moved, "\n")
	for _, want := range []string{
		"urn:pulumi:dev::proj::pkg:index:App$pkg:index:Disk::disk is listed in registered/original.txt but no longer registered",
		"urn:pulumi:dev::proj::pkg:index:App$pkg:index:Disk$pkg:index:Part::part is listed",
		"not in internal/testkit/urns/registered/original.txt",
		"urn:pulumi:dev::proj::pkg:index:Disk::disk",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("moved without an alias: want %q in\n%s", want, joined)
		}
	}

	aliased := run(t, func(_ *pulumi.Context, app pulumi.Resource) []pulumi.ResourceOption {
		return []pulumi.ResourceOption{pulumi.Aliases([]pulumi.Alias{{Parent: app}})}
	})
	// The old URNs (the disk's by its alias, the part's through its
	// parent's) are accounted for; only the new ones are to be listed.
	if len(aliased) != 1 || strings.Contains(aliased[0], "no longer registered") ||
		!strings.Contains(aliased[0], "urn:pulumi:dev::proj::pkg:index:Disk::disk") {
		t.Errorf("moved with an alias: %q", aliased)
	}
}

func TestListsParse(t *testing.T) {
	for _, list := range []string{"single", "cluster", "servers"} {
		urns, err := Listed(list)
		if err != nil || len(urns) == 0 {
			t.Errorf("%s: %d URNs, %v", list, len(urns), err)
		}
		for _, u := range urns {
			if !strings.HasPrefix(u, "urn:pulumi:") {
				t.Errorf("%s: %q is not a URN", list, u)
			}
		}
	}
}
