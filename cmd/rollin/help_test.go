package main

import (
	"bytes"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

// TestHelpShowsNoSecret: with ROLLIN_TOKEN set, the help of no command of the binary
// (rollin --help, and each command's) prints the token.
func TestHelpShowsNoSecret(t *testing.T) {
	const secret = "help-secret-token-0123456789"
	t.Setenv("ROLLIN_TOKEN", secret)
	root := rootCommand()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		var out bytes.Buffer
		c.SetOut(&out)
		require.NoError(t, c.Help())
		require.NotContains(t, out.String(), secret, c.CommandPath())
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	root = rootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"start", "--help"})
	require.NoError(t, root.Execute())
	require.Contains(t, out.String(), "$ROLLIN_TOKEN")
	require.NotContains(t, out.String(), secret)
}
