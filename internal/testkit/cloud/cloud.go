// Package cloud is an emulated Alibaba Cloud region for the machine tier:
// the resources natsnest uses (VPC, vswitch, security group and rules, ECS
// instance, data disk and its attachment, EIP and its association) and the
// two lookups (images, zones), behind the Pulumi provider protocol, with the
// rules of the real provider — terraform-provider-alicloud v1.144.0, which
// pulumi-alicloud v3.10.0 wraps — for what forces a replacement, what stops
// and starts an instance, the IDs and outputs it computes, and the input it
// refuses. rules.go cites the upstream line each rule copies.
//
// The engine starts a provider plugin per operation and kills it after; the
// cloud outlives them in the test process (Serve), and the plugin the engine
// runs (./shim, built as pulumi-resource-alicloud) only forwards to it.
// What a resource does to real things — boot a machine, attach a block
// device, translate an address — is the Backend's.
package cloud

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Backend does to real things what the cloud's resources say.
type Backend interface {
	// Boot makes and starts a machine for a new instance.
	Boot(inst Instance) error
	// Stop and Start power an instance's machine off and on again (a new
	// boot).
	Stop(id string) error
	Start(id string) error
	// Release removes an instance's machine.
	Release(id string) error
	// Readdress gives a stopped instance another private address (a new
	// vswitch or private_ip).
	Readdress(id, ip string) error
	// NewDisk makes a block device whose serial is the disk ID.
	NewDisk(id string, sizeGiB int) error
	DeleteDisk(id string) error
	// Attach gives a running instance the disk; Detach takes it away and
	// says whether it was mounted (or natsd was running) at that moment.
	Attach(diskID, instanceID string) error
	Detach(diskID, instanceID string) (mounted bool, err error)
	// Associate makes an extra address reach the instance (it does not see
	// it on an interface); Disassociate undoes it.
	Associate(eipAddress, instanceID string) error
	Disassociate(eipAddress, instanceID string) error
}

// Instance is what Backend.Boot makes a machine of.
type Instance struct {
	ID, HostName, PrivateIP string
	// Password is root's (password login allowed); AuthorizedKey the key
	// pair's public key (Cloud.KeyPairs).
	Password, AuthorizedKey string
	// UserData runs through cloud-init at first boot.
	UserData string
}

// Cloud is one emulated region. Set the exported fields before Serve.
type Cloud struct {
	Region  string
	Zones   []string
	ImageID string
	// PublicPool is where EIP addresses are allocated from: addresses the
	// test created, never anyone else's.
	PublicPool netip.Prefix
	// KeyPairs are the key pairs of the account by name: public keys.
	KeyPairs map[string]string
	Backend  Backend

	mu      sync.Mutex
	seq     int
	objects map[string]*object
	events  []string
}

type object struct {
	kind  *kind
	id    string
	state resource.PropertyMap
}

// Events is what the cloud did, in order: "create i-3", "stop i-3",
// "detach d-4 from i-3 (detached while mounted)", ….
func (c *Cloud) Events() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

// DetachedWhileMounted is every event that pulled a disk from under a
// running store.
func (c *Cloud) DetachedWhileMounted() []string {
	var out []string
	for _, e := range c.Events() {
		if strings.Contains(e, "detached while mounted") {
			out = append(out, e)
		}
	}
	return out
}

// Live is every object the cloud holds, "<kind token> <id>", sorted: what
// a destroy left behind.
func (c *Cloud) Live() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for id, o := range c.objects {
		out = append(out, o.kind.token+" "+id)
	}
	slices.Sort(out)
	return out
}

func (c *Cloud) logf(format string, args ...any) {
	c.events = append(c.events, fmt.Sprintf(format, args...))
}

func (c *Cloud) newID(prefix string) string {
	c.seq++
	return fmt.Sprintf("%s-nn%06d", prefix, c.seq)
}

// get is the object of a kind by ID, or nil.
func (c *Cloud) get(token, id string) *object {
	o := c.objects[id]
	if o == nil || o.kind.token != token {
		return nil
	}
	return o
}

func (c *Cloud) create(k *kind, name string, in resource.PropertyMap) (string, resource.PropertyMap, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.objects == nil {
		c.objects = map[string]*object{}
	}
	id, out, err := k.create(c, name, in)
	if err != nil {
		return "", nil, err
	}
	c.objects[id] = &object{kind: k, id: id, state: out}
	c.logf("create %s %s (%s)", k.short, id, name)
	return id, out, nil
}

func (c *Cloud) read(k *kind, id string) (resource.PropertyMap, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.get(k.token, id)
	if o == nil {
		return nil, false
	}
	return o.state.Copy(), true
}

func (c *Cloud) update(k *kind, id string, news resource.PropertyMap, changed []string) (resource.PropertyMap, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.get(k.token, id)
	if o == nil {
		return nil, fmt.Errorf("%s %s does not exist", k.short, id)
	}
	if k.update == nil {
		return nil, fmt.Errorf("%s %s: the emulated cloud cannot update %v in place", k.short, id, changed)
	}
	out, err := k.update(c, o, news, changed)
	if err != nil {
		return nil, err
	}
	o.state = out
	c.logf("update %s %s: %s", k.short, id, strings.Join(changed, ", "))
	return out, nil
}

func (c *Cloud) remove(k *kind, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.get(k.token, id)
	if o == nil {
		return nil
	}
	if k.remove != nil {
		if err := k.remove(c, o); err != nil {
			return err
		}
	}
	delete(c.objects, id)
	c.logf("delete %s %s", k.short, id)
	return nil
}

// str is a property's string value, "" when unset.
func str(m resource.PropertyMap, key string) string {
	v := m[resource.PropertyKey(key)]
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

func num(m resource.PropertyMap, key string) float64 {
	v := m[resource.PropertyKey(key)]
	if v.IsNumber() {
		return v.NumberValue()
	}
	return 0
}
