//go:build unix

package simulator

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on path (created if missing) for as long as the
// process holds it; the kernel releases it when the process ends, kill -9 included. A
// lock held elsewhere is an error naming the file: two processes must not write one
// simulator's state.
func lockFile(path string) (func() error, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600) // #nosec G304 -- the simulator's own state directory from Rollin's configuration
	if err != nil {
		return nil, fmt.Errorf("simulator state lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil { // #nosec G115 -- a file descriptor fits an int
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("simulator state %s is in use by another process", path)
		}
		return nil, fmt.Errorf("simulator state lock %s: %w", path, err)
	}
	return f.Close, nil
}
