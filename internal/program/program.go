// Package program is the natsnest Pulumi program's body: the stack's config
// (Pulumi.yaml's schema) into natsnest.ClusterArgs, natsnest.NewCluster, and
// the stack's outputs. main.go runs it; the benchmarks and the machine tier
// run the same function, so what they measure is the program users deploy.
// It is the one internal package that imports natsnest: the library knows
// nothing of stack config.
package program

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

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
	config, err := configFromEnvironment()
	if err != nil {
		return err
	}
	unknown := unknownConfigKeys(ctx.Project(), config)
	args, parseErr := ClusterArgsFromConfig(get)
	// Every problem at once, each naming the stack key, before anything is
	// registered; NewCluster validates the same again. A key whose value
	// did not parse is reported once, as such.
	invalid := withoutKeys(stackKeyErrors(args.Validate()), problemKeys(parseErr))
	if err := configProblems(unknown, parseErr, invalid); err != nil {
		return err
	}
	for _, warning := range plaintextSecretWarnings(ctx) {
		_ = ctx.Log.Warn(warning, nil)
	}

	var opts []pulumi.ResourceOption
	if version, ok := get("alicloudVersion"); ok && version != "" {
		providerArgs, err := alicloudProviderArgs(
			func(key string) (string, bool) { return ctx.GetConfig("alicloud:" + key) },
			func(key string) bool { return ctx.IsConfigSecret("alicloud:" + key) })
		if err != nil {
			return err
		}
		provider, err := alicloud.NewProvider(ctx, "alicloud", providerArgs, pulumi.Version(version))
		if err != nil {
			return err
		}
		opts = append(opts, pulumi.Provider(provider))
	}

	cluster, err := natsnest.NewCluster(ctx, ClusterName, args, opts...)
	if err != nil {
		if errors.Is(err, natsnest.ErrInvalidArgs) {
			return configProblems(stackKeyErrors(err))
		}
		return err
	}
	ctx.Export("privateEndpoint", cluster.PrivateEndpoint)
	ctx.Export("publicEndpoint", cluster.PublicEndpoint)
	ctx.Export("nodes", cluster.Nodes)
	ctx.Export("monitoringUrls", cluster.MonitoringURLs)
	ctx.Export("clusterName", cluster.ClusterName)
	ctx.Export("natsContext", pulumi.ToSecret(cluster.NatsContext))
	ctx.Export("vpcId", cluster.VpcID)
	ctx.Export("imageId", cluster.ImageID)
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

// alicloudSecretConfigKeys are the alicloud:* keys that hold credentials: the
// explicit provider gets them as secrets even when a stack holds them in plain
// text (pulumi-alicloud v3.10.0's NewProvider does not mark them itself).
var alicloudSecretConfigKeys = []string{"accessKey", "secretKey", "securityToken"}

// alicloudProviderArgs are the explicit provider's arguments (with
// alicloudVersion) from the stack's alicloud:* keys, as the default provider
// would have read them: every key alicloud.ProviderArgs has, keyed without
// the namespace ("region" for "alicloud:region"). Unset keys stay nil, so
// alicloud.NewProvider's environment fallbacks (ALICLOUD_REGION, ...) apply.
// Credentials (alicloudSecretConfigKeys) and any key set with --secret
// (isSecret) are passed as secrets. Structured keys (assumeRole, endpoints)
// arrive as JSON; a field they do not have is an error, not ignored.
func alicloudProviderArgs(get ConfigGetter, isSecret func(key string) bool) (*alicloud.ProviderArgs, error) {
	p := providerConfig{get: get, isSecret: isSecret}
	a := &alicloud.ProviderArgs{
		AccessKey:             p.str("accessKey"),
		AccountId:             p.str("accountId"),
		ClientConnectTimeout:  p.int("clientConnectTimeout"),
		ClientReadTimeout:     p.int("clientReadTimeout"),
		ConfigurationSource:   p.str("configurationSource"),
		CredentialsUri:        p.str("credentialsUri"),
		EcsRoleName:           p.str("ecsRoleName"),
		Fc:                    p.str("fc"),
		LogEndpoint:           p.str("logEndpoint"),
		MnsEndpoint:           p.str("mnsEndpoint"),
		OtsInstanceName:       p.str("otsInstanceName"),
		Profile:               p.str("profile"),
		Protocol:              p.str("protocol"),
		Region:                p.str("region"),
		SecretKey:             p.str("secretKey"),
		SecureTransport:       p.str("secureTransport"),
		SecurityToken:         p.str("securityToken"),
		SecurityTransport:     p.str("securityTransport"),
		SharedCredentialsFile: p.str("sharedCredentialsFile"),
		SkipRegionValidation:  p.bool("skipRegionValidation"),
		SourceIp:              p.str("sourceIp"),
	}
	var role alicloud.ProviderAssumeRole
	if p.json("assumeRole", &role) {
		a.AssumeRole = outputOf(&role, p.secret("assumeRole")).(alicloud.ProviderAssumeRolePtrOutput)
	}
	var endpoints []alicloud.ProviderEndpoint
	if p.json("endpoints", &endpoints) {
		a.Endpoints = outputOf(endpoints, p.secret("endpoints")).(alicloud.ProviderEndpointArrayOutput)
	}
	if len(p.errs) > 0 {
		return nil, fmt.Errorf("%w: %w", natsnest.ErrInvalidArgs, errors.Join(p.errs...))
	}
	return a, nil
}

// providerConfig reads alicloud:* keys into provider inputs, collecting
// every error.
type providerConfig struct {
	get      ConfigGetter
	isSecret func(key string) bool
	errs     []error
}

func (p *providerConfig) fail(key string, err error) {
	p.errs = append(p.errs, fmt.Errorf("config alicloud:%s: %w", key, err))
}

// secret says whether key is passed as a secret: a credential, or set with
// --secret.
func (p *providerConfig) secret(key string) bool {
	return slices.Contains(alicloudSecretConfigKeys, key) || p.isSecret(key)
}

// outputOf is v as an Output of its registered type (StringPtrOutput for a
// *string, ...), a secret if secret is set.
func outputOf[T any](v T, secret bool) pulumi.Output {
	o := pulumi.String("").ToStringOutput()
	if secret {
		o = pulumi.ToSecret(o).(pulumi.StringOutput)
	}
	return o.ApplyT(func(string) T { return v })
}

func (p *providerConfig) str(key string) pulumi.StringPtrInput {
	v, ok := p.get(key)
	if !ok {
		return nil
	}
	return outputOf(&v, p.secret(key)).(pulumi.StringPtrOutput)
}

func (p *providerConfig) int(key string) pulumi.IntPtrInput {
	v, ok := p.get(key)
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		p.fail(key, fmt.Errorf("%q is not an integer", v))
		return nil
	}
	return outputOf(&n, p.secret(key)).(pulumi.IntPtrOutput)
}

func (p *providerConfig) bool(key string) pulumi.BoolPtrInput {
	v, ok := p.get(key)
	if !ok {
		return nil
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		p.fail(key, fmt.Errorf("%q is not true or false", v))
		return nil
	}
	return outputOf(&b, p.secret(key)).(pulumi.BoolPtrOutput)
}

// json decodes the JSON value of key into dst, refusing fields dst lacks;
// it reports whether key is set and decoded.
func (p *providerConfig) json(key string, dst any) bool {
	v, ok := p.get(key)
	if !ok {
		return false
	}
	d := json.NewDecoder(strings.NewReader(v))
	d.DisallowUnknownFields()
	if err := d.Decode(dst); err != nil {
		p.fail(key, err)
		return false
	}
	return true
}
