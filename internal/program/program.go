// Package program is the natsnest Pulumi program's body: the stack's config
// (Pulumi.yaml's schema) into natsnest.ClusterArgs, natsnest.NewCluster, and
// the stack's outputs. main.go runs it; the benchmarks and the machine tier
// run the same function, so what they measure is the program users deploy.
// It is the one internal package that imports natsnest: the library knows
// nothing of stack config.
package program

import (
	"fmt"

	"github.com/pulumi/pulumi-alicloud/sdk/v3/go/alicloud"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/natsnest"
)

// ClusterName is the component's name; every cloud resource is named after
// it. A constant, so renaming a stack never renames (and replaces) resources.
const ClusterName = "natsnest"

// Program reads the stack's config (see Pulumi.yaml for every key and its
// default), deploys the cluster and exports its outputs.
func Program(ctx *pulumi.Context) error {
	get := func(key string) (string, bool) { return ctx.GetConfig(ctx.Project() + ":" + key) }
	args, err := ClusterArgsFromConfig(get)
	if err != nil {
		return err
	}
	for _, warning := range plaintextSecretWarnings(ctx) {
		_ = ctx.Log.Warn(warning, nil)
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

	cluster, err := natsnest.NewCluster(ctx, ClusterName, args, opts...)
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

// plaintextSecretWarnings are the warnings for SecretConfigKeys set in plain
// text. The CLI itself refuses a plain-text value only for the keys Pulumi.yaml
// declares secret; the optional secrets are not declared (see
// SecretConfigKeys), so this is their only guard.
func plaintextSecretWarnings(ctx *pulumi.Context) []string {
	var out []string
	for _, key := range SecretConfigKeys {
		full := ctx.Project() + ":" + key
		if v, ok := ctx.GetConfig(full); ok && v != "" && !ctx.IsConfigSecret(full) {
			out = append(out, fmt.Sprintf("config %s is stored in plain text; set it with `pulumi config set --secret %s`", key, full))
		}
	}
	return out
}
