// The natsnest Pulumi program: a NATS JetStream cluster on Alibaba Cloud,
// configured by the stack (see Pulumi.yaml for every key and its default,
// stacks/ for the single-node and 3-node templates).
package main

import (
	"fmt"

	"github.com/pulumi/pulumi-alicloud/sdk/v3/go/alicloud"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/natsnest"
)

// clusterName is the component's name; every cloud resource is named after
// it. A constant, so renaming a stack never renames (and replaces) resources.
const clusterName = "natsnest"

func main() {
	pulumi.Run(program)
}

func program(ctx *pulumi.Context) error {
	get := func(key string) (string, bool) { return ctx.GetConfig(ctx.Project() + ":" + key) }
	args, err := natsnest.ClusterArgsFromConfig(get)
	if err != nil {
		return err
	}
	for _, key := range natsnest.SecretConfigKeys {
		if v, ok := get(key); ok && v != "" && !ctx.IsConfigSecret(ctx.Project()+":"+key) {
			_ = ctx.Log.Warn(fmt.Sprintf("config %s is stored in plain text; set it with `pulumi config set --secret %s`", key, key), nil)
		}
	}

	var opts []pulumi.ResourceOption
	if version, ok := get("alicloudVersion"); ok && version != "" {
		region, _ := ctx.GetConfig("alicloud:region")
		provider, err := alicloud.NewProvider(ctx, "alicloud", &alicloud.ProviderArgs{
			Region: pulumi.String(region),
		}, pulumi.Version(version))
		if err != nil {
			return err
		}
		opts = append(opts, pulumi.Provider(provider))
	}

	cluster, err := natsnest.NewCluster(ctx, clusterName, args, opts...)
	if err != nil {
		return err
	}
	ctx.Export("privateEndpoint", cluster.PrivateEndpoint)
	ctx.Export("publicEndpoint", cluster.PublicEndpoint)
	ctx.Export("nodes", cluster.Nodes)
	ctx.Export("monitoringUrls", cluster.MonitoringURLs)
	ctx.Export("clusterName", cluster.ClusterName)
	ctx.Export("natsContext", pulumi.ToSecret(cluster.NatsContext))
	ctx.Export("vpcId", cluster.VpcID)
	ctx.Export("securityGroupId", cluster.SecurityGroupID)
	return nil
}
