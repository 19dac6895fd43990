// Command rollin is Rollin's single binary: the development system in one process
// (`rollin dev`), the worker and API server for real installations (`rollin worker`,
// `rollin serve`), and a CLI that talks to the API (`rollin start`, `status`, `list`, `act`).
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/rollin-efa/rollin/config"
)

// Exit codes: 1 for a failed operation, 2 for bad configuration or usage.
const (
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	root := &cobra.Command{
		Use:           "rollin",
		Short:         "Roll-in orchestration of EfA online services for municipalities",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(devCommand(), workerCommand(), serveCommand())
	root.AddCommand(clientCommands()...)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "rollin:", err)
		if config.IsKeyError(err) || errors.As(err, new(*usageError)) {
			os.Exit(exitUsage)
		}
		os.Exit(exitFailure)
	}
}

// usageError is a command-line mistake (missing flag, malformed value): exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }
