//go:build !linux

package main

import (
	"errors"
	"time"
)

// storeFilesystem is implemented for Linux only.
func storeFilesystem(dir string) (fsType, desc string, err error) {
	return "unknown", "unknown", errors.New("the store's filesystem is only checked on Linux")
}

// cpuTime is not measured outside Linux.
func cpuTime() time.Duration { return 0 }
