// Package cli holds the commands of the rollin binary that need no embedded Temporal
// server: the API client commands (start, status, list, act), the bulk operator actions,
// the campaign commands (campaign start, status, pause, resume, cancel) and the register
// and catalogue imports. Keeping them here lets the integration tests run them against a
// real API without linking the rollin binary.
package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rollin-efa/rollin/domain"
)

// bindAPIFlags adds --api, --token and -o to cmd, bound to c, as the other API client
// commands have them.
func bindAPIFlags(cmd *cobra.Command, c *apiClient) *cobra.Command {
	cmd.Flags().StringVar(&c.base, "api", envOr("ROLLIN_API", "http://127.0.0.1:8080"), "API base URL (env ROLLIN_API)")
	// The token's default is read when the command runs, not here: a default shows in
	// --help, and the token is a secret.
	cmd.Flags().StringVar(&c.token, "token", "", "API token (default $ROLLIN_TOKEN)")
	cmd.Flags().StringVarP(&c.output, "output", "o", "table", "output format: table or json")
	return cmd
}

// apiClient is the CLI's connection to a running `rollin-dev` or `rollin serve`.
type apiClient struct {
	base   string
	token  string
	http   *http.Client
	output string
	// sleep waits out a 429's Retry-After (nil: sleepContext; tests pass a fake).
	sleep func(context.Context, time.Duration) error
}

// maxRateLimitWaits bounds how often one request waits out "429 Too Many Requests" before
// the error is reported; maxRetryAfter caps one wait.
const (
	maxRateLimitWaits = 5
	maxRetryAfter     = 30 * time.Second
)

// retryAfter reads a 429's Retry-After in seconds (at least 1 s, at most maxRetryAfter).
func retryAfter(h http.Header) time.Duration {
	secs, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After")))
	if err != nil || secs < 1 {
		return time.Second
	}
	return min(time.Duration(secs)*time.Second, maxRetryAfter)
}

// Commands returns the API client commands. Each has --api (env ROLLIN_API) and --token
// (env ROLLIN_TOKEN) flags.
func Commands() []*cobra.Command {
	c := &apiClient{http: &http.Client{Timeout: 60 * time.Second}}
	bind := func(cmd *cobra.Command) *cobra.Command { return bindAPIFlags(cmd, c) }
	var ars, service string
	runFlags := func(cmd *cobra.Command) *cobra.Command {
		cmd.Flags().StringVar(&ars, "ars", "", "12-digit ARS of the municipality")
		cmd.Flags().StringVar(&service, "service", "", "14-digit Leistungsschlüssel of the service")
		return bind(cmd)
	}

	start := runFlags(&cobra.Command{
		Use:   "start --service KEY --ars ARS",
		Short: "Start the roll-in of a service into a municipality (again: shows the existing one)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			body := map[string]string{"ars": ars, "service": service}
			var st domain.RunStatus
			code, err := c.do(cmdContext(cmd), http.MethodPost, "/api/v1/rollins", body, &st)
			if err != nil {
				return err
			}
			if code == http.StatusCreated {
				fmt.Fprintln(cmd.ErrOrStderr(), "started")
			} else {
				fmt.Fprintln(cmd.ErrOrStderr(), "exists already")
			}
			return c.printRun(cmd.OutOrStdout(), st)
		},
	})
	status := runFlags(&cobra.Command{
		Use:   "status --service KEY --ars ARS",
		Short: "Show a roll-in: state, stage, what it waits for, its steps",
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st domain.RunStatus
			if _, err := c.do(cmdContext(cmd), http.MethodGet, "/api/v1/rollins/"+url.PathEscape(ars)+"/"+url.PathEscape(service), nil, &st); err != nil {
				return err
			}
			return c.printRun(cmd.OutOrStdout(), st)
		},
	})

	var filter struct{ state, stage, svc, land, kreis, cursor, limit string }
	list := bind(&cobra.Command{
		Use:   "list [--state S] [--stage S] [--service KEY] [--land NN] [--kreis NNNNN]",
		Short: "List roll-ins",
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"state": filter.state, "stage": filter.stage, "service": filter.svc,
				"land": filter.land, "kreis": filter.kreis, "cursor": filter.cursor, "limit": filter.limit} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var page struct {
				Items      []domain.RunStatus `json:"items"`
				NextCursor *string            `json:"next_cursor"`
			}
			if _, err := c.do(cmdContext(cmd), http.MethodGet, "/api/v1/rollins?"+q.Encode(), nil, &page); err != nil {
				return err
			}
			if c.output == "json" {
				return writeJSONTo(cmd.OutOrStdout(), page)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ARS\tSERVICE\tSTATE\tSTAGE\tWAITING FOR\tUPDATED")
			for _, st := range page.Items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", st.ARS, st.Service, st.State, st.Stage, waiting(st), st.UpdatedAt.Format(time.DateTime))
			}
			if page.NextCursor != nil {
				fmt.Fprintf(tw, "more: --cursor %s\n", *page.NextCursor)
			}
			return tw.Flush()
		},
	})
	list.Flags().StringVar(&filter.state, "state", "", "running, waiting, incident, blocked, live or cancelled")
	list.Flags().StringVar(&filter.stage, "stage", "", "pruefung, vereinbarung, anbindung, test or golive")
	list.Flags().StringVar(&filter.svc, "service", "", "Leistungsschlüssel")
	list.Flags().StringVar(&filter.land, "land", "", "2-digit Land key, e.g. 05 for Nordrhein-Westfalen")
	list.Flags().StringVar(&filter.kreis, "kreis", "", "5-digit Kreis key")
	list.Flags().StringVar(&filter.limit, "limit", "", "page size, up to 1000")
	list.Flags().StringVar(&filter.cursor, "cursor", "", "next page, as printed by the previous page")

	var step, reason, data, actionID string
	act := runFlags(&cobra.Command{
		Use:   "act ACTION --service KEY --ars ARS [--step S] [--reason R] [--data JSON]",
		Short: "Act on a roll-in: sign-agreement, countersign-agreement, submit-connection-data, confirm-test, confirm-connection, retry-step, skip-step, cancel",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if actionID == "" {
				actionID = newActionID()
				fmt.Fprintf(cmd.ErrOrStderr(), "action ID %s (resend with --action-id %s to retry safely)\n", actionID, actionID)
			}
			body := map[string]any{"action": args[0], "action_id": actionID, "step": step, "reason": reason}
			if data != "" {
				if !json.Valid([]byte(data)) {
					return Usagef("--data: not valid JSON")
				}
				body["data"] = json.RawMessage(data)
			}
			var st domain.RunStatus
			if _, err := c.do(cmdContext(cmd), http.MethodPost, "/api/v1/rollins/"+url.PathEscape(ars)+"/"+url.PathEscape(service)+"/actions", body, &st); err != nil {
				return err
			}
			return c.printRun(cmd.OutOrStdout(), st)
		},
	})
	act.Flags().StringVar(&step, "step", "", "the step the action is for (checked against the run)")
	act.Flags().StringVar(&reason, "reason", "", "why (required for skip-step and cancel)")
	act.Flags().StringVar(&data, "data", "", "the action's data as JSON, e.g. the connection questionnaire")
	act.Flags().StringVar(&actionID, "action-id", "", "idempotency ID of the action (default: random); resend with the same ID to retry safely")
	return []*cobra.Command{start, status, list, act}
}

// bearer is the token to send: --token, else ROLLIN_TOKEN as set when the command runs.
func (c *apiClient) bearer() string {
	if c.token != "" {
		return c.token
	}
	return os.Getenv("ROLLIN_TOKEN")
}

// do sends one request (given up when ctx ends, e.g. on Ctrl-C) and decodes the answer into out; a non-2xx answer becomes an error
// carrying the API's message.
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) (int, error) {
	if c.output != "table" && c.output != "json" {
		return 0, Usagef("--output %q: want table or json", c.output)
	}
	token := c.bearer()
	if token == "" {
		return 0, Usagef("no token: pass --token or set ROLLIN_TOKEN (rollin-dev prints the tokens)")
	}
	var payload []byte
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("encode request: %w", err)
		}
		payload = raw
	}
	sleep := c.sleep
	if sleep == nil {
		sleep = sleepContext
	}
	var resp *http.Response
	for waits := 0; ; waits++ {
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.base, "/")+path, bytes.NewReader(payload))
		if err != nil {
			return 0, Usagef("--api %q: %v", c.base, err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err = c.http.Do(req)
		if err != nil {
			return 0, fmt.Errorf("%s %s: %w (is rollin-dev or rollin serve running?)", method, path, err)
		}
		if resp.StatusCode != http.StatusTooManyRequests || waits == maxRateLimitWaits {
			break
		}
		// The server's rate limit for this token: wait as it says and send the same request
		// again (actions carry their action ID, so a repetition is harmless anyway).
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		if err := sleep(ctx, retryAfter(resp.Header)); err != nil {
			return 0, err
		}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		return resp.StatusCode, fmt.Errorf("%s (HTTP %d)", e.Error, resp.StatusCode)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return resp.StatusCode, fmt.Errorf("decode answer: %w", err)
	}
	return resp.StatusCode, nil
}

func (c *apiClient) printRun(w io.Writer, st domain.RunStatus) error {
	if c.output == "json" {
		return writeJSONTo(w, st)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Run:\t%s\nState:\t%s\nStage:\t%s\nWaiting for:\t%s\n", st.ID, st.State, st.Stage, waiting(st))
	if st.Reason != "" {
		fmt.Fprintf(tw, "Reason:\t%s\n", st.Reason)
	}
	fmt.Fprintln(tw, "\nSTEP\tSTAGE\tSTATE\tATTEMPTS\tLAST ERROR")
	for _, s := range st.Steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.Name, s.Stage, s.State, s.Attempts, s.LastError)
	}
	return tw.Flush()
}

func waiting(st domain.RunStatus) string {
	if st.WaitingFor == nil {
		return "-"
	}
	return fmt.Sprintf("%s (%s, step %s)", st.WaitingFor.Action, st.WaitingFor.Role, st.WaitingFor.Step)
}

func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newActionID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
