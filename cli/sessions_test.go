package cli

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

const envSecret = "env-secret-token-0123456789"

// TestHelpDoesNotShowTheToken: with ROLLIN_TOKEN set, no API client command's help
// prints it (it used to be the shown default of --token); the token is still sent.
func TestHelpDoesNotShowTheToken(t *testing.T) {
	t.Setenv("ROLLIN_TOKEN", envSecret)
	var cmds []*cobra.Command
	cmds = append(cmds, Commands()...)
	cmds = append(cmds, BulkCommands()...)
	cmds = append(cmds, CampaignCommand(), SessionsCommand())
	seen := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Flags().Lookup("token") != nil {
			seen++
			require.NotContains(t, c.UsageString(), envSecret, c.CommandPath())
			require.Contains(t, c.UsageString(), "$ROLLIN_TOKEN", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	for _, c := range cmds {
		walk(c)
	}
	require.Greater(t, seen, 10, "every API client command was looked at")
}

// TestSessionsEnd: `sessions end NAME` sends DELETE /api/v1/sessions/NAME with the token
// of ROLLIN_TOKEN as it is when the command runs, and prints how many ended.
func TestSessionsEnd(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		_, _ = w.Write([]byte(`{"name":"pl nrw","ended":2}`))
	}))
	defer srv.Close()

	cmd := SessionsCommand()
	t.Setenv("ROLLIN_TOKEN", envSecret) // after the command was built
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"end", "pl nrw", "--api", srv.URL})
	require.NoError(t, cmd.Execute())
	require.Equal(t, http.MethodDelete, got.Method)
	require.Equal(t, "/api/v1/sessions/pl%20nrw", got.URL.EscapedPath())
	require.Equal(t, "Bearer "+envSecret, got.Header.Get("Authorization"))
	require.Equal(t, "ended 2 session(s) of pl nrw\n", out.String())

	cmd = SessionsCommand()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"end", "pl", "--api", srv.URL, "--token", "flag-token-0123456789"})
	require.NoError(t, cmd.Execute())
	require.Equal(t, "Bearer flag-token-0123456789", got.Header.Get("Authorization"), "--token wins")
}
