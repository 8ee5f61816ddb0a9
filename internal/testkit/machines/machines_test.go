package machines

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDebianMirrorFromAptSources(t *testing.T) {
	for _, line := range []string{
		"URIs: http://deb.debian.org/debian",
		"deb http://deb.debian.org/debian bookworm main",
		"deb [signed-by=/usr/share/keyrings/x.gpg] http://mirror.example/debian/ bookworm main",
	} {
		m := mirrorURIRE.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("%q: no mirror found", line)
		}
	}
}

// TestFleet boots two machines and checks what the machine tier relies on:
// own host names, machine-ids and addresses, SSH with pinned host keys,
// reachability on the bridge only, the HTTP server, the data disks with a
// serial number, and power off / boot / power cut.
func TestFleet(t *testing.T) {
	f := New(t, Options{Names: []string{"fx-a", "fx-b"}, DiskKinds: []DiskKind{DiskLoop, DiskZram}})
	a, b := f.Machines[0], f.Machines[1]

	for _, m := range f.Machines {
		host, err := m.Run("hostname; cat /etc/machine-id; ip -4 -o addr show dev eth0; ip route; systemctl is-system-running")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(host, m.Name+"\n") || !strings.Contains(host, m.MachineID) || !strings.Contains(host, m.Addr+"/") {
			t.Errorf("%s: hostname/machine-id/address wrong:\n%s", m.Name, host)
		}
		if strings.Contains(host, "default") {
			t.Errorf("%s has a default route; machines must reach only their bridge:\n%s", m.Name, host)
		}
	}
	if a.MachineID == b.MachineID || a.HostKeyLine == b.HostKeyLine {
		t.Error("machines share a machine-id or host key")
	}
	t.Logf("verified: own host names, machine-ids, host keys and addresses (%s, %s); no default route", a.Addr, b.Addr)

	// Machines reach each other and the host's HTTP server on the bridge.
	if out, err := a.Run("ping -c1 -W2 " + b.Addr); err != nil {
		t.Fatalf("a cannot reach b: %v %s", err, out)
	}
	payload := []byte("natsnest e2e payload\n")
	if err := os.WriteFile(filepath.Join(f.HTTPDir, "p.txt"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	out, err := b.Run("curl -fsS " + f.HTTPURL + "/p.txt | sha256sum")
	if err != nil || !strings.HasPrefix(out, hex.EncodeToString(sum[:])) {
		t.Fatalf("download from the bridge's HTTP server: %v %q", err, out)
	}
	if f.HTTPHits("/p.txt") != 1 {
		t.Errorf("HTTP hits for /p.txt = %d, want 1", f.HTTPHits("/p.txt"))
	}
	t.Logf("verified: machines reach each other and %s", f.HTTPURL)

	// Data disks: real block devices, formatted and mounted inside the machine.
	if !f.DataDisks {
		t.Skip(f.DataDiskNote)
	}
	if err := b.SetDiskSerial("d-e2etest0123456789"); err != nil {
		t.Fatal(err)
	}
	out, err = b.Run("lsblk -P -b -o NAME,TYPE,SIZE,SERIAL " + b.DataDevice)
	if err != nil || !strings.Contains(out, `SERIAL="d-e2etest0123456789"`) || !strings.Contains(out, `TYPE="disk"`) {
		t.Fatalf("lsblk on %s: %v\n%s", b.DataDevice, err, out)
	}
	out, err = a.Run("lsblk -P -b -o NAME,TYPE " + a.DataDevice)
	if err != nil || !strings.Contains(out, `TYPE="loop"`) {
		t.Fatalf("lsblk on %s: %v\n%s", a.DataDevice, err, out)
	}
	for _, m := range f.Machines {
		script := "set -e; mkfs.ext4 -q " + m.DataDevice + "; uuid=$(blkid -p -s UUID -o value " + m.DataDevice + ")" +
			"; echo \"UUID=$uuid /data ext4 defaults,nofail 0 2\" >>/etc/fstab; mkdir -p /data; systemctl daemon-reload; mount /data; echo kept >/data/f; sync; findmnt -n -o SOURCE /data"
		if out, err := m.Run(script); err != nil || !strings.Contains(out, m.DataDevice) {
			t.Fatalf("%s: format and mount: %v\n%s", m.Name, err, out)
		}
		// A disk other than the machine's own is not usable inside it.
		if out, err := m.Run("test -e /dev/vda || test -e /dev/loop-control && echo visible"); err == nil && strings.Contains(out, "visible") {
			t.Logf("%s: note: /dev/vda or /dev/loop-control visible: %s", m.Name, out)
		}
	}
	t.Logf("verified: data disks %s (loop) and %s (zram, serial via lsblk) formatted and mounted inside the machines", a.DataDevice, b.DataDevice)

	// Power off and boot: the disk comes back mounted from fstab (by UUID),
	// with its data and serial.
	if err := b.PowerOff(); err != nil {
		t.Fatal(err)
	}
	if b.Running() {
		t.Fatal("b still running after PowerOff")
	}
	if _, err := a.Run("ping -c1 -W1 " + b.Addr); err == nil {
		t.Fatal("b answers ping while powered off")
	}
	if err := b.Boot(); err != nil {
		t.Fatal(err)
	}
	out, err = b.Run("cat /data/f; findmnt -n -o SOURCE /data; lsblk -n -o SERIAL " + b.DataDevice + "; cat /etc/machine-id")
	if err != nil || !strings.Contains(out, "kept") || !strings.Contains(out, b.DataDevice) || !strings.Contains(out, "d-e2etest0123456789") || !strings.Contains(out, b.MachineID) {
		diag, _ := b.Run("systemctl status --no-pager data.mount natsnest-e2e-udev.service 2>&1; ls -l /dev/disk/by-uuid /run/udev/data; cat /etc/fstab")
		t.Fatalf("after power cycle: %v\n%s\n%s", err, out, diag)
	}
	t.Log("verified: power off (machine unreachable) and boot; /data mounted again from fstab with its data, same serial and machine-id")

	// A power cut.
	a.Kill()
	if a.Running() {
		t.Fatal("a still running after Kill")
	}
	if err := a.Boot(); err != nil {
		t.Fatal(err)
	}
	if out, err := a.Run("cat /data/f"); err != nil || !strings.Contains(out, "kept") {
		t.Fatalf("after power cut: %v %s", err, out)
	}
	t.Log("verified: power cut and boot; the synced data survived")
}
