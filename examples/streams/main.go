// Command streams is a Pulumi program of its own that declares, beside a
// 3-node cluster, the stream and consumer of Compute Nest's NATS
// walkthrough — my_stream and foo_consumer, the very value `make demo`
// applies to a local cluster — applied by the natsnest provider plugin.
//
// Provisioning and the plugin both connect from the deploying machine, so
// it runs inside an existing VPC (a build server, say): the cluster goes
// into that VPC's vswitch, and clients, SSH and the plugin stay private.
// Build the plugin first (README, "Streams and consumers"):
//
//	go build -o bin/pulumi-resource-natsnest github.com/natsnest/pulumi-natsnest/cmd/pulumi-resource-natsnest
//	pulumi config set alicloud:region cn-hangzhou
//	pulumi config set vpcId vpc-…; pulumi config set vswitchId vsw-…; pulumi config set zone cn-hangzhou-i
//	pulumi config set vpcCidr 172.16.0.0/12
//	pulumi config set --secret instancePassword …   # also adminPassword, appPassword, stackSecret
//	pulumi up
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/natsnest/pulumi-natsnest/jsassets"
	"github.com/natsnest/pulumi-natsnest/natsnest"
)

const appUser = "app"

func main() {
	pulumi.Run(program)
}

func program(ctx *pulumi.Context) error {
	cfg := config.New(ctx, "")
	appPassword := cfg.RequireSecret("appPassword")
	cluster, err := natsnest.NewCluster(ctx, "events", &natsnest.ClusterArgs{
		ServerOptions: natsnest.ServerOptions{
			AdminPassword: cfg.RequireSecret("adminPassword"),
			StackSecret:   cfg.RequireSecret("stackSecret"),
			Accounts: []natsnest.Account{{Users: []natsnest.User{
				{Name: appUser, Password: appPassword},
			}}},
		},
		NodeCount:        3,
		VpcID:            pulumi.String(cfg.Require("vpcId")),
		VSwitchIDs:       []pulumi.StringInput{pulumi.String(cfg.Require("vswitchId"))},
		Zones:            []string{cfg.Require("zone")},
		VpcCIDR:          cfg.Require("vpcCidr"),
		InstancePassword: cfg.RequireSecret("instancePassword"),
	})
	if err != nil {
		return err
	}
	// The provider connects as the application's user, to the servers the
	// cluster exports, once every node is provisioned.
	js, err := natsnest.NewJetStreamProvider(ctx, "events-js", &natsnest.JetStreamProviderArgs{
		Servers:  cluster.PrivateEndpoint,
		User:     pulumi.String(appUser),
		Password: appPassword,
	})
	if err != nil {
		return err
	}
	if _, err := natsnest.NewAssets(ctx, "events", jsassets.Walkthrough(), pulumi.Provider(js)); err != nil {
		return err
	}
	ctx.Export("natsUrl", cluster.PrivateEndpoint)
	return nil
}
