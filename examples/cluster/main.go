// Command events is a Pulumi program of its own, in a module of its own, as
// a user writes one: a three-node NATS JetStream cluster on Alibaba Cloud,
// spread over three zones, reached over SSH through its EIPs from the
// deploying machine only. It is the README's example, whole.
//
//	pulumi stack init dev
//	pulumi config set alicloud:region cn-hangzhou
//	pulumi config set --secret instancePassword '…'   # also adminPassword, appPassword, stackSecret
//	pulumi config set sshCidr 203.0.113.7/32           # the deploying machine
//	pulumi up
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/natsnest/pulumi-natsnest/natsnest"
)

func main() {
	pulumi.Run(program)
}

func program(ctx *pulumi.Context) error {
	cfg := config.New(ctx, "")
	c, err := natsnest.NewCluster(ctx, "events", &natsnest.ClusterArgs{
		ServerOptions: natsnest.ServerOptions{
			AdminPassword: cfg.RequireSecret("adminPassword"),
			StackSecret:   cfg.RequireSecret("stackSecret"),
			Accounts: []natsnest.Account{{Users: []natsnest.User{
				{Name: "app", Password: cfg.RequireSecret("appPassword")},
			}}},
		},
		NodeCount:        3,
		Zones:            []string{"cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"},
		InstancePassword: cfg.RequireSecret("instancePassword"),
		// The new VPC is reachable from outside only through EIPs:
		// provisioning SSHes to them, from the deploying machine only.
		PublicAccess: true,
		SSHCIDR:      cfg.Require("sshCidr"),
	})
	if err != nil {
		return err
	}
	ctx.Export("natsUrl", c.PrivateEndpoint)
	ctx.Export("natsContext", c.NatsContext)
	return nil
}
