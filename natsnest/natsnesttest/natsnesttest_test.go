package natsnesttest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/natsnest"
	"github.com/natsnest/pulumi-natsnest/natsnest/natsnesttest"
)

func args(zones ...string) *natsnest.ClusterArgs {
	return &natsnest.ClusterArgs{
		ServerOptions: natsnest.ServerOptions{
			AdminPassword: pulumi.String("Admin-password-0123456789"), StackSecret: pulumi.String("stack-secret-0123456789"),
			Accounts: []natsnest.Account{{Users: []natsnest.User{{Name: "app", Password: pulumi.String("app-password-0123")}}}},
		},
		Zones: zones, InstancePassword: pulumi.String("Instance-Pw-42"), PublicAccess: true, SSHCIDR: "203.0.113.7/32",
	}
}

// TestMocksRunACluster: a Cluster deploys under Mocks with nothing else
// mocked, with the addresses Mocks promises, and a zone the region lacks is
// refused as on Alibaba Cloud.
func TestMocksRunACluster(t *testing.T) {
	m := natsnesttest.New()
	var private, public []string
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		c, err := natsnest.NewCluster(ctx, "c", args("cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"))
		if err != nil {
			return err
		}
		pulumi.All(c.PrivateIPs, c.PublicIPs).ApplyT(func(v []any) error {
			private, public = v[0].([]string), v[1].([]string)
			return nil
		})
		return nil
	}, pulumi.WithMocks("p", "s", m))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(private, ",") != "172.16.0.11,172.16.0.12,172.16.0.13" || strings.Join(public, ",") != "47.0.0.1,47.0.0.2,47.0.0.3" {
		t.Errorf("private %v public %v", private, public)
	}
	inst, ok := m.Resource(natsnesttest.Instance, "c-nats-2")
	if !ok || inst.Input("availabilityZone") != "cn-hangzhou-j" || inst.Input("imageId") != natsnesttest.DefaultImageID || inst.ID != "i-c-nats-2" {
		t.Errorf("instance c-nats-2: %v %+v", ok, inst)
	}
	if pw := inst.Input("password"); pw != "Instance-Pw-42" {
		t.Errorf("Input does not see through the secret: %q", pw)
	}
	// IDs the provider composes of its inputs, as terraform-provider-alicloud
	// v1.144.0 does.
	for typ, want := range map[string]string{
		"alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment": "d-c-nats-2-data:i-c-nats-2",
		"alicloud:ecs/eipAssociation:EipAssociation":       "eip-c-nats-2-eip:i-c-nats-2",
	} {
		var ids []string
		for _, r := range m.Resources(typ) {
			ids = append(ids, r.ID)
		}
		if !strings.Contains(strings.Join(ids, " "), want) {
			t.Errorf("%s IDs %v, want one %s", typ, ids, want)
		}
	}
	if r, ok := m.Resource(natsnesttest.SecurityGroupRule, "c-sg-ssh"); !ok || r.ID != "sg-c-sg:ingress:tcp:22/22:intranet:203.0.113.7/32:accept:1" {
		t.Errorf("the SSH rule's ID: %q", r.ID)
	}
	// Six steps on each node, and on the deploying machine its leave step
	// and its three host key steps.
	if n, l := len(m.Resources(natsnesttest.Command)), len(m.Resources(natsnesttest.LocalCommand)); n != 3*6 || l != 3*4 {
		t.Errorf("%d remote and %d local commands, want 6 and 4 per node", n, l)
	}

	m = natsnesttest.New()
	m.Zones = []string{"cn-hangzhou-i"}
	err = pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := natsnest.NewCluster(ctx, "c", args("cn-hangzhou-j"))
		return err
	}, pulumi.WithMocks("p", "s", m))
	if !errors.Is(err, natsnest.ErrInvalidArgs) || !strings.Contains(err.Error(), `"cn-hangzhou-j" is not a zone of this region`) {
		t.Errorf("a zone the region lacks: %v", err)
	}
	if n := len(m.Resources(natsnesttest.Instance)); n != 0 {
		t.Errorf("%d instances registered in a zone the region lacks", n)
	}
}
