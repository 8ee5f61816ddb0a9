package cloud

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"
)

var citeRE = regexp.MustCompile(`^alicloud/(resource|data_source)_alicloud_[a-z_]+\.go:[0-9]`)

// Every rule names the upstream line it copies.
func TestEveryRuleIsCited(t *testing.T) {
	for token, k := range kinds {
		for prop, c := range k.forceNew {
			if !citeRE.MatchString(c) {
				t.Errorf("%s.%s: ForceNew cites %q, want alicloud/<file>.go:<line>", token, prop, c)
			}
		}
		for _, v := range k.validations {
			if !citeRE.MatchString(v.cite) {
				t.Errorf("%s.%s: validation cites %q", token, v.property, v.cite)
			}
		}
	}
	for prop, c := range instanceStopStart {
		if !citeRE.MatchString(c) {
			t.Errorf("instance.%s: stop/start cites %q", prop, c)
		}
	}
}

func urn(token, name string) string { return "urn:pulumi:dev::p::" + token + "::" + name }

func mustStruct(t *testing.T, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := structOf(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Diff replaces exactly on a ForceNew argument, and Check refuses what the
// provider's schema refuses, citing the line.
func TestDiffAndCheck(t *testing.T) {
	s := &server{c: &Cloud{}}
	base := resource.PropertyMap{"hostName": resource.NewProperty("a"), "systemDiskCategory": resource.NewProperty("cloud_essd")}
	for _, c := range []struct {
		key, value string
		replace    bool
	}{{"hostName", "b", false}, {"systemDiskCategory", "cloud_ssd", true}} {
		news := base.Copy()
		news[resource.PropertyKey(c.key)] = resource.NewProperty(c.value)
		d, err := s.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: urn(InstanceToken, "n"), OldInputs: mustStruct(t, base), News: mustStruct(t, news)})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(d.GetReplaces()) > 0; got != c.replace || d.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME {
			t.Errorf("%s changed: replaces %v, want replace=%v", c.key, d.GetReplaces(), c.replace)
		}
	}
	r, err := s.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn(InstanceToken, "n"), News: mustStruct(t, resource.PropertyMap{
		"instanceType": resource.NewProperty("g7.large"), "imageId": resource.NewProperty("img"),
	})})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, f := range r.GetFailures() {
		reasons = append(reasons, f.GetReason())
	}
	all := strings.Join(reasons, "\n")
	for _, want := range []string{"prefix must be 'ecs.'", "resource_alicloud_instance.go:55", "securityGroups: required field is not set"} {
		if !strings.Contains(all, want) {
			t.Errorf("check failures %q do not say %s", all, want)
		}
	}
}
