package cli

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

// SessionsCommand returns `sessions end NAME`: an operator ends every web session signed
// in under a name (a token's name in auth.tokens, a person's from the identity provider)
// on all replicas, e.g. after a token leaked, through DELETE /api/v1/sessions/{name}.
// It has --api, --token and -o like the other API client commands.
func SessionsCommand() *cobra.Command {
	c := &apiClient{http: &http.Client{Timeout: 60 * time.Second}}
	end := bindAPIFlags(&cobra.Command{
		Use:   "end NAME",
		Short: "End every web session signed in under NAME (a token's name, or a person's) on all replicas (operators)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out struct {
				Name  string `json:"name"`
				Ended int64  `json:"ended"`
			}
			if _, err := c.do(cmdContext(cmd), http.MethodDelete, "/api/v1/sessions/"+url.PathEscape(args[0]), nil, &out); err != nil {
				return err
			}
			if c.output == "json" {
				return writeJSONTo(cmd.OutOrStdout(), out)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ended %d session(s) of %s\n", out.Ended, out.Name)
			return nil
		},
	}, c)
	parent := &cobra.Command{Use: "sessions", Short: "The sessions of the web pages"}
	parent.AddCommand(end)
	return parent
}
