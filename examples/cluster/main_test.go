package main

import (
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// mocks stand in for Alibaba Cloud: instances get private addresses, EIPs
// public ones, and the two lookups natsnest makes (images, zones) answer.
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
		state["privateIp"] = resource.NewProperty("172.16.0." + args.Name[len(args.Name)-1:])
	case "alicloud:ecs/eipAddress:EipAddress":
		state["ipAddress"] = resource.NewProperty("47.0.0." + strings.TrimSuffix(args.Name, "-eip")[len("events-nats-"):])
	}
	return args.Name + "-id", state, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	switch args.Token {
	case "alicloud:ecs/getImages:getImages":
		return resource.PropertyMap{"images": resource.NewProperty([]resource.PropertyValue{
			resource.NewProperty(resource.PropertyMap{"id": resource.NewProperty("debian_12_11_x64_20G_alibase_20250701.vhd")}),
		})}, nil
	case "alicloud:index/getZones:getZones":
		var zones []resource.PropertyValue
		for _, z := range []string{"cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"} {
			zones = append(zones, resource.NewProperty(resource.PropertyMap{"id": resource.NewProperty(z)}))
		}
		return resource.PropertyMap{"zones": resource.NewProperty(zones)}, nil
	}
	return resource.PropertyMap{}, nil
}

func TestProgram(t *testing.T) {
	m := &mocks{regs: map[string]pulumi.MockResourceArgs{}}
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
		name := "events-nats-" + string(rune('1'+i))
		inst, ok := m.regs[name]
		if !ok {
			t.Fatalf("no instance %s", name)
		}
		if got := inst.Inputs["availabilityZone"].StringValue(); got != zone {
			t.Errorf("%s is in %s, want %s", name, got, zone)
		}
		upload, ok := m.regs["events-servers-nats-"+string(rune('1'+i))+"-upload"]
		if !ok {
			t.Fatalf("node %d gets no nats-server upload", i+1)
		}
		if _, ok := upload.Inputs["source"]; !ok {
			t.Errorf("the upload has no source: %v", upload.Inputs)
		}
	}
	if got := m.regs["events-sg-ssh"].Inputs["cidrIp"].StringValue(); got != "203.0.113.7/32" {
		t.Errorf("SSH is open to %q", got)
	}
}
