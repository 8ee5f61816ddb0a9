package main

import (
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type mocks struct {
	mu   sync.Mutex
	regs map[string]pulumi.MockResourceArgs
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	m.regs[args.Name] = args
	m.mu.Unlock()
	state := args.Inputs.Copy()
	switch args.TypeToken {
	case "alicloud:ecs/instance:Instance":
		state["privateIp"] = resource.NewProperty("10.0.0.1" + args.Name[len(args.Name)-1:])
	case "alicloud:ecs/eipAddress:EipAddress":
		state["ipAddress"] = resource.NewProperty("47.0.0.10")
	}
	return "id-" + args.Name, state, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	if args.Token == "alicloud:index/getZones:getZones" {
		// The region's zones: natsnest refuses a zone the region lacks.
		var zones []resource.PropertyValue
		for _, z := range []string{"cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"} {
			zones = append(zones, resource.NewProperty(resource.PropertyMap{"id": resource.NewProperty(z)}))
		}
		return resource.PropertyMap{"zones": resource.NewProperty(zones)}, nil
	}
	if args.Token == "alicloud:ecs/getImages:getImages" {
		return resource.PropertyMap{"images": resource.NewProperty([]resource.PropertyValue{
			resource.NewProperty(resource.PropertyMap{"id": resource.NewProperty("m-debian12")}),
		})}, nil
	}
	return resource.PropertyMap{}, nil
}

// TestEmbedWiresTheApplicationToTheCluster: the example's own resources use
// the cluster's outputs: its security group, its endpoint, and its VPC.
func TestEmbedWiresTheApplicationToTheCluster(t *testing.T) {
	m := &mocks{regs: map[string]pulumi.MockResourceArgs{}}
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
	rule := m.regs["orders-app-to-nats"].Inputs
	if rule["securityGroupId"].StringValue() != "id-orders-nats-sg" || rule["sourceSecurityGroupId"].StringValue() != "id-orders-app" {
		t.Errorf("rule = %v", rule)
	}
	if got := m.regs["orders-nats-sg"].Inputs["vpcId"].StringValue(); got != "id-orders" {
		t.Errorf("the cluster's security group is in VPC %q, want the program's", got)
	}
	// The program creates the VPC, so provisioning must reach every node
	// over its EIP, from the deploying machine only.
	if got := m.regs["orders-nats-sg-ssh"].Inputs["cidrIp"].StringValue(); got != "203.0.113.7/32" {
		t.Errorf("SSH is open to %q, want the deploying machine's sshCidr", got)
	}
	commands := 0
	for name, r := range m.regs {
		if r.TypeToken != "command:remote:Command" {
			continue
		}
		commands++
		conn := r.Inputs["connection"]
		if conn.IsSecret() {
			conn = conn.SecretValue().Element
		}
		if host := conn.ObjectValue()["host"].StringValue(); !strings.HasPrefix(host, "47.0.0.") {
			t.Errorf("%s connects to %q, a private address in a VPC this program creates: nothing outside can reach it", name, host)
		}
	}
	if commands == 0 {
		t.Error("no provisioning command registered")
	}
	userData := m.regs["orders-app"].Inputs["userData"].StringValue()
	if !strings.Contains(userData, "NATS_URL=nats://10.0.0.11:4222,nats://10.0.0.12:4222,nats://10.0.0.13:4222") {
		t.Errorf("userData = %q", userData)
	}
}
