package integration

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/cli"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/workflows"
)

// rollinCLI runs one CLI command against the harness's API as the given caller.
func (h *harness) rollinCLI(caller string, args ...string) (stdout, stderr string, exitCode int) {
	h.t.Helper()
	root := &cobra.Command{Use: "rollin", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(cli.Commands()...)
	root.AddCommand(cli.BulkCommands()...)
	root.AddCommand(cli.CampaignCommand())
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append(args, "--api", h.api.URL, "--token", h.tokens[caller]))
	err := root.Execute()
	if err != nil {
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), cli.ExitCode(err)
}

// TestCLI drives a roll-in with the CLI commands, as a project manager and a municipality
// would from a terminal.
func TestCLI(t *testing.T) {
	t.Parallel()
	const ars = "053340002002" // Aachen, Stadt (in the StädteRegion Aachen)
	h := newHarness(t, ars, simulator.Config{})
	run := []string{"--service", wohngeld, "--ars", ars}

	out, errOut, code := h.rollinCLI("pm", append([]string{"start"}, run...)...)
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, errOut, "started")
	require.Contains(t, out, "rollin/"+ars+"/"+wohngeld)
	_, errOut, code = h.rollinCLI("pm", append([]string{"start"}, run...)...)
	require.Equal(t, cli.ExitOK, code)
	require.Contains(t, errOut, "exists already")

	h.waitForAction(ars, wohngeld, workflows.ActionSignAgreement)
	out, errOut, code = h.rollinCLI("municipality", append([]string{"status", "-o", "json"}, run...)...)
	require.Equal(t, cli.ExitOK, code, errOut)
	var st domain.RunStatus
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Equal(t, domain.RunWaiting, st.State)
	require.Equal(t, workflows.ActionSignAgreement, st.WaitingFor.Action)

	out, errOut, code = h.rollinCLI("municipality", append([]string{"act", "sign-agreement", "--step", workflows.StepFrameworkAgreement}, run...)...)
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, "sign-agreement (municipality, step call-off)", "the table shows the next wait")

	out, errOut, code = h.rollinCLI("pm", "list", "--state", "waiting", "--land", "05")
	require.Equal(t, cli.ExitOK, code, errOut)
	require.Contains(t, out, ars)
	require.Contains(t, out, "WAITING FOR")

	_, errOut, code = h.rollinCLI("municipality", append([]string{"act", "countersign-agreement"}, run...)...)
	require.Equal(t, cli.ExitFailure, code)
	require.Contains(t, errOut, "HTTP 403")
	_, errOut, code = h.rollinCLI("municipality", append([]string{"act", "submit-connection-data", "--data", "{nope"}, run...)...)
	require.Equal(t, cli.ExitUsage, code)
	require.Contains(t, errOut, "--data: not valid JSON")
	_, errOut, code = h.rollinCLI("pm", "list", "-o", "yaml")
	require.Equal(t, cli.ExitUsage, code)
	require.Contains(t, errOut, `--output "yaml"`)
	_, errOut, code = h.rollinCLI("pm", "list", "--state", "done")
	require.Equal(t, cli.ExitFailure, code)
	require.Contains(t, errOut, `state: "done"`)
}
