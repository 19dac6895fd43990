package cli

import (
	"errors"
	"fmt"

	"github.com/rollin-efa/rollin/config"
)

// Exit codes of the rollin binary.
const (
	ExitOK      = 0
	ExitFailure = 1 // the operation failed (refused by the API, a system down)
	ExitUsage   = 2 // bad configuration or command line: fix the call, not the system
)

// UsageError is a command-line mistake (missing flag, malformed value).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{fmt.Sprintf(format, args...)}
}

// ExitCode maps a command's error to the process exit code.
func ExitCode(err error) int {
	var usage *UsageError
	switch {
	case err == nil:
		return ExitOK
	case config.IsKeyError(err), errors.As(err, &usage):
		return ExitUsage
	}
	return ExitFailure
}
