package main

import (
	"testing"

	"github.com/natsnest/pulumi-natsnest/natsnest/natsnesttest"
)

// stackConfig is a test stack's config; secrets are set as secrets.
var (
	stackConfig = map[string]string{
		"adminPassword": "Kq8#zR2vN6pW0xTy4mB7dLs", "stackSecret": "Jr3v9QkP2mXw7TzLq3J0n2tY9sJ6mV1k",
		"appPassword": "Hn5$wQ9cV3kJ7rLp", "instancePassword": "Zx9#Lm4$Qw7Er", "sshCidr": "203.0.113.7/32",
	}
	secrets = []string{"adminPassword", "stackSecret", "appPassword", "instancePassword"}
)

func TestClientsNeverPublic(t *testing.T) {
	m := natsnesttest.New()
	if err := m.Run("events", program, stackConfig, secrets...); err != nil {
		t.Fatal(err)
	}
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
	m := natsnesttest.New()
	if err := m.Run("events", program, stackConfig, secrets...); err != nil {
		t.Fatal(err)
	}
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
