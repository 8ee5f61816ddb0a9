package program

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi-alicloud/sdk/v3/go/alicloud"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/natsnest/pulumi-natsnest/internal/testkit/testpki"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/urns"
	"github.com/natsnest/pulumi-natsnest/natsnest"
	"github.com/natsnest/pulumi-natsnest/natsnest/natsnesttest"
)

// repoRoot is the repository's root, where the program's Pulumi.yaml,
// stacks/ and README.md are.
const repoRoot = "../../"

func loadProject(t *testing.T) *workspace.Project {
	t.Helper()
	proj, err := workspace.LoadProject(repoRoot + "Pulumi.yaml") // validates against Pulumi's project schema
	if err != nil {
		t.Fatal(err)
	}
	if err := proj.Validate(); err != nil {
		t.Fatal(err)
	}
	return proj
}

// configString is a config value as the program receives it: scalars as
// text, lists and maps as JSON.
func configString(t *testing.T, v any) string {
	t.Helper()
	switch v := v.(type) {
	case string:
		return v
	case []any, map[string]any:
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	default:
		return fmt.Sprint(v)
	}
}

// schemaDefaults are Pulumi.yaml's defaults, keyed without the namespace.
func schemaDefaults(t *testing.T, proj *workspace.Project) map[string]string {
	out := map[string]string{}
	for k, ct := range proj.Config {
		if ct.Default != nil {
			out[k] = configString(t, ct.Default)
		}
	}
	return out
}

func getter(m map[string]string) ConfigGetter {
	return func(key string) (string, bool) { v, ok := m[key]; return v, ok }
}

// optionalSecretConfigKeys are the SecretConfigKeys Pulumi.yaml does not
// declare, sorted.
func optionalSecretConfigKeys() []string {
	var out []string
	for _, k := range SecretConfigKeys {
		if !slices.Contains(requiredSecretConfigKeys, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func TestPulumiYAMLDeclaresEveryConfigKey(t *testing.T) {
	proj := loadProject(t)
	if proj.Name != "natsnest" || proj.Runtime.Name() != "go" || proj.StackConfigDir != "stacks" {
		t.Errorf("name %q runtime %q stackConfigDir %q", proj.Name, proj.Runtime.Name(), proj.StackConfigDir)
	}
	declared := slices.Sorted(maps.Keys(proj.Config))
	var want []string
	for _, k := range append(ClusterConfigKeys(), "alicloudVersion") {
		if !slices.Contains(optionalSecretConfigKeys(), k) {
			want = append(want, k)
		}
	}
	slices.Sort(want)
	if !slices.Equal(declared, want) {
		t.Errorf("Pulumi.yaml declares %v,\nthe program reads %v and the optional secrets %v", declared, want, optionalSecretConfigKeys())
	}
	for _, k := range SecretConfigKeys {
		if !slices.Contains(clusterConfigKeys, k) {
			t.Errorf("secret %s is not read by ClusterArgsFromConfig", k)
		}
	}
	for k, ct := range proj.Config {
		if ct.Type == nil || ct.Description == "" {
			t.Errorf("%s: needs a type and a description", k)
		}
		secret := slices.Contains(SecretConfigKeys, k)
		if ct.Secret != secret {
			t.Errorf("%s: secret = %v, want %v", k, ct.Secret, secret)
		}
		if secret && ct.Default != nil {
			t.Errorf("%s: a secret must have no default", k)
		}
	}
}

// TestRequiredSecretsAreRequired: the secrets Pulumi.yaml declares (so the
// CLI demands them) are ones no stack can do without, and instancePassword,
// which it does not declare, is one a stack can do without.
func TestRequiredSecretsAreRequired(t *testing.T) {
	valid := func(t *testing.T) map[string]string {
		cfg := stackConfig(t, loadProject(t), "cluster")
		maps.Copy(cfg, testSecrets)
		cfg["sshCidr"] = "203.0.113.7/32"
		return cfg
	}
	validate := func(cfg map[string]string) error {
		a, err := ClusterArgsFromConfig(getter(cfg))
		if err != nil {
			return err
		}
		return a.Validate()
	}
	if err := validate(valid(t)); err != nil {
		t.Fatal(err)
	}
	for _, k := range requiredSecretConfigKeys {
		cfg := valid(t)
		delete(cfg, k)
		if validate(cfg) == nil {
			t.Errorf("a stack without %s is valid: it is optional, so Pulumi.yaml must not declare it", k)
		}
	}
	cfg := valid(t)
	delete(cfg, "instancePassword")
	cfg["keyPairName"], cfg["sshPrivateKey"] = "deployer", testpki.SSHPrivateKey(t)
	if err := validate(cfg); err != nil {
		t.Errorf("with keyPairName and sshPrivateKey, instancePassword should be optional: %v", err)
	}
}

// TestPulumiYAMLDefaultsAreTheLibrarys: the schema's defaults are exactly
// the ones natsnest applies itself, so `pulumi config` never shows a default
// that is not the real one.
//
// The CLI requires every declared key without a default, so optional keys
// default to the empty value of their type ("", 0, [], {}), which the CLI
// passes to the program as set values: they must give the same ClusterArgs
// as leaving the keys out (nil lists and maps included), so natsnest's own
// defaults apply.
func TestPulumiYAMLDefaultsAreTheLibrarys(t *testing.T) {
	proj := loadProject(t)
	defaults := schemaDefaults(t, proj)
	unsetting := map[string]string{}
	for k, ct := range proj.Config {
		if empty, ok := map[string]string{"string": "", "integer": "0", "array": "[]", "object": "{}"}[ct.TypeName()]; ok && ct.Default != nil && defaults[k] == empty {
			unsetting[k] = defaults[k]
		}
	}
	withEmpty, err := ClusterArgsFromConfig(getter(defaults))
	if err != nil {
		t.Fatal(err)
	}
	withoutEmpty, err := ClusterArgsFromConfig(getter(maps.Collect(func(yield func(string, string) bool) {
		for k, v := range defaults {
			if _, ok := unsetting[k]; !ok && !yield(k, v) {
				return
			}
		}
	})))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(withEmpty, withoutEmpty) {
		t.Errorf("the empty defaults %v are not unset:\nwith them    %+v\nwithout them %+v", unsetting, withEmpty, withoutEmpty)
	}

	defaults["appPassword"] = "app-password-0123"
	defaults["bastionHost"] = "bastion.example"
	defaults["tlsCert"], defaults["tlsKey"] = "cert-pem", "key-pem"
	a, err := ClusterArgsFromConfig(getter(defaults))
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]any{
		"nodeCount":                {a.NodeCount, natsnest.DefaultNodeCount},
		"nodeNamePrefix":           {a.NodeNamePrefix, natsnest.DefaultNodeNamePrefix},
		"chargeType":               {a.ChargeType, natsnest.DefaultChargeType},
		"instanceType":             {a.InstanceType, natsnest.DefaultInstanceType},
		"systemDiskSize":           {a.SystemDiskSize, natsnest.DefaultSystemDiskSize},
		"systemDiskCategory":       {a.SystemDiskCategory, natsnest.DefaultSystemDiskCategory},
		"dataDiskSize":             {a.DataDiskSize, natsnest.DefaultDataDiskSize},
		"dataDiskCategory":         {a.DataDiskCategory, natsnest.DefaultDataDiskCategory},
		"deleteDataDisksOnDestroy": {a.DeleteDataDisksOnDestroy, false},
		"publicAccess":             {a.PublicAccess, false},
		"internetBandwidth":        {a.InternetBandwidth, natsnest.DefaultInternetBandwidth},
		"internetChargeType":       {a.InternetChargeType, natsnest.DefaultInternetChargeType},
		"clusterName":              {a.ClusterName, natsnest.DefaultClusterName},
		"appAccount":               {a.Accounts[0].Name, natsnest.DefaultAppAccount},
		"appUser":                  {a.Accounts[0].Users[0].Name, DefaultAppUser},
		"maxMemoryStore":           {a.MaxMemoryStore, natsnest.DefaultMaxMemoryStore},
		"durability":               {a.Durability, natsnest.DefaultDurability},
		"lameDuckDuration":         {a.LameDuckDuration, natsnest.DefaultLameDuckDuration},
		"lameDuckGracePeriod":      {a.LameDuckGracePeriod, natsnest.DefaultLameDuckGracePeriod},
		"bastionPort":              {a.Bastion.Port, 22},
		"bastionUser":              {a.Bastion.User, "root"},
		"allowAnonymous":           {a.AllowAnonymous, false},
		"allowPublicMonitoring":    {a.AllowPublicMonitoring, false},
		"allowPublicSsh":           {a.AllowPublicSSH, false},
		"allowPublicAnonymous":     {a.AllowPublicAnonymous, false},
		"tlsVerifyClients":         {a.TLS.VerifyClients, false},
		"tlsMonitoring":            {a.TLS.Monitoring, false},
	}
	for k := range defaults {
		_, checked := checks[k]
		_, unset := unsetting[k]
		if !checked && !unset && k != "appPassword" && k != "tlsKey" {
			t.Errorf("Pulumi.yaml has a default for %s that this test does not compare with the library", k)
		}
	}
	for k, c := range checks {
		if _, ok := defaults[k]; !ok {
			t.Errorf("%s: no default in Pulumi.yaml", k)
		}
		if !reflect.DeepEqual(c[0], c[1]) {
			t.Errorf("%s: Pulumi.yaml's default gives %#v, natsnest's is %#v", k, c[0], c[1])
		}
	}
}

// testSecrets are what `pulumi config set --secret` would add to a stack.
var testSecrets = map[string]string{
	"instancePassword": "Instance-Pw-42",
	"adminPassword":    "Admin-password-0123456789",
	"stackSecret":      "stack-secret-0123456789",
	"appPassword":      "app-password-0123",
}

// stackConfig is a stack's effective config (schema defaults, then the stack
// file), keyed without the project's namespace, plus the provider's keys
// with theirs.
func stackConfig(t *testing.T, proj *workspace.Project, stack string) map[string]string {
	t.Helper()
	ps, err := workspace.LoadProjectStack(diag.DefaultSink(io.Discard, io.Discard, diag.FormatOptions{Color: colors.Never}), proj, repoRoot+"stacks/Pulumi."+stack+".yaml")
	if err != nil {
		t.Fatal(err)
	}
	values, err := ps.Config.Decrypt(config.NopDecrypter)
	if err != nil {
		t.Fatal(err)
	}
	out := schemaDefaults(t, proj)
	for k, v := range values {
		if ps.Config[k].Secure() {
			t.Errorf("%s: stack files carry no secrets", k)
		}
		if k.Namespace() != "natsnest" {
			out[k.String()] = v
			continue
		}
		ct, ok := proj.Config[k.Name()]
		if !ok {
			t.Errorf("%s is not declared in Pulumi.yaml", k)
			continue
		}
		obj, err := ps.Config[k].ToObject()
		if err != nil {
			t.Fatal(err)
		}
		if !workspace.ValidateConfigValue(ct.TypeName(), ct.Items, obj) {
			t.Errorf("%s = %v is not a %s", k, v, ct.TypeName())
		}
		out[k.Name()] = v
	}
	return out
}

// TestStacksAreTheSeedsTemplates: both stacks load against the schema, carry
// the seed's parameters, and are valid once the secrets and the deploying
// machine's SSH CIDR are set (and not before).
func TestStacksAreTheSeedsTemplates(t *testing.T) {
	proj := loadProject(t)
	for stack, nodes := range map[string]int{"single": 1, "cluster": 3} {
		t.Run(stack, func(t *testing.T) {
			cfg := stackConfig(t, proj, stack)
			if cfg["alicloud:region"] != "cn-hangzhou" {
				t.Errorf("region = %q", cfg["alicloud:region"])
			}
			maps.Copy(cfg, testSecrets)
			a, err := ClusterArgsFromConfig(getter(cfg))
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintln(a.NodeCount, a.Zones, a.ChargeType, a.InstanceType, a.SystemDiskSize, a.DataDiskSize, a.PublicAccess)
			want := fmt.Sprintln(nodes, []string{"cn-hangzhou-i"}, "PostPaid", "ecs.g7.large", 40, 40, true)
			if got != want {
				t.Errorf("template %s, want %s", got, want)
			}
			if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "SSHCIDR:") {
				t.Errorf("with public IPs and no sshCidr, want an SSHCIDR error, got %v", err)
			}
			cfg["sshCidr"] = "203.0.113.7/32"
			a, err = ClusterArgsFromConfig(getter(cfg))
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Validate(); err != nil {
				t.Errorf("%s with secrets and sshCidr: %v", stack, err)
			}
		})
	}
}

func TestClusterArgsFromConfig(t *testing.T) {
	a, err := ClusterArgsFromConfig(getter(map[string]string{
		"nodeCount": "5", "zones": `["cn-hangzhou-i","cn-hangzhou-j"]`, "publicAccess": "true",
		"vpcId": "vpc-1", "vswitchIds": "vsw-1, vsw-2", "vpcCidr": "10.0.0.0/8",
		"resourceTags": `{"team":"messaging"}`, "maxFileStore": "10737418240", "lameDuckDuration": "45s",
		"chargeType": "PrePaid", "period": "12", "renewalStatus": "Normal", "autoRenewPeriod": "3", "serverTags": `["env:prod"]`,
		"binaryUrl": "https://mirror.example/nats.tgz", "binarySha256": "abc",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintln(a.NodeCount, a.Zones, a.PublicAccess, a.VpcCIDR, len(a.VSwitchIDs), a.ResourceTags,
		a.MaxFileStore, a.LameDuckDuration, a.ChargeType, a.Period, a.Tags, secretValue(t, a.Binary.URL), a.Binary.SHA256, a.Accounts)
	want := "5 [cn-hangzhou-i cn-hangzhou-j] true 10.0.0.0/8 2 map[team:messaging] 10737418240 45s PrePaid 12 [env:prod] https://mirror.example/nats.tgz abc []\n"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if a.RenewalStatus != "Normal" || a.AutoRenewPeriod != 3 {
		t.Errorf("renewalStatus, autoRenewPeriod = %q, %d", a.RenewalStatus, a.AutoRenewPeriod)
	}

	_, err = ClusterArgsFromConfig(getter(map[string]string{
		"nodeCount": "three", "publicAccess": "yes please", "resourceTags": "[1]", "lameDuckDuration": "long",
	}))
	for _, key := range []string{"nodeCount", "publicAccess", "resourceTags", "lameDuckDuration"} {
		if err == nil || !strings.Contains(err.Error(), "config "+key+":") {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
}

// programMocks is natsnesttest's Mocks, the fake engine users test their
// programs with.
type programMocks struct{ natsnesttest.Mocks }

// regs are the registered resources.
func (m *programMocks) regs() []natsnesttest.Resource { return m.Resources("") }

// runProgram runs the real program with a stack's config under mocks.
func runProgram(t *testing.T, cfg map[string]string) *programMocks {
	t.Helper()
	m := &programMocks{}
	runProgramOn(t, "cluster", m, cfg)
	return m
}

// runProgramOn runs the real program as stack with a stack's config under
// the monitor m; the keys of testSecrets are set with --secret.
func runProgramOn(t *testing.T, stackName string, m pulumi.MockResourceMonitor, cfg map[string]string) {
	t.Helper()
	var secretKeys []string
	for k := range cfg {
		if _, ok := testSecrets[strings.TrimPrefix(k, "natsnest:")]; ok {
			secretKeys = append(secretKeys, k)
		}
	}
	runProgramLogged(t, stackName, m, cfg, secretKeys...)
}

// runProgramLogged runs the real program as stack with a stack's config
// under the monitor m, the keys secretKeys set with --secret, and returns the
// warnings it logged. Keys without a namespace are the project's.
func runProgramLogged(t *testing.T, stackName string, m pulumi.MockResourceMonitor, cfg map[string]string, secretKeys ...string) []string {
	t.Helper()
	namespaced := func(k string) string {
		if !strings.Contains(k, ":") {
			return "natsnest:" + k
		}
		return k
	}
	full := map[string]string{}
	for k, v := range cfg {
		full[namespaced(k)] = v
	}
	var secrets []string
	for _, k := range secretKeys {
		secrets = append(secrets, namespaced(k))
	}
	log := &logRecorder{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		log.Log, ctx.Log = ctx.Log, log
		return Program(ctx)
	}, pulumi.WithMocks("natsnest", stackName, m), func(info *pulumi.RunInfo) {
		info.Config, info.ConfigSecretKeys = full, secrets
	})
	if err != nil {
		t.Fatal(err)
	}
	return log.warnings
}

// logRecorder records the warnings a program logs.
type logRecorder struct {
	pulumi.Log
	mu       sync.Mutex
	warnings []string
}

func (l *logRecorder) Warn(msg string, args *pulumi.LogArgs) error {
	l.mu.Lock()
	l.warnings = append(l.warnings, msg)
	l.mu.Unlock()
	return l.Log.Warn(msg, args)
}

// TestNoResourceRenamed: the stacks single and cluster register every URN
// they registered when internal/testkit/urns/registered/ was written, so a
// refactor never makes the next `pulumi up` replace a resource.
func TestNoResourceRenamed(t *testing.T) {
	proj := loadProject(t)
	for _, name := range []string{"single", "cluster"} {
		t.Run(name, func(t *testing.T) {
			cfg := stackConfig(t, proj, name)
			maps.Copy(cfg, testSecrets)
			cfg["sshCidr"] = "203.0.113.7/32"
			cfg["binaryPath"] = filepath.Join(t.TempDir(), "nats-server")
			if err := os.WriteFile(cfg["binaryPath"], []byte("fake nats-server"), 0o755); err != nil {
				t.Fatal(err)
			}
			rec := urns.NewRecorder("natsnest", name, &programMocks{})
			runProgramOn(t, name, rec, cfg)
			rec.Check(t, name)
		})
	}
}

func TestProgramDeploysTheClusterStack(t *testing.T) {
	proj := loadProject(t)
	cfg := stackConfig(t, proj, "cluster")
	maps.Copy(cfg, testSecrets)
	cfg["sshCidr"] = "203.0.113.7/32"
	// Upload a stand-in instead of building the pinned nats-server.
	cfg["binaryPath"] = filepath.Join(t.TempDir(), "nats-server")
	if err := os.WriteFile(cfg["binaryPath"], []byte("fake nats-server"), 0o755); err != nil {
		t.Fatal(err)
	}

	m := runProgram(t, cfg)
	counts := map[string]int{}
	for _, r := range m.regs() {
		counts[r.Type]++
		if r.Type == natsnest.ClusterType && r.Name != "natsnest" {
			t.Errorf("cluster named %q", r.Name)
		}
		if strings.HasPrefix(r.Type, "alicloud:") && r.Provider != "" {
			t.Errorf("%s uses provider %s without alicloudVersion", r.Name, r.Provider)
		}
	}
	for typ, n := range map[string]int{
		natsnest.ClusterType: 1, "alicloud:ecs/instance:Instance": 3, "alicloud:ecs/eipAddress:EipAddress": 3,
		"pulumi:providers:alicloud": 0,
	} {
		if counts[typ] != n {
			t.Errorf("%d %s, want %d", counts[typ], typ, n)
		}
	}

	cfg["alicloudVersion"] = "3.86.1"
	m = runProgram(t, cfg)
	var provider string
	for _, r := range m.regs() {
		if r.Type == "pulumi:providers:alicloud" {
			provider = r.Name
			if r.Version != "3.86.1" || r.Inputs["region"].StringValue() != "cn-hangzhou" {
				t.Errorf("provider version %q inputs %v", r.Version, r.Inputs)
			}
		}
	}
	if provider == "" {
		t.Fatal("alicloudVersion did not create a provider")
	}
	for _, r := range m.regs() {
		if strings.HasPrefix(r.Type, "alicloud:") && !strings.Contains(r.Provider, "pulumi:providers:alicloud::alicloud") {
			t.Errorf("%s %s does not use the explicit provider (%q)", r.Type, r.Name, r.Provider)
		}
	}
}

// deployableConfig is the cluster stack's config with the README's commands
// and a stand-in binary: what deploys under mocks.
func deployableConfig(t *testing.T) map[string]string {
	t.Helper()
	cfg := stackConfig(t, loadProject(t), "cluster")
	maps.Copy(cfg, testSecrets)
	cfg["sshCidr"] = "203.0.113.7/32"
	cfg["binaryPath"] = filepath.Join(t.TempDir(), "nats-server")
	if err := os.WriteFile(cfg["binaryPath"], []byte("fake nats-server"), 0o755); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestPlaintextSecretsAreWarnedAbout: the CLI refuses a plain-text value only
// for the secrets Pulumi.yaml declares; for the optional ones, which it does
// not declare, the program warns, and only about those set in plain text.
func TestPlaintextSecretsAreWarnedAbout(t *testing.T) {
	proj := loadProject(t)
	cfg := deployableConfig(t)
	cfg["keyPairName"], cfg["sshPrivateKey"] = "deployer", testpki.SSHPrivateKey(t)
	ca := testpki.New(t)
	cfg["tlsCert"], cfg["tlsKey"] = ca.Issue(t, testpki.Spec{})
	cfg["bastionHost"], cfg["bastionPrivateKey"], cfg["bastionPassword"] = "bastion.example", testpki.SSHPrivateKey(t), "bastion-password"
	// A presigned download instead of the upload.
	delete(cfg, "binaryPath")
	cfg["binaryUrl"], cfg["binarySha256"] = "https://mirror.example/nats-server?Signature=sig", strings.Repeat("ab", 32)
	// A bastion reaches nodes in an existing VPC without public IPs.
	cfg["vpcId"], cfg["vswitchIds"], cfg["vpcCidr"], cfg["publicAccess"] = "vpc-1", `["vsw-1"]`, "10.0.0.0/16", "false"

	var undeclared []string
	for _, k := range SecretConfigKeys {
		if _, declared := proj.Config[k]; !declared {
			undeclared = append(undeclared, k)
		}
	}
	if len(undeclared) == 0 {
		t.Fatal("every secret is declared: this test has nothing to check")
	}
	warned := func(warnings []string) []string {
		var keys []string
		for _, w := range warnings {
			for _, k := range SecretConfigKeys {
				if strings.HasPrefix(w, "config "+k+" is stored in plain text; set it with `pulumi config set --secret natsnest:"+k+"`") {
					keys = append(keys, k)
				}
			}
		}
		slices.Sort(keys)
		return keys
	}

	// Every undeclared secret in plain text, the declared ones as secrets.
	got := warned(runProgramLogged(t, "cluster", &programMocks{}, cfg, requiredSecretConfigKeys...))
	if want := slices.Sorted(slices.Values(undeclared)); !slices.Equal(got, want) {
		t.Errorf("warned about %v, want %v", got, want)
	}
	// All of them as secrets.
	if got := warned(runProgramLogged(t, "cluster", &programMocks{}, cfg, SecretConfigKeys...)); len(got) != 0 {
		t.Errorf("warned about %v, set with --secret", got)
	}
	// One in plain text.
	var others []string
	for _, k := range SecretConfigKeys {
		if k != "tlsKey" {
			others = append(others, k)
		}
	}
	if got := warned(runProgramLogged(t, "cluster", &programMocks{}, cfg, others...)); !slices.Equal(got, []string{"tlsKey"}) {
		t.Errorf("warned about %v, want [tlsKey]", got)
	}
}

// TestExplicitProviderGetsTheStacksAlicloudKeys: with alicloudVersion, the
// explicit provider gets every alicloud:* key alicloud.ProviderArgs has, as
// the default provider would have read them: credentials as secrets, and any
// key set with --secret as a secret.
func TestExplicitProviderGetsTheStacksAlicloudKeys(t *testing.T) {
	cfg := deployableConfig(t)
	cfg["alicloudVersion"] = "3.86.1"
	want := resource.PropertyMap{}
	fields := alicloud.ProviderArgs{}.ElementType() // the plain struct: its fields are the arguments
	for f := range fields.Fields() {
		key, _, _ := strings.Cut(f.Tag.Get("pulumi"), ",")
		var v any
		switch {
		case key == "region":
			v = "cn-hangzhou" // the stack file's
		case f.Type == reflect.TypeFor[*string]():
			v = "value-of-" + key
		case f.Type == reflect.TypeFor[*int]():
			cfg["alicloud:"+key], v = "7", 7.0
		case f.Type == reflect.TypeFor[*bool]():
			cfg["alicloud:"+key], v = "true", true
		case f.Type == reflect.TypeFor[*alicloud.ProviderAssumeRole]():
			cfg["alicloud:"+key] = `{"roleArn":"acs:ram::123:role/deployer","sessionName":"natsnest","sessionExpiration":3600,"policy":"{}"}`
			v = map[string]any{"roleArn": "acs:ram::123:role/deployer", "sessionName": "natsnest", "sessionExpiration": 3600.0, "policy": "{}"}
		case f.Type == reflect.TypeFor[[]alicloud.ProviderEndpoint]():
			cfg["alicloud:"+key] = `[{"ecs":"ecs.example.com","vpc":"vpc.example.com"}]`
			v = []any{map[string]any{"ecs": "ecs.example.com", "vpc": "vpc.example.com"}}
		default:
			t.Fatalf("alicloud.ProviderArgs has %s of type %s: forward it, and give it a value here", key, f.Type)
		}
		if s, ok := v.(string); ok {
			cfg["alicloud:"+key] = s
		}
		pv := resource.NewPropertyValue(v)
		if slices.Contains(alicloudSecretConfigKeys, key) || key == "assumeRole" {
			pv = resource.MakeSecret(pv)
		}
		want[resource.PropertyKey(key)] = pv
	}
	if len(want) < 20 {
		t.Fatalf("only %d provider arguments: is this alicloud.ProviderArgs?", len(want))
	}

	m := &programMocks{}
	// accessKey, secretKey and securityToken in plain text; assumeRole with --secret.
	runProgramLogged(t, "cluster", m, cfg, append(slices.Clone(requiredSecretConfigKeys), "alicloud:assumeRole")...)
	var got resource.PropertyMap
	for _, r := range m.regs() {
		if r.Type == "pulumi:providers:alicloud" {
			got = r.Inputs
		}
	}
	if got == nil {
		t.Fatal("alicloudVersion did not create a provider")
	}
	delete(got, "version")
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("alicloud:%s is not passed to the provider", k)
			continue
		}
		if g.IsSecret() != w.IsSecret() {
			t.Errorf("alicloud:%s: secret = %v, want %v", k, g.IsSecret(), w.IsSecret())
		}
		if !g.DeepEquals(w) {
			t.Errorf("alicloud:%s = %v, want %v", k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("the provider gets %s = %v, which no alicloud:* key set", k, got[k])
		}
	}

	// Unparseable values fail the program, naming their keys.
	_, err := alicloudProviderArgs(getter(map[string]string{
		"clientReadTimeout": "soon", "skipRegionValidation": "maybe",
		"assumeRole": `{"role":"x"}`, "endpoints": `[{"ecss":"typo.example.com"}]`,
	}), func(string) bool { return false })
	for _, key := range []string{"clientReadTimeout", "skipRegionValidation", "assumeRole", "endpoints"} {
		if err == nil || !strings.Contains(err.Error(), "config alicloud:"+key+":") {
			t.Errorf("error does not name alicloud:%s: %v", key, err)
		}
	}
}

// secretValue is a secret input's value, and fails the test unless the
// input is a secret.
func secretValue(t *testing.T, in pulumi.StringInput) string {
	t.Helper()
	if in == nil {
		return ""
	}
	r, err := internals.UnsafeAwaitOutput(context.Background(), in.ToStringOutput())
	if err != nil || !r.Secret {
		t.Errorf("%v: secret %v, err %v", in, r.Secret, err)
	}
	v, _ := r.Value.(string)
	return v
}
