//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package natsbin

import "context"

// lockFile is a no-op where flock is unavailable: concurrent builds may then
// both run, but each writes its own temporary file and renames it into
// place, so the cached binary is never half-written.
func lockFile(ctx context.Context, path string) (unlock func(), locked bool, err error) {
	return func() {}, false, nil
}
