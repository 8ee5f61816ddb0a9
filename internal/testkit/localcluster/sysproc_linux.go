package localcluster

import (
	"os"
	"syscall"
)

// Nodes run in their own process group, so a Ctrl-C in the terminal reaches
// only the program that owns the cluster (which then stops it), and die with
// the process that started them, so a killed test leaves no server behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// lameDuckSignal makes nats-server enter lame duck mode.
var lameDuckSignal os.Signal = syscall.SIGUSR2
