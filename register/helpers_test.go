package register_test

import (
	"errors"
)

var errDisk = errors.New("disk on fire")

// failingReader returns data and then errDisk, like a file on a failing disk.
type failingReader struct {
	data string
	done bool
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.done {
		return 0, errDisk
	}
	r.done = true
	return copy(p, r.data), nil
}
