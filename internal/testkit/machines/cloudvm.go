package machines

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// What an emulated cloud (internal/testkit/cloud) makes of a VPC fleet:
// machines booted on demand as its instances, with cloud-init, disks
// attached to and detached from running machines, and extra addresses
// (EIPs) translated to a machine that does not see them.

// InstanceSpec is an instance AddMachine boots, as an ECS instance would
// come up from Alibaba Cloud's Debian 12 image.
type InstanceSpec struct {
	// Name is the machine's name: the instance ID.
	Name string
	// HostName is its host name (cloud-init's local-hostname).
	HostName string
	// Addr is its private address, inside the fleet's VPC.
	Addr netip.Addr
	// RootPassword, when set, becomes root's password with password login
	// allowed.
	RootPassword string
	// AuthorizedKeys are root's keys besides the fleet's (a key pair's).
	AuthorizedKeys []string
	// UserData runs through cloud-init at the first boot (NoCloud seed).
	UserData string
}

// natChain is the host's iptables nat chain for EIPs; CleanStale removes it.
const natChain = "NATSNEST-E2E"

// imageSSHConfig is what Alibaba Cloud's Debian images allow that the
// fixture's own machines do not: root logs in with its password.
const imageSSHConfig = "# natsnest machine fixture: as Alibaba Cloud's Debian 12 image\nPermitRootLogin yes\n"

// AddMachine boots a new machine for an instance in a VPC fleet. Its SSH
// host keys are cloud-init's, made at its first boot: the fleet reads them
// from the machine's disk.
func (f *Fleet) AddMachine(s InstanceSpec) (*Machine, error) {
	if !f.vpc {
		return nil, errors.New("machines: AddMachine needs a fleet made with Options.VPC")
	}
	if !f.Prefix.Contains(s.Addr) || s.Addr.String() == f.HostAddr {
		return nil, fmt.Errorf("machines: %s is not an instance address of the VPC %s", s.Addr, f.Prefix)
	}
	f.mu.Lock()
	f.next++
	i := f.next
	f.mu.Unlock()
	m, err := f.newMachine(i, s.Name, s.Addr, Options{NoDisk: true, hostName: s.HostName})
	if err != nil {
		return nil, err
	}
	m.cloud = true
	if err := m.seed(s); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.Machines = append(f.Machines, m)
	f.mu.Unlock()
	if err := m.Boot(); err != nil {
		return m, err
	}
	return m, nil
}

// seed writes what cloud-init reads at the first boot (a NoCloud seed: the
// instance's meta-data, its user_data, and as vendor-data what ECS sets
// up itself: root's password) and switches cloud-init on.
func (m *Machine) seed(s InstanceSpec) error {
	vendor := "#cloud-config\n# natsnest's emulated cloud: what ECS sets up for every instance\ndisable_root: false\n"
	if s.RootPassword != "" {
		vendor += fmt.Sprintf("ssh_pwauth: true\nchpasswd:\n  expire: false\n  users:\n    - {name: root, password: %s, type: text}\n", strconv.Quote(s.RootPassword))
	}
	user := s.UserData
	if user == "" {
		user = "#cloud-config\n{}\n"
	}
	keys := string(ssh.MarshalAuthorizedKey(m.fleet.signer.PublicKey()))
	for _, k := range s.AuthorizedKeys {
		keys += strings.TrimSpace(k) + "\n"
	}
	files := []struct {
		path, content string
		mode          os.FileMode
	}{
		{"var/lib/cloud/seed/nocloud/meta-data", fmt.Sprintf("instance-id: %s\nlocal-hostname: %s\n", s.Name, s.HostName), 0o600},
		{"var/lib/cloud/seed/nocloud/user-data", user, 0o600},
		{"var/lib/cloud/seed/nocloud/vendor-data", vendor, 0o600},
		{"etc/ssh/sshd_config.d/01-alibaba-image.conf", imageSSHConfig, 0o644},
		{"root/.ssh/authorized_keys", keys, 0o600},
	}
	for _, fl := range files {
		p := filepath.Join(m.root, fl.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(fl.content), fl.mode); err != nil {
			return err
		}
	}
	return os.Remove(filepath.Join(m.root, "etc/cloud/cloud-init.disabled"))
}

// hostKeyCallback pins the machine's host key: the one the fixture gave
// it, or for an instance, the one on its disk now (cloud-init makes new
// keys at the first boot; reading them from the host is the trusted path).
func (m *Machine) hostKeyCallback() ssh.HostKeyCallback {
	if !m.cloud {
		return ssh.FixedHostKey(m.HostKey)
	}
	return func(host string, remote net.Addr, key ssh.PublicKey) error {
		data, err := os.ReadFile(filepath.Join(m.root, "etc/ssh/ssh_host_ed25519_key.pub"))
		if err != nil {
			return fmt.Errorf("%s: no host key on its disk yet: %w", m.Name, err)
		}
		want, _, _, _, err := ssh.ParseAuthorizedKey(data)
		if err != nil {
			return err
		}
		return ssh.FixedHostKey(want)(host, remote, key)
	}
}

// CurrentHostKey is the machine's ed25519 host key as on its disk now.
func (m *Machine) CurrentHostKey() (ssh.PublicKey, error) {
	data, err := os.ReadFile(filepath.Join(m.root, "etc/ssh/ssh_host_ed25519_key.pub"))
	if err != nil {
		return nil, err
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(data)
	return k, err
}

// SetAddr gives a powered-off machine another address in the VPC.
func (m *Machine) SetAddr(a netip.Addr) error {
	if m.running() {
		return fmt.Errorf("machines: %s must be off to change its address", m.Name)
	}
	if !m.fleet.Prefix.Contains(a) {
		return fmt.Errorf("machines: %s is outside the VPC %s", a, m.fleet.Prefix)
	}
	if err := run("ip", "-n", m.netns, "addr", "flush", "dev", "eth0"); err != nil {
		return err
	}
	if err := run("ip", "-n", m.netns, "addr", "add", fmt.Sprintf("%s/%d", a, m.fleet.Prefix.Bits()), "dev", "eth0"); err != nil {
		return err
	}
	m.Addr = a.String()
	return nil
}

// BootID is the machine's current boot ID: nspawn gives every boot a new one.
func (m *Machine) BootID() (string, error) {
	out, err := m.Run("cat /proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(out), err
}

// RemoveMachine powers the machine off at once, as a released instance,
// and removes it.
func (f *Fleet) RemoveMachine(m *Machine) error {
	m.Kill()
	f.mu.Lock()
	f.Machines = slices.DeleteFunc(f.Machines, func(x *Machine) bool { return x == m })
	f.mu.Unlock()
	return m.remove()
}

// Disk is a block device of its own, attachable to one machine at a time
// (a cloud data disk): a zram device, lsblk TYPE "disk", with Serial as its
// serial number.
type Disk struct {
	Serial, Device string
	devno          string
	dir            string
	on             *Machine
}

// NewDisk makes a disk of size bytes, attached to nothing.
func (f *Fleet) NewDisk(serial string, size int64) (*Disk, error) {
	if serial == "" || strings.ContainsAny(serial, " \t\n/") {
		return nil, fmt.Errorf("machines: disk serial %q must be one word", serial)
	}
	d := &Disk{Serial: serial, dir: filepath.Join(workRoot, "disk-"+serial)}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return nil, err
	}
	id, err := os.ReadFile("/sys/class/zram-control/hot_add")
	if err != nil {
		return nil, fmt.Errorf("zram: %w", err)
	}
	d.Device = "/dev/zram" + strings.TrimSpace(string(id))
	// Recorded first, so CleanStale finds it if the next steps fail.
	if err := os.WriteFile(filepath.Join(d.dir, "zram"), []byte(d.Device+"\n"), 0o644); err != nil {
		return nil, err
	}
	name := filepath.Base(d.Device)
	if err := os.WriteFile("/sys/block/"+name+"/disksize", []byte(strconv.FormatInt(size, 10)), 0o644); err != nil {
		return nil, fmt.Errorf("zram %s disksize: %w", name, err)
	}
	var st syscall.Stat_t
	for i := 0; ; i++ { // devtmpfs creates the node
		if err := syscall.Stat(d.Device, &st); err == nil {
			break
		} else if i == 50 {
			return nil, err
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.devno = fmt.Sprintf("%d:%d", unixMajor(st.Rdev), unixMinor(st.Rdev))
	f.mu.Lock()
	f.disks = append(f.disks, d)
	f.mu.Unlock()
	return d, nil
}

// On is the name of the machine the disk is attached to, "" for none.
func (d *Disk) On() string {
	if d.on == nil {
		return ""
	}
	return d.on.Name
}

// DeleteDisk frees a detached disk.
func (f *Fleet) DeleteDisk(d *Disk) error {
	if d.on != nil {
		return fmt.Errorf("machines: disk %s is attached to %s", d.Serial, d.on.Name)
	}
	f.mu.Lock()
	f.disks = slices.DeleteFunc(f.disks, func(x *Disk) bool { return x == d })
	f.mu.Unlock()
	err := removeZram(d.Device)
	os.RemoveAll(d.dir)
	return err
}

// attached is the machine's hot-pluggable disks.
func (m *Machine) attached() []*Disk {
	m.fleet.mu.Lock()
	defer m.fleet.mu.Unlock()
	var out []*Disk
	for _, d := range m.fleet.disks {
		if d.on == m {
			out = append(out, d)
		}
	}
	return out
}

// writeDisks records the attached disks for the machine's udev stand-in,
// which gives each its serial number at boot.
func (m *Machine) writeDisks() error {
	var lines []string
	for _, d := range m.attached() {
		lines = append(lines, fmt.Sprintf("%s %s %s", d.Device, d.devno, d.Serial))
	}
	p := filepath.Join(m.root, udevFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// initPID is the host PID of the machine's init, or 0 when it is off.
func (m *Machine) initPID() int {
	m.mu.Lock()
	cmd := m.cmd
	m.mu.Unlock()
	if cmd == nil {
		return 0
	}
	for _, p := range childPIDs(cmd.Process.Pid) {
		return p
	}
	return 0
}

// devicesCgroup is the machine's cgroup v1 devices directory.
func (m *Machine) devicesCgroup() string {
	return filepath.Join("/sys/fs/cgroup/devices", cgroupParent, m.Name)
}

// Attach gives the machine the disk, also while it runs: the device is
// allowed in its cgroup, its node made inside it, and its serial number
// recorded, as a hot-plugged virtio disk appears in a VM.
func (m *Machine) Attach(d *Disk) error {
	if d.on != nil {
		return fmt.Errorf("machines: disk %s is attached to %s already", d.Serial, d.on.Name)
	}
	m.fleet.mu.Lock()
	d.on = m
	m.fleet.mu.Unlock()
	if err := m.writeDisks(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(m.devicesCgroup(), "devices.allow"), []byte("b "+d.devno+" rwm"), 0o644); err != nil {
		return fmt.Errorf("machines: allowing %s in %s's cgroup (hot-plugging needs cgroup v1's devices controller): %w", d.Device, m.Name, err)
	}
	pid := m.initPID()
	if pid == 0 {
		return nil // bound at the next boot
	}
	maj, min, _ := strings.Cut(d.devno, ":")
	if err := run("nsenter", "-t", strconv.Itoa(pid), "-m", "--", "sh", "-c", fmt.Sprintf("mknod %s b %s %s && chmod 0660 %s", d.Device, maj, min, d.Device)); err != nil {
		return err
	}
	_, err := m.Run("/" + udevScript)
	return err
}

// Detach takes the disk away, also from a running machine, and says
// whether it was in use at that moment: mounted, or natsd running.
func (m *Machine) Detach(d *Disk) (mounted bool, err error) {
	if d.on != m {
		return false, fmt.Errorf("machines: disk %s is not attached to %s", d.Serial, m.Name)
	}
	if pid := m.initPID(); pid != 0 {
		out, _ := m.Run(fmt.Sprintf("findmnt -rn -S %s >/dev/null && echo mounted; systemctl is-active --quiet natsd && echo natsd; true", d.Device))
		mounted = strings.TrimSpace(out) != ""
		maj, min, _ := strings.Cut(d.devno, ":")
		_ = run("nsenter", "-t", strconv.Itoa(pid), "-m", "--", "rm", "-f", d.Device, "/run/udev/data/b"+maj+":"+min)
	}
	m.fleet.mu.Lock()
	d.on = nil
	m.fleet.mu.Unlock()
	_ = os.WriteFile(filepath.Join(m.devicesCgroup(), "devices.deny"), []byte("b "+d.devno+" rwm"), 0o644)
	return mounted, m.writeDisks()
}

// Associate makes eip reach the machine from the host: packets the host
// sends to eip go to the machine's private address (iptables DNAT), and
// the machine never sees eip on an interface, as with an ECS EIP.
func (f *Fleet) Associate(eip netip.Addr, m *Machine) error {
	if err := f.natChain(); err != nil {
		return err
	}
	if err := run("ip", "route", "replace", eip.String()+"/32", "dev", bridgeName); err != nil {
		return err
	}
	return run("iptables", "-t", "nat", "-A", natChain, "-d", eip.String()+"/32", "-j", "DNAT", "--to-destination", m.Addr,
		"-m", "comment", "--comment", "natsnest-e2e "+m.Name)
}

// Disassociate undoes Associate.
func (f *Fleet) Disassociate(eip netip.Addr, m *Machine) error {
	_ = run("ip", "route", "del", eip.String()+"/32", "dev", bridgeName)
	return run("iptables", "-t", "nat", "-D", natChain, "-d", eip.String()+"/32", "-j", "DNAT", "--to-destination", m.Addr,
		"-m", "comment", "--comment", "natsnest-e2e "+m.Name)
}

func (f *Fleet) natChain() error {
	if err := run("iptables", "-t", "nat", "-n", "-L", natChain); err == nil {
		return nil
	}
	if err := run("iptables", "-t", "nat", "-N", natChain); err != nil {
		return fmt.Errorf("machines: EIPs need iptables' nat table: %w", err)
	}
	return run("iptables", "-t", "nat", "-I", "OUTPUT", "-j", natChain)
}

// removeNATChain removes the EIP chain (CleanStale, teardown).
func removeNATChain() bool {
	if err := run("iptables", "-t", "nat", "-n", "-L", natChain); err != nil {
		return false
	}
	for run("iptables", "-t", "nat", "-D", "OUTPUT", "-j", natChain) == nil {
	}
	_ = run("iptables", "-t", "nat", "-F", natChain)
	_ = run("iptables", "-t", "nat", "-X", natChain)
	return true
}
