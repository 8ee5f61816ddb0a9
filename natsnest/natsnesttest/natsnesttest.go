// Package natsnesttest unit-tests programs that use natsnest, under
// pulumi.WithMocks, without writing a fake Alibaba Cloud: Mocks answers what
// natsnest.NewCluster asks for (the image and zone lookups), gives ECS
// instances private addresses and EIPs public ones, and records every
// resource so a test can look at what the program registered.
//
//	m := natsnesttest.New()
//	err := m.Run("events", program, map[string]string{"adminPassword": "…"}, "adminPassword")
//	inst, _ := m.Resource(natsnesttest.Instance, "events-nats-1")
//	for _, rule := range m.IngressTo(4222) { … rule.Public() … }
//
// Nothing is built or dialled: under mocks natsnest builds no binary and
// runs no command.
package natsnesttest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/natsnest/pulumi-natsnest/jsassets"
	"github.com/natsnest/pulumi-natsnest/natsnest"
)

// DefaultZones are the zones Mocks' region has unless told otherwise:
// Hangzhou's, where the seed's templates deploy.
var DefaultZones = []string{"cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"}

// Type tokens of the resources a test most often looks at.
const (
	Instance          = "alicloud:ecs/instance:Instance"
	SecurityGroupRule = "alicloud:ecs/securityGroupRule:SecurityGroupRule"
	SecurityGroup     = "alicloud:ecs/securityGroup:SecurityGroup"
	Command           = "command:remote:Command"
	LocalCommand      = "command:local:Command"
	CopyToRemote      = "command:remote:CopyToRemote"
	EIP               = "alicloud:ecs/eipAddress:EipAddress"
	Disk              = "alicloud:ecs/ecsDisk:EcsDisk"
	Stream            = jsassets.StreamToken
	Consumer          = jsassets.ConsumerToken
)

// DefaultImageID is the image the image lookup finds unless told otherwise.
const DefaultImageID = "debian_12_11_x64_20G_alibase_20250701.vhd"

// Resource is one registered resource: its type token, name, inputs, the
// state Mocks gave it, and the options the program registered it with.
type Resource struct {
	Type, Name string
	// URN is the resource's URN; ID its ID ("" for a component).
	URN, ID string
	Custom  bool
	Inputs  resource.PropertyMap
	State   resource.PropertyMap
	// Parent is the parent's URN ("" for the stack's own resources), and
	// Dependencies the URNs the resource depends on, sorted.
	Parent       string
	Dependencies []string
	// IgnoreChanges, DeleteBeforeReplace, RetainOnDelete and Protect are
	// the resource options of the same names.
	IgnoreChanges                                []string
	DeleteBeforeReplace, RetainOnDelete, Protect bool
	// Provider is the explicit provider's reference ("<urn>::<id>"), ""
	// for the default provider; Version the plugin version asked for.
	Provider, Version string

	// kept are the inputs the engine would keep in the state: Inputs with
	// the ignored ones of the run before (Mocks.Next).
	kept resource.PropertyMap
}

// NameOf is the name at the end of a URN: a Parent's or a Dependency's.
func NameOf(urn string) string {
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}

// TypeOf is the type token of a URN ("natsnest:index:Cluster").
func TypeOf(urn string) string {
	parts := strings.Split(urn, "::")
	if len(parts) < 4 {
		return ""
	}
	types := strings.Split(parts[2], "$")
	return types[len(types)-1]
}

// Input is a string input of r, "" when absent; a secret's value is
// returned as is.
func (r Resource) Input(key string) string {
	v, ok := r.Inputs[resource.PropertyKey(key)]
	if !ok {
		return ""
	}
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	if v.IsString() {
		return v.StringValue()
	}
	return fmt.Sprint(v.V)
}

// Mocks is a pulumi.MockResourceMonitor for programs that use natsnest.
// Its fields may be set before the program runs.
type Mocks struct {
	// Zones are the zones that offer the instance type and disk category
	// a program asks for (DefaultZones when nil). A zone the program lists
	// that is not here is refused, as on Alibaba Cloud.
	Zones []string
	// RegionZones are all the region's zones, what getZones answers when
	// asked without an instance type (Zones when nil).
	RegionZones []string
	// ImageID is what the image lookup finds (DefaultImageID when "").
	ImageID string
	// NoImage makes the image lookup find nothing.
	NoImage bool

	mu        sync.Mutex
	resources []Resource
	// previous are the resources of the run before (Next), by type and name.
	previous  map[string]Resource
	calls     []pulumi.MockCallArgs
	instances int
	eips      int
}

// idPrefixes make IDs look like Alibaba Cloud's: "i-…" for an instance.
var idPrefixes = map[string]string{
	"alicloud:vpc/network:Network": "vpc-", "alicloud:vpc/switch:Switch": "vsw-",
	SecurityGroup: "sg-", Instance: "i-", Disk: "d-", EIP: "eip-",
}

// compositeIDs are the IDs the provider composes of its inputs
// (terraform-provider-alicloud v1.144.0): "d-…:i-…" for a disk attachment,
// "eip-…:i-…" for an EIP association, "sg-…:ingress:tcp:22/22:intranet:
// 10.0.0.0/8:accept:1" for a security group rule.
var compositeIDs = map[string][]string{
	"alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment": {"diskId", "instanceId"},
	"alicloud:ecs/eipAssociation:EipAssociation":       {"allocationId", "instanceId"},
	SecurityGroupRule: {"securityGroupId", "type", "ipProtocol", "portRange", "nicType", "cidrIp|sourceSecurityGroupId", "policy", "priority"},
}

// compositeID joins the inputs keys names, "" when one is unknown.
func compositeID(in resource.PropertyMap, keys []string) string {
	var parts []string
	for _, k := range keys {
		v := ""
		for _, alt := range strings.Split(k, "|") {
			p := in[resource.PropertyKey(alt)]
			for p.IsSecret() {
				p = p.SecretValue().Element
			}
			switch {
			case p.IsString() && p.StringValue() != "":
				v = p.StringValue()
			case p.IsNumber():
				v = strconv.Itoa(int(p.NumberValue()))
			}
			if v != "" {
				break
			}
		}
		parts = append(parts, v)
	}
	return strings.Join(parts, ":")
}

// New returns Mocks for Hangzhou's zones and the default image.
func New() *Mocks { return &Mocks{} }

// Next returns Mocks for the next `pulumi up` of the same stack, with the
// same settings: a resource registered again with ignoreChanges gets the
// ignored inputs it had in this run, as the engine takes them from the
// state, before its state is made (a `cat` local command then prints the
// stdin it was created with). Its Inputs stay as the program gave them.
func (m *Mocks) Next() *Mocks {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := &Mocks{Zones: m.Zones, RegionZones: m.RegionZones, ImageID: m.ImageID, NoImage: m.NoImage, previous: map[string]Resource{}}
	for _, r := range m.resources {
		n.previous[r.Type+"::"+r.Name] = r
	}
	return n
}

// NewResource records the resource and gives it an ID shaped like Alibaba
// Cloud's ("i-<name>" for an instance, "sg-<name>" for a security group,
// "d-…:i-…" for a disk attachment, as compositeIDs says; "<name>-id" for
// other resources) and, for ECS instances and EIPs,
// addresses that do not depend on the order in which the engine registers
// them: a Cluster's node n (its instance "…-n", its EIP "…-n-eip") gets
// 172.16.0.(10+n) and 47.0.0.n; any other instance or EIP gets the next of
// 172.16.1.1, 172.16.1.2, … or 47.0.1.1, …. A pulumi-command resource's
// stdout and stderr are empty, and secret when its script is, as the
// provider makes them.
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := Resource{Type: args.TypeToken, Name: args.Name, Custom: args.Custom, Inputs: args.Inputs}
	if rpc := args.RegisterRPC; rpc != nil {
		r.Parent = rpc.GetParent()
		r.Dependencies = slices.Clone(rpc.GetDependencies())
		slices.Sort(r.Dependencies)
		r.IgnoreChanges = rpc.GetIgnoreChanges()
		r.DeleteBeforeReplace = rpc.GetDeleteBeforeReplace()
		r.RetainOnDelete = rpc.GetRetainOnDelete()
		r.Protect = rpc.GetProtect()
		r.Provider, r.Version = rpc.GetProvider(), rpc.GetVersion()
		// The URN the engine gives it: its parent's stack and project, and
		// its parent's type chain before its own type (none for the stack).
		if parts := strings.Split(r.Parent, "::"); len(parts) >= 4 {
			r.URN = parts[0] + "::" + parts[1] + "::"
			if TypeOf(r.Parent) != "pulumi:pulumi:Stack" {
				r.URN += parts[2] + "$"
			}
			r.URN += args.TypeToken + "::" + args.Name
		}
	}
	node := TypeOf(r.Parent) == natsnest.ClusterType
	state := args.Inputs.Copy()
	if old, ok := m.previous[args.TypeToken+"::"+args.Name]; ok {
		// The engine's ignoreChanges (top-level properties): the old
		// input, or none when there was none.
		for _, k := range r.IgnoreChanges {
			key := resource.PropertyKey(k)
			if v, had := old.kept[key]; had {
				state[key] = v
			} else {
				delete(state, key)
			}
		}
	}
	r.kept = state.Copy()
	switch args.TypeToken {
	case Instance:
		if n, ok := nodeNumber(args.Name); ok && node {
			state["privateIp"] = resource.NewProperty(fmt.Sprintf("172.16.0.%d", 10+n))
		} else {
			m.instances++
			state["privateIp"] = resource.NewProperty(fmt.Sprintf("172.16.1.%d", m.instances))
		}
		state["publicIp"] = resource.NewProperty("")
	case EIP:
		if n, ok := nodeNumber(args.Name); ok && node {
			state["ipAddress"] = resource.NewProperty(fmt.Sprintf("47.0.0.%d", n))
		} else {
			m.eips++
			state["ipAddress"] = resource.NewProperty(fmt.Sprintf("47.0.1.%d", m.eips))
		}
	case Command:
		state["stdout"], state["stderr"] = resource.NewProperty(""), resource.NewProperty("")
		if args.Inputs["create"].IsSecret() || args.Inputs["update"].IsSecret() {
			state["stdout"], state["stderr"] = resource.MakeSecret(state["stdout"]), resource.MakeSecret(state["stderr"])
		}
	case LocalCommand:
		// A local command runs nothing here; one that is `cat` prints its
		// stdin (natsnest's hostkey steps keep a value that way).
		state["stdout"], state["stderr"] = resource.NewProperty(""), resource.NewProperty("")
		if r.Input("create") == "cat" {
			state["stdout"] = state["stdin"]
		}
	}
	if args.Custom {
		r.ID = args.Name + "-id"
		if p, ok := idPrefixes[args.TypeToken]; ok {
			r.ID = p + args.Name
		}
		if keys, ok := compositeIDs[args.TypeToken]; ok {
			r.ID = compositeID(args.Inputs, keys)
		}
	}
	r.State = state
	m.resources = append(m.resources, r)
	return r.ID, state, nil
}

// nodeRE matches a Cluster node's instance ("…-3") and EIP ("…-3-eip").
var nodeRE = regexp.MustCompile(`-([1-9][0-9]?)(?:-eip)?$`)

// nodeNumber is a Cluster node's number in a resource name.
func nodeNumber(name string) (int, bool) {
	m := nodeRE.FindStringSubmatch(name)
	if m == nil {
		return 0, false
	}
	n, _ := strconv.Atoi(m[1])
	return n, true
}

// Call answers the lookups natsnest makes: ecs.getImages and getZones.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.calls = append(m.calls, args)
	m.mu.Unlock()
	switch args.Token {
	case "alicloud:ecs/getImages:getImages":
		id := m.ImageID
		if id == "" {
			id = DefaultImageID
		}
		if m.NoImage {
			return resource.PropertyMap{
				"ids":    resource.NewProperty([]resource.PropertyValue{}),
				"images": resource.NewProperty([]resource.PropertyValue{}),
			}, nil
		}
		return resource.PropertyMap{
			"ids": resource.NewProperty([]resource.PropertyValue{resource.NewProperty(id)}),
			"images": resource.NewProperty([]resource.PropertyValue{resource.NewProperty(resource.PropertyMap{
				"id": resource.NewProperty(id), "imageId": resource.NewProperty(id), "name": resource.NewProperty(id),
			})}),
		}, nil
	case "alicloud:index/getZones:getZones":
		zones := m.Zones
		if zones == nil {
			zones = DefaultZones
		}
		if _, filtered := args.Args["availableInstanceType"]; !filtered && m.RegionZones != nil {
			zones = m.RegionZones
		}
		var ids, list []resource.PropertyValue
		for _, z := range zones {
			ids = append(ids, resource.NewProperty(z))
			list = append(list, resource.NewProperty(resource.PropertyMap{"id": resource.NewProperty(z)}))
		}
		return resource.PropertyMap{"ids": resource.NewProperty(ids), "zones": resource.NewProperty(list)}, nil
	}
	return resource.PropertyMap{}, nil
}

// Resources are the registered resources of the given type token ("alicloud:ecs/instance:Instance"),
// or all of them for "", in registration order (which varies from run to
// run: the engine registers resources concurrently).
func (m *Mocks) Resources(typ string) []Resource {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Resource
	for _, r := range m.resources {
		if typ == "" || r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// Resource is the registered resource of type typ (any type for "") named
// name, and whether there is one. Names are unique per type only: a
// program may have a security group and an instance of one name.
func (m *Mocks) Resource(typ, name string) (Resource, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.IndexFunc(m.resources, func(r Resource) bool { return r.Name == name && (typ == "" || r.Type == typ) })
	if i < 0 {
		return Resource{}, false
	}
	return m.resources[i], true
}

// Rule is a registered security group rule, as Alibaba Cloud reads it.
type Rule struct {
	Name string
	// Direction is "ingress" or "egress"; Policy "accept" or "drop".
	Direction, Policy string
	// Protocol is "tcp", "udp", "icmp" or "all"; Ports "from/to" ("4222/4222").
	Protocol, Ports string
	// CIDR is the source (ingress) or destination address range; "" when
	// the rule names a security group instead (SourceGroup).
	CIDR        string
	SourceGroup string
	// SecurityGroup is the ID of the group the rule belongs to.
	SecurityGroup string
}

// Covers says whether the rule's port range holds port.
func (r Rule) Covers(port int) bool {
	var from, to int
	if _, err := fmt.Sscanf(r.Ports, "%d/%d", &from, &to); err != nil {
		return r.Protocol == "all"
	}
	return (from <= port && port <= to) || (from == -1 && to == -1)
}

// Public says whether the rule lets the whole internet in.
func (r Rule) Public() bool {
	return r.CIDR == "0.0.0.0/0" || r.CIDR == "::/0"
}

// Rules are the registered security group rules, sorted by name (the
// engine registers resources concurrently, so registration order varies).
func (m *Mocks) Rules() []Rule {
	var out []Rule
	for _, r := range m.Resources(SecurityGroupRule) {
		policy := r.Input("policy")
		if policy == "" {
			policy = "accept" // the provider's default
		}
		out = append(out, Rule{
			Name: r.Name, Direction: r.Input("type"), Policy: policy,
			Protocol: r.Input("ipProtocol"), Ports: r.Input("portRange"),
			CIDR: r.Input("cidrIp"), SourceGroup: r.Input("sourceSecurityGroupId"),
			SecurityGroup: r.Input("securityGroupId"),
		})
	}
	slices.SortFunc(out, func(a, b Rule) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// IngressTo are the rules that accept incoming traffic to port.
func (m *Mocks) IngressTo(port int) []Rule {
	var out []Rule
	for _, r := range m.Rules() {
		if r.Direction == "ingress" && r.Policy == "accept" && r.Covers(port) {
			out = append(out, r)
		}
	}
	return out
}

// Outputs are a Cluster's outputs once the program has run.
type Outputs struct {
	PrivateEndpoint, PublicEndpoint  string
	MonitoringURLs                   []string
	NodeNames, PrivateIPs, PublicIPs []string
	ClusterName, ImageID             string
	VpcID, SecurityGroupID           string
	// NatsContext is secret in the program; here it is plain.
	NatsContext string
}

// ClusterOutputs reads c's outputs; call it after pulumi.RunErr returned.
func ClusterOutputs(c *natsnest.Cluster) (Outputs, error) {
	var o Outputs
	var errs []error
	str := func(dst *string, out pulumi.StringOutput) {
		v, err := await(out)
		*dst, _ = v.(string)
		errs = append(errs, err)
	}
	strs := func(dst *[]string, out pulumi.StringArrayOutput) {
		v, err := await(out)
		*dst, _ = v.([]string)
		errs = append(errs, err)
	}
	str(&o.PrivateEndpoint, c.PrivateEndpoint)
	str(&o.PublicEndpoint, c.PublicEndpoint)
	strs(&o.MonitoringURLs, c.MonitoringURLs)
	strs(&o.NodeNames, c.NodeNames)
	strs(&o.PrivateIPs, c.PrivateIPs)
	strs(&o.PublicIPs, c.PublicIPs)
	str(&o.ClusterName, c.ClusterName)
	str(&o.ImageID, c.ImageID)
	str(&o.VpcID, c.VpcID)
	str(&o.SecurityGroupID, c.SecurityGroupID)
	str(&o.NatsContext, c.NatsContext)
	return o, errors.Join(errs...)
}

// await is an output's value; the program has run, so it is resolved.
func await(out pulumi.Output) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := internals.UnsafeAwaitOutput(ctx, out)
	return r.Value, err
}

// Calls are the lookups the program made with token ("" for all), in order.
func (m *Mocks) Calls(token string) []pulumi.MockCallArgs {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []pulumi.MockCallArgs
	for _, c := range m.calls {
		if token == "" || c.Token == token {
			out = append(out, c)
		}
	}
	return out
}

// Run runs program under m as stack "test" of project, with config: its
// keys without the project's namespace ("adminPassword"), those named in
// secretKeys set as secrets, as `pulumi config set --secret` would.
func (m *Mocks) Run(project string, program pulumi.RunFunc, config map[string]string, secretKeys ...string) error {
	return pulumi.RunErr(program, pulumi.WithMocks(project, "test", m), func(info *pulumi.RunInfo) {
		info.Config = map[string]string{}
		for k, v := range config {
			info.Config[project+":"+k] = v
		}
		for _, k := range secretKeys {
			info.ConfigSecretKeys = append(info.ConfigSecretKeys, project+":"+k)
		}
	})
}
