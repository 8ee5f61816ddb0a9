package main

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/natsnest/natsnesttest"
)

// deploy runs the program under natsnest's mocks with a test stack's config.
func deploy(t *testing.T) *natsnesttest.Mocks {
	m := natsnesttest.New()
	err := pulumi.RunErr(program, pulumi.WithMocks("events", "dev", m), func(info *pulumi.RunInfo) {
		info.Config = map[string]string{
			"events:adminPassword":    "Kq8#zR2vN6pW0xTy4mB7dLs",
			"events:stackSecret":      "Jr3v9QkP2mXw7TzLq3J0n2tY9sJ6mV1k",
			"events:appPassword":      "Hn5$wQ9cV3kJ7rLp",
			"events:instancePassword": "Zx9#Lm4$Qw7Er",
			"events:sshCidr":          "203.0.113.7/32",
		}
		info.ConfigSecretKeys = []string{"events:adminPassword", "events:stackSecret", "events:appPassword", "events:instancePassword"}
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestClientsNeverPublic(t *testing.T) {
	m := deploy(t)
	if len(m.IngressTo(4222)) == 0 {
		t.Fatal("no rule lets clients in")
	}
	for _, rule := range m.IngressTo(4222) {
		if rule.Public() {
			t.Errorf("%s opens NATS clients to the internet", rule.Name)
		}
	}
}

func TestNodesSpreadOverZones(t *testing.T) {
	m := deploy(t)
	for i, zone := range []string{"cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"} {
		node := "events-nats-" + string(rune('1'+i))
		inst, ok := m.Resource(natsnesttest.Instance, node)
		if !ok || inst.Input("availabilityZone") != zone {
			t.Errorf("%s: registered %v, in zone %q, want %s", node, ok, inst.Input("availabilityZone"), zone)
		}
		if !inst.Inputs["password"].IsSecret() {
			t.Errorf("%s: root's password is not a secret", node)
		}
	}
	for _, rule := range m.IngressTo(22) {
		if rule.CIDR != "203.0.113.7/32" {
			t.Errorf("%s lets SSH in from %q", rule.Name, rule.CIDR)
		}
	}
}
