package natsnest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/natsnest/pulumi-natsnest/natsnest"
	"github.com/natsnest/pulumi-natsnest/natsnest/natsnesttest"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// clusterMocks is natsnesttest's Mocks — the fake engine users test their
// programs with, so natsnest's own tests prove what users rely on — with
// the accessors Cluster's tests use.
type clusterMocks struct{ *natsnesttest.Mocks }

// clusterReg is one registered resource, with its register options.
type clusterReg = natsnesttest.Resource

func newClusterMocks() *clusterMocks {
	m := natsnesttest.New()
	m.ImageID = natsnesttest.DefaultImageID
	m.Zones = slices.Clone(natsnesttest.DefaultZones)
	return &clusterMocks{m}
}

// Type tokens of the resources Cluster registers.
const (
	tNetwork    = "alicloud:vpc/network:Network"
	tSwitch     = "alicloud:vpc/switch:Switch"
	tSG         = natsnesttest.SecurityGroup
	tRule       = natsnesttest.SecurityGroupRule
	tInstance   = natsnesttest.Instance
	tDisk       = natsnesttest.Disk
	tAttachment = "alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment"
	tEIP        = natsnesttest.EIP
	tEIPAssoc   = "alicloud:ecs/eipAssociation:EipAssociation"
	tServers    = "natsnest:index:Servers"
)

// mockPrivateIP and mockPublicIP are node n's (from 1) addresses in the mocks.
func mockPrivateIP(n int) string { return fmt.Sprintf("172.16.0.%d", 10+n) }
func mockPublicIP(n int) string  { return fmt.Sprintf("47.0.0.%d", n) }

// registrations returns what was registered.
func (m *clusterMocks) registrations() []clusterReg { return m.Resources("") }

func (m *clusterMocks) callsTo(token string) []pulumi.MockCallArgs { return m.Calls(token) }

func (m *clusterMocks) ofType(typ string) []clusterReg { return m.Resources(typ) }

func (m *clusterMocks) byName(t *testing.T, name string) clusterReg {
	t.Helper()
	if r, ok := m.Resource("", name); ok {
		return r
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

// str returns a string input property, "" when absent, as natsnesttest
// reads one.
func str(pm resource.PropertyMap, key resource.PropertyKey) string {
	return natsnesttest.Resource{Inputs: pm}.Input(string(key))
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
	orig := (*natsnest.BuildNATSServer)
	t.Cleanup(func() { (*natsnest.BuildNATSServer) = orig })
	(*natsnest.BuildNATSServer) = func(context.Context, string, string) (string, error) { return path, nil }
}
