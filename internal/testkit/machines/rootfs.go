package machines

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// Suite is the Debian release the machines run: the default image of
// natsnest.Cluster (docs/architecture.md §3b), so what is tested is what ships.
const Suite = "bookworm"

// Packages are installed into the root file system on top of debootstrap's
// minbase: what systemd, sshd and natsnest's provisioning scripts use
// (curl and sha256sum for the download path, lsblk/blkid/findmnt/mkfs/
// resize2fs for the data disk, tar/gzip for release archives).
var Packages = []string{
	"systemd", "systemd-sysv", "dbus", "libpam-systemd",
	"openssh-server", "openssh-sftp-server",
	"iproute2", "iputils-ping", "curl", "ca-certificates",
	"e2fsprogs", "xfsprogs", "util-linux", "kmod", "udev", "procps",
	"coreutils", "findutils", "gzip", "tar", "sudo", "less",
}

// LatePackages are installed with apt-get inside the new root file system
// after debootstrap, which cannot order their Python dependencies: the
// emulated cloud's instances run their user_data through cloud-init, as
// Alibaba Cloud's Debian 12 image does.
var LatePackages = []string{"cloud-init"}

// rootfsLayout versions what buildRootfs writes after debootstrap; bump it
// when that changes so cached root file systems are rebuilt.
const rootfsLayout = "4"

const stampFile = ".natsnest-rootfs"

// RootfsDir is where the cached root file system lives:
// $NATSNEST_ROOTFS_CACHE or /var/cache/natsnest/rootfs-bookworm.
func RootfsDir() string {
	if d := os.Getenv("NATSNEST_ROOTFS_CACHE"); d != "" {
		return d
	}
	return "/var/cache/natsnest/rootfs-" + Suite
}

// rootfsStamp identifies what a root file system was built with.
func rootfsStamp() string {
	h := sha256.Sum256([]byte(Suite + "\n" + rootfsLayout + "\n" + strings.Join(Packages, ",") + "\n" + strings.Join(LatePackages, ",")))
	return hex.EncodeToString(h[:8])
}

// EnsureRootfs returns the cached root file system, building it first when it
// is missing or was built from a different package list. It builds into a
// temporary directory next to the cache and renames it when complete, so an
// interrupted build never leaves a half-made cache behind. logf reports
// progress (debootstrap takes minutes).
func EnsureRootfs(logf func(string, ...any)) (string, error) {
	dir := RootfsDir()
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	unlock, err := flock(dir + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	want := rootfsStamp()
	if got, err := os.ReadFile(filepath.Join(dir, stampFile)); err == nil && strings.TrimSpace(string(got)) == want {
		return dir, nil
	}
	mirror, err := DebianMirror()
	if err != nil {
		return "", err
	}
	// Leftovers of an interrupted build.
	if old, _ := filepath.Glob(dir + ".tmp-*"); len(old) > 0 {
		for _, o := range old {
			os.RemoveAll(o)
		}
	}
	tmp := fmt.Sprintf("%s.tmp-%d", dir, os.Getpid())
	logf("rootfs: building Debian %s with debootstrap from %s into %s (once; cached afterwards)", Suite, mirror, dir)
	start := time.Now()
	cmd := exec.Command("debootstrap", "--variant=minbase", "--include="+strings.Join(Packages, ","), Suite, tmp, mirror)
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("debootstrap %s from %s: %w\n%s", Suite, mirror, err, tail(string(out), 30))
	}
	if err := installLate(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := configureRootfs(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("configuring the root file system: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, stampFile), []byte(want+"\n"), 0o644); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if _, err := os.Stat(dir); err == nil {
		old := fmt.Sprintf("%s.old-%d", dir, os.Getpid())
		if err := os.Rename(dir, old); err != nil {
			return "", err
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	logf("rootfs: built in %s", time.Since(start).Round(time.Second))
	return dir, nil
}

// installLate installs LatePackages with apt-get in a chroot of root,
// starting no service.
func installLate(root string) error {
	if len(LatePackages) == 0 {
		return nil
	}
	resolv, _ := os.ReadFile("/etc/resolv.conf")
	os.Remove(filepath.Join(root, "etc/resolv.conf"))
	if err := os.WriteFile(filepath.Join(root, "etc/resolv.conf"), resolv, 0o644); err != nil {
		return err
	}
	policy := filepath.Join(root, "usr/sbin/policy-rc.d")
	if err := os.WriteFile(policy, []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
		return err
	}
	defer os.Remove(policy)
	script := "set -e; mount -t proc proc /proc; trap 'umount /proc' EXIT; " +
		"DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends " + strings.Join(LatePackages, " ") + "; apt-get clean"
	out, err := exec.Command("chroot", root, "/bin/sh", "-c", script).CombinedOutput()
	if err != nil {
		return fmt.Errorf("apt-get install %s in the root file system: %w\n%s", strings.Join(LatePackages, " "), err, tail(string(out), 30))
	}
	return nil
}

// configureRootfs prepares what every machine shares: no host keys or
// machine-id of its own (each machine gets its own), sshd that offers the
// ed25519 key the fixture pins, no gettys or timers that only add noise.
func configureRootfs(root string) error {
	keys, _ := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*"))
	for _, k := range keys {
		if err := os.Remove(k); err != nil {
			return err
		}
	}
	files := map[string]string{
		"etc/ssh/sshd_config.d/10-natsnest-e2e.conf": "# natsnest machine fixture\nHostKey /etc/ssh/ssh_host_ed25519_key\nUseDNS no\nPermitRootLogin prohibit-password\nMaxStartups 100:30:200\nMaxSessions 100\n",
		"etc/machine-id":  "",
		"etc/fstab":       "# natsnest machine fixture: nothing mounted at boot but what provisioning adds\n",
		"etc/resolv.conf": "# natsnest machine fixture: no DNS; the machines reach only their bridge\n",
		// cloud-init reads only the seed the emulated cloud writes
		// (/var/lib/cloud/seed/nocloud), and leaves the network, which is
		// the fixture's, alone. Without a seed it does nothing.
		"etc/cloud/cloud.cfg.d/99-natsnest-e2e.cfg": "# natsnest machine fixture\ndatasource_list: [ NoCloud, None ]\nnetwork: {config: disabled}\n",
		// Off unless the machine is an emulated cloud's instance, which
		// removes this file: cloud-init would give every machine new SSH
		// host keys at its first boot.
		"etc/cloud/cloud-init.disabled": "natsnest machine fixture: only the emulated cloud's instances run cloud-init\n",
	}
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		os.Remove(full) // resolv.conf may be a symlink
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return err
		}
	}
	for _, unit := range []string{
		"console-getty.service", "getty@.service", "container-getty@.service",
		"systemd-networkd-wait-online.service", "apt-daily.timer", "apt-daily-upgrade.timer",
		"e2scrub_all.timer", "e2scrub_reap.service", "fstrim.timer", "dpkg-db-backup.timer", "man-db.timer",
	} {
		p := filepath.Join(root, "etc/systemd/system", unit)
		os.Remove(p)
		if err := os.Symlink("/dev/null", p); err != nil {
			return err
		}
	}
	debs, _ := filepath.Glob(filepath.Join(root, "var/cache/apt/archives/*.deb"))
	for _, d := range debs {
		os.Remove(d)
	}
	return nil
}

var mirrorURIRE = regexp.MustCompile(`^(?:URIs:\s*|deb\s+(?:\[[^]]*\]\s+)?)(\S+)`)

// DebianMirror is the Debian archive debootstrap downloads from:
// $NATSNEST_DEBIAN_MIRROR, or the first .../debian archive this host's apt
// sources name (so it works where only the configured mirror is reachable).
func DebianMirror() (string, error) {
	if m := os.Getenv("NATSNEST_DEBIAN_MIRROR"); m != "" {
		return m, nil
	}
	files := []string{"/etc/apt/sources.list"}
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	files = append(files, more...)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		for sc.Scan() {
			m := mirrorURIRE.FindStringSubmatch(strings.TrimSpace(sc.Text()))
			if m == nil {
				continue
			}
			uri := strings.TrimSuffix(m[1], "/")
			if strings.HasSuffix(uri, "/debian") {
				return uri, nil
			}
		}
	}
	return "", errors.New("no Debian mirror: none of /etc/apt/sources.list{,.d/*} names a .../debian archive; set NATSNEST_DEBIAN_MIRROR")
}

// flock takes an exclusive lock on path, waiting for it.
func flock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
