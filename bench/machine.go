package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/natsnest/pulumi-natsnest/internal/natsbin"
)

// Machine describes where the figures were measured.
type Machine struct {
	CPUs       int    `json:"cpus"` // nproc
	CPUModel   string `json:"cpuModel"`
	MemoryGiB  string `json:"memoryGiB"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"goVersion"`
	NATSServer string `json:"natsServer"`
	// Store is the filesystem the JetStream stores were on (for the
	// parts that run servers).
	Store string `json:"store,omitempty"`
	// LoadAvg is /proc/loadavg when the part started: other work on the
	// machine (builds and tests of other engineers) shows here.
	LoadAvg string `json:"loadAvg"`
}

func describeMachine(ctx context.Context, serverBin string) Machine {
	m := Machine{
		CPUs:      runtime.NumCPU(),
		CPUModel:  cpuModel(),
		MemoryGiB: memTotal(),
		Kernel:    firstLine("/proc/sys/kernel/osrelease"),
		GoVersion: goVersion(ctx),
		LoadAvg:   firstLine("/proc/loadavg"),
	}
	if out, err := exec.CommandContext(ctx, "nproc").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil {
			m.CPUs = n
		}
	}
	if serverBin != "" {
		if v, err := natsbin.Version(serverBin); err == nil {
			m.NATSServer = "v" + v
		}
	}
	return m
}

func firstLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line)
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotal() string {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int64
		if _, err := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); err == nil {
			return fmt.Sprintf("%.1f", float64(kb)/(1<<20))
		}
	}
	return "unknown"
}

func goVersion(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	return runtime.Version()
}

// isMemoryFS reports whether a filesystem type keeps its files in memory,
// which would hide what fsync costs.
func isMemoryFS(fsType string) bool { return fsType == "tmpfs" || fsType == "ramfs" }
