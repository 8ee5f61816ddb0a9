package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-alicloud/sdk/v3/go/alicloud/ecs"
	"github.com/pulumi/pulumi-alicloud/sdk/v3/go/alicloud/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/internal/testkit/cloud"
)

// ruleProgram is a small program of every resource natsnest uses, each
// setting taken from knobs so that a test changes exactly one.
type knobs map[string]string

func ruleProgram(k knobs) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		net, err := vpc.NewNetwork(ctx, "net", &vpc.NetworkArgs{CidrBlock: pulumi.String(k["vpc.cidrBlock"]), Description: pulumi.String(k["vpc.description"])})
		if err != nil {
			return err
		}
		sw, err := vpc.NewSwitch(ctx, "sw", &vpc.SwitchArgs{VpcId: net.ID(), ZoneId: pulumi.String("cn-hangzhou-i"), CidrBlock: pulumi.String(k["vsw.cidrBlock"])})
		if err != nil {
			return err
		}
		sg, err := ecs.NewSecurityGroup(ctx, "sg", &ecs.SecurityGroupArgs{VpcId: net.ID(), InnerAccessPolicy: pulumi.String(k["sg.innerAccessPolicy"])})
		if err != nil {
			return err
		}
		if _, err := ecs.NewSecurityGroupRule(ctx, "ssh", &ecs.SecurityGroupRuleArgs{
			Type: pulumi.String("ingress"), IpProtocol: pulumi.String("tcp"), NicType: pulumi.String("intranet"),
			PortRange: pulumi.String(k["rule.portRange"]), CidrIp: pulumi.String(k["vpc.cidrBlock"]), SecurityGroupId: sg.ID(),
			Description: pulumi.String(k["rule.description"]),
		}); err != nil {
			return err
		}
		inst, err := ecs.NewInstance(ctx, "node", &ecs.InstanceArgs{
			AvailabilityZone: pulumi.String("cn-hangzhou-i"), VswitchId: sw.ID(), SecurityGroups: pulumi.StringArray{sg.ID()},
			InstanceType: pulumi.String(k["instance.instanceType"]), ImageId: pulumi.String(k["instance.imageId"]),
			SystemDiskCategory: pulumi.String(k["instance.systemDiskCategory"]), HostName: pulumi.String(k["instance.hostName"]),
			UserData: pulumi.String(k["instance.userData"]), Description: pulumi.String(k["instance.description"]),
			Password: pulumi.ToSecret(pulumi.String("Emulated-Pw-42")).(pulumi.StringOutput),
		})
		if err != nil {
			return err
		}
		disk, err := ecs.NewEcsDisk(ctx, "data", &ecs.EcsDiskArgs{ZoneId: pulumi.String("cn-hangzhou-i"),
			Size: pulumi.Int(atoi(k["disk.size"])), Category: pulumi.String(k["disk.category"])})
		if err != nil {
			return err
		}
		if _, err := ecs.NewEcsDiskAttachment(ctx, "data-attach", &ecs.EcsDiskAttachmentArgs{DiskId: disk.ID(), InstanceId: inst.ID()},
			pulumi.DeleteBeforeReplace(true)); err != nil {
			return err
		}
		eip, err := ecs.NewEipAddress(ctx, "eip", &ecs.EipAddressArgs{InternetChargeType: pulumi.String(k["eip.internetChargeType"]), PaymentType: pulumi.String("PayAsYouGo")})
		if err != nil {
			return err
		}
		if _, err := ecs.NewEipAssociation(ctx, "eip-assoc", &ecs.EipAssociationArgs{AllocationId: eip.ID(), InstanceId: inst.ID()},
			pulumi.DeleteBeforeReplace(true)); err != nil {
			return err
		}
		ctx.Export("instanceId", inst.ID())
		ctx.Export("diskId", disk.ID())
		ctx.Export("eip", eip.IpAddress)
		return nil
	}
}

func atoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

var baseKnobs = knobs{
	"vpc.cidrBlock": "10.99.0.0/16", "vpc.description": "rules", "vsw.cidrBlock": "10.99.1.0/24", "sg.innerAccessPolicy": "Drop",
	"rule.portRange": "22/22", "rule.description": "ssh", "instance.instanceType": "ecs.g7.large",
	"instance.imageId": "debian_12_11_x64_20G_alibase_20250701.vhd", "instance.systemDiskCategory": "cloud_essd",
	"instance.hostName": "node-1", "instance.userData": "#!/bin/sh\necho one >/root/user-data-ran\n", "instance.description": "first",
	"disk.size": "40", "disk.category": "cloud_essd", "eip.internetChargeType": "PayByTraffic",
}

// effects is what a test can see of the cloud's backend.
type effects interface {
	// boot identifies the instance's current boot ("" when it is gone).
	boot(t *testing.T, inst string) string
	exists(inst string) bool
	diskOn(disk string) string
	eipOn(t *testing.T, addr string) string
}

type recorderEffects struct{ r *cloud.Recorder }

func (e recorderEffects) boot(t *testing.T, inst string) string {
	if i := e.r.Instance(inst); i != nil && i.Running {
		return fmt.Sprint(i.Boots)
	}
	return ""
}
func (e recorderEffects) exists(inst string) bool                { return e.r.Instance(inst) != nil }
func (e recorderEffects) diskOn(disk string) string              { return e.r.DiskOn(disk) }
func (e recorderEffects) eipOn(t *testing.T, addr string) string { return e.r.EIPOn(addr) }

// Each rule of the emulated cloud, one argument changed at a time through
// the real engine, with a backend that only records: fast, and no root.
func TestCloudRulesThroughTheEngine(t *testing.T) {
	rec := cloud.NewRecorder()
	runCloudRules(t, rec, recorderEffects{rec}, baseKnobs, nil)
}

// runCloudRules changes each rule's argument through the real engine and
// checks the engine's step for the resource that changed (from the
// provider's Diff, as the real provider's schema decides it) and what
// happened to the instance: a new boot for a stop and start, a new
// instance for a replacement, nothing otherwise.
func runCloudRules(t *testing.T, backend cloud.Backend, fx effects, base knobs, firstUp func(t *testing.T, out auto.OutputMap)) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	eng := newEngine(t, tmp)
	eng.build(t, "pulumi-resource-alicloud", "internal/testkit/cloud/shim")
	eng.ambient()
	c := &cloud.Cloud{Region: "cn-hangzhou", Zones: []string{"cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"},
		ImageID: base["instance.imageId"], PublicPool: netip.MustParsePrefix("198.51.100.0/28"), Backend: backend}
	eng.env[cloud.SocketEnv] = c.Serve(t, tmp)

	k := knobs{}
	for key, v := range base {
		k[key] = v
	}
	st := eng.stack(ctx, t, "cloud-rules", func(pctx *pulumi.Context) error { return ruleProgram(k)(pctx) }, nil)
	if err := st.SetConfig(ctx, "alicloud:region", auto.ConfigValue{Value: "cn-hangzhou"}); err != nil {
		t.Fatal(err)
	}
	up := func(step string) (map[string][]apitype.OpType, auto.OutputMap) {
		t.Helper()
		log := collectSteps()
		res, err := st.Up(ctx, optup.SuppressProgress(), optup.EventStreams(log.ch))
		ops := log.result()
		if err != nil {
			t.Fatalf("%s: up: %v", step, err)
		}
		return ops, res.Outputs
	}
	ops, out := up("first up")
	for _, name := range []string{"net", "sw", "sg", "ssh", "node", "data", "data-attach", "eip", "eip-assoc"} {
		if !slices.Contains(ops[name], apitype.OpCreate) {
			t.Errorf("first up: %s: %v, want create", name, ops[name])
		}
	}
	inst := out["instanceId"].Value.(string)
	if !strings.HasPrefix(inst, "i-") || !fx.exists(inst) || fx.diskOn(out["diskId"].Value.(string)) != inst ||
		fx.eipOn(t, out["eip"].Value.(string)) != inst {
		t.Fatalf("first up: instance %s, disk on %q, EIP on %q", inst, fx.diskOn(out["diskId"].Value.(string)), fx.eipOn(t, out["eip"].Value.(string)))
	}
	if firstUp != nil {
		firstUp(t, out)
	}

	for _, r := range []struct {
		knob, value, resource string
		want                  apitype.OpType
		effect                string // "restart", "new instance", "none"
		rule                  string
	}{
		{"instance.hostName", "node-one", "node", apitype.OpUpdate, "restart", "host_name: reboot, instance.go:1555-1559"},
		{"instance.userData", "#!/bin/sh\necho two >/root/user-data-ran\n", "node", apitype.OpUpdate, "restart", "user_data: reboot, instance.go:1541-1552"},
		{"instance.instanceType", "ecs.g7.xlarge", "node", apitype.OpUpdate, "restart", "instance_type: stop, ModifyInstanceSpec, start, instance.go:768-887"},
		{"instance.imageId", "debian_12_12_x64_20G_alibase_20251001.vhd", "node", apitype.OpUpdate, "restart", "image_id: ReplaceSystemDisk, not ForceNew, instance.go:50, 1462-1466"},
		{"instance.description", "second", "node", apitype.OpUpdate, "none", "description: ModifyInstanceAttribute without reboot, instance.go:1529-1593"},
		{"instance.systemDiskCategory", "cloud_ssd", "node", apitype.OpReplace, "new instance", "system_disk_category: ForceNew, instance.go:151"},
		{"disk.size", "60", "data", apitype.OpUpdate, "none", "size: ResizeDisk in place, ecs_disk.go:331-365"},
		{"disk.category", "cloud_ssd", "data", apitype.OpUpdate, "none", "category: ModifyDiskSpec in place, ecs_disk.go:35, 400-438"},
		{"rule.description", "ssh from the VPC", "ssh", apitype.OpUpdate, "none", "description: the rule's one updatable field, security_group_rule.go:102"},
		{"rule.portRange", "2222/2222", "ssh", apitype.OpReplace, "none", "port_range: ForceNew, security_group_rule.go:61"},
		{"sg.innerAccessPolicy", "Accept", "sg", apitype.OpUpdate, "none", "inner_access_policy: ModifySecurityGroupPolicy, security_group.go:62"},
		{"vpc.description", "rules, again", "net", apitype.OpUpdate, "none", "description: in place, vpc.go:37"},
		{"eip.internetChargeType", "PayByBandwidth", "eip", apitype.OpReplace, "none", "internet_charge_type: ForceNew, eip_address.go:69"},
	} {
		before := fx.boot(t, inst)
		k[r.knob] = r.value
		ops, out := up(r.knob)
		got := ops[r.resource]
		t.Logf("step: %s → %q (%s): the engine's steps for %s: %v", r.knob, r.value, r.rule, r.resource, got)
		if !slices.Contains(got, r.want) {
			t.Errorf("%s: the engine's steps for %s are %v, want %s (%s)", r.knob, r.resource, got, r.want, r.rule)
		}
		now := out["instanceId"].Value.(string)
		switch r.effect {
		case "restart":
			if after := fx.boot(t, now); now != inst || after == "" || after == before {
				t.Errorf("%s: instance %s → %s, boot %q → %q, want the same instance booted anew and running", r.knob, inst, now, before, after)
			}
		case "new instance":
			if now == inst || fx.exists(inst) || !fx.exists(now) {
				t.Errorf("%s: instance %s → %s, want a new instance and the old one released", r.knob, inst, now)
			}
			if d := out["diskId"].Value.(string); fx.diskOn(d) != now {
				t.Errorf("%s: the data disk is on %q, want the new instance %s", r.knob, fx.diskOn(d), now)
			}
		case "none":
			if after := fx.boot(t, now); now != inst || after != before {
				t.Errorf("%s: instance %s → %s, boot %q → %q, want it untouched", r.knob, inst, now, before, after)
			}
		}
		if got := fx.eipOn(t, out["eip"].Value.(string)); got != now {
			t.Errorf("%s: the EIP reaches %q, want %s", r.knob, got, now)
		}
		inst = now
	}

	// Input the real provider refuses fails the preview, naming the field.
	k["instance.instanceType"] = "g7.large"
	_, err := st.Preview(ctx, optpreview.SuppressProgress())
	if err == nil || !strings.Contains(err.Error(), "prefix must be 'ecs.'") {
		t.Errorf("preview with instanceType g7.large: %v, want the provider's validation (instance.go:55)", err)
	}
	k["instance.instanceType"] = "ecs.g7.large"
	t.Logf("cloud events:\n  %s", strings.Join(c.Events(), "\n  "))
}
