// Command rollin is Rollin's single binary: the development system in one process
// (`rollin dev`), the worker and API server for real installations (`rollin worker`,
// `rollin serve`), and a CLI that talks to the API (`rollin start`, `status`, `list`, `act`, and the bulk
// actions `retry`, `skip`, `cancel`, and the campaigns of `rollin campaign`) or loads the
// register and catalogue into the database (`rollin municipalities import`,
// `rollin services import`).
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/rollin-efa/rollin/cli"
)

func main() {
	root := &cobra.Command{
		Use:           "rollin",
		Short:         "Roll-in orchestration of EfA online services for municipalities",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.Usagef("%v", err) })
	root.AddCommand(devCommand(), workerCommand(), serveCommand())
	root.AddCommand(cli.Commands()...)
	root.AddCommand(cli.BulkCommands()...)
	root.AddCommand(cli.CampaignCommand())
	root.AddCommand(cli.ImportCommands()...)
	err := root.Execute()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rollin:", err)
	}
	os.Exit(cli.ExitCode(err))
}
