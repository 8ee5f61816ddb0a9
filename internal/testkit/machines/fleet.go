package machines

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Names of everything the fixture creates on the host. The prefix is how New
// recognises leftovers of a crashed run; nothing else on the host uses it.
const (
	workRoot     = "/var/lib/natsnest-e2e"
	globalLock   = "/run/natsnest-e2e.lock"
	bridgeName   = "nne2e0"
	vethPrefix   = "nne2e" // host side: nne2e1, nne2e2, …
	netnsPrefix  = "natsnest-e2e-"
	cgroupParent = "natsnest-e2e"
)

// DefaultDiskSize is each machine's data disk: a sparse file, so it costs
// only what is written.
const DefaultDiskSize = int64(2) << 30

// Options say what fleet New boots.
type Options struct {
	// N is the number of machines. Defaults to len(Names), or 1.
	N int
	// Names are the machines' host names (and nspawn machine names).
	// Defaults to "node-1" … "node-N".
	Names []string
	// DiskSize is the size of each machine's data disk in bytes. Defaults to
	// DefaultDiskSize.
	DiskSize int64
	// NoDisk boots machines without a data disk.
	NoDisk bool
	// DiskKinds are the machines' data disk kinds, by index. Defaults to
	// DiskLoop for every machine.
	DiskKinds []DiskKind
	// ServeDir is served over HTTP on the bridge at Fleet.HTTPURL. Defaults
	// to a fresh empty directory, Fleet.HTTPDir, that the test may fill.
	ServeDir string
	// VPC makes the bridge a whole /16 — an emulated cloud's VPC, whose
	// instances AddMachine boots later at addresses the cloud allocates —
	// and boots no machine now (N and Names must be unset).
	VPC bool
	// VPCPrefix is the VPC's network when it must be a given one (the
	// default VPC of the program under test); New fails if it overlaps
	// any address or route of the host. Defaults to a free /16.
	VPCPrefix netip.Prefix

	hostName string // AddMachine's: the machine's host name
}

// Fleet is a set of booted machines on one private bridge.
type Fleet struct {
	Machines []*Machine
	// Prefix is the bridge's network, e.g. 10.77.0.0/24; it was checked to
	// overlap nothing on the host.
	Prefix netip.Prefix
	// HostAddr is the host's address on the bridge: the machines reach the
	// HTTP server (and nothing else of the host) there.
	HostAddr string
	// HTTPURL serves HTTPDir to the machines, e.g. "http://10.77.0.1:41234".
	HTTPURL string
	HTTPDir string
	// User and PrivateKeyPEM log in to every machine (OpenSSH format, ed25519).
	User          string
	PrivateKeyPEM string
	// DataDisks says whether the machines have loop-device data disks; when
	// false, DataDiskNote says why.
	DataDisks    bool
	DataDiskNote string

	t        testing.TB
	vpc      bool
	mu       sync.Mutex // Machines, next, disks: AddMachine runs concurrently
	next     int        // the last machine index used (veth names)
	disks    []*Disk
	signer   ssh.Signer
	rootfs   string
	unlock   func()
	httpSrv  *http.Server
	httpHits sync.Map // path → *atomic.Int64
}

// New boots a fleet for t and removes all of it when t ends, failed or not.
// It first removes whatever a crashed earlier run left behind. It skips t
// (see Require) when machines cannot be booted here.
func New(t testing.TB, opts Options) *Fleet {
	t.Helper()
	Require(t)
	names := opts.Names
	if opts.VPC && (opts.N != 0 || len(names) > 0) {
		t.Fatalf("machines: VPC fleets boot no machine at New; AddMachine adds them")
	}
	if len(names) == 0 && !opts.VPC {
		n := opts.N
		if n == 0 {
			n = 1
		}
		for i := 1; i <= n; i++ {
			names = append(names, fmt.Sprintf("node-%d", i))
		}
	}
	if opts.N != 0 && opts.N != len(names) {
		t.Fatalf("machines: N=%d but %d names", opts.N, len(names))
	}
	if opts.DiskSize == 0 {
		opts.DiskSize = DefaultDiskSize
	}

	rootfs, err := EnsureRootfs(t.Logf)
	if err != nil {
		t.Fatalf("machines: %v", err)
	}
	unlock, err := flock(globalLock)
	if err != nil {
		t.Fatalf("machines: %v", err)
	}
	f := &Fleet{t: t, rootfs: rootfs, unlock: unlock, User: "root"}
	t.Cleanup(f.teardown)
	if err := CleanStale(t.Logf); err != nil {
		t.Fatalf("machines: removing leftovers of an earlier run: %v", err)
	}
	if err := f.setup(names, opts); err != nil {
		t.Fatalf("machines: %v", err)
	}
	return f
}

func (f *Fleet) setup(names []string, opts Options) error {
	start := time.Now()
	bits := 24
	if opts.VPC {
		bits = 16
	}
	pfx, err := freePrefix(bits)
	if opts.VPCPrefix.IsValid() {
		pfx, err = opts.VPCPrefix.Masked(), checkFree(opts.VPCPrefix.Masked())
	}
	if err != nil {
		return err
	}
	f.Prefix = pfx
	f.vpc = opts.VPC
	f.next = len(names)
	host := pfx.Addr().Next()
	if opts.VPC {
		// The top of the VPC, out of the way of the vswitches at its bottom.
		a := pfx.Addr().As4()
		a[2], a[3] = 255, 254
		host = netip.AddrFrom4(a)
	}
	f.HostAddr = host.String()

	// The SSH key pair the test logs in with.
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(priv, "natsnest-e2e")
	if err != nil {
		return err
	}
	f.PrivateKeyPEM = string(pem.EncodeToMemory(block))
	if f.signer, err = ssh.NewSignerFromKey(priv); err != nil {
		return err
	}

	if err := os.MkdirAll(workRoot, 0o755); err != nil {
		return err
	}
	if err := run("ip", "link", "add", bridgeName, "type", "bridge"); err != nil {
		return err
	}
	if err := run("ip", "addr", "add", netip.PrefixFrom(host, pfx.Bits()).String(), "dev", bridgeName); err != nil {
		return err
	}
	if err := run("ip", "link", "set", bridgeName, "up"); err != nil {
		return err
	}
	if err := f.serveHTTP(opts.ServeDir); err != nil {
		return err
	}

	f.DataDisks = !opts.NoDisk
	if opts.NoDisk {
		f.DataDiskNote = "data disk: none asked for"
	}
	if len(names) > 200 {
		return fmt.Errorf("%d machines do not fit into %s", len(names), pfx)
	}
	for i, name := range names {
		a4 := pfx.Addr().As4()
		a4[3] = byte(11 + i) // machines from .11 on
		addr := netip.AddrFrom4(a4)
		m, err := f.newMachine(i, name, addr, opts)
		if err != nil {
			return fmt.Errorf("machine %s: %w", name, err)
		}
		f.Machines = append(f.Machines, m)
	}
	if opts.VPC {
		f.t.Logf("machines: a VPC %s on bridge %s for an emulated cloud's instances; HTTP %s", pfx, bridgeName, f.HTTPURL)
		return nil
	}
	if f.DataDisks {
		f.t.Logf("machines: every machine has a data disk of %s (loop devices: sparse files; zram: memory as written); the disk step runs on real block devices", byteSize(opts.DiskSize))
	} else {
		f.t.Log(f.DataDiskNote)
	}

	errs := make([]error, len(f.Machines))
	var wg sync.WaitGroup
	for i, m := range f.Machines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.Boot()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var list []string
	for _, m := range f.Machines {
		d := "no data disk"
		if m.DataDevice != "" {
			d = fmt.Sprintf("data disk %s, %s", m.DataDevice, m.DiskKind)
		}
		list = append(list, fmt.Sprintf("%s=%s (%s)", m.Name, m.Addr, d))
	}
	f.t.Logf("machines: booted %d Debian %s machines with systemd-nspawn in %s on bridge %s %s: %s; HTTP %s",
		len(f.Machines), Suite, time.Since(start).Round(100*time.Millisecond), bridgeName, pfx, strings.Join(list, ", "), f.HTTPURL)
	return nil
}

// Machine returns the machine named name, or nil.
func (f *Fleet) Machine(name string) *Machine {
	for _, m := range f.Machines {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// HTTPHits is how many requests the bridge's HTTP server answered for path.
func (f *Fleet) HTTPHits(path string) int64 {
	if v, ok := f.httpHits.Load(path); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

func (f *Fleet) serveHTTP(dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "natsnest-e2e-http-")
		if err != nil {
			return err
		}
		f.t.Cleanup(func() { os.RemoveAll(d) })
		dir = d
	}
	f.HTTPDir = dir
	ln, err := net.Listen("tcp", net.JoinHostPort(f.HostAddr, "0"))
	if err != nil {
		return fmt.Errorf("HTTP server on the bridge: %w", err)
	}
	files := http.FileServer(http.Dir(dir))
	f.httpSrv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := f.httpHits.LoadOrStore(r.URL.Path, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		files.ServeHTTP(w, r)
	})}
	f.HTTPURL = "http://" + ln.Addr().String()
	go f.httpSrv.Serve(ln)
	return nil
}

func (f *Fleet) newMachine(i int, name string, addr netip.Addr, opts Options) (*Machine, error) {
	if len(name) > 48 || strings.ContainsAny(name, "/ \t\n") || name == "" {
		return nil, fmt.Errorf("machine name %q is not a host name", name)
	}
	idBytes := make([]byte, 16)
	rand.Read(idBytes)
	m := &Machine{
		Name:      name,
		HostName:  opts.hostName,
		Addr:      addr.String(),
		MachineID: hex.EncodeToString(idBytes),
		fleet:     f,
		dir:       filepath.Join(workRoot, name),
		netns:     netnsPrefix + name,
		veth:      fmt.Sprintf("%s%d", vethPrefix, i+1),
	}
	m.root = filepath.Join(m.dir, "root")
	for _, d := range []string{"upper", "work", "root"} {
		if err := os.MkdirAll(filepath.Join(m.dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	// Each machine boots an overlay of the shared root file system; writes
	// land in its own upper directory. A copy is the fallback.
	err := syscall.Mount("overlay", m.root, "overlay", 0,
		fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", f.rootfs, filepath.Join(m.dir, "upper"), filepath.Join(m.dir, "work")))
	if err != nil {
		f.t.Logf("machines: overlayfs unavailable (%v); copying the root file system for %s", err, name)
		if out, err := exec.Command("cp", "-a", f.rootfs+"/.", m.root).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("copying the root file system: %v: %s", err, out)
		}
	}
	if err := m.personalise(); err != nil {
		return nil, err
	}
	if err := m.network(); err != nil {
		return nil, err
	}
	if !opts.NoDisk {
		kind := DiskLoop
		if i < len(opts.DiskKinds) && opts.DiskKinds[i] != "" {
			kind = opts.DiskKinds[i]
		}
		if err := m.attachDisk(kind, opts.DiskSize); err != nil {
			f.DataDisks = false
			f.DataDiskNote = fmt.Sprintf("data disk: %s devices unavailable here (%v), the disk step runs against a directory", kind, err)
			f.t.Logf("machines: %s: %s", name, f.DataDiskNote)
		}
	}
	if err := m.makeCgroups(); err != nil {
		return nil, err
	}
	return m, nil
}

// personalise gives the machine what must differ between machines: host
// name, machine-id, SSH host key, and the test's key for root.
func (m *Machine) personalise() error {
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(hostPriv, "root@"+m.Name)
	if err != nil {
		return err
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		return err
	}
	m.HostKey = hostSigner.PublicKey()
	m.HostKeyLine = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(m.HostKey)))
	files := []struct {
		path    string
		mode    os.FileMode
		content string
	}{
		{"etc/hostname", 0o644, m.hostName() + "\n"},
		{"etc/default/locale", 0o644, "LANG=C.UTF-8\n"},
		{"etc/machine-id", 0o444, m.MachineID + "\n"},
		{"etc/hosts", 0o644, fmt.Sprintf("127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n", m.hostName())},
		{"etc/ssh/ssh_host_ed25519_key", 0o600, string(pem.EncodeToMemory(block))},
		{"etc/ssh/ssh_host_ed25519_key.pub", 0o644, m.HostKeyLine + " root@" + m.Name + "\n"},
		{"root/.ssh/authorized_keys", 0o600, string(ssh.MarshalAuthorizedKey(m.fleet.signer.PublicKey()))},
		{udevScript, 0o755, udevScriptText},
		{udevUnit, 0o644, udevUnitText},
		{fstabGenerator, 0o755, fstabGeneratorText},
	}
	for _, fl := range files {
		p := filepath.Join(m.root, fl.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		os.Remove(p)
		if err := os.WriteFile(p, []byte(fl.content), fl.mode); err != nil {
			return err
		}
		if err := os.Chmod(p, fl.mode); err != nil {
			return err
		}
	}
	wants := filepath.Join(m.root, "etc/systemd/system/sysinit.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		return err
	}
	return os.Symlink("/"+udevUnit, filepath.Join(wants, filepath.Base(udevUnit)))
}

// network gives the machine its own network namespace with eth0 on the
// fleet's bridge at a static address, and no default route: the machines
// reach each other and the host's bridge address, nothing else.
func (m *Machine) network() error {
	pfx := m.fleet.Prefix
	steps := [][]string{
		{"ip", "netns", "add", m.netns},
		{"ip", "-n", m.netns, "link", "set", "lo", "up"},
		{"ip", "link", "add", m.veth, "type", "veth", "peer", "name", "eth0", "netns", m.netns},
		{"ip", "link", "set", m.veth, "master", bridgeName},
		{"ip", "link", "set", m.veth, "up"},
		{"ip", "-n", m.netns, "addr", "add", fmt.Sprintf("%s/%d", m.Addr, pfx.Bits()), "dev", "eth0"},
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// freePrefix picks a /24 in 10.77.0.0/16, or a /16 in 10.78.0.0/15 …
// 10.99.0.0/16, that overlaps no address or route of the host, so the
// fixture never shadows a real network.
func freePrefix(bits int) (netip.Prefix, error) {
	used, err := hostPrefixes()
	if err != nil {
		return netip.Prefix{}, err
	}
	var cands []netip.Prefix
	if bits == 16 {
		for i := 78; i < 100; i++ {
			cands = append(cands, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16))
		}
	} else {
		for i := 0; i < 256; i++ {
			cands = append(cands, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 77, byte(i), 0}), 24))
		}
	}
	for _, cand := range cands {
		free := true
		for _, u := range used {
			if u.Bits() > 0 && u.Overlaps(cand) {
				free = false
				break
			}
		}
		if free {
			return cand, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /%d for the machines' bridge", bits)
}

// hostPrefixes are the host's IPv4 addresses and routes.
func hostPrefixes() ([]netip.Prefix, error) {
	var used []netip.Prefix
	for _, args := range [][]string{{"-4", "-o", "addr", "show"}, {"-4", "route", "show", "table", "all"}} {
		out, err := exec.Command("ip", args...).Output()
		if err != nil {
			return nil, fmt.Errorf("ip %s: %w", strings.Join(args, " "), err)
		}
		for _, field := range strings.Fields(string(out)) {
			if p, err := netip.ParsePrefix(field); err == nil {
				used = append(used, p.Masked())
			} else if a, err := netip.ParseAddr(field); err == nil && a.Is4() {
				used = append(used, netip.PrefixFrom(a, 32))
			}
		}
	}
	return used, nil
}

// checkFree fails if p overlaps an address or route of the host.
func checkFree(p netip.Prefix) error {
	used, err := hostPrefixes()
	if err != nil {
		return err
	}
	for _, u := range used {
		if u.Bits() > 0 && u.Overlaps(p) {
			return fmt.Errorf("machines: the VPC %s overlaps %s of this host", p, u)
		}
	}
	return nil
}

// KeepEnvVar, set to 1, keeps a failed test's machines running for
// inspection (ssh -i <key> root@<addr> from the host; the key is logged);
// the next run removes them.
const KeepEnvVar = "NATSNEST_E2E_KEEP"

func (f *Fleet) teardown() {
	defer f.unlock()
	if f.t.Failed() && os.Getenv(KeepEnvVar) == "1" {
		key := filepath.Join(workRoot, "id_ed25519")
		os.WriteFile(key, []byte(f.PrivateKeyPEM), 0o600)
		f.t.Logf("machines: %s=1: keeping the machines for inspection (ssh -i %s root@<addr>: %s); the next run removes them",
			KeepEnvVar, key, machineList(f))
		return
	}
	if f.t.Failed() {
		for _, m := range f.Machines {
			if m.running() {
				out, _ := m.Run("systemctl --failed --no-pager --no-legend; journalctl -b -p warning -n 25 --no-pager")
				f.t.Logf("machines: %s at failure:\n%s", m.Name, out)
			}
			f.t.Logf("machines: %s boot log (last lines):\n%s", m.Name, m.bootLogTail(15))
		}
	}
	if f.httpSrv != nil {
		f.httpSrv.Close()
	}
	var errs []error
	for _, m := range f.Machines {
		m.Kill()
		errs = append(errs, m.remove())
	}
	for _, d := range f.disks {
		errs = append(errs, removeZram(d.Device))
	}
	removeNATChain()
	run("ip", "link", "del", bridgeName)
	if err := CleanStale(func(string, ...any) {}); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		f.t.Errorf("machines: teardown: %v", err)
	}
}

func machineList(f *Fleet) string {
	var l []string
	for _, m := range f.Machines {
		l = append(l, m.Name+"="+m.Addr)
	}
	return strings.Join(l, " ")
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
