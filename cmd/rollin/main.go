// Command rollin is Rollin's single binary: the development system in one process
// (`rollin dev`); the processes of a real installation — `rollin worker` and `rollin serve`
// against a Temporal cluster, `rollin migrate` for the database — and, to exercise that
// split on one machine, `rollin temporal` (the embedded server alone) and
// `rollin simulators`; and a CLI that talks to the API (`rollin start`, `status`, `list`,
// `act`, the bulk actions `retry`, `skip`, `cancel`, and the campaigns of
// `rollin campaign`, `rollin sessions end`) or loads the register and catalogue into the database
// (`rollin municipalities import`, `rollin services import`).
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
	root.AddCommand(devCommand(), workerCommand(), serveCommand(), temporalCommand(), simulatorsCommand(), migrateCommand())
	root.AddCommand(cli.Commands()...)
	root.AddCommand(cli.BulkCommands()...)
	root.AddCommand(cli.CampaignCommand())
	root.AddCommand(cli.SessionsCommand())
	root.AddCommand(cli.ImportCommands()...)
	return root
}
