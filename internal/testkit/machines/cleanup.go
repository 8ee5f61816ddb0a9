package machines

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CleanStale removes everything a fixture run left behind when it could not
// clean up (a killed test binary, a power cut): machines' processes, overlay
// mounts, loop devices, network namespaces, veths, the bridge, cgroups and
// work directories. Callers hold the fixture's global lock, so anything
// carrying the fixture's names is stale. logf reports what was removed.
func CleanStale(logf func(string, ...any)) error {
	var removed []string

	// Processes first: they hold the mounts and loop devices.
	cgRoots, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupParent)
	if _, err := os.Stat("/sys/fs/cgroup/" + cgroupParent); err == nil {
		cgRoots = append(cgRoots, "/sys/fs/cgroup/"+cgroupParent)
	}
	for try := 0; try < 50; try++ {
		pids := cgroupPIDs(cgRoots)
		if len(pids) == 0 {
			break
		}
		if try == 0 {
			removed = append(removed, fmt.Sprintf("%d processes", len(pids)))
		}
		for _, p := range pids {
			syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Overlay mounts under the work directory, innermost first.
	var mounts []string
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 4 && strings.HasPrefix(fields[4], workRoot+"/") {
				mounts = append(mounts, fields[4])
			}
		}
		f.Close()
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, mp := range mounts {
		if err := syscall.Unmount(mp, 0); err != nil {
			syscall.Unmount(mp, syscall.MNT_DETACH)
		}
		removed = append(removed, "mount "+mp)
	}

	// Loop devices backed by files under the work directory.
	backs, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, b := range backs {
		data, err := os.ReadFile(b)
		if err != nil || !strings.HasPrefix(strings.TrimSpace(string(data)), workRoot+"/") {
			continue
		}
		dev := "/dev/" + filepath.Base(filepath.Dir(filepath.Dir(b)))
		if err := run("losetup", "-d", dev); err != nil {
			return err
		}
		removed = append(removed, "loop device "+dev)
	}

	// zram devices the fixture added, as recorded in the work directories.
	zrams, _ := filepath.Glob(filepath.Join(workRoot, "*", "zram"))
	for _, z := range zrams {
		data, err := os.ReadFile(z)
		if err != nil {
			continue
		}
		dev := strings.TrimSpace(string(data))
		if _, err := os.Stat("/sys/block/" + filepath.Base(dev)); err != nil {
			continue
		}
		if err := removeZram(dev); err != nil {
			return err
		}
		removed = append(removed, "zram device "+dev)
	}

	if removeNATChain() {
		removed = append(removed, "iptables chain "+natChain)
	}

	// Network namespaces, veths and the bridge.
	if entries, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), netnsPrefix) {
				if err := run("ip", "netns", "del", e.Name()); err != nil {
					return err
				}
				removed = append(removed, "netns "+e.Name())
			}
		}
	}
	if out, err := exec.Command("ip", "-o", "link", "show").Output(); err == nil {
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 {
				continue
			}
			name := strings.SplitN(strings.TrimSuffix(fields[1], ":"), "@", 2)[0]
			if strings.HasPrefix(name, vethPrefix) {
				run("ip", "link", "del", name)
				removed = append(removed, "link "+name)
			}
		}
	}

	for _, r := range cgRoots {
		removeCgroupTree(r)
	}
	if _, err := os.Stat(workRoot); err == nil {
		entries, _ := os.ReadDir(workRoot)
		for _, e := range entries {
			os.RemoveAll(filepath.Join("/run/systemd/nspawn/propagate", e.Name()))
			removed = append(removed, "work directory "+e.Name())
		}
		if err := os.RemoveAll(workRoot); err != nil {
			return err
		}
	}
	if len(removed) > 0 {
		logf("machines: removed leftovers of an earlier run: %s", strings.Join(removed, ", "))
	}
	return nil
}

func cgroupPIDs(roots []string) []int {
	var pids []int
	for _, r := range roots {
		filepath.Walk(r, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || info.Name() != "cgroup.procs" {
				return nil
			}
			data, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}
