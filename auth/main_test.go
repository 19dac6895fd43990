package auth

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: a server not closed,
// a ticker not stopped, a request still running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
