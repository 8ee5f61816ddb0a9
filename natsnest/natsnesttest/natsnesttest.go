// Package natsnesttest unit-tests programs that use natsnest, under
// pulumi.WithMocks, without writing a fake Alibaba Cloud: Mocks answers what
// natsnest.NewCluster asks for (the image and zone lookups), gives ECS
// instances private addresses and EIPs public ones, and records every
// resource so a test can look at what the program registered.
//
//	m := natsnesttest.New()
//	err := pulumi.RunErr(program, pulumi.WithMocks("project", "stack", m))
//	inst, _ := m.Resource(natsnesttest.Instance, "events-nats-1")
//
// Nothing is built or dialled: under mocks natsnest builds no binary and
// runs no command.
package natsnesttest

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
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
	CopyToRemote      = "command:remote:CopyToRemote"
	EIP               = "alicloud:ecs/eipAddress:EipAddress"
)

// DefaultImageID is the image the image lookup finds unless told otherwise.
const DefaultImageID = "debian_12_11_x64_20G_alibase_20250701.vhd"

// Resource is one registered resource: its type token, name, inputs and
// the state Mocks gave it.
type Resource struct {
	Type, Name string
	ID         string
	Inputs     resource.PropertyMap
	State      resource.PropertyMap
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
	// Zones are the region's zones (DefaultZones when nil). A zone the
	// program lists that is not here is refused, as on Alibaba Cloud.
	Zones []string
	// ImageID is what the image lookup finds (DefaultImageID when "").
	ImageID string

	mu        sync.Mutex
	resources []Resource
	instances int
	eips      int
}

// New returns Mocks for Hangzhou's zones and the default image.
func New() *Mocks { return &Mocks{} }

// NewResource records the resource and gives it an ID and, for ECS
// instances and EIPs, addresses that do not depend on the order in which
// the engine registers them: a Cluster's node n (an instance named
// "…-n", its EIP "…-n-eip") gets 172.16.0.(10+n) and 47.0.0.n; any other
// instance or EIP gets the next of 172.16.1.1, 172.16.1.2, … or 47.0.1.1, ….
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	state := args.Inputs.Copy()
	switch args.TypeToken {
	case Instance:
		if n, ok := nodeNumber(args.Name); ok {
			state["privateIp"] = resource.NewProperty(fmt.Sprintf("172.16.0.%d", 10+n))
		} else {
			m.instances++
			state["privateIp"] = resource.NewProperty(fmt.Sprintf("172.16.1.%d", m.instances))
		}
		state["publicIp"] = resource.NewProperty("")
	case EIP:
		if n, ok := nodeNumber(args.Name); ok {
			state["ipAddress"] = resource.NewProperty(fmt.Sprintf("47.0.0.%d", n))
		} else {
			m.eips++
			state["ipAddress"] = resource.NewProperty(fmt.Sprintf("47.0.1.%d", m.eips))
		}
	case Command:
		state["stdout"], state["stderr"] = resource.NewProperty(""), resource.NewProperty("")
	}
	id := ""
	if args.Custom {
		id = args.Name + "-id"
	}
	m.resources = append(m.resources, Resource{Type: args.TypeToken, Name: args.Name, ID: id, Inputs: args.Inputs, State: state})
	return id, state, nil
}

// nodeRE matches a Cluster node's instance ("…-nats-3") and EIP ("…-nats-3-eip").
var nodeRE = regexp.MustCompile(`-nats-([1-9][0-9]?)(?:-eip)?$`)

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
	switch args.Token {
	case "alicloud:ecs/getImages:getImages":
		id := m.ImageID
		if id == "" {
			id = DefaultImageID
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
// or all of them for "", in registration order.
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
