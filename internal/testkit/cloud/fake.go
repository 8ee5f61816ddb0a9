package cloud

import (
	"fmt"
	"slices"
	"sync"
)

// Recorder is a Backend without machines: it records what the cloud asked
// of it, each instance's boots and each disk's instance. Fast tiers and the
// emulator's own tests use it; the machine tier uses machines.
type Recorder struct {
	mu        sync.Mutex
	instances map[string]*RecordedInstance
	disks     map[string]string // disk → instance, "" when detached
	eips      map[string]string // address → instance
	// Mounted says whether a disk counts as mounted when detached.
	Mounted func(diskID string) bool
}

// RecordedInstance is one instance as the Recorder saw it.
type RecordedInstance struct {
	Instance
	// Boots counts the instance's boots: a stop and start adds one.
	Boots   int
	Running bool
}

// NewRecorder is an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{instances: map[string]*RecordedInstance{}, disks: map[string]string{}, eips: map[string]string{}}
}

// Instance is the recorded instance id, or nil.
func (r *Recorder) Instance(id string) *RecordedInstance {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := r.instances[id]; i != nil {
		c := *i
		return &c
	}
	return nil
}

// DiskOn is the instance a disk is attached to, "" for none.
func (r *Recorder) DiskOn(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.disks[id]
}

// EIPOn is the instance an address reaches, "" for none.
func (r *Recorder) EIPOn(addr string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.eips[addr]
}

func (r *Recorder) Boot(inst Instance) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.instances[inst.ID] = &RecordedInstance{Instance: inst, Boots: 1, Running: true}
	return nil
}

func (r *Recorder) inst(id string) (*RecordedInstance, error) {
	i := r.instances[id]
	if i == nil {
		return nil, fmt.Errorf("recorder: no instance %s", id)
	}
	return i, nil
}

func (r *Recorder) Stop(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, err := r.inst(id)
	if err == nil {
		i.Running = false
	}
	return err
}

func (r *Recorder) Start(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, err := r.inst(id)
	if err == nil {
		i.Running = true
		i.Boots++
	}
	return err
}

func (r *Recorder) Release(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.instances, id)
	return nil
}

func (r *Recorder) NewDisk(id string, sizeGiB int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.disks[id] = ""
	return nil
}

func (r *Recorder) DeleteDisk(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.disks, id)
	return nil
}

func (r *Recorder) Attach(diskID, instanceID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.disks[diskID] = instanceID
	return nil
}

func (r *Recorder) Detach(diskID, instanceID string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.disks[diskID] = ""
	return r.Mounted != nil && r.Mounted(diskID), nil
}

func (r *Recorder) Associate(addr, instanceID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eips[addr] = instanceID
	return nil
}

func (r *Recorder) Disassociate(addr, instanceID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.eips, addr)
	return nil
}

func (r *Recorder) Readdress(id, ip string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, err := r.inst(id)
	if err == nil {
		if i.Running {
			return fmt.Errorf("recorder: instance %s is running", id)
		}
		i.PrivateIP = ip
	}
	return err
}

// Snapshot is the instances and their boots at one moment.
type Snapshot map[string]int

// Snapshot is every instance's boot count now.
func (r *Recorder) Snapshot() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Snapshot{}
	for id, i := range r.instances {
		s[id] = i.Boots
	}
	return s
}

// InstanceIDs are the instances, sorted.
func (s Snapshot) InstanceIDs() []string {
	var ids []string
	for id := range s {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// TotalBoots is the sum of every instance's boots.
func (s Snapshot) TotalBoots() int {
	n := 0
	for _, b := range s {
		n += b
	}
	return n
}
