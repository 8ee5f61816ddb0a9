package cloud

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Where each rule comes from: terraform-provider-alicloud v1.144.0, which
// pulumi-alicloud v3.10.0 wraps (its provider/go.mod pins that release).
// Lines are those of the stored copy of each file named here, the closest
// to v1.144.0 (the instance's: commit 00f9da03, whose update, stop/start,
// delete and user_data code is identical to a pre-1.144 copy).
const (
	instanceGo   = "alicloud/resource_alicloud_instance.go"
	vpcGo        = "alicloud/resource_alicloud_vpc.go"
	vswitchGo    = "alicloud/resource_alicloud_vswitch.go"
	sgGo         = "alicloud/resource_alicloud_security_group.go"
	sgRuleGo     = "alicloud/resource_alicloud_security_group_rule.go"
	diskGo       = "alicloud/resource_alicloud_ecs_disk.go"
	diskAttachGo = "alicloud/resource_alicloud_ecs_disk_attachment.go"
	eipGo        = "alicloud/resource_alicloud_eip_address.go"
	eipAssocGo   = "alicloud/resource_alicloud_eip_association.go"
	imagesGo     = "alicloud/data_source_alicloud_images.go"
	zonesGo      = "alicloud/data_source_alicloud_zones.go"
)

func cite(file string, lines string) string { return file + ":" + lines }

// Resource type tokens.
const (
	NetworkToken     = "alicloud:vpc/network:Network"
	SwitchToken      = "alicloud:vpc/switch:Switch"
	SGToken          = "alicloud:ecs/securityGroup:SecurityGroup"
	SGRuleToken      = "alicloud:ecs/securityGroupRule:SecurityGroupRule"
	InstanceToken    = "alicloud:ecs/instance:Instance"
	DiskToken        = "alicloud:ecs/ecsDisk:EcsDisk"
	DiskAttachToken  = "alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment"
	EIPToken         = "alicloud:ecs/eipAddress:EipAddress"
	EIPAssocToken    = "alicloud:ecs/eipAssociation:EipAssociation"
	getImagesToken   = "alicloud:ecs/getImages:getImages"
	getZonesToken    = "alicloud:index/getZones:getZones"
	statusRunning    = "Running"
	statusStopped    = "Stopped"
	prePaid          = "PrePaid"
	diskInUse        = "In_use"
	diskAvailable    = "Available"
	eipInUse         = "InUse"
	defaultVpcCIDR   = "172.16.0.0/12"
	defaultDiskCateg = "cloud_efficiency"
)

// kind is one resource type: its schema's rules and what it does.
type kind struct {
	token, short string
	// forceNew: an argument whose change replaces the resource, with the
	// line that says so.
	forceNew    map[string]string
	required    []string
	defaults    map[string]resource.PropertyValue
	validations []validation
	// computed outputs, unknown in a preview.
	computed []string
	create   func(c *Cloud, name string, in resource.PropertyMap) (string, resource.PropertyMap, error)
	update   func(c *Cloud, o *object, news resource.PropertyMap, changed []string) (resource.PropertyMap, error)
	remove   func(c *Cloud, o *object) error
}

type validation struct {
	property, cite string
	check          func(v resource.PropertyValue) string
}

func oneOf(property, citation string, allowed ...string) validation {
	return validation{property, citation, func(v resource.PropertyValue) string {
		if v.IsString() && !slices.Contains(allowed, v.StringValue()) {
			return fmt.Sprintf("expected %s to be one of %v, got %s", property, allowed, v.StringValue())
		}
		return ""
	}}
}

func length(property, citation string, lo, hi int) validation {
	return validation{property, citation, func(v resource.PropertyValue) string {
		if v.IsString() && (len(v.StringValue()) < lo || len(v.StringValue()) > hi) {
			return fmt.Sprintf("expected length of %s to be in the range (%d - %d), got %s", property, lo, hi, v.StringValue())
		}
		return ""
	}}
}

func intIn(property, citation string, allowed ...int) validation {
	return validation{property, citation, func(v resource.PropertyValue) string {
		if v.IsNumber() && !slices.Contains(allowed, int(v.NumberValue())) {
			return fmt.Sprintf("expected %s to be one of %v, got %v", property, allowed, v.NumberValue())
		}
		return ""
	}}
}

func matches(property, citation string, re *regexp.Regexp, msg string) validation {
	return validation{property, citation, func(v resource.PropertyValue) string {
		if v.IsString() && !re.MatchString(v.StringValue()) {
			return fmt.Sprintf("%s %s", msg, v.StringValue())
		}
		return ""
	}}
}

func forceNew(file string, lines map[string]string) map[string]string {
	out := map[string]string{}
	for prop, l := range lines {
		out[prop] = cite(file, l)
	}
	return out
}

var kinds = map[string]*kind{}

func register(k *kind) { kinds[k.token] = k }

func kindOf(urn string) (*kind, error) {
	t := typeOf(urn)
	k, ok := kinds[t]
	if !ok {
		return nil, fmt.Errorf("the emulated cloud has no resource type %s", t)
	}
	return k, nil
}

func init() {
	register(networkKind)
	register(switchKind)
	register(sgKind)
	register(sgRuleKind)
	register(instanceKind)
	register(diskKind)
	register(diskAttachKind)
	register(eipKind)
	register(eipAssocKind)
}

// --- VPC -------------------------------------------------------------------

var networkKind = &kind{
	token: NetworkToken, short: "vpc",
	// Only dry_run and user_cidrs force a new VPC; cidr_block is changed
	// in place (ModifyVpcAttribute, vpc.go:268-270).
	forceNew: forceNew(vpcGo, map[string]string{"dryRun": "42", "userCidrs": "86"}),
	defaults: map[string]resource.PropertyValue{"cidrBlock": resource.NewProperty(defaultVpcCIDR)}, // vpc.go:30
	validations: []validation{
		{"cidrBlock", cite(vpcGo, "30"), checkNetworkAddress},
		length("description", cite(vpcGo, "37"), 2, 256),
	},
	computed: []string{"routeTableId", "routerId", "status"},
	create: func(c *Cloud, name string, in resource.PropertyMap) (string, resource.PropertyMap, error) {
		id := c.newID("vpc") // response["VpcId"], vpc.go:174
		out := in.Copy()
		out["routeTableId"] = resource.NewProperty(c.newID("vtb"))
		out["routerId"] = resource.NewProperty(c.newID("vrt"))
		out["status"] = resource.NewProperty(diskAvailable)
		return id, out, nil
	},
	update: keepInputs,
	remove: func(c *Cloud, o *object) error {
		// DeleteVpc is retried on every error for the delete timeout
		// (vpc.go:319-353): a VPC with vswitches in it never goes.
		for _, other := range c.objects {
			if other.kind.token == SwitchToken && str(other.state, "vpcId") == o.id {
				return fmt.Errorf("DependencyViolation: VPC %s still holds vswitch %s (DeleteVpc retried until the timeout, %s)", o.id, other.id, cite(vpcGo, "319-353"))
			}
		}
		return nil
	},
}

func checkNetworkAddress(v resource.PropertyValue) string {
	if !v.IsString() {
		return ""
	}
	p, err := netip.ParsePrefix(v.StringValue())
	if err != nil || p.Masked() != p {
		return fmt.Sprintf("%q is not a valid CIDR network address", v.StringValue())
	}
	return ""
}

// keepInputs is an update that changes nothing of the outside world: the
// new inputs with the computed outputs kept.
func keepInputs(c *Cloud, o *object, news resource.PropertyMap, changed []string) (resource.PropertyMap, error) {
	return withComputed(o, news), nil
}

// withComputed is the new inputs and the object's computed outputs (an
// input no longer given is gone from the state).
func withComputed(o *object, news resource.PropertyMap) resource.PropertyMap {
	out := news.Copy()
	for _, k := range o.kind.computed {
		if _, given := news[resource.PropertyKey(k)]; !given {
			if v, ok := o.state[resource.PropertyKey(k)]; ok {
				out[resource.PropertyKey(k)] = v
			}
		}
	}
	return out
}

// --- vswitch ---------------------------------------------------------------

var switchKind = &kind{
	token: SwitchToken, short: "vswitch",
	forceNew: forceNew(vswitchGo, map[string]string{
		"cidrBlock": "30", "ipv6CidrBlock": "35", "vpcId": "64", "zoneId": "69", "availabilityZone": "76",
	}),
	required: []string{"cidrBlock", "vpcId"}, // vswitch.go:30, :64
	computed: []string{"status", "zoneId", "availabilityZone"},
	create: func(c *Cloud, name string, in resource.PropertyMap) (string, resource.PropertyMap, error) {
		zone := str(in, "zoneId")
		if zone == "" {
			zone = str(in, "availabilityZone")
		}
		if zone == "" {
			return "", nil, fmt.Errorf(`Argument "availability_zone" or "zone_id" must be set one! (%s)`, cite(vswitchGo, "114-120"))
		}
		if !slices.Contains(c.Zones, zone) {
			return "", nil, fmt.Errorf("InvalidZoneId.NotFound: zone %s is not in region %s", zone, c.Region)
		}
		vpc := c.get(NetworkToken, str(in, "vpcId"))
		if vpc == nil {
			return "", nil, fmt.Errorf("InvalidVpcId.NotFound: %s", str(in, "vpcId"))
		}
		vpcNet, err1 := netip.ParsePrefix(str(vpc.state, "cidrBlock"))
		sw, err2 := netip.ParsePrefix(str(in, "cidrBlock"))
		if err1 != nil || err2 != nil || !vpcNet.Contains(sw.Addr()) || sw.Bits() < vpcNet.Bits() {
			return "", nil, fmt.Errorf("InvalidCidrBlock.Malformed: %s is not inside the VPC's %s", str(in, "cidrBlock"), str(vpc.state, "cidrBlock"))
		}
		out := in.Copy()
		out["zoneId"] = resource.NewProperty(zone)
		out["availabilityZone"] = resource.NewProperty(zone)
		out["status"] = resource.NewProperty(diskAvailable)
		return c.newID("vsw"), out, nil // response["VSwitchId"], vswitch.go:142
	},
	update: keepInputs, // description and name only: vswitch.go:179-236
	remove: func(c *Cloud, o *object) error {
		for _, other := range c.objects {
			if other.kind.token == InstanceToken && str(other.state, "vswitchId") == o.id {
				return fmt.Errorf("DependencyViolation: vswitch %s still holds instance %s (DeleteVSwitch retried until the timeout, %s)", o.id, other.id, cite(vswitchGo, "237-274"))
			}
		}
		return nil
	},
}

// --- security group --------------------------------------------------------

var sgKind = &kind{
	token: SGToken, short: "security group",
	forceNew: forceNew(sgGo, map[string]string{"vpcId": "40", "securityGroupType": "49"}),
	defaults: map[string]resource.PropertyValue{"securityGroupType": resource.NewProperty("normal")}, // sg.go:49
	computed: []string{"innerAccessPolicy"},
	validations: []validation{
		length("name", cite(sgGo, "28"), 2, 128),
		length("description", cite(sgGo, "34"), 2, 256),
		oneOf("securityGroupType", cite(sgGo, "49"), "normal", "enterprise"),
		oneOf("innerAccessPolicy", cite(sgGo, "62"), "Accept", "Drop"),
	},
	create: func(c *Cloud, name string, in resource.PropertyMap) (string, resource.PropertyMap, error) {
		if v := str(in, "vpcId"); v != "" && c.get(NetworkToken, v) == nil {
			return "", nil, fmt.Errorf("InvalidVpcId.NotFound: %s", v)
		}
		out := in.Copy()
		// Create runs Update, which sets the inner policy, Accept unless
		// given (sg.go:190-213).
		if str(out, "innerAccessPolicy") == "" {
			out["innerAccessPolicy"] = resource.NewProperty("Accept")
		}
		return c.newID("sg"), out, nil // response.SecurityGroupId, sg.go:110
	},
	update: keepInputs,
	remove: func(c *Cloud, o *object) error {
		for _, other := range c.objects {
			if other.kind.token == InstanceToken && slices.Contains(strs(other.state, "securityGroups"), o.id) {
				return fmt.Errorf("DependencyViolation: security group %s is used by instance %s (retried 6 minutes, %s)", o.id, other.id, cite(sgGo, "250-276"))
			}
		}
		return nil
	},
}

func strs(m resource.PropertyMap, key string) []string {
	v := m[resource.PropertyKey(key)]
	var out []string
	if v.IsArray() {
		for _, e := range v.ArrayValue() {
			if e = underlying(e); e.IsString() {
				out = append(out, e.StringValue())
			}
		}
	}
	return out
}

// Rule is one of the cloud's rules for what a change of one argument does.
type Rule struct {
	Token, Property string
	// Effect is "replace" (ForceNew) or "stop-start" (the instance is
	// stopped, changed and started).
	Effect string
	Cite   string
}

// Rules is every replacement and stop/start rule, sorted.
func Rules() []Rule {
	var out []Rule
	for token, k := range kinds {
		for prop, c := range k.forceNew {
			out = append(out, Rule{token, prop, "replace", c})
		}
	}
	for prop, c := range instanceStopStart {
		out = append(out, Rule{InstanceToken, prop, "stop-start", c})
	}
	slices.SortFunc(out, func(a, b Rule) int {
		return strings.Compare(a.Token+" "+a.Property, b.Token+" "+b.Property)
	})
	return out
}
