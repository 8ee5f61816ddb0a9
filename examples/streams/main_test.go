package main

import (
	"slices"
	"testing"

	"github.com/natsnest/pulumi-natsnest/natsnest"
	"github.com/natsnest/pulumi-natsnest/natsnest/natsnesttest"
)

// TestStreamsFollowTheCluster: the stream and consumer go through the
// provider, which connects to the cluster's endpoint as the application's
// user with a secret password, after the cluster (and its provisioning).
func TestStreamsFollowTheCluster(t *testing.T) {
	m := natsnesttest.New()
	err := m.Run("streams", program, map[string]string{
		"adminPassword":    "Admin-password-0123456789",
		"stackSecret":      "stack-secret-0123456789-abcdef",
		"appPassword":      "app-password-0123",
		"instancePassword": "Instance-Pw-42",
		"vpcId":            "vpc-build",
		"vswitchId":        "vsw-build-i",
		"zone":             "cn-hangzhou-i",
		"vpcCidr":          "172.16.0.0/12",
	}, "adminPassword", "stackSecret", "appPassword", "instancePassword")
	if err != nil {
		t.Fatal(err)
	}
	prov, ok := m.Resource(natsnest.JetStreamProviderType, "events-js")
	if !ok {
		t.Fatal("no provider events-js")
	}
	if got, want := prov.Input("servers"), "nats://172.16.0.11:4222,nats://172.16.0.12:4222,nats://172.16.0.13:4222"; got != want {
		t.Errorf("provider servers = %q, want the cluster's private endpoint %q", got, want)
	}
	if !prov.Inputs["password"].IsSecret() {
		t.Error("the provider's password is not secret")
	}
	var provisioned bool
	for _, cmd := range m.Resources(natsnesttest.Command) {
		if slices.Contains(prov.Dependencies, cmd.URN) {
			provisioned = true
		}
	}
	if !provisioned {
		t.Errorf("the provider depends on %v: none of the cluster's provisioning commands", prov.Dependencies)
	}
	for typ, name := range map[string]string{
		natsnesttest.Stream:   "events-my_stream",
		natsnesttest.Consumer: "events-my_stream-foo_consumer",
	} {
		r, ok := m.Resource(typ, name)
		if !ok {
			t.Fatalf("no %s %s", typ, name)
		}
		if r.Provider != prov.URN+"::"+prov.ID {
			t.Errorf("%s goes through %q, want the explicit provider %s", name, r.Provider, prov.URN)
		}
	}
}
