// Command rollin is the binary of a Rollin installation and of the people who use it: the
// processes — `rollin worker` and `rollin serve` against a Temporal cluster, `rollin
// migrate` for the database — and a CLI that talks to the API (`rollin start`, `status`,
// `list`, `act`, the bulk actions `retry`, `skip`, `cancel`, the campaigns of `rollin
// campaign`, `rollin sessions end`) or loads the register and catalogue into the database
// (`rollin municipalities import`, `rollin services import`).
//
// It links no Temporal server: the development system, whose embedded server and Web UI
// are most of a binary's size and build time, is a program of its own (rollin-dev).
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/rollin-efa/rollin/cli"
)

func main() {
	err := rootCommand().Execute()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rollin:", err)
	}
	os.Exit(cli.ExitCode(err))
}

// rootCommand is the whole command tree; the deployment examples are checked against it.
func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "rollin",
		Short:         "Roll-in orchestration of EfA online services for municipalities",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.Usagef("%v", err) })
	root.AddCommand(workerCommand(), serveCommand(), migrateCommand(), movedToDev("dev"), movedToDev("temporal"), movedToDev("simulators"))
	root.AddCommand(cli.Commands()...)
	root.AddCommand(cli.BulkCommands()...)
	root.AddCommand(cli.CampaignCommand())
	root.AddCommand(cli.SessionsCommand())
	root.AddCommand(cli.ImportCommands()...)
	return root
}

// movedToDev stands in for a command that moved to the rollin-dev program, so that
// `rollin dev` from an older README says where it went instead of "unknown command".
func movedToDev(name string) *cobra.Command {
	return &cobra.Command{
		Use: name, Hidden: true, DisableFlagParsing: true,
		RunE: func(*cobra.Command, []string) error {
			how := "rollin-dev " + name
			if name == "dev" {
				how = "rollin-dev"
			}
			return cli.Usagef("%q is part of the development program now: run `go tool task dev`, or `%s` (go run ./cmd/rollin-dev)", name, how)
		},
	}
}
