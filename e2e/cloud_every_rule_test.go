package e2e

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/internal/testkit/cloud"
)

// raw is a resource registered by type token with plain inputs: a test can
// change any one argument. ref inputs name another raw resource whose ID
// they take.
type raw struct {
	token, name string
	in          map[string]any
	ref         map[string]string
	opts        []pulumi.ResourceOption
}

type ref string // an input that is another resource's ID

// rawProgram registers the resources in order.
func rawProgram(res []raw) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		ids := map[string]pulumi.IDOutput{}
		for _, r := range res {
			props := pulumi.Map{}
			for k, v := range r.in {
				switch x := v.(type) {
				case ref:
					props[k] = ids[string(x)]
				case []ref:
					var arr pulumi.Array
					for _, e := range x {
						arr = append(arr, ids[string(e)])
					}
					props[k] = arr
				default:
					props[k] = pulumi.Any(v)
				}
			}
			var cr pulumi.CustomResourceState
			if err := ctx.RegisterResource(r.token, r.name, props, &cr, r.opts...); err != nil {
				return err
			}
			ids[r.name] = cr.ID()
		}
		return nil
	}
}

func everyRuleResources() []raw {
	dbr := []pulumi.ResourceOption{pulumi.DeleteBeforeReplace(true)}
	return []raw{
		{token: cloud.NetworkToken, name: "net", in: map[string]any{"cidrBlock": "10.99.0.0/16"}},
		{token: cloud.NetworkToken, name: "net2", in: map[string]any{"cidrBlock": "10.98.0.0/16"}},
		{token: cloud.SwitchToken, name: "sw", in: map[string]any{"vpcId": ref("net"), "zoneId": "cn-hangzhou-i", "cidrBlock": "10.99.1.0/24"}},
		{token: cloud.SwitchToken, name: "sw2", in: map[string]any{"vpcId": ref("net"), "zoneId": "cn-hangzhou-i", "cidrBlock": "10.99.4.0/24"}},
		{token: cloud.SwitchToken, name: "swj", in: map[string]any{"vpcId": ref("net"), "zoneId": "cn-hangzhou-j", "cidrBlock": "10.99.3.0/24"}},
		{token: cloud.SwitchToken, name: "swx", in: map[string]any{"vpcId": ref("net"), "zoneId": "cn-hangzhou-i", "cidrBlock": "10.99.2.0/24"}},
		{token: cloud.SwitchToken, name: "swy", in: map[string]any{"vpcId": ref("net"), "availabilityZone": "cn-hangzhou-i", "cidrBlock": "10.99.6.0/24"}},
		{token: cloud.SGToken, name: "sg", in: map[string]any{"vpcId": ref("net")}},
		{token: cloud.SGToken, name: "sgx", in: map[string]any{"vpcId": ref("net")}},
		{token: cloud.SGRuleToken, name: "rule", in: map[string]any{"type": "ingress", "ipProtocol": "tcp", "portRange": "22/22",
			"policy": "accept", "priority": 1, "securityGroupId": ref("sgx"), "cidrIp": "10.99.0.0/16"},
			// source_group_owner_account is not part of the rule's ID
			// (security_group_rule.go:150-156): its replacement is the same
			// rule, which ECS refuses twice, so the old one goes first.
			opts: dbr},
		{token: cloud.InstanceToken, name: "node", in: map[string]any{"availabilityZone": "cn-hangzhou-i", "vswitchId": ref("sw"),
			"securityGroups": []ref{"sg"}, "instanceType": "ecs.g7.large", "imageId": "debian_12_11_x64_20G_alibase_20250701.vhd",
			"systemDiskCategory": "cloud_essd", "hostName": "node-1", "password": "Emulated-Pw-42", "keyName": "kp1",
			"spotStrategy": "NoSpot", "userData": "#!/bin/sh\necho one\n"}},
		{token: cloud.InstanceToken, name: "node2", in: map[string]any{"availabilityZone": "cn-hangzhou-i", "vswitchId": ref("sw"),
			"securityGroups": []ref{"sg"}, "instanceType": "ecs.g7.large", "imageId": "debian_12_11_x64_20G_alibase_20250701.vhd"}},
		{token: cloud.InstanceToken, name: "node3", in: map[string]any{"availabilityZone": "cn-hangzhou-i", "vswitchId": ref("sw"),
			"securityGroups": []ref{"sg"}, "instanceType": "ecs.g7.large", "imageId": "debian_12_11_x64_20G_alibase_20250701.vhd",
			"keyName": "kp1", "spotStrategy": "NoSpot"}},
		{token: cloud.DiskToken, name: "data", in: map[string]any{"zoneId": "cn-hangzhou-i", "size": 40}},
		{token: cloud.DiskToken, name: "datax", in: map[string]any{"zoneId": "cn-hangzhou-i", "size": 40}},
		{token: cloud.DiskToken, name: "datay", in: map[string]any{"availabilityZone": "cn-hangzhou-i", "size": 40}},
		{token: cloud.DiskToken, name: "dataz", in: map[string]any{"zoneId": "cn-hangzhou-i", "size": 40}},
		{token: cloud.DiskAttachToken, name: "att", in: map[string]any{"diskId": ref("data"), "instanceId": ref("node")}, opts: dbr},
		{token: cloud.EIPToken, name: "eip", in: map[string]any{"internetChargeType": "PayByTraffic", "paymentType": "PayAsYouGo", "isp": "BGP"}},
		{token: cloud.EIPToken, name: "eipx", in: map[string]any{"internetChargeType": "PayByTraffic", "paymentType": "PayAsYouGo", "isp": "BGP"}},
		{token: cloud.EIPToken, name: "eipy", in: map[string]any{"internetChargeType": "PayByTraffic", "paymentType": "PayAsYouGo", "isp": "BGP"}},
		{token: cloud.EIPAssocToken, name: "assoc", in: map[string]any{"allocationId": ref("eip"), "instanceId": ref("node")}, opts: dbr},
	}
}

// ruleChange is one rule's change: on the resource name, set (or with nil,
// remove) the inputs in set.
type ruleChange struct {
	property, resource string
	set                map[string]any
}

// everyRuleChanges has a change for every rule of cloud.Rules: the rule's
// argument, and where the cloud would refuse that alone, what must change
// with it (a zone with its vswitch).
var everyRuleChanges = map[string]ruleChange{
	cloud.DiskToken + " advancedFeatures":                   {"advancedFeatures", "datax", map[string]any{"advancedFeatures": "feature"}},
	cloud.DiskToken + " availabilityZone":                   {"availabilityZone", "datay", map[string]any{"availabilityZone": "cn-hangzhou-j"}},
	cloud.DiskToken + " dedicatedBlockStorageClusterId":     {"dedicatedBlockStorageClusterId", "datax", map[string]any{"dedicatedBlockStorageClusterId": "dbsc-1"}},
	cloud.DiskToken + " encryptAlgorithm":                   {"encryptAlgorithm", "datax", map[string]any{"encryptAlgorithm": "SM4"}},
	cloud.DiskToken + " encrypted":                          {"encrypted", "datax", map[string]any{"encrypted": true}},
	cloud.DiskToken + " kmsKeyId":                           {"kmsKeyId", "datax", map[string]any{"kmsKeyId": "key-1"}},
	cloud.DiskToken + " snapshotId":                         {"snapshotId", "datay", map[string]any{"snapshotId": "s-1"}},
	cloud.DiskToken + " storageSetId":                       {"storageSetId", "datax", map[string]any{"storageSetId": "ss-1"}},
	cloud.DiskToken + " storageSetPartitionNumber":          {"storageSetPartitionNumber", "datax", map[string]any{"storageSetPartitionNumber": 2}},
	cloud.DiskToken + " zoneId":                             {"zoneId", "datax", map[string]any{"zoneId": "cn-hangzhou-j"}},
	cloud.DiskAttachToken + " bootable":                     {"bootable", "att", map[string]any{"bootable": true}},
	cloud.DiskAttachToken + " diskId":                       {"diskId", "att", map[string]any{"diskId": ref("dataz")}},
	cloud.DiskAttachToken + " instanceId":                   {"instanceId", "att", map[string]any{"instanceId": ref("node2")}},
	cloud.DiskAttachToken + " keyPairName":                  {"keyPairName", "att", map[string]any{"keyPairName": "kp1"}},
	cloud.DiskAttachToken + " password":                     {"password", "att", map[string]any{"password": "Attach-Pw-42"}},
	cloud.EIPToken + " instanceChargeType":                  {"instanceChargeType", "eipx", map[string]any{"instanceChargeType": "PostPaid"}},
	cloud.EIPToken + " internetChargeType":                  {"internetChargeType", "eipx", map[string]any{"internetChargeType": "PayByBandwidth"}},
	cloud.EIPToken + " isp":                                 {"isp", "eipx", map[string]any{"isp": "BGP_PRO"}},
	cloud.EIPToken + " paymentType":                         {"paymentType", "eipy", map[string]any{"paymentType": "Subscription"}},
	cloud.EIPAssocToken + " allocationId":                   {"allocationId", "assoc", map[string]any{"allocationId": ref("eipx")}},
	cloud.EIPAssocToken + " instanceId":                     {"instanceId", "assoc", map[string]any{"instanceId": ref("node2")}},
	cloud.EIPAssocToken + " instanceType":                   {"instanceType", "assoc", map[string]any{"instanceType": "EcsInstance"}},
	cloud.EIPAssocToken + " privateIpAddress":               {"privateIpAddress", "assoc", map[string]any{"privateIpAddress": "10.99.1.200"}},
	cloud.InstanceToken + " availabilityZone":               {"availabilityZone", "node3", map[string]any{"availabilityZone": "cn-hangzhou-j", "vswitchId": ref("swj")}},
	cloud.InstanceToken + " dataDisks":                      {"dataDisks", "node3", map[string]any{"dataDisks": []any{map[string]any{"size": 20}}}},
	cloud.InstanceToken + " hostName":                       {"hostName", "node", map[string]any{"hostName": "node-one"}},
	cloud.InstanceToken + " hpcClusterId":                   {"hpcClusterId", "node3", map[string]any{"hpcClusterId": "hpc-1"}},
	cloud.InstanceToken + " imageId":                        {"imageId", "node", map[string]any{"imageId": "debian_12_12_x64_20G_alibase_20251001.vhd"}},
	cloud.InstanceToken + " instanceType":                   {"instanceType", "node", map[string]any{"instanceType": "ecs.g7.xlarge"}},
	cloud.InstanceToken + " keyName":                        {"keyName", "node3", map[string]any{"keyName": "kp2"}},
	cloud.InstanceToken + " kmsEncryptedPassword":           {"kmsEncryptedPassword", "node", map[string]any{"kmsEncryptedPassword": "kms-blob"}},
	cloud.InstanceToken + " password":                       {"password", "node", map[string]any{"password": "Emulated-Pw-43"}},
	cloud.InstanceToken + " privateIp":                      {"privateIp", "node", map[string]any{"privateIp": "10.99.1.100"}},
	cloud.InstanceToken + " roleName":                       {"roleName", "node3", map[string]any{"roleName": "role-1"}},
	cloud.InstanceToken + " securityEnhancementStrategy":    {"securityEnhancementStrategy", "node3", map[string]any{"securityEnhancementStrategy": "Active"}},
	cloud.InstanceToken + " spotPriceLimit":                 {"spotPriceLimit", "node3", map[string]any{"spotPriceLimit": 0.5}},
	cloud.InstanceToken + " spotStrategy":                   {"spotStrategy", "node3", map[string]any{"spotStrategy": "SpotAsPriceGo"}},
	cloud.InstanceToken + " subnetId":                       {"subnetId", "node", map[string]any{"subnetId": ref("sw2"), "vswitchId": nil, "privateIp": nil}},
	cloud.InstanceToken + " systemDiskAutoSnapshotPolicyId": {"systemDiskAutoSnapshotPolicyId", "node3", map[string]any{"systemDiskAutoSnapshotPolicyId": "sp-1"}},
	cloud.InstanceToken + " systemDiskCategory":             {"systemDiskCategory", "node3", map[string]any{"systemDiskCategory": "cloud_ssd"}},
	cloud.InstanceToken + " userData":                       {"userData", "node", map[string]any{"userData": "#!/bin/sh\necho two\n"}},
	cloud.InstanceToken + " vswitchId":                      {"vswitchId", "node", map[string]any{"vswitchId": ref("sw"), "subnetId": nil}},
	cloud.SGToken + " securityGroupType":                    {"securityGroupType", "sgx", map[string]any{"securityGroupType": "enterprise"}},
	cloud.SGToken + " vpcId":                                {"vpcId", "sgx", map[string]any{"vpcId": ref("net2")}},
	cloud.SGRuleToken + " cidrIp":                           {"cidrIp", "rule", map[string]any{"cidrIp": "10.99.1.0/24"}},
	cloud.SGRuleToken + " ipProtocol":                       {"ipProtocol", "rule", map[string]any{"ipProtocol": "udp"}},
	cloud.SGRuleToken + " nicType":                          {"nicType", "rule", map[string]any{"nicType": "intranet"}},
	cloud.SGRuleToken + " policy":                           {"policy", "rule", map[string]any{"policy": "drop"}},
	cloud.SGRuleToken + " portRange":                        {"portRange", "rule", map[string]any{"portRange": "2222/2222"}},
	cloud.SGRuleToken + " priority":                         {"priority", "rule", map[string]any{"priority": 2}},
	cloud.SGRuleToken + " securityGroupId":                  {"securityGroupId", "rule", map[string]any{"securityGroupId": ref("sg")}},
	cloud.SGRuleToken + " sourceGroupOwnerAccount":          {"sourceGroupOwnerAccount", "rule", map[string]any{"sourceGroupOwnerAccount": "1234567890"}},
	cloud.SGRuleToken + " sourceSecurityGroupId":            {"sourceSecurityGroupId", "rule", map[string]any{"sourceSecurityGroupId": ref("sgx"), "cidrIp": nil}},
	cloud.SGRuleToken + " type":                             {"type", "rule", map[string]any{"type": "egress"}},
	cloud.NetworkToken + " dryRun":                          {"dryRun", "net2", map[string]any{"dryRun": false}},
	cloud.NetworkToken + " userCidrs":                       {"userCidrs", "net2", map[string]any{"userCidrs": []any{"192.168.0.0/16"}}},
	cloud.SwitchToken + " availabilityZone":                 {"availabilityZone", "swy", map[string]any{"availabilityZone": "cn-hangzhou-k"}},
	cloud.SwitchToken + " cidrBlock":                        {"cidrBlock", "swx", map[string]any{"cidrBlock": "10.99.5.0/24"}},
	cloud.SwitchToken + " ipv6CidrBlock":                    {"ipv6CidrBlock", "swx", map[string]any{"ipv6CidrBlock": 1}},
	cloud.SwitchToken + " vpcId":                            {"vpcId", "swx", map[string]any{"vpcId": ref("net2"), "cidrBlock": "10.98.5.0/24"}},
	cloud.SwitchToken + " zoneId":                           {"zoneId", "swx", map[string]any{"zoneId": "cn-hangzhou-j"}},
}

// Every rule of the emulated cloud (cloud.Rules), its argument changed
// through the real engine on a recording backend: a ForceNew argument
// makes the engine replace the resource (a new instance for an instance),
// a stop/start one updates it in place and boots the instance anew.
func TestEveryCloudRuleThroughTheEngine(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	eng := newEngine(t, tmp)
	eng.build(t, "pulumi-resource-alicloud", "internal/testkit/cloud/shim")
	eng.ambient()
	rec := cloud.NewRecorder()
	c := &cloud.Cloud{Region: "cn-hangzhou", Zones: []string{"cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"},
		ImageID: "debian_12_11_x64_20G_alibase_20250701.vhd", PublicPool: netip.MustParsePrefix("198.51.100.0/27"),
		KeyPairs: map[string]string{"kp1": "ssh-ed25519 AAAA kp1", "kp2": "ssh-ed25519 AAAA kp2"}, Backend: rec}
	eng.env[cloud.SocketEnv] = c.Serve(t, tmp)

	res := everyRuleResources()
	st := eng.stack(ctx, t, "every-rule", func(pctx *pulumi.Context) error { return rawProgram(res)(pctx) }, nil)
	if err := st.SetConfig(ctx, "alicloud:region", auto.ConfigValue{Value: "cn-hangzhou"}); err != nil {
		t.Fatal(err)
	}
	up := func(step string) map[string][]apitype.OpType {
		t.Helper()
		log := collectSteps()
		_, err := st.Up(ctx, optup.SuppressProgress(), optup.EventStreams(log.ch))
		ops := log.result()
		if err != nil {
			t.Fatalf("%s: up: %v", step, err)
		}
		return ops
	}
	up("first up")

	rules := cloud.Rules()
	// Both ways: a rule without a change here, or a change whose rule the
	// cloud no longer has (a rule turned off), fails.
	listed := map[string]bool{}
	for _, r := range rules {
		listed[r.Token+" "+r.Property] = true
	}
	for key := range everyRuleChanges {
		if !listed[key] {
			t.Errorf("%s: the emulated cloud has no such rule any more; terraform-provider-alicloud v1.144.0 has it", key)
		}
	}
	for _, r := range rules {
		key := r.Token + " " + r.Property
		ch, ok := everyRuleChanges[key]
		if !ok {
			t.Errorf("rule %s (%s, %s) has no change in this test", key, r.Effect, r.Cite)
			continue
		}
		var target *raw
		for i := range res {
			if res[i].name == ch.resource {
				target = &res[i]
			}
		}
		before := rec.Snapshot()
		target.in = maps.Clone(target.in)
		for k, v := range ch.set {
			if v == nil {
				delete(target.in, k)
			} else {
				target.in[k] = v
			}
		}
		ops := up(key)
		got := ops[ch.resource]
		after := rec.Snapshot()
		switch r.Effect {
		case "replace":
			if !slices.Contains(got, apitype.OpReplace) {
				t.Errorf("%s (%s): the engine's steps for %s are %v, want replace", key, r.Cite, ch.resource, got)
			}
			if r.Token == cloud.InstanceToken && slices.Equal(before.InstanceIDs(), after.InstanceIDs()) {
				t.Errorf("%s: no new instance", key)
			}
		case "stop-start":
			if !slices.Contains(got, apitype.OpUpdate) || slices.Contains(got, apitype.OpReplace) {
				t.Errorf("%s (%s): the engine's steps for %s are %v, want update", key, r.Cite, ch.resource, got)
			}
			if b, a := before.TotalBoots(), after.TotalBoots(); a != b+1 {
				t.Errorf("%s (%s): %d boots → %d, want the instance stopped and started once", key, r.Cite, b, a)
			}
		}
		t.Logf("step: %s (%s, %s): the engine's steps for %s: %v", key, r.Effect, r.Cite, ch.resource, got)
	}
	t.Logf("verified: all %d rules of the emulated cloud, each through the engine", len(rules))
}
