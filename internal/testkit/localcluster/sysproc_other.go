//go:build !unix

package localcluster

import (
	"os"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// nats-server on Windows enters lame duck mode through its service
// controls, not a signal.
var lameDuckSignal os.Signal
