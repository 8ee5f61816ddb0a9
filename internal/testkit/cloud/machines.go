package cloud

import (
	"fmt"
	"net/netip"
	"sync"

	"github.com/natsnest/pulumi-natsnest/internal/testkit/machines"
)

// Machines is the Backend of real things: each instance a machine of a VPC
// fleet (machines.Options.VPC) booted with cloud-init, each disk a zram
// device hot-plugged into it, each EIP an address the host translates to
// the instance's private one.
type Machines struct {
	Fleet *machines.Fleet

	mu    sync.Mutex
	vms   map[string]*machines.Machine
	disks map[string]*machines.Disk
}

// NewMachines is the backend of fleet, which must be a VPC fleet.
func NewMachines(fleet *machines.Fleet) *Machines {
	return &Machines{Fleet: fleet, vms: map[string]*machines.Machine{}, disks: map[string]*machines.Disk{}}
}

// Machine is the machine of instance id, or nil.
func (b *Machines) Machine(id string) *machines.Machine {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.vms[id]
}

func (b *Machines) vm(id string) (*machines.Machine, error) {
	if m := b.Machine(id); m != nil {
		return m, nil
	}
	return nil, fmt.Errorf("no machine for instance %s", id)
}

func (b *Machines) Boot(inst Instance) error {
	addr, err := netip.ParseAddr(inst.PrivateIP)
	if err != nil {
		return err
	}
	spec := machines.InstanceSpec{Name: inst.ID, HostName: inst.HostName, Addr: addr, RootPassword: inst.Password, UserData: inst.UserData}
	if inst.AuthorizedKey != "" {
		spec.AuthorizedKeys = []string{inst.AuthorizedKey}
	}
	m, err := b.Fleet.AddMachine(spec)
	if m != nil {
		b.mu.Lock()
		b.vms[inst.ID] = m
		b.mu.Unlock()
	}
	return err
}

func (b *Machines) Stop(id string) error {
	m, err := b.vm(id)
	if err != nil {
		return err
	}
	return m.PowerOff()
}

func (b *Machines) Start(id string) error {
	m, err := b.vm(id)
	if err != nil {
		return err
	}
	return m.Boot()
}

func (b *Machines) Release(id string) error {
	m, err := b.vm(id)
	if err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.vms, id)
	b.mu.Unlock()
	return b.Fleet.RemoveMachine(m)
}

func (b *Machines) NewDisk(id string, sizeGiB int) error {
	d, err := b.Fleet.NewDisk(id, int64(sizeGiB)<<30)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.disks[id] = d
	b.mu.Unlock()
	return nil
}

// Disk is the block device of the disk id, nil if there is none.
func (b *Machines) Disk(id string) *machines.Disk {
	d, _ := b.disk(id)
	return d
}

func (b *Machines) disk(id string) (*machines.Disk, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d := b.disks[id]; d != nil {
		return d, nil
	}
	return nil, fmt.Errorf("no disk %s", id)
}

func (b *Machines) DeleteDisk(id string) error {
	d, err := b.disk(id)
	if err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.disks, id)
	b.mu.Unlock()
	return b.Fleet.DeleteDisk(d)
}

func (b *Machines) Attach(diskID, instanceID string) error {
	d, err := b.disk(diskID)
	if err != nil {
		return err
	}
	m, err := b.vm(instanceID)
	if err != nil {
		return err
	}
	return m.Attach(d)
}

func (b *Machines) Detach(diskID, instanceID string) (bool, error) {
	d, err := b.disk(diskID)
	if err != nil {
		return false, err
	}
	m, err := b.vm(instanceID)
	if err != nil {
		return false, err
	}
	return m.Detach(d)
}

func (b *Machines) Associate(addr, instanceID string) error {
	m, err := b.vm(instanceID)
	if err != nil {
		return err
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return err
	}
	return b.Fleet.Associate(a, m)
}

func (b *Machines) Disassociate(addr, instanceID string) error {
	m, err := b.vm(instanceID)
	if err != nil {
		return err
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return err
	}
	return b.Fleet.Disassociate(a, m)
}

// DiskOn is the instance the disk is attached to, "" for none.
func (b *Machines) DiskOn(id string) string {
	d, err := b.disk(id)
	if err != nil {
		return ""
	}
	return d.On()
}

func (b *Machines) Readdress(id, ip string) error {
	m, err := b.vm(id)
	if err != nil {
		return err
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return err
	}
	return m.SetAddr(a)
}
