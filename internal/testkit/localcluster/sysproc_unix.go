//go:build unix && !linux

package localcluster

import (
	"os"
	"syscall"
)

// Nodes run in their own process group, so a Ctrl-C in the terminal reaches
// only the program that owns the cluster, which then stops it. (Only Linux
// can also tie the nodes' lives to the parent's.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// lameDuckSignal makes nats-server enter lame duck mode.
var lameDuckSignal os.Signal = syscall.SIGUSR2
