package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Filesystem magic numbers of statfs(2).
var fsTypes = map[int64]string{
	0xEF53:     "ext2/3/4",
	0x58465342: "xfs",
	0x9123683E: "btrfs",
	0x2FC12FC1: "zfs",
	0x01021994: "tmpfs",
	0x858458F6: "ramfs",
	0x794C7630: "overlayfs",
	0x6969:     "nfs",
	0xF2F52010: "f2fs",
}

// storeFilesystem describes the filesystem dir is on: its type from
// statfs(2) and, from /proc/self/mountinfo, the device and mount point.
func storeFilesystem(dir string) (fsType, desc string, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "", "", err
	}
	fsType = fsTypes[int64(st.Type)]
	if fsType == "" {
		fsType = fmt.Sprintf("type 0x%x", st.Type)
	}
	desc = fsType
	if mnt, src, typ := mountOf(dir); mnt != "" {
		desc = fmt.Sprintf("%s (%s on %s, mounted at %s)", fsType, typ, src, mnt)
		if rot := firstLine("/sys/class/block/" + filepath.Base(src) + "/queue/rotational"); rot == "0" || rot == "1" {
			desc += map[string]string{"0": ", non-rotational", "1": ", which the kernel reports as rotational"}[rot]
		}
	}
	return fsType, desc, nil
}

// mountOf finds the longest mount point containing dir in
// /proc/self/mountinfo, with its source device and filesystem type.
func mountOf(dir string) (mount, source, fsType string) {
	abs, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", "", ""
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional…] - type source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 2 {
			continue
		}
		mp := fields[4]
		if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(mount) {
			mount, fsType, source = mp, tail[0], tail[1]
		}
	}
	return mount, source, fsType
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
