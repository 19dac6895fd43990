package main

import (
	"bytes"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/config"
)

// TestBannerNamesTheServerForTheCLI: the CLI example rollin-dev prints names the address
// it serves on, so that pasting it sends the token to this server and not to whatever
// listens on the CLI's default address.
func TestBannerNamesTheServerForTheCLI(t *testing.T) {
	var out bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetOut(&out)
	tokens := []config.Token{{Name: "pm", Role: "pm", Token: "pm-token-0123456789"}}
	printBanner(cmd, "127.0.0.1:18481", "127.0.0.1:17233", config.Config{}, tokens, true, false)
	require.Contains(t, out.String(), "ROLLIN_API=http://127.0.0.1:18481 ROLLIN_TOKEN=pm-token-0123456789 rollin start")
}
