package provision

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// loopDisk attaches a sparse image of size bytes as a loop device, or skips
// when this machine cannot (not root, no loop devices, in a container).
func loopDisk(t *testing.T, size int64) (dev, image string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a loop device")
	}
	for _, tool := range []string{"losetup", "mkfs.ext4", "blkid", "lsblk", "mountpoint", "resize2fs", "mkswap"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is missing", tool)
		}
	}
	image = filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(image, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(image, size); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", image).CombinedOutput()
	if err != nil {
		t.Skipf("no loop device here (%v: %s): the disk step is not run for real in this test", err, out)
	}
	dev = strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev, image
}

func (n *testNode) unmountAtCleanup() {
	n.t.Cleanup(func() {
		if exec.Command("mountpoint", "-q", n.l.DataMount).Run() == nil {
			if out, err := exec.Command("umount", n.l.DataMount).CombinedOutput(); err != nil {
				n.t.Errorf("umount %s: %v %s", n.l.DataMount, err, out)
			}
		}
	})
}

// The disk step on a real (loop) block device: formats a blank disk once,
// mounts it by UUID with nofail, leaves it alone the second time, grows the
// filesystem after the disk grew.
func TestDiskStepOnALoopDevice(t *testing.T) {
	dev, image := loopDisk(t, 64<<20)
	n := newTestNode(t)
	n.unmountAtCleanup()
	write(t, n.l.FSTab, "# /etc/fstab\nUUID=1111 / ext4 defaults 0 1\n", 0o644)
	script, err := DiskScript(n.l, DiskOptions{Selector: DiskSelector{Device: dev}, WaitTries: 1})
	if err != nil {
		t.Fatal(err)
	}
	out := n.mustRun(script, "")
	if !strings.Contains(out, "formatting "+dev+" as ext4") {
		t.Fatalf("blank disk not formatted:\n%s", out)
	}
	uuid, err := exec.Command("blkid", "-p", "-s", "UUID", "-o", "value", dev).Output()
	if err != nil {
		t.Fatal(err)
	}
	fstab, _ := os.ReadFile(n.l.FSTab)
	wantLine := "UUID=" + strings.TrimSpace(string(uuid)) + " " + n.l.DataMount + " ext4 defaults,nofail,x-systemd.device-timeout=60s 0 2\n"
	if string(fstab) != "# /etc/fstab\nUUID=1111 / ext4 defaults 0 1\n"+wantLine {
		t.Errorf("fstab:\n%s\nwant the old lines and %s", fstab, wantLine)
	}
	if exec.Command("mountpoint", "-q", n.l.DataMount).Run() != nil {
		t.Fatalf("%s is not mounted", n.l.DataMount)
	}
	if fi, err := os.Stat(n.l.StoreDir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o750 {
		t.Errorf("store dir: %v %v", fi, err)
	}
	// Data written now must survive the next run.
	write(t, filepath.Join(n.l.StoreDir, "stream.dat"), "acknowledged", 0o600)

	out = n.mustRun(script, "")
	if strings.Contains(out, "formatting") || strings.Contains(out, "fstab:") || strings.Contains(out, "mounted ") {
		t.Errorf("second run touched the disk:\n%s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(n.l.StoreDir, "stream.dat")); string(b) != "acknowledged" {
		t.Fatal("data lost on the second run")
	}

	// Unmounted (a replaced instance finds its kept disk): mounted again, not formatted.
	if out, err := exec.Command("umount", n.l.DataMount).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	out = n.mustRun(script, "")
	if strings.Contains(out, "formatting") || !strings.Contains(out, "mounted "+dev) {
		t.Errorf("kept disk:\n%s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(n.l.StoreDir, "stream.dat")); string(b) != "acknowledged" {
		t.Fatal("data lost on remount")
	}

	// The disk grows (ECS disk resize): the filesystem follows, online.
	before := fsSize(t, n.l.DataMount)
	if err := os.Truncate(image, 128<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("losetup", "-c", dev).CombinedOutput(); err != nil {
		t.Fatalf("losetup -c: %v %s", err, out)
	}
	if !hasCapSysResource(t) {
		// Online resizing needs CAP_SYS_RESOURCE, which this container
		// lacks: the step must see the growth and try.
		out, err := n.run(script, "")
		if err == nil || !strings.Contains(out, "resize2fs "+dev+" failed") {
			t.Errorf("growth not attempted: %v\n%s", err, out)
		}
		t.Log("online growth NOT verified: this process lacks CAP_SYS_RESOURCE (resize2fs was attempted and refused)")
		return
	}
	out = n.mustRun(script, "")
	if !strings.Contains(out, "grew the filesystem") || fsSize(t, n.l.DataMount) <= before {
		t.Errorf("filesystem not grown (%d bytes before, %d after):\n%s", before, fsSize(t, n.l.DataMount), out)
	}
	if out := n.mustRun(script, ""); strings.Contains(out, "grew") {
		t.Errorf("grown twice:\n%s", out)
	}
}

// hasCapSysResource reports whether this process may resize a mounted ext4.
func hasCapSysResource(t *testing.T) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<24) != 0
		}
	}
	return false
}

func fsSize(t *testing.T, path string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Blocks) * st.Bsize
}

// A disk with something on it that is not ext4 is refused and left as it was.
func TestDiskStepRefusesAForeignDisk(t *testing.T) {
	dev, _ := loopDisk(t, 16<<20)
	if out, err := exec.Command("mkswap", dev).CombinedOutput(); err != nil {
		t.Fatalf("mkswap: %v %s", err, out)
	}
	n := newTestNode(t)
	n.unmountAtCleanup()
	script, err := DiskScript(n.l, DiskOptions{Selector: DiskSelector{Device: dev}, WaitTries: 1})
	if err != nil {
		t.Fatal(err)
	}
	out, err := n.run(script, "")
	if err == nil || !strings.Contains(out, "refusing to use the disk") {
		t.Fatalf("swap disk accepted: %v\n%s", err, out)
	}
	if typ, _ := exec.Command("blkid", "-p", "-s", "TYPE", "-o", "value", dev).Output(); strings.TrimSpace(string(typ)) != "swap" {
		t.Errorf("the disk now holds %q", typ)
	}
}

// A disk named but absent fails after the bounded wait, saying so.
func TestDiskStepMissingDisk(t *testing.T) {
	n := newTestNode(t)
	if _, err := exec.LookPath("lsblk"); err != nil {
		t.Skip("lsblk is missing")
	}
	script, err := DiskScript(n.l, DiskOptions{Selector: DiskSelector{Serial: "d-doesnotexist000000000"}, WaitTries: 1})
	if err != nil {
		t.Fatal(err)
	}
	out, err := n.run(script, "")
	if err == nil || !strings.Contains(out, "no data disk found: no disk has serial d-doesnotexist000000000") {
		t.Fatalf("got %v:\n%s", err, out)
	}
}

func TestDiskStepWithoutDataDisk(t *testing.T) {
	n := newTestNode(t)
	script, err := DiskScript(n.l, DiskOptions{NoDataDisk: true})
	if err != nil {
		t.Fatal(err)
	}
	out := n.mustRun(script, "")
	if !strings.Contains(out, "stays on the root filesystem") {
		t.Errorf("no warning:\n%s", out)
	}
	if fi, err := os.Stat(n.l.StoreDir); err != nil || !fi.IsDir() {
		t.Errorf("store dir: %v", err)
	}
}
