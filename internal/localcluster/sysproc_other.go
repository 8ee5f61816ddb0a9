//go:build !unix

package localcluster

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
