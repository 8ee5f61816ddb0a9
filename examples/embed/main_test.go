package main

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/natsnest/natsnesttest"
)

// TestEmbedWiresTheApplicationToTheCluster: the example's own resources use
// the cluster's outputs: its security group, its endpoint, and its VPC.
func TestEmbedWiresTheApplicationToTheCluster(t *testing.T) {
	m := natsnesttest.New()
	err := pulumi.RunErr(program, pulumi.WithMocks("embed", "dev", m), func(info *pulumi.RunInfo) {
		info.Config = map[string]string{
			"embed:adminPassword":    "Admin-password-0123456789",
			"embed:stackSecret":      "stack-secret-0123456789",
			"embed:appPassword":      "app-password-0123",
			"embed:instancePassword": "Instance-Pw-42",
			"embed:sshCidr":          "203.0.113.7/32",
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	res := func(typ, name string) natsnesttest.Resource {
		r, ok := m.Resource(typ, name)
		if !ok {
			t.Fatalf("no resource %s", name)
		}
		return r
	}
	rule := res(natsnesttest.SecurityGroupRule, "orders-app-to-nats")
	if rule.Input("securityGroupId") != "sg-orders-nats-sg" || rule.Input("sourceSecurityGroupId") != "sg-orders-app" {
		t.Errorf("rule = %v", rule.Inputs)
	}
	if got := res(natsnesttest.SecurityGroup, "orders-nats-sg").Input("vpcId"); got != "vpc-orders" {
		t.Errorf("the cluster's security group is in VPC %q, want the program's", got)
	}
	// The program creates the VPC, so provisioning must reach every node
	// over its EIP, from the deploying machine only.
	if got := res(natsnesttest.SecurityGroupRule, "orders-nats-sg-ssh").Input("cidrIp"); got != "203.0.113.7/32" {
		t.Errorf("SSH is open to %q, want the deploying machine's sshCidr", got)
	}
	commands := m.Resources(natsnesttest.Command)
	if len(commands) == 0 {
		t.Error("no provisioning command registered")
	}
	for _, c := range commands {
		conn := c.Inputs["connection"]
		if conn.IsSecret() {
			conn = conn.SecretValue().Element
		}
		if host := conn.ObjectValue()[resource.PropertyKey("host")].StringValue(); !strings.HasPrefix(host, "47.0.0.") {
			t.Errorf("%s connects to %q, a private address in a VPC this program creates: nothing outside can reach it", c.Name, host)
		}
	}
	userData := res(natsnesttest.Instance, "orders-app").Input("userData")
	if !strings.Contains(userData, "NATS_URL=nats://172.16.0.11:4222,nats://172.16.0.12:4222,nats://172.16.0.13:4222") {
		t.Errorf("userData = %q", userData)
	}
}
