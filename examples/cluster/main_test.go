package main

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/natsnest/natsnesttest"
)

func TestProgram(t *testing.T) {
	m := natsnesttest.New()
	err := pulumi.RunErr(program, pulumi.WithMocks("events", "dev", m), func(info *pulumi.RunInfo) {
		info.Config = map[string]string{
			"events:adminPassword":    "Admin-password-0123456789",
			"events:stackSecret":      "stack-secret-0123456789",
			"events:appPassword":      "app-password-0123",
			"events:instancePassword": "Instance-Pw-42",
			"events:sshCidr":          "203.0.113.7/32",
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, zone := range []string{"cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"} {
		node := "nats-" + string(rune('1'+i))
		inst, ok := m.Resource(natsnesttest.Instance, "events-"+node)
		if !ok {
			t.Fatalf("no instance for %s", node)
		}
		if got := inst.Input("availabilityZone"); got != zone {
			t.Errorf("%s is in %s, want %s", node, got, zone)
		}
		if _, ok := m.Resource(natsnesttest.CopyToRemote, "events-servers-"+node+"-upload"); !ok {
			t.Errorf("%s gets no nats-server upload", node)
		}
	}
	if rule, _ := m.Resource(natsnesttest.SecurityGroupRule, "events-sg-ssh"); rule.Input("cidrIp") != "203.0.113.7/32" {
		t.Errorf("SSH is open to %q", rule.Input("cidrIp"))
	}
}
