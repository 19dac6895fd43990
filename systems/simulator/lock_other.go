//go:build !unix

package simulator

// lockFile does not lock where flock is missing: the caller must keep a second process
// off the same state directory.
func lockFile(string) (func() error, error) { return func() error { return nil }, nil }
