package natsnest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// clusterMocks is a pulumi.MockResourceMonitor for Cluster's tests: it
// records every registration with its options (from the register RPC, so
// ignoreChanges, deleteBeforeReplace, retainOnDelete, parents and
// dependencies are visible), answers the image and zone lookups, and gives
// resources deterministic IDs and addresses.
type clusterMocks struct {
	// imageID is what ecs.getImages returns; "" returns no image.
	imageID string
	// zones are what getZones offers for the instance type and disk
	// category; regionZones are all zones of the region (zones when nil).
	zones, regionZones []string

	mu    sync.Mutex
	regs  []clusterReg
	calls []pulumi.MockCallArgs
}

// clusterReg is one registered resource.
type clusterReg struct {
	Type, Name          string
	ID                  string
	Custom              bool
	Inputs              resource.PropertyMap
	Parent              string // the parent's URN
	Dependencies        []string
	IgnoreChanges       []string
	DeleteBeforeReplace bool
	RetainOnDelete      bool
}

func newClusterMocks() *clusterMocks {
	return &clusterMocks{
		imageID: "debian_12_11_x64_20G_alibase_20250701.vhd",
		zones:   []string{"cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"},
	}
}

// Type tokens of the resources Cluster registers.
const (
	tNetwork    = "alicloud:vpc/network:Network"
	tSwitch     = "alicloud:vpc/switch:Switch"
	tSG         = "alicloud:ecs/securityGroup:SecurityGroup"
	tRule       = "alicloud:ecs/securityGroupRule:SecurityGroupRule"
	tInstance   = "alicloud:ecs/instance:Instance"
	tDisk       = "alicloud:ecs/ecsDisk:EcsDisk"
	tAttachment = "alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment"
	tEIP        = "alicloud:ecs/eipAddress:EipAddress"
	tEIPAssoc   = "alicloud:ecs/eipAssociation:EipAssociation"
	tServers    = "natsnest:index:Servers"
)

var mockIDPrefix = map[string]string{
	tNetwork: "vpc-", tSwitch: "vsw-", tSG: "sg-", tRule: "sgr-", tInstance: "i-",
	tDisk: "d-", tAttachment: "att-", tEIP: "eip-", tEIPAssoc: "eipa-",
}

// nodeNumberRE finds the node number in a node resource's name: "c-nats-3", "c-nats-3-eip".
var nodeNumberRE = regexp.MustCompile(`-([0-9]+)(-[a-z-]+)?$`)

// mockPrivateIP and mockPublicIP are node n's (from 1) addresses in the mocks.
func mockPrivateIP(n int) string { return fmt.Sprintf("172.16.0.%d", 10+n) }
func mockPublicIP(n int) string  { return fmt.Sprintf("47.0.0.%d", n) }

func (m *clusterMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	req := args.RegisterRPC
	r := clusterReg{Type: args.TypeToken, Name: args.Name, Custom: args.Custom, Inputs: args.Inputs}
	if req != nil {
		r.Parent = req.GetParent()
		r.Dependencies = slices.Clone(req.GetDependencies())
		slices.Sort(r.Dependencies)
		r.IgnoreChanges = req.GetIgnoreChanges()
		r.DeleteBeforeReplace = req.GetDeleteBeforeReplace()
		r.RetainOnDelete = req.GetRetainOnDelete()
	}
	state := args.Inputs.Copy()
	n := 0
	if mm := nodeNumberRE.FindStringSubmatch(args.Name); mm != nil {
		n, _ = strconv.Atoi(mm[1])
	}
	switch args.TypeToken {
	case tInstance:
		state["privateIp"] = resource.NewProperty(mockPrivateIP(n))
		state["publicIp"] = resource.NewProperty("")
	case tEIP:
		state["ipAddress"] = resource.NewProperty(mockPublicIP(n))
	}
	if args.Custom {
		r.ID = args.Name + "-id"
		if p, ok := mockIDPrefix[args.TypeToken]; ok {
			r.ID = p + args.Name
		}
	}
	m.mu.Lock()
	m.regs = append(m.regs, r)
	m.mu.Unlock()
	return r.ID, state, nil
}

func (m *clusterMocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.calls = append(m.calls, args)
	m.mu.Unlock()
	switch args.Token {
	case "alicloud:ecs/getImages:getImages":
		out := resource.PropertyMap{"id": resource.NewProperty("images")}
		if m.imageID != "" {
			out["ids"] = resource.NewProperty([]resource.PropertyValue{resource.NewProperty(m.imageID)})
			out["images"] = resource.NewProperty([]resource.PropertyValue{resource.NewProperty(resource.PropertyMap{
				"id":      resource.NewProperty(m.imageID),
				"imageId": resource.NewProperty(m.imageID),
				"name":    resource.NewProperty(m.imageID),
			})})
		} else {
			out["ids"] = resource.NewProperty([]resource.PropertyValue{})
			out["images"] = resource.NewProperty([]resource.PropertyValue{})
		}
		return out, nil
	case "alicloud:index/getZones:getZones":
		var zones, ids []resource.PropertyValue
		list := m.zones
		if _, filtered := args.Args["availableInstanceType"]; !filtered && m.regionZones != nil {
			list = m.regionZones
		}
		for _, z := range list {
			ids = append(ids, resource.NewProperty(z))
			zones = append(zones, resource.NewProperty(resource.PropertyMap{"id": resource.NewProperty(z)}))
		}
		return resource.PropertyMap{
			"id":    resource.NewProperty("zones"),
			"ids":   resource.NewProperty(ids),
			"zones": resource.NewProperty(zones),
		}, nil
	}
	return resource.PropertyMap{}, nil
}

// registrations returns a copy of what was registered.
func (m *clusterMocks) registrations() []clusterReg {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.regs)
}

func (m *clusterMocks) callsTo(token string) []pulumi.MockCallArgs {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []pulumi.MockCallArgs
	for _, c := range m.calls {
		if c.Token == token {
			out = append(out, c)
		}
	}
	return out
}

func (m *clusterMocks) ofType(typ string) []clusterReg {
	var out []clusterReg
	for _, r := range m.registrations() {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

func (m *clusterMocks) byName(t *testing.T, name string) clusterReg {
	t.Helper()
	for _, r := range m.registrations() {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no resource named %q was registered", name)
	return clusterReg{}
}

// runWithMocks runs program as a Pulumi program under m.
func runWithMocks(m pulumi.MockResourceMonitor, program pulumi.RunFunc) error {
	return pulumi.RunErr(program, pulumi.WithMocks("natsnest", "test", m))
}

// awaited is an output's resolved value and secretness.
type awaited struct {
	Value  any
	Secret bool
}

// await resolves o inside a running program. Resource registration goes on
// in the background meanwhile, so blocking here is safe.
func await(t *testing.T, o pulumi.Output) awaited {
	t.Helper()
	ch := make(chan any, 1)
	pulumi.All(o).ApplyT(func(vs []any) (any, error) {
		ch <- vs[0]
		return nil, nil
	})
	select {
	case v := <-ch:
		return awaited{Value: v, Secret: pulumi.IsSecret(o)}
	case <-time.After(30 * time.Second):
		t.Fatalf("output did not resolve")
		return awaited{}
	}
}

// str returns a string input property, "" when absent.
func str(pm resource.PropertyMap, key resource.PropertyKey) string {
	v, ok := pm[key]
	if !ok {
		return ""
	}
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	if v.IsString() {
		return v.StringValue()
	}
	return fmt.Sprint(v.V)
}

// clusterFakeBinary stands in for the nats-server build that an upload
// needs: always the same path and bytes, so two runs register identical
// inputs. It lives in the temp directory, like a build cache.
func clusterFakeBinary(t *testing.T) string {
	t.Helper()
	path := filepath.Join(os.TempDir(), "natsnest-cluster-test-nats-server")
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho fake nats-server\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// stubBuild replaces the nats-server build for the test's duration.
func stubBuild(t *testing.T) {
	t.Helper()
	path := clusterFakeBinary(t)
	orig := buildNATSServer
	t.Cleanup(func() { buildNATSServer = orig })
	buildNATSServer = func(context.Context, string, string) (string, error) { return path, nil }
}
