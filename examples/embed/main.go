// Command embed is a Pulumi program of its own that uses natsnest.Cluster as
// a building block: it owns the VPC, puts a 3-node NATS cluster into it,
// and adds an application server that may reach NATS through a security
// group rule of its own, with the cluster's endpoint in its environment.
//
// The VPC is created by this very program, so nothing outside it can reach
// the nodes' private addresses: provisioning SSHes to each node's EIP, from
// the deploying machine's address only (sshCidr). Clients stay inside the VPC.
//
//	pulumi config set alicloud:region cn-hangzhou
//	pulumi config set --secret instancePassword …   # also adminPassword, appPassword, stackSecret
//	pulumi config set sshCidr 203.0.113.7/32         # the deploying machine
//	pulumi up
package main

import (
	"fmt"

	"github.com/pulumi/pulumi-alicloud/sdk/v3/go/alicloud/ecs"
	"github.com/pulumi/pulumi-alicloud/sdk/v3/go/alicloud/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/natsnest/pulumi-natsnest/natsnest"
)

const (
	zone       = "cn-hangzhou-i"
	vpcCIDR    = "10.0.0.0/16"
	natsCIDR   = "10.0.0.0/24" // the cluster's vswitch
	appCIDR    = "10.0.1.0/24" // the application's vswitch
	appUser    = "orders"
	instanceTy = "ecs.g7.large"
)

func main() {
	pulumi.Run(program)
}

func program(ctx *pulumi.Context) error {
	cfg := config.New(ctx, "")
	tags := pulumi.Map{"app": pulumi.String("orders")}

	// The network belongs to this program (in a real setup often to another
	// stack): the cluster takes references to it, not copies.
	network, err := vpc.NewNetwork(ctx, "orders", &vpc.NetworkArgs{CidrBlock: pulumi.String(vpcCIDR), Tags: tags})
	if err != nil {
		return err
	}
	natsSwitch, err := vpc.NewSwitch(ctx, "orders-nats", &vpc.SwitchArgs{
		VpcId: network.ID(), CidrBlock: pulumi.String(natsCIDR), ZoneId: pulumi.String(zone), Tags: tags,
	})
	if err != nil {
		return err
	}
	appSwitch, err := vpc.NewSwitch(ctx, "orders-app", &vpc.SwitchArgs{
		VpcId: network.ID(), CidrBlock: pulumi.String(appCIDR), ZoneId: pulumi.String(zone), Tags: tags,
	})
	if err != nil {
		return err
	}

	cluster, err := natsnest.NewCluster(ctx, "orders-nats", &natsnest.ClusterArgs{
		ServerOptions: natsnest.ServerOptions{
			AdminPassword: cfg.RequireSecret("adminPassword"),
			StackSecret:   cfg.RequireSecret("stackSecret"),
			Accounts: []natsnest.Account{{Name: "ORDERS", Users: []natsnest.User{
				{Name: appUser, Password: cfg.RequireSecret("appPassword")},
			}}},
			Durability: natsnest.DurabilityAlways, // orders must survive a power loss
		},
		NodeCount:        3,
		Zones:            []string{zone},
		VpcID:            network.ID().ToStringOutput(),
		VSwitchIDs:       []pulumi.StringInput{natsSwitch.ID().ToStringOutput()},
		VpcCIDR:          vpcCIDR,
		InstanceType:     instanceTy,
		InstancePassword: cfg.RequireSecret("instancePassword"),
		// A VPC made by this program is reachable from outside only
		// through EIPs: provisioning uses them, from sshCidr only.
		PublicAccess: true,
		SSHCIDR:      cfg.Require("sshCidr"),
		// Only the cluster's own subnet by CIDR; the application gets in by
		// its security group below, wherever its address is.
		AllowedClientCIDRs: []string{natsCIDR},
		ResourceTags:       map[string]string{"app": "orders"},
	})
	if err != nil {
		return err
	}

	// The application's own security group, and a rule on the cluster's
	// group that lets exactly its members reach the client port.
	appGroup, err := ecs.NewSecurityGroup(ctx, "orders-app", &ecs.SecurityGroupArgs{
		VpcId: network.ID(), Description: pulumi.String("orders application"), Tags: tags,
	})
	if err != nil {
		return err
	}
	if _, err := ecs.NewSecurityGroupRule(ctx, "orders-app-to-nats", &ecs.SecurityGroupRuleArgs{
		SecurityGroupId:       cluster.SecurityGroupID,
		SourceSecurityGroupId: appGroup.ID(),
		Type:                  pulumi.String("ingress"),
		IpProtocol:            pulumi.String("tcp"),
		NicType:               pulumi.String("intranet"),
		PortRange:             pulumi.String("4222/4222"),
		Description:           pulumi.String("NATS clients from the orders application"),
	}); err != nil {
		return err
	}

	// The application server learns the cluster's endpoint at boot.
	userData := cluster.PrivateEndpoint.ApplyT(func(endpoint string) string {
		return fmt.Sprintf("#!/bin/sh\nmkdir -p /etc/orders\nprintf 'NATS_URL=%s\\nNATS_USER=%s\\n' > /etc/orders/env\n", endpoint, appUser)
	}).(pulumi.StringOutput)
	image, err := ecs.GetImages(ctx, &ecs.GetImagesArgs{
		NameRegex:  pulumi.StringRef(natsnest.DefaultImageNameRegexAMD64),
		Owners:     pulumi.StringRef("system"),
		MostRecent: pulumi.BoolRef(true),
	})
	if err != nil {
		return err
	}
	if len(image.Images) == 0 {
		return fmt.Errorf("no Debian 12 image in this region")
	}
	app, err := ecs.NewInstance(ctx, "orders-app", &ecs.InstanceArgs{
		InstanceType:       pulumi.String(instanceTy),
		ImageId:            pulumi.String(image.Images[0].Id),
		AvailabilityZone:   pulumi.String(zone),
		VswitchId:          appSwitch.ID(),
		SecurityGroups:     pulumi.StringArray{appGroup.ID()},
		SystemDiskCategory: pulumi.String("cloud_essd"),
		Password:           cfg.RequireSecret("instancePassword"),
		UserData:           userData,
		Tags:               pulumi.StringMap{"app": pulumi.String("orders")},
	}, pulumi.DependsOn([]pulumi.Resource{cluster}), pulumi.IgnoreChanges([]string{"imageId"}))
	if err != nil {
		return err
	}

	ctx.Export("natsUrl", cluster.PrivateEndpoint)
	ctx.Export("appPrivateIp", app.PrivateIp)
	ctx.Export("natsContext", cluster.NatsContext)
	return nil
}
