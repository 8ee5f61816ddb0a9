package natsnest_test

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/internal/testkit/testpki"
	"github.com/natsnest/pulumi-natsnest/natsnest"
)

const (
	testInstancePassword = "Instance-Pw-42"
	testAdminPassword    = "Admin-password-0123456789"
	testStackSecret      = "stack-secret-0123456789"
	testAppPassword      = "app-password-0123"
)

// validClusterArgs are the smallest valid arguments: one zone, a password,
// an admin password, a stack secret and one application user, in a new VPC
// that provisioning reaches over the nodes' EIPs from the deploying
// machine's address, as the stacks do.
func validClusterArgs() *natsnest.ClusterArgs {
	return &natsnest.ClusterArgs{
		ServerOptions: natsnest.ServerOptions{
			AdminPassword: pulumi.String(testAdminPassword),
			StackSecret:   pulumi.String(testStackSecret),
			Accounts:      []natsnest.Account{{Users: []natsnest.User{{Name: "app", Password: pulumi.String(testAppPassword)}}}},
		},
		Zones:            []string{"cn-hangzhou-i"},
		InstancePassword: pulumi.String(testInstancePassword),
		PublicAccess:     true,
		SSHCIDR:          testSSHCIDR,
	}
}

// testSSHCIDR is the deploying machine's address in the tests.
const testSSHCIDR = "203.0.113.7/32"

// inExistingVPC moves a to an existing VPC (172.16.0.0/12, one vswitch
// per zone) without public access: the deploying machine sits in the VPC.
func inExistingVPC(a *natsnest.ClusterArgs) *natsnest.ClusterArgs {
	a.PublicAccess, a.SSHCIDR = false, ""
	a.VpcID = pulumi.String("vpc-existing")
	a.VpcCIDR = "172.16.0.0/12"
	a.VSwitchIDs = nil
	for i := range a.Zones {
		a.VSwitchIDs = append(a.VSwitchIDs, pulumi.String(fmt.Sprintf("vsw-existing-%d", i)))
	}
	return a
}

func testPrivateKey(t *testing.T) string { return testpki.SSHPrivateKey(t) }

// deployed is one run of NewCluster under mocks, with its outputs resolved.
type deployed struct {
	mocks   *clusterMocks
	cluster *natsnest.Cluster
	servers *natsnest.ServersArgs // what Cluster handed to NewServers
	outputs map[string]awaited
	urns    map[string]string // resource name → URN of the hosts' DependsOn
}

// deploy runs NewCluster("c", args) under fresh mocks and resolves every output.
func deploy(t *testing.T, args *natsnest.ClusterArgs, tweak ...func(*clusterMocks)) *deployed {
	t.Helper()
	d := &deployed{mocks: newClusterMocks(), outputs: map[string]awaited{}, urns: map[string]string{}}
	for _, f := range tweak {
		f(d.mocks)
	}
	stubBuild(t)
	orig := (*natsnest.TestNewServers)
	t.Cleanup(func() { (*natsnest.TestNewServers) = orig })
	(*natsnest.TestNewServers) = func(ctx *pulumi.Context, name string, sa *natsnest.ServersArgs, opts ...pulumi.ResourceOption) (*natsnest.Servers, error) {
		d.servers = sa
		return orig(ctx, name, sa, opts...)
	}
	err := runWithMocks(d.mocks, func(ctx *pulumi.Context) error {
		c, err := natsnest.NewCluster(ctx, "c", args)
		if err != nil {
			return err
		}
		d.cluster = c
		for k, o := range map[string]pulumi.Output{
			"privateEndpoint": c.PrivateEndpoint, "publicEndpoint": c.PublicEndpoint,
			"nodes": c.Nodes, "nodeNames": c.NodeNames, "instanceIds": c.InstanceIDs,
			"privateIps": c.PrivateIPs, "publicIps": c.PublicIPs, "monitoringUrls": c.MonitoringURLs,
			"clusterName": c.ClusterName, "natsContext": c.NatsContext, "vpcId": c.VpcID, "imageId": c.ImageID,
			"vswitchIds": c.VSwitchIDs, "securityGroupId": c.SecurityGroupID,
		} {
			d.outputs[k] = await(t, o)
		}
		for _, h := range d.servers.Hosts {
			for _, dep := range h.DependsOn {
				urn := await(t, dep.URN()).Value.(pulumi.URN)
				d.urns[string(urn)] = string(urn)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("NewCluster: %v", err)
	}
	return d
}

func countTypes(regs []clusterReg) map[string]int {
	n := map[string]int{}
	for _, r := range regs {
		n[r.Type]++
	}
	return n
}

func TestClusterResourceCounts(t *testing.T) {
	for _, nodes := range []int{1, 3, 11} {
		for _, public := range []bool{false, true} {
			for _, existing := range []bool{false, true} {
				if !public && !existing {
					continue // unreachable, refused (TestValidateTable)
				}
				t.Run(fmt.Sprintf("nodes=%d/public=%v/existingVPC=%v", nodes, public, existing), func(t *testing.T) {
					args := validClusterArgs()
					args.NodeCount = nodes
					args.PublicAccess = public
					args.SSHCIDR = "203.0.113.7/32"
					zones := min(nodes, 3)
					args.Zones = []string{"cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"}[:zones]
					if existing {
						args.VpcID = pulumi.String("vpc-existing")
						args.VpcCIDR = "10.0.0.0/16"
						for i := range zones {
							args.VSwitchIDs = append(args.VSwitchIDs, pulumi.String(fmt.Sprintf("vsw-existing-%d", i)))
						}
					}
					d := deploy(t, args)
					got := countTypes(d.mocks.registrations())
					eips, vpcs, vsws, routes := 0, 1, zones, 0
					if public {
						eips = nodes
					}
					if existing {
						vpcs, vsws = 0, 0
					}
					if nodes > 1 {
						routes = 2 // routes, and clients between members
					}
					want := map[string]int{
						natsnest.ClusterType: 1, tServers: 1,
						tNetwork: vpcs, tSwitch: vsws, tSG: 1,
						tRule:     1 + routes + 1 + 1, // clients (the VPC CIDR), routes, monitoring, ssh
						tInstance: nodes, tDisk: nodes, tAttachment: nodes,
						tEIP: eips, tEIPAssoc: eips,
					}
					for typ, n := range want {
						if got[typ] != n {
							t.Errorf("%s: got %d, want %d", typ, got[typ], n)
						}
					}
					for typ, n := range got {
						if _, ok := want[typ]; !ok && !strings.HasPrefix(typ, "command:") && !strings.HasPrefix(typ, "natsnest:") {
							t.Errorf("unexpected resource type %s (%d)", typ, n)
						}
					}
				})
			}
		}
	}
}

func TestClusterSecurityGroupRules(t *testing.T) {
	args := validClusterArgs()
	args.AllowedClientCIDRs = []string{"172.16.0.0/12", "0.0.0.0/0"}
	args.SSHCIDR = "203.0.113.7/32"
	d := deploy(t, args)

	sg := d.mocks.byName(t, "c-sg")
	if got := str(sg.Inputs, "innerAccessPolicy"); got != "Drop" {
		t.Errorf("innerAccessPolicy = %q, want Drop: members must reach each other only through the rules", got)
	}
	if got := str(sg.Inputs, "vpcId"); got != "vpc-c-vpc" {
		t.Errorf("vpcId = %q", got)
	}
	type rule struct{ port, cidr, sourceGroup, description string }
	want := map[string]rule{
		"c-sg-client-172-16-0-0-12": {"4222/4222", "172.16.0.0/12", "", "NATS clients from 172.16.0.0/12"},
		"c-sg-client-0-0-0-0-0":     {"4222/4222", "0.0.0.0/0", "", "NATS clients from 0.0.0.0/0"},
		"c-sg-routes":               {"4248/4248", "", "sg-c-sg", "NATS cluster routes between members of this group only"},
		"c-sg-client-members":       {"4222/4222", "", "sg-c-sg", "NATS clients between members of this group"},
		"c-sg-monitoring":           {"8222/8222", "172.16.0.0/12", "", "NATS monitoring from 172.16.0.0/12"},
		"c-sg-ssh":                  {"22/22", "203.0.113.7/32", "", "SSH for provisioning from 203.0.113.7/32"},
	}
	rules := d.mocks.ofType(tRule)
	if len(rules) != len(want) {
		t.Fatalf("%d rules, want %d", len(rules), len(want))
	}
	for _, r := range rules {
		w, ok := want[r.Name]
		if !ok {
			t.Errorf("unexpected rule %s", r.Name)
			continue
		}
		got := rule{str(r.Inputs, "portRange"), str(r.Inputs, "cidrIp"), str(r.Inputs, "sourceSecurityGroupId"), str(r.Inputs, "description")}
		if got != w {
			t.Errorf("%s: got %+v, want %+v", r.Name, got, w)
		}
		for k, v := range map[resource.PropertyKey]string{
			"type": "ingress", "ipProtocol": "tcp", "nicType": "intranet", "policy": "accept", "securityGroupId": "sg-c-sg",
		} {
			if got := str(r.Inputs, k); got != v {
				t.Errorf("%s: %s = %q, want %q", r.Name, k, got, v)
			}
		}
	}
}

func TestClusterClientAccessDefaultsToVPCOnly(t *testing.T) {
	args := inExistingVPC(validClusterArgs())
	args.NodeCount = 1
	d := deploy(t, args)
	var sources []string
	for _, r := range d.mocks.ofType(tRule) {
		sources = append(sources, str(r.Inputs, "portRange")+" "+str(r.Inputs, "cidrIp")+str(r.Inputs, "sourceSecurityGroupId"))
	}
	slices.Sort(sources)
	want := []string{"22/22 172.16.0.0/12", "4222/4222 172.16.0.0/12", "8222/8222 172.16.0.0/12"}
	if !slices.Equal(sources, want) {
		t.Errorf("rules %q, want %q (a single node has no route rule; nothing is open to the internet)", sources, want)
	}
}

func TestClusterInstanceProperties(t *testing.T) {
	args := validClusterArgs()
	args.NodeCount = 5
	args.Zones = []string{"cn-hangzhou-i", "cn-hangzhou-j"}
	d := deploy(t, args)

	wantZones := []string{"cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-i"}
	for i := range 5 {
		node := fmt.Sprintf("nats-%d", i+1)
		inst := d.mocks.byName(t, "c-"+node)
		zone := wantZones[i]
		for k, v := range map[resource.PropertyKey]string{
			"hostName": node, "instanceName": "c-" + node, "availabilityZone": zone,
			"vswitchId": "vsw-c-vsw-" + zone, "instanceType": "ecs.g7.large",
			"imageId": d.mocks.ImageID, "systemDiskCategory": "cloud_essd", "systemDiskSize": "40",
			"instanceChargeType": "PostPaid", "includeDataDisks": "false",
		} {
			if got := str(inst.Inputs, k); got != v {
				t.Errorf("%s: %s = %q, want %q", inst.Name, k, got, v)
			}
		}
		if sgs := inst.Inputs["securityGroups"]; !sgs.IsArray() || len(sgs.ArrayValue()) != 1 || sgs.ArrayValue()[0].StringValue() != "sg-c-sg" {
			t.Errorf("%s: securityGroups = %v", inst.Name, sgs)
		}
		if pw := inst.Inputs["password"]; !pw.IsSecret() || pw.SecretValue().Element.StringValue() != testInstancePassword {
			t.Errorf("%s: password must be the instance password, as a secret; got %v", inst.Name, pw)
		}
		for _, k := range []resource.PropertyKey{"dataDisks", "period", "forceDelete", "keyName", "internetMaxBandwidthOut", "renewalStatus", "autoRenewPeriod"} {
			if _, ok := inst.Inputs[k]; ok {
				t.Errorf("%s: %s must not be set", inst.Name, k)
			}
		}
		if !inst.DeleteBeforeReplace || !slices.Contains(inst.IgnoreChanges, "imageId") {
			t.Errorf("%s: deleteBeforeReplace=%v ignoreChanges=%v", inst.Name, inst.DeleteBeforeReplace, inst.IgnoreChanges)
		}

		disk := d.mocks.byName(t, "c-"+node+"-data")
		for k, v := range map[resource.PropertyKey]string{
			"zoneId": zone, "category": "cloud_essd", "size": "40", "deleteWithInstance": "false", "paymentType": "PayAsYouGo",
			"type": "online",
		} {
			if got := str(disk.Inputs, k); got != v {
				t.Errorf("%s: %s = %q, want %q", disk.Name, k, got, v)
			}
		}
		if !disk.RetainOnDelete {
			t.Errorf("%s: the data disk must be retained on delete by default", disk.Name)
		}
		att := d.mocks.byName(t, "c-"+node+"-data-attach")
		if str(att.Inputs, "diskId") != "d-c-"+node+"-data" || str(att.Inputs, "instanceId") != "i-c-"+node ||
			str(att.Inputs, "deleteWithInstance") != "false" || !att.DeleteBeforeReplace {
			t.Errorf("%s: %v dbr=%v", att.Name, att.Inputs, att.DeleteBeforeReplace)
		}
	}
	if got := d.servers.ServerOptions.MaxFileStore; got != 40<<30*9/10 {
		t.Errorf("MaxFileStore = %d, want 90%% of 40 GiB", got)
	}
}

func TestClusterSubscriptionAndKeyPair(t *testing.T) {
	args := validClusterArgs()
	args.NodeCount = 1
	args.ChargeType = natsnest.ChargePrePaid
	args.Period = 12
	args.InstancePassword = pulumi.String("")
	args.KeyPairName = "deploy-key"
	args.SSHPrivateKey = pulumi.String(testPrivateKey(t))
	args.DeleteDataDisksOnDestroy = true
	d := deploy(t, args)
	inst := d.mocks.byName(t, "c-nats-1")
	for k, v := range map[resource.PropertyKey]string{
		"instanceChargeType": "PrePaid", "period": "12", "periodUnit": "Month", "forceDelete": "true", "keyName": "deploy-key",
		// Nodes bought together expire together: renewed automatically.
		"renewalStatus": "AutoRenewal", "autoRenewPeriod": "1",
		// A charge type change never converts the separately bought data disk.
		"includeDataDisks": "false",
	} {
		if got := str(inst.Inputs, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	args.RenewalStatus = natsnest.RenewalNormal
	inst = deploy(t, args).mocks.byName(t, "c-nats-1")
	if got, ok := inst.Inputs["autoRenewPeriod"]; str(inst.Inputs, "renewalStatus") != "Normal" || ok {
		t.Errorf("RenewalNormal: renewalStatus %q, autoRenewPeriod %v", str(inst.Inputs, "renewalStatus"), got)
	}
	if _, ok := inst.Inputs["password"]; ok {
		t.Error("no password was given, none must be set")
	}
	if d.mocks.byName(t, "c-nats-1-data").RetainOnDelete {
		t.Error("DeleteDataDisksOnDestroy: the disk must not be retained")
	}
	if d.servers.SSH.PrivateKey == nil || d.servers.SSH.Password != nil {
		t.Error("provisioning must log in with the private key")
	}
}

func TestClusterTagsOnEveryTaggableResource(t *testing.T) {
	args := validClusterArgs()
	args.PublicAccess = true
	args.SSHCIDR = "203.0.113.7/32"
	args.ResourceTags = map[string]string{"team": "messaging", "env": "prod"}
	d := deploy(t, args)
	want := resource.NewObjectProperty(resource.PropertyMap{"team": resource.NewProperty("messaging"), "env": resource.NewProperty("prod")})
	taggable := map[string][]resource.PropertyKey{
		tNetwork: {"tags"}, tSwitch: {"tags"}, tSG: {"tags"}, tInstance: {"tags"}, tDisk: {"tags"}, tEIP: {"tags"},
	}
	seen := 0
	for _, r := range d.mocks.registrations() {
		// volumeTags would tag every disk attached to the instance, the
		// data disk that an ecs.EcsDisk owns included: two owners, one tag set.
		if _, ok := r.Inputs["volumeTags"]; ok {
			t.Errorf("%s %s sets volumeTags", r.Type, r.Name)
		}
		for _, k := range taggable[r.Type] {
			seen++
			if got := r.Inputs[k]; !got.DeepEquals(want) {
				t.Errorf("%s %s: %s = %v, want %v", r.Type, r.Name, k, got, want)
			}
		}
	}
	if want := 1 + 1 + 1 + 3 + 3 + 3; seen != want {
		t.Errorf("checked %d tag properties, want %d", seen, want)
	}
}

// TestClusterSecretsStaySecret walks every input of every registered
// resource: no plain string may contain a password, the stack secret, the
// route password or the SSH key, and the instance password is there as a secret.
func TestClusterSecretsStaySecret(t *testing.T) {
	key := testPrivateKey(t)
	for _, withKey := range []bool{false, true} {
		t.Run(fmt.Sprintf("key=%v", withKey), func(t *testing.T) {
			args := validClusterArgs()
			if withKey {
				args.KeyPairName, args.SSHPrivateKey = "deploy-key", pulumi.String(key)
			}
			d := deploy(t, args)
			secrets := map[string]string{
				"instance password": testInstancePassword, "admin password": testAdminPassword,
				"stack secret": testStackSecret, "application password": testAppPassword,
				"route password": natsnest.RoutePassword(testStackSecret), "ssh key": strings.TrimSpace(strings.Split(key, "\n")[1]),
			}
			foundSecretPassword := false
			for _, r := range d.mocks.registrations() {
				walkPlain(resource.NewObjectProperty(r.Inputs), func(path, s string) {
					for what, v := range secrets {
						if strings.Contains(s, v) {
							t.Errorf("%s %s: the %s is in plain input %s", r.Type, r.Name, what, path)
						}
					}
				})
				if pw, ok := r.Inputs["password"]; ok && r.Type == tInstance && pw.IsSecret() {
					foundSecretPassword = true
				}
			}
			if !foundSecretPassword {
				t.Error("the instance password was not registered as a secret")
			}
			if !d.outputs["natsContext"].Secret {
				t.Error("natsContext must be a secret output")
			}
		})
	}
}

// walkPlain calls f with every string in v that is not inside a secret.
func walkPlain(v resource.PropertyValue, f func(path, s string)) {
	var walk func(path string, v resource.PropertyValue)
	walk = func(path string, v resource.PropertyValue) {
		switch {
		case v.IsSecret():
		case v.IsString():
			f(path, v.StringValue())
		case v.IsArray():
			for i, e := range v.ArrayValue() {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case v.IsObject():
			for k, e := range v.ObjectValue() {
				walk(path+"."+string(k), e)
			}
		case v.IsComputed(), v.IsOutput():
			if v.IsOutput() && !v.OutputValue().Secret {
				walk(path, v.OutputValue().Element)
			}
		}
	}
	walk("", v)
}

// TestClusterParentsAndNames: every resource hangs under the Cluster (the
// provisioning ones through Servers) and is named after it.
func TestClusterParentsAndNames(t *testing.T) {
	args := validClusterArgs()
	args.PublicAccess = true
	args.SSHCIDR = "203.0.113.7/32"
	d := deploy(t, args)
	urnOf := map[string]string{}
	clusterURN := string(resource.NewURN("test", "natsnest", "", natsnest.ClusterType, "c"))
	for _, r := range d.mocks.registrations() {
		if r.Type == natsnest.ClusterType {
			if r.Parent != "" && resource.URN(r.Parent).Type() != "pulumi:pulumi:Stack" {
				t.Errorf("the cluster's parent is %s", r.Parent)
			}
			continue
		}
		if !strings.HasPrefix(r.Name, "c-") {
			t.Errorf("%s %s: name must start with the cluster's name", r.Type, r.Name)
		}
		urnOf[r.Name] = r.Parent
		p := resource.URN(r.Parent)
		if r.Parent == "" {
			t.Errorf("%s %s has no parent", r.Type, r.Name)
			continue
		}
		if strings.HasPrefix(r.Type, "alicloud:") || r.Type == tServers {
			if string(p) != clusterURN {
				t.Errorf("%s %s: parent %s, want the cluster %s", r.Type, r.Name, p, clusterURN)
			}
		} else if p.Type() != tServers && p.Type() != natsnest.ClusterType && !strings.HasPrefix(string(p.Type()), "natsnest:") &&
			!strings.HasPrefix(string(p.Type()), "command:") {
			t.Errorf("%s %s: parent %s is outside the cluster", r.Type, r.Name, p)
		}
	}
}

func TestClusterOutputs(t *testing.T) {
	t.Run("private", func(t *testing.T) {
		d := deploy(t, inExistingVPC(validClusterArgs()))
		ip1, ip2, ip3 := mockPrivateIP(1), mockPrivateIP(2), mockPrivateIP(3)
		want := map[string]any{
			"privateEndpoint": fmt.Sprintf("nats://%s:4222,nats://%s:4222,nats://%s:4222", ip1, ip2, ip3),
			"publicEndpoint":  "",
			"nodeNames":       []string{"nats-1", "nats-2", "nats-3"},
			"instanceIds":     []string{"i-c-nats-1", "i-c-nats-2", "i-c-nats-3"},
			"privateIps":      []string{ip1, ip2, ip3},
			"publicIps":       []string{"", "", ""},
			"monitoringUrls":  []string{"http://" + ip1 + ":8222", "http://" + ip2 + ":8222", "http://" + ip3 + ":8222"},
			"clusterName":     "C1",
			"imageId":         "debian_12_11_x64_20G_alibase_20250701.vhd",
			"vpcId":           "vpc-existing",
			"vswitchIds":      []string{"vsw-existing-0"},
			"securityGroupId": "sg-c-sg",
		}
		checkOutputs(t, d, want)
		if got := d.outputs["privateEndpoint"].Value; got != "nats://172.16.0.11:4222,nats://172.16.0.12:4222,nats://172.16.0.13:4222" {
			t.Errorf("privateEndpoint = %q", got)
		}
		nodes := d.outputs["nodes"].Value.([]map[string]any)
		if len(nodes) != 3 {
			t.Fatalf("nodes = %v", nodes)
		}
		for i, n := range nodes {
			want := map[string]any{"name": fmt.Sprintf("nats-%d", i+1), "zone": "cn-hangzhou-i",
				"instanceId": fmt.Sprintf("i-c-nats-%d", i+1), "imageId": "debian_12_11_x64_20G_alibase_20250701.vhd",
				"privateIp": mockPrivateIP(i + 1), "publicIp": ""}
			if !reflect.DeepEqual(n, want) {
				t.Errorf("nodes[%d] = %v, want %v", i, n, want)
			}
		}
	})
	t.Run("public", func(t *testing.T) {
		d := deploy(t, validClusterArgs())
		checkOutputs(t, d, map[string]any{
			"publicEndpoint": "nats://47.0.0.1:4222,nats://47.0.0.2:4222,nats://47.0.0.3:4222",
			"publicIps":      []string{"47.0.0.1", "47.0.0.2", "47.0.0.3"},
			"vpcId":          "vpc-c-vpc",
			"vswitchIds":     []string{"vsw-c-vsw-cn-hangzhou-i"},
		})
	})
}

func checkOutputs(t *testing.T, d *deployed, want map[string]any) {
	t.Helper()
	for k, w := range want {
		if got := d.outputs[k].Value; !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %#v, want %#v", k, got, w)
		}
	}
}

// TestClusterHostsForProvisioning: what Cluster hands to NewServers. SSH may
// start only once the SSH rule exists, the disk is attached and (with EIPs)
// the EIP is associated, not merely allocated.
func TestClusterHostsForProvisioning(t *testing.T) {
	for _, tc := range []struct {
		name            string
		public, bastion bool
		connect         func(n int) string
	}{
		{"private", false, false, mockPrivateIP},
		{"public", true, false, mockPublicIP},
		{"public through a bastion", true, true, mockPrivateIP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := validClusterArgs()
			if !tc.public || tc.bastion {
				// Private addresses are reachable in an existing VPC only.
				inExistingVPC(args)
				args.PublicAccess = tc.public
			}
			if tc.bastion {
				args.Bastion = &natsnest.Bastion{Host: pulumi.String("bastion.example"), Password: pulumi.String("x")}
			}
			d := deploy(t, args)
			sa := d.servers
			if sa.NoAdvertise != tc.public {
				t.Errorf("NoAdvertise = %v, want %v", sa.NoAdvertise, tc.public)
			}
			if sa.SSH.User != "root" || sa.SSH.Password == nil || (sa.SSH.Bastion != nil) != tc.bastion {
				t.Errorf("SSH = %+v", sa.SSH)
			}
			if sa.Binary.Arch != "amd64" {
				t.Errorf("Binary.Arch = %q", sa.Binary.Arch)
			}
			if len(sa.Hosts) != 3 {
				t.Fatalf("%d hosts", len(sa.Hosts))
			}
			for i, h := range sa.Hosts {
				n := i + 1
				if h.Name != fmt.Sprintf("nats-%d", n) || h.Zone != "cn-hangzhou-i" {
					t.Errorf("host %d: %s in %s", n, h.Name, h.Zone)
				}
				deps := map[string]bool{}
				for _, r := range d.mocks.registrations() {
					for u := range d.urns {
						if strings.HasSuffix(u, "::"+r.Name) {
							deps[r.Type+" "+r.Name] = true
						}
					}
				}
				want := []string{tRule + " c-sg-ssh", fmt.Sprintf("%s c-nats-%d-data-attach", tAttachment, n)}
				if tc.public {
					want = append(want, fmt.Sprintf("%s c-nats-%d-eip-assoc", tEIPAssoc, n))
				}
				for _, w := range want {
					if !deps[w] {
						t.Errorf("host %d does not depend on %s (depends on %v)", n, w, deps)
					}
				}
			}
			// Addresses, resolved inside a second identical run.
			got := resolveHosts(t, args)
			for i, h := range got {
				n := i + 1
				if h[0] != tc.connect(n) || h[1] != mockPrivateIP(n) || h[3] != fmt.Sprintf("d-c-nats-%d-data", n) ||
					h[4] != fmt.Sprintf("i-c-nats-%d", n) {
					t.Errorf("host %d: connect/private/public/disk/instance = %q", n, h)
				}
				if wantPub := map[bool]string{true: mockPublicIP(n), false: ""}[tc.public]; h[2] != wantPub {
					t.Errorf("host %d: public address %q, want %q", n, h[2], wantPub)
				}
			}
		})
	}
}

// resolveHosts runs the cluster and resolves every host's Connect,
// PrivateAddress, PublicAddress, DataDiskSerial and InstanceID.
func resolveHosts(t *testing.T, args *natsnest.ClusterArgs) [][5]string {
	t.Helper()
	m := newClusterMocks()
	stubBuild(t)
	orig := (*natsnest.TestNewServers)
	defer func() { (*natsnest.TestNewServers) = orig }()
	var out [][5]string
	(*natsnest.TestNewServers) = func(ctx *pulumi.Context, name string, sa *natsnest.ServersArgs, opts ...pulumi.ResourceOption) (*natsnest.Servers, error) {
		for _, h := range sa.Hosts {
			var r [5]string
			for i, in := range []pulumi.StringInput{h.Connect, h.PrivateAddress, h.PublicAddress, h.DataDiskSerial, h.InstanceID} {
				if in != nil {
					r[i] = await(t, in.ToStringOutput()).Value.(string)
				}
			}
			if h.DataDiskSize == nil || await(t, h.DataDiskSize.ToIntOutput()).Value != 40 {
				t.Errorf("host %s: DataDiskSize must be the disk's 40 GiB, so a resize grows the filesystem", h.Name)
			}
			out = append(out, r)
		}
		return orig(ctx, name, sa, opts...)
	}
	if err := runWithMocks(m, func(ctx *pulumi.Context) error {
		_, err := natsnest.NewCluster(ctx, "c", args)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestClusterImageLookup(t *testing.T) {
	t.Run("default Debian 12", func(t *testing.T) {
		d := deploy(t, validClusterArgs())
		calls := d.mocks.callsTo("alicloud:ecs/getImages:getImages")
		if len(calls) != 1 {
			t.Fatalf("%d image lookups, want 1", len(calls))
		}
		for k, v := range map[resource.PropertyKey]string{
			"nameRegex": natsnest.DefaultImageNameRegexAMD64, "owners": "system", "osType": "linux",
			"instanceType": "ecs.g7.large", "mostRecent": "true",
		} {
			if got := str(calls[0].Args, k); got != v {
				t.Errorf("lookup %s = %q, want %q", k, got, v)
			}
		}
		if got := str(d.mocks.byName(t, "c-nats-1").Inputs, "imageId"); got != d.mocks.ImageID {
			t.Errorf("imageId = %q, want the lookup's %q", got, d.mocks.ImageID)
		}
	})
	t.Run("arm64 instance type", func(t *testing.T) {
		args := validClusterArgs()
		args.InstanceType = "ecs.g8y.large"
		d := deploy(t, args)
		if got := str(d.mocks.callsTo("alicloud:ecs/getImages:getImages")[0].Args, "nameRegex"); got != natsnest.DefaultImageNameRegexARM64 {
			t.Errorf("nameRegex = %q", got)
		}
		if d.servers.Binary.Arch != "arm64" {
			t.Errorf("Binary.Arch = %q, want arm64", d.servers.Binary.Arch)
		}
	})
	t.Run("ImageID overrides the lookup", func(t *testing.T) {
		args := validClusterArgs()
		args.ImageID = "m-pinned"
		d := deploy(t, args)
		if n := len(d.mocks.callsTo("alicloud:ecs/getImages:getImages")); n != 0 {
			t.Errorf("%d image lookups, want none", n)
		}
		if got := str(d.mocks.byName(t, "c-nats-1").Inputs, "imageId"); got != "m-pinned" {
			t.Errorf("imageId = %q", got)
		}
	})
	t.Run("no image found", func(t *testing.T) {
		m := newClusterMocks()
		m.NoImage = true
		stubBuild(t)
		err := runWithMocks(m, func(ctx *pulumi.Context) error {
			_, err := natsnest.NewCluster(ctx, "c", validClusterArgs())
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "ImageNameRegex") {
			t.Fatalf("err = %v, want one naming ImageNameRegex", err)
		}
		if n := len(m.ofType(tInstance)); n != 0 {
			t.Errorf("%d instances registered without an image", n)
		}
	})
	t.Run("zone lookup", func(t *testing.T) {
		d := deploy(t, validClusterArgs())
		calls := d.mocks.callsTo("alicloud:index/getZones:getZones")
		if len(calls) != 2 || len(calls[0].Args) != 0 || str(calls[1].Args, "availableInstanceType") != "ecs.g7.large" ||
			str(calls[1].Args, "availableDiskCategory") != "cloud_essd" {
			t.Fatalf("zone lookups: %v", calls)
		}
	})
}

// captureWarnings collects what the component warns users of, but the
// warning about unpinned SSH host keys, which every Cluster gets today
// (TestUnpinnedHostKeysAreWarnedAbout checks it).
func captureWarnings(t *testing.T) *[]string {
	return captureWarningsWhere(t, func(msg string) bool { return !isHostKeyWarning(msg) })
}

func isHostKeyWarning(msg string) bool {
	return strings.Contains(msg, "host keys are not pinned") || strings.Contains(msg, "has no HostKey")
}

// captureWarningsWhere collects the warnings keep accepts.
func captureWarningsWhere(t *testing.T, keep func(string) bool) *[]string {
	t.Helper()
	var mu sync.Mutex
	var got []string
	orig := (*natsnest.Warn)
	t.Cleanup(func() { (*natsnest.Warn) = orig })
	(*natsnest.Warn) = func(_ *pulumi.Context, _ pulumi.Resource, msg string) {
		if !keep(msg) {
			return
		}
		mu.Lock()
		got = append(got, msg)
		mu.Unlock()
	}
	return &got
}

// TestClusterContextReachable: with public access, natsContext uses the
// EIPs; when the client rules do not let the deploying machine in, the user
// is told what to allow.
func TestClusterContextReachable(t *testing.T) {
	warnings := captureWarnings(t)
	d := deploy(t, validClusterArgs())
	if ctx := d.outputs["natsContext"].Value.(string); !strings.Contains(ctx, `"url": "nats://47.0.0.1:4222,`) {
		t.Errorf("natsContext = %s, want the public endpoint", ctx)
	}
	joined := strings.Join(*warnings, "\n")
	if !strings.Contains(joined, "the deploying machine (SSHCIDR 203.0.113.7/32) is not among them") ||
		!strings.Contains(joined, "add 203.0.113.7/32 to AllowedClientCIDRs") {
		t.Errorf("warnings %q do not say what to allow", joined)
	}

	*warnings = nil
	args := validClusterArgs()
	args.AllowedClientCIDRs = []string{"172.16.0.0/12", "203.0.113.0/24"}
	deploy(t, args)
	if len(*warnings) != 0 {
		t.Errorf("the deploying machine may connect, yet: %q", *warnings)
	}
}

// TestClusterZones: a zone the region does not have is an error before any
// cloud resource exists; a zone without stock, and a zone holding a
// majority of the nodes, are warnings.
func TestClusterZones(t *testing.T) {
	t.Run("misspelt", func(t *testing.T) {
		m := newClusterMocks()
		stubBuild(t)
		args := validClusterArgs()
		args.Zones = []string{"cn-hangzhou-i", "cn-hangzou-j"}
		args.VSwitchCIDRs = nil
		err := runWithMocks(m, func(ctx *pulumi.Context) error {
			_, err := natsnest.NewCluster(ctx, "c", args)
			return err
		})
		if err == nil || !errors.Is(err, natsnest.ErrInvalidArgs) ||
			!strings.Contains(err.Error(), `Zones[1]: "cn-hangzou-j" is not a zone of this region`) ||
			strings.Contains(err.Error(), "Zones[0]") {
			t.Fatalf("err = %v", err)
		}
		for _, r := range m.registrations() {
			if r.Custom {
				t.Errorf("%s %s registered with a misspelt zone", r.Type, r.Name)
			}
		}
	})
	for _, tc := range []struct {
		name  string
		nodes int
		zones []string
		want  string
	}{
		{"3 nodes in 2 zones", 3, []string{"cn-hangzhou-h", "cn-hangzhou-i"}, "zone cn-hangzhou-h holds 2 of the 3 nodes, a majority"},
		{"5 nodes in 2 zones", 5, []string{"cn-hangzhou-h", "cn-hangzhou-i"}, "zone cn-hangzhou-h holds 3 of the 5 nodes, a majority"},
		{"3 nodes in 3 zones", 3, []string{"cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"}, ""},
		{"5 nodes in 3 zones", 5, []string{"cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"}, ""},
		{"3 nodes in 1 zone", 3, []string{"cn-hangzhou-i"}, ""},
		{"out of stock", 3, []string{"cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-k"},
			"zones cn-hangzhou-k do not currently offer ecs.g7.large with cloud_essd disks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			warnings := captureWarnings(t)
			args := validClusterArgs()
			args.NodeCount, args.Zones = tc.nodes, tc.zones
			args.AllowedClientCIDRs = []string{"172.16.0.0/12", testSSHCIDR} // no natsContext warning
			deploy(t, args, func(m *clusterMocks) {
				m.RegionZones = m.Zones
				m.Zones = []string{"cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"}
			})
			joined := strings.Join(*warnings, "\n")
			if tc.want == "" && joined != "" {
				t.Errorf("unexpected warnings: %s", joined)
			}
			if tc.want != "" && !strings.Contains(joined, tc.want) {
				t.Errorf("warnings %q, want %q", joined, tc.want)
			}
		})
	}
}

// snapshot is everything the engine would diff for one resource: its inputs
// and the options that decide updates and replacements.
type snapshot struct {
	Inputs              resource.PropertyMap
	Parent              string
	Dependencies        []string
	IgnoreChanges       []string
	DeleteBeforeReplace bool
	RetainOnDelete      bool
}

// diffed are the inputs the engine diffs: those not in ignoreChanges (an
// ignored one keeps its value from the state).
func diffed(s snapshot) resource.PropertyMap {
	in := s.Inputs.Copy()
	for _, k := range s.IgnoreChanges {
		delete(in, resource.PropertyKey(k))
	}
	return in
}

// after makes a deploy the next `pulumi up` of the stack d deployed.
func after(d *deployed) func(*clusterMocks) {
	return func(m *clusterMocks) { m.Mocks = d.mocks.Mocks.Next() }
}

func snapshots(m *clusterMocks) map[string]snapshot {
	out := map[string]snapshot{}
	for _, r := range m.registrations() {
		out[r.Type+"::"+r.Name] = snapshot{r.Inputs, r.Parent, r.Dependencies, r.IgnoreChanges, r.DeleteBeforeReplace, r.RetainOnDelete}
	}
	return out
}

// TestClusterSecondRunIsIdentical: the same args register the same
// resources with the same inputs and options, so a second `pulumi up` has
// no diff (rendered configs and bcrypt hashes included).
func TestClusterSecondRunIsIdentical(t *testing.T) {
	args := validClusterArgs()
	args.PublicAccess = true
	args.SSHCIDR = "203.0.113.7/32"
	args.Zones = []string{"cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"}
	d := deploy(t, args)
	first, second := snapshots(d.mocks), snapshots(deploy(t, args, after(d)).mocks)
	if len(first) != len(second) {
		t.Fatalf("%d resources, then %d", len(first), len(second))
	}
	for k, a := range first {
		b, ok := second[k]
		if !ok {
			t.Errorf("%s is missing from the second run", k)
			continue
		}
		if ai, bi := diffed(a), diffed(b); !ai.DeepEquals(bi) {
			t.Errorf("%s: inputs differ:\n%v\n%v", k, ai, bi)
		}
		a.Inputs, b.Inputs = nil, nil
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: options differ: %+v vs %+v", k, a, b)
		}
	}
}

// TestClusterNewerImageDoesNotReplaceNodes: when the lookup finds a newer
// image, the only changed input anywhere is the instances' imageId, and every
// instance is registered with ignoreChanges on it: the engine keeps the
// running nodes.
func TestClusterNewerImageDoesNotReplaceNodes(t *testing.T) {
	args := validClusterArgs()
	old := deploy(t, args)
	newer := deploy(t, args, after(old), func(m *clusterMocks) { m.ImageID = "debian_12_12_x64_20G_alibase_20260101.vhd" })
	a, b := snapshots(old.mocks), snapshots(newer.mocks)
	changed := 0
	for k, sa := range a {
		sb := b[k]
		for key := range sa.Inputs {
			if sa.Inputs[key].DeepEquals(sb.Inputs[key]) || key != "imageId" && slices.Contains(sa.IgnoreChanges, string(key)) && slices.Contains(sb.IgnoreChanges, string(key)) {
				continue
			}
			if !strings.HasPrefix(k, tInstance+"::") || key != "imageId" {
				t.Errorf("%s: %s changed with the image", k, key)
				continue
			}
			changed++
			if !slices.Contains(sb.IgnoreChanges, "imageId") {
				t.Errorf("%s: imageId changed and is not ignored: the node would be replaced", k)
			}
		}
	}
	if changed != 3 {
		t.Errorf("%d instances saw the new image, want 3 (the mock did not change the lookup?)", changed)
	}
}

// TestClusterInvalidArgsFailBeforeAnyRegistration: one Validate call reports
// every problem, and NewCluster registers nothing and looks up nothing.
func TestClusterInvalidArgsFailBeforeAnyRegistration(t *testing.T) {
	for _, nodes := range []int{2, 13} {
		t.Run(fmt.Sprintf("nodes=%d", nodes), func(t *testing.T) {
			args := validClusterArgs()
			args.NodeCount = nodes
			args.InstancePassword = pulumi.String("weakweakweak") // one character class
			args.AdminPassword = pulumi.String("tooShortAdmin1")  // below 22
			args.AllowedClientCIDRs = []string{"10.0.0.300/8"}    // malformed
			args.Durability = "sometimes"
			err := args.Validate()
			if err == nil {
				t.Fatal("Validate accepted invalid args")
			}
			if !errors.Is(err, natsnest.ErrInvalidArgs) {
				t.Errorf("%v does not wrap ErrInvalidArgs", err)
			}
			for _, field := range []string{"NodeCount", "InstancePassword", "AdminPassword", "AllowedClientCIDRs[0]", "Durability"} {
				if !strings.Contains(err.Error(), field+":") {
					t.Errorf("error does not name %s:\n%v", field, err)
				}
			}
			for _, pw := range []string{unsecretInput(args.InstancePassword), unsecretInput(args.AdminPassword)} {
				if strings.Contains(err.Error(), pw) {
					t.Errorf("the error repeats a password: %v", err)
				}
			}

			m := newClusterMocks()
			runErr := runWithMocks(m, func(ctx *pulumi.Context) error {
				_, err := natsnest.NewCluster(ctx, "c", args)
				return err
			})
			if !errors.Is(runErr, natsnest.ErrInvalidArgs) {
				t.Fatalf("NewCluster: %v", runErr)
			}
			if regs := m.registrations(); len(regs) != 0 {
				t.Errorf("%d resources registered before validation failed: %v", len(regs), regs[0].Name)
			}
			if len(m.Calls("")) != 0 {
				t.Errorf("%d lookups made before validation failed", len(m.Calls("")))
			}
		})
	}
}

func TestClusterValidateRules(t *testing.T) {
	key := testPrivateKey(t)
	for _, tc := range []struct {
		name  string
		edit  func(a *natsnest.ClusterArgs)
		field string // "" means valid
	}{
		{"valid", func(a *natsnest.ClusterArgs) {}, ""},
		{"one node", func(a *natsnest.ClusterArgs) { a.NodeCount = 1 }, ""},
		{"eleven nodes", func(a *natsnest.ClusterArgs) { a.NodeCount = 11 }, ""},
		{"four nodes", func(a *natsnest.ClusterArgs) { a.NodeCount = 4 }, "NodeCount"},
		{"negative nodes", func(a *natsnest.ClusterArgs) { a.NodeCount = -1 }, "NodeCount"},
		{"no zones", func(a *natsnest.ClusterArgs) { a.Zones = nil }, "Zones"},
		{"bad zone", func(a *natsnest.ClusterArgs) { a.Zones = []string{"Hangzhou I"} }, "Zones[0]"},
		{"zone twice", func(a *natsnest.ClusterArgs) { a.Zones = []string{"cn-hangzhou-i", "cn-hangzhou-i"} }, "Zones[1]"},
		{"more zones than nodes", func(a *natsnest.ClusterArgs) { a.NodeCount = 1; a.Zones = []string{"cn-hangzhou-i", "cn-hangzhou-j"} }, "Zones"},
		{"bad prefix", func(a *natsnest.ClusterArgs) { a.NodeNamePrefix = "Nats_" }, "NodeNamePrefix"},
		{"unknown charge type", func(a *natsnest.ClusterArgs) { a.ChargeType = "Spot" }, "ChargeType"},
		{"period without subscription", func(a *natsnest.ClusterArgs) { a.Period = 3 }, "Period"},
		{"subscription 10 months", func(a *natsnest.ClusterArgs) { a.ChargeType = natsnest.ChargePrePaid; a.Period = 10 }, "Period"},
		{"subscription 2 weeks", func(a *natsnest.ClusterArgs) {
			a.ChargeType = natsnest.ChargePrePaid
			a.Period = 2
			a.PeriodUnit = "Week"
		}, ""},
		{"subscription by the day", func(a *natsnest.ClusterArgs) { a.ChargeType = natsnest.ChargePrePaid; a.PeriodUnit = "Day" }, "PeriodUnit"},
		{"existing VPC", func(a *natsnest.ClusterArgs) {
			a.VpcID, a.VpcCIDR, a.VSwitchIDs = pulumi.String("vpc-1"), "10.0.0.0/16", []pulumi.StringInput{pulumi.String("vsw-1")}
		}, ""},
		{"existing VPC without its CIDR", func(a *natsnest.ClusterArgs) {
			a.VpcID, a.VSwitchIDs = pulumi.String("vpc-1"), []pulumi.StringInput{pulumi.String("vsw-1")}
		}, "VpcCIDR"},
		{"existing VPC without vswitches", func(a *natsnest.ClusterArgs) { a.VpcID, a.VpcCIDR = pulumi.String("vpc-1"), "10.0.0.0/16" }, "VSwitchIDs"},
		{"empty VPC ID", func(a *natsnest.ClusterArgs) {
			a.VpcID, a.VpcCIDR, a.VSwitchIDs = pulumi.String(""), "10.0.0.0/16", []pulumi.StringInput{pulumi.String("vsw-1")}
		}, "VpcID"},
		{"vswitches without VPC", func(a *natsnest.ClusterArgs) { a.VSwitchIDs = []pulumi.StringInput{pulumi.String("vsw-1")} }, "VSwitchIDs"},
		{"public VPC range", func(a *natsnest.ClusterArgs) { a.VpcCIDR = "8.8.0.0/16" }, "VpcCIDR"},
		{"VPC range too small", func(a *natsnest.ClusterArgs) { a.VpcCIDR = "10.0.0.0/28" }, "VpcCIDR"},
		{"host bits", func(a *natsnest.ClusterArgs) { a.VpcCIDR = "10.0.0.1/16" }, "VpcCIDR"},
		{"vswitch outside", func(a *natsnest.ClusterArgs) { a.VSwitchCIDRs = []string{"192.168.0.0/24"} }, "VSwitchCIDRs[0]"},
		{"vswitches overlap", func(a *natsnest.ClusterArgs) {
			a.Zones = []string{"cn-hangzhou-i", "cn-hangzhou-j"}
			a.VSwitchCIDRs = []string{"172.16.0.0/16", "172.16.1.0/24"}
		}, "VSwitchCIDRs[1]"},
		{"bad instance type", func(a *natsnest.ClusterArgs) { a.InstanceType = "g7.large" }, "InstanceType"},
		{"bad image regex", func(a *natsnest.ClusterArgs) { a.ImageNameRegex = "(" }, "ImageNameRegex"},
		{"small system disk", func(a *natsnest.ClusterArgs) { a.SystemDiskSize = 10 }, "SystemDiskSize"},
		{"unknown disk category", func(a *natsnest.ClusterArgs) { a.DataDiskCategory = "hdd" }, "DataDiskCategory"},
		// terraform-provider-alicloud v1.144.0 rejects these two.
		{"cloud_auto data disk", func(a *natsnest.ClusterArgs) { a.DataDiskCategory = "cloud_auto" }, "DataDiskCategory"},
		{"cloud_essd_entry system disk", func(a *natsnest.ClusterArgs) { a.SystemDiskCategory = "cloud_essd_entry" }, "SystemDiskCategory"},
		{"arm64 binary on amd64 nodes", func(a *natsnest.ClusterArgs) { a.Binary.Arch = "arm64" }, "Binary.Arch"},
		{"amd64 binary on Yitian nodes", func(a *natsnest.ClusterArgs) { a.InstanceType, a.Binary.Arch = "ecs.g8m.large", "amd64" }, "Binary.Arch"},
		{"arm64 binary on arm64 nodes", func(a *natsnest.ClusterArgs) { a.InstanceType, a.Binary.Arch = "ecs.c8m.large", "arm64" }, ""},
		{"renewal with pay-as-you-go", func(a *natsnest.ClusterArgs) { a.RenewalStatus = natsnest.RenewalAuto }, "RenewalStatus"},
		{"renewal period with pay-as-you-go", func(a *natsnest.ClusterArgs) { a.AutoRenewPeriod = 1 }, "AutoRenewPeriod"},
		{"unknown renewal", func(a *natsnest.ClusterArgs) { a.ChargeType, a.RenewalStatus = natsnest.ChargePrePaid, "Forever" }, "RenewalStatus"},
		{"renewal period of 4 months", func(a *natsnest.ClusterArgs) { a.ChargeType, a.AutoRenewPeriod = natsnest.ChargePrePaid, 4 }, "AutoRenewPeriod"},
		{"renewal period of 6 weeks", func(a *natsnest.ClusterArgs) {
			a.ChargeType, a.PeriodUnit, a.AutoRenewPeriod = natsnest.ChargePrePaid, "Week", 6
		}, "AutoRenewPeriod"},
		{"renewal period without auto renewal", func(a *natsnest.ClusterArgs) {
			a.ChargeType, a.RenewalStatus, a.AutoRenewPeriod = natsnest.ChargePrePaid, natsnest.RenewalNone, 3
		}, "AutoRenewPeriod"},
		{"auto renewal for 12 months", func(a *natsnest.ClusterArgs) { a.ChargeType, a.AutoRenewPeriod = natsnest.ChargePrePaid, 12 }, ""},
		{"store larger than disk", func(a *natsnest.ClusterArgs) { a.MaxFileStore = 40 << 30 }, "MaxFileStore"},
		{"no login", func(a *natsnest.ClusterArgs) { a.InstancePassword = nil }, "InstancePassword"},
		{"long password", func(a *natsnest.ClusterArgs) { a.InstancePassword = pulumi.String("Aa1" + strings.Repeat("x", 28)) }, "InstancePassword"},
		{"password with space", func(a *natsnest.ClusterArgs) { a.InstancePassword = pulumi.String("Abc 12345") }, "InstancePassword"},
		{"password with underscore", func(a *natsnest.ClusterArgs) { a.InstancePassword = pulumi.String("Abc_12345") }, "InstancePassword"},
		{"key pair", func(a *natsnest.ClusterArgs) {
			a.InstancePassword, a.KeyPairName, a.SSHPrivateKey = nil, "k1", pulumi.String(key)
		}, ""},
		{"key pair without key", func(a *natsnest.ClusterArgs) { a.InstancePassword, a.KeyPairName = nil, "k1" }, "SSHPrivateKey"},
		{"key without key pair", func(a *natsnest.ClusterArgs) { a.SSHPrivateKey = pulumi.String(key) }, "KeyPairName"},
		{"garbage key", func(a *natsnest.ClusterArgs) { a.KeyPairName, a.SSHPrivateKey = "k1", pulumi.String("not a key") }, "SSHPrivateKey"},
		{"public without SSH CIDR", func(a *natsnest.ClusterArgs) { a.SSHCIDR = "" }, "SSHCIDR"},
		{"public through bastion", func(a *natsnest.ClusterArgs) {
			inExistingVPC(a)
			a.PublicAccess, a.Bastion = true, &natsnest.Bastion{Host: pulumi.String("b")}
		}, ""},
		{"private in a new VPC", func(a *natsnest.ClusterArgs) { a.PublicAccess = false }, "PublicAccess"},
		{"bastion into a new VPC", func(a *natsnest.ClusterArgs) { a.Bastion = &natsnest.Bastion{Host: pulumi.String("b")} }, "Bastion"},
		{"private in an existing VPC", func(a *natsnest.ClusterArgs) { inExistingVPC(a) }, ""},
		{"bandwidth", func(a *natsnest.ClusterArgs) {
			a.PublicAccess, a.SSHCIDR, a.InternetBandwidth = true, "1.2.3.4/32", 500
		}, "InternetBandwidth"},
		{"EIP charge", func(a *natsnest.ClusterArgs) {
			a.PublicAccess, a.SSHCIDR, a.InternetChargeType = true, "1.2.3.4/32", "Free"
		}, "InternetChargeType"},
		{"client CIDR twice", func(a *natsnest.ClusterArgs) { a.AllowedClientCIDRs = []string{"10.0.0.0/8", "10.0.0.0/8"} }, "AllowedClientCIDRs[1]"},
		{"bad SSH CIDR", func(a *natsnest.ClusterArgs) { a.SSHCIDR = "everyone" }, "SSHCIDR"},
		{"bad monitoring CIDR", func(a *natsnest.ClusterArgs) { a.MonitoringCIDR = "10.0.0.0/33" }, "MonitoringCIDR"},
		{"IPv6 CIDR", func(a *natsnest.ClusterArgs) { a.MonitoringCIDR = "fd00::/8" }, "MonitoringCIDR"},
		{"reserved tag", func(a *natsnest.ClusterArgs) { a.ResourceTags = map[string]string{"aliyun-x": "y"} }, `ResourceTags["aliyun-x"]`},
		{"no app user", func(a *natsnest.ClusterArgs) { a.Accounts = nil }, "Accounts"},
		{"binary URL without checksum", func(a *natsnest.ClusterArgs) { a.Binary.URL = pulumi.String("https://mirror.example/nats.tar.gz") }, "Binary.SHA256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := validClusterArgs()
			tc.edit(a)
			err := a.Validate()
			switch {
			case tc.field == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.field != "" && err == nil:
				t.Errorf("accepted; want an error naming %s", tc.field)
			case tc.field != "" && !strings.Contains(err.Error(), tc.field+":"):
				t.Errorf("error does not name %s: %v", tc.field, err)
			case err != nil && !errors.Is(err, natsnest.ErrInvalidArgs):
				t.Errorf("%v does not wrap ErrInvalidArgs", err)
			}
		})
	}
}

func TestClusterDefaults(t *testing.T) {
	a := natsnest.ClusterWithDefaults(*validClusterArgs())
	for field, got := range map[string]any{
		"NodeCount": a.NodeCount, "ChargeType": a.ChargeType, "VpcCIDR": a.VpcCIDR,
		"VSwitchCIDRs": a.VSwitchCIDRs, "InstanceType": a.InstanceType, "ImageNameRegex": a.ImageNameRegex,
		"SystemDiskSize": a.SystemDiskSize, "SystemDiskCategory": a.SystemDiskCategory,
		"DataDiskSize": a.DataDiskSize, "DataDiskCategory": a.DataDiskCategory,
		"MaxFileStore": a.MaxFileStore, "AllowedClientCIDRs": a.AllowedClientCIDRs,
		"SSHCIDR": a.SSHCIDR, "MonitoringCIDR": a.MonitoringCIDR, "NodeNamePrefix": a.NodeNamePrefix,
		"InternetBandwidth": a.InternetBandwidth, "Period": a.Period, "Arch": a.Binary.Arch,
	} {
		want := map[string]any{
			"NodeCount": 3, "ChargeType": "PostPaid", "VpcCIDR": "172.16.0.0/12",
			"VSwitchCIDRs": []string{"172.16.0.0/24"}, "InstanceType": "ecs.g7.large", "ImageNameRegex": natsnest.DefaultImageNameRegexAMD64,
			"SystemDiskSize": 40, "SystemDiskCategory": "cloud_essd", "DataDiskSize": 40, "DataDiskCategory": "cloud_essd",
			"MaxFileStore": int64(40) << 30 * 9 / 10, "AllowedClientCIDRs": []string{"172.16.0.0/12"},
			"SSHCIDR": testSSHCIDR, "MonitoringCIDR": "172.16.0.0/12", "NodeNamePrefix": "nats",
			"InternetBandwidth": 5, "Period": 0, "Arch": "amd64",
		}[field]
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s defaults to %#v, want %#v", field, got, want)
		}
	}
	orig := validClusterArgs()
	orig.Zones = []string{"cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"}
	d := natsnest.ClusterWithDefaults(*orig)
	if want := []string{"172.16.0.0/24", "172.16.1.0/24", "172.16.2.0/24"}; !slices.Equal(d.VSwitchCIDRs, want) {
		t.Errorf("VSwitchCIDRs = %v, want %v", d.VSwitchCIDRs, want)
	}
	d.Zones[0] = "changed"
	if orig.Zones[0] != "cn-hangzhou-i" || orig.NodeCount != 0 || orig.VSwitchCIDRs != nil {
		t.Error("withDefaults changed its receiver")
	}
}

func TestClusterHelpers(t *testing.T) {
	for typ, want := range map[string]string{
		"ecs.g7.large": "amd64", "ecs.g8y.large": "arm64", "ecs.c8y.xlarge": "arm64", "ecs.g6r.large": "arm64",
		"ecs.r8y.large": "arm64", "ecs.c6r.large": "arm64", "ecs.g8m.large": "arm64", "ecs.c8m.2xlarge": "arm64",
		"ecs.r8m.xlarge": "arm64", "ecs.ebmg8y.32xlarge": "arm64", "ecs.g8a.large": "amd64", "ecs.r6.large": "amd64",
		"ecs.r7.large": "amd64", "ecs.g8i.large": "amd64", "ecs.c7a.large": "amd64",
	} {
		if got := natsnest.InstanceArch(typ); got != want {
			t.Errorf("instanceArch(%s) = %s, want %s", typ, got, want)
		}
	}
	for pw, ok := range map[string]bool{
		"Instance-Pw-42": true, "abcdEFGH": false, "abcdEF12": true, "abcd12!?": true, "ABCD12()": true,
		"Ab1!": false, "Aa1`~!@#$%^&*-+={}[]:;'<>,.?/": true, "Aa1\\bcdefg": false, "Aa1|bcdefg": false, "Aa1\"bcdefg": false,
		"Aa1äbcdefg": false, strings.Repeat("Aa1", 10): true, strings.Repeat("Aa1", 10) + "x": false,
	} {
		if got := natsnest.CheckInstancePassword(pw) == ""; got != ok {
			t.Errorf("checkInstancePassword(%q) ok = %v, want %v (%s)", pw, got, ok, natsnest.CheckInstancePassword(pw))
		}
	}
	for _, tc := range []struct {
		vpc  string
		i    int
		want string
	}{
		{"172.16.0.0/12", 0, "172.16.0.0/24"}, {"172.16.0.0/12", 2, "172.16.2.0/24"},
		{"10.0.0.0/16", 255, "10.0.255.0/24"}, {"10.0.0.0/16", 256, ""}, {"10.0.0.0/24", 1, ""}, {"10.0.0.0/25", 0, ""},
	} {
		got, ok := natsnest.NthSubnet(netip.MustParsePrefix(tc.vpc), 24, tc.i)
		if (tc.want == "") == ok || (ok && got.String() != tc.want) {
			t.Errorf("nthSubnet(%s, %d) = %v %v, want %q", tc.vpc, tc.i, got, ok, tc.want)
		}
	}
	if got := natsnest.CidrSlug("10.0.0.0/16"); got != "10-0-0-0-16" {
		t.Errorf("cidrSlug = %s", got)
	}
	if got := natsnest.UnavailableZones([]string{"a", "b", "c"}, []string{"c", "a"}); !slices.Equal(got, []string{"b"}) {
		t.Errorf("unavailableZones = %v", got)
	}
}

// TestClusterValidateReportsEachProblemOnce: a problem Cluster and the
// provisioning half would both see (no login, a bad node count) is reported
// once, under the Cluster's field name.
func TestClusterValidateReportsEachProblemOnce(t *testing.T) {
	a := validClusterArgs()
	a.InstancePassword = pulumi.String("")
	a.NodeCount = 4
	err := a.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, dup := range []string{"SSH:", "Hosts:"} {
		if strings.Contains(msg, dup) {
			t.Errorf("reported twice, also as %s\n%v", dup, msg)
		}
	}
	if strings.Count(msg, "\n") != 1 {
		t.Errorf("want exactly two problems (InstancePassword, NodeCount):\n%v", msg)
	}
	a = validClusterArgs()
	a.InstancePassword, a.KeyPairName, a.SSHPrivateKey = nil, "k1", pulumi.String("not a key")
	if err := a.Validate(); err == nil || strings.Contains(err.Error(), "SSH.PrivateKey") || !strings.Contains(err.Error(), "SSHPrivateKey:") {
		t.Errorf("a bad key once, as SSHPrivateKey: %v", err)
	}
}

// unsecretInput is a plain input's value ("" for anything else).
func unsecretInput(in pulumi.StringInput) string {
	s, _ := in.(pulumi.String)
	return string(s)
}
