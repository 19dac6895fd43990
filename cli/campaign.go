package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/workflows"
)

// campaignClock is the time source of the polling commands; tests pass a fake one so
// that polling every few seconds takes no time.
type campaignClock struct {
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
}

// pollOutage is how long polling tolerates an API that does not answer (or answers 5xx)
// before it gives up: long enough to ride out a restart of `rollin serve`.
const pollOutage = 2 * time.Minute

// CampaignCommand returns `campaign` with start, status, pause, resume and cancel: a
// project manager rolls one service out to a Land, a Kreis or a list of municipalities
// through the API (POST /api/v1/campaigns) and follows it, instead of starting hundreds
// of roll-ins one by one. Each subcommand has --api, --token and -o like the other API
// client commands.
func CampaignCommand() *cobra.Command {
	return campaignCommand(campaignClock{now: time.Now, sleep: sleepContext})
}

func campaignCommand(clock campaignClock) *cobra.Command {
	c := &apiClient{http: &http.Client{Timeout: 60 * time.Second}}
	group := &cobra.Command{
		Use:   "campaign",
		Short: "Roll a service out to a Land, a Kreis or a list of municipalities, and follow it",
		Long: `A campaign starts the roll-in of one service into many municipalities, paced by --rate
and --window, and can be paused, resumed or cancelled while it starts them. Its ID follows
from the service and the selection: starting the same campaign again shows the first one.
Cancelling a campaign starts no further roll-ins; those already started go on.`,
	}
	group.AddCommand(
		campaignStartCommand(c, clock),
		campaignStatusCommand(c),
		campaignActionCommand(c, workflows.CampaignPause, "Pause a campaign: it starts no further roll-ins until resumed", false),
		campaignActionCommand(c, workflows.CampaignResume, "Resume a paused campaign", false),
		campaignActionCommand(c, workflows.CampaignCancel, "Cancel a campaign: it starts no further roll-ins; started ones go on", true),
	)
	return group
}

// campaignStartOptions are the flags of `campaign start`.
type campaignStartOptions struct {
	service, land, kreis, file string
	rate                       float64
	window                     int
	wait                       bool
	poll                       time.Duration
}

func campaignStartCommand(c *apiClient, clock campaignClock) *cobra.Command {
	var o campaignStartOptions
	cmd := bindAPIFlags(&cobra.Command{
		Use:   "start --service KEY (--land NN | --kreis NNNNN | --file ars.csv) [--rate N] [--window N] [--wait] [--poll 2s]",
		Short: "Start a campaign and follow it until it has started every roll-in (with --wait: until they are done)",
		Long: `Start a campaign and show its progress on stderr until it has started (or found) the
roll-in of every selected municipality; then print the campaign. With --wait, follow the
roll-ins until each is live or needs attention (incident, blocked, cancelled). The exit
code is 1 when a roll-in could not be started, the campaign was cancelled or, with
--wait, any roll-in needs attention. Ctrl-C stops following; the campaign goes on.

--file reads the ARS from the first column of a CSV file (';' or ',' separated); a first
line whose first cell is not a number is taken as a header, blank lines are skipped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmdContext(cmd), os.Interrupt)
			defer stop()
			return runCampaignStart(ctx, cmd, c, clock, o)
		},
	}, c)
	f := cmd.Flags()
	f.StringVar(&o.service, "service", "", "14-digit Leistungsschlüssel of the service; required")
	f.StringVar(&o.land, "land", "", "every municipality of this Land (2-digit key, e.g. 05)")
	f.StringVar(&o.kreis, "kreis", "", "every municipality of this Kreis (5-digit key)")
	f.StringVar(&o.file, "file", "", "the municipalities listed in this CSV file (ARS in the first column)")
	f.Float64Var(&o.rate, "rate", 0, "roll-ins started per second at most (0: bounded by --window only)")
	f.IntVar(&o.window, "window", 0, fmt.Sprintf("roll-in starts in flight at most (0: the server's default; up to %d)", workflows.MaxCampaignWindow))
	f.BoolVar(&o.wait, "wait", false, "after the starts, follow the roll-ins until each is live or needs attention")
	f.DurationVar(&o.poll, "poll", 2*time.Second, "how often to ask the API for the campaign's progress")
	return cmd
}

// check validates the flags before any file is read or request sent.
func (o *campaignStartOptions) check() error {
	if o.service == "" {
		return Usagef("--service: required (the 14-digit Leistungsschlüssel)")
	}
	if _, err := domain.ParseServiceKey(o.service); err != nil {
		return Usagef("--service: %v", err)
	}
	chosen := 0
	for _, v := range []string{o.land, o.kreis, o.file} {
		if v != "" {
			chosen++
		}
	}
	switch {
	case chosen != 1:
		return Usagef("select the municipalities with exactly one of --land, --kreis or --file")
	case o.land != "" && !domain.Digits(o.land, 2):
		return Usagef("--land %q: want the 2-digit Land key, e.g. 05", o.land)
	case o.kreis != "" && !domain.Digits(o.kreis, 5):
		return Usagef("--kreis %q: want the 5-digit Kreis key, e.g. 05315", o.kreis)
	case o.rate < 0:
		return Usagef("--rate %v: must not be negative", o.rate)
	case o.window < 0 || o.window > workflows.MaxCampaignWindow:
		return Usagef("--window %d: want 0 (the default) to %d", o.window, workflows.MaxCampaignWindow)
	case o.poll <= 0:
		return Usagef("--poll %v: want a positive duration, e.g. 2s", o.poll)
	}
	return nil
}

func runCampaignStart(ctx context.Context, cmd *cobra.Command, c *apiClient, clock campaignClock, o campaignStartOptions) error {
	if err := o.check(); err != nil {
		return err
	}
	req := starter.CampaignRequest{Service: o.service, Land: o.land, Kreis: o.kreis, Rate: o.rate, Window: o.window}
	if o.file != "" {
		ars, err := readARSFile(o.file)
		if err != nil {
			return err
		}
		req.ARS = ars
	}
	var p domain.CampaignProgress
	code, err := c.do(ctx, http.MethodPost, "/api/v1/campaigns", req, &p)
	if err != nil {
		return fmt.Errorf("start campaign: %w", err)
	}
	stderr := cmd.ErrOrStderr()
	if code == http.StatusCreated {
		fmt.Fprintf(stderr, "started campaign %s\n", p.ID)
	} else {
		fmt.Fprintf(stderr, "campaign %s exists already\n", p.ID)
	}

	w := &campaignWatch{c: c, clock: clock, every: o.poll, stderr: stderr, id: p.ID}
	fmt.Fprintf(stderr, "starting roll-ins (%s):\n", p.Selector)
	p, err = w.follow(ctx, p, startsDone, func(p domain.CampaignProgress) bool { return p.State.Final() })
	if err != nil {
		return w.stopped(cmd.OutOrStdout(), p, err)
	}
	if o.wait {
		fmt.Fprintln(stderr, "waiting for the roll-ins to go live or need attention:")
		p, err = w.follow(ctx, p, runsDone, func(p domain.CampaignProgress) bool { return runsOutstanding(p) == 0 })
		if err != nil {
			return w.stopped(cmd.OutOrStdout(), p, err)
		}
	}
	if err := c.printCampaign(cmd.OutOrStdout(), p); err != nil {
		return err
	}
	return campaignOutcome(p, o.wait)
}

// campaignWatch polls one campaign and draws its progress.
type campaignWatch struct {
	c      *apiClient
	clock  campaignClock
	every  time.Duration
	stderr io.Writer
	id     string
}

// follow polls the campaign every w.every, drawing measure(p) on a progress bar, until
// done(p). It starts from p, the latest known progress, and returns the latest progress
// also when it fails or ctx ends.
func (w *campaignWatch) follow(ctx context.Context, p domain.CampaignProgress,
	measure func(domain.CampaignProgress) (done, total int), done func(domain.CampaignProgress) bool,
) (domain.CampaignProgress, error) {
	n, total := measure(p)
	bar := newProgressAt(w.stderr, total, isTerminal(w.stderr), w.clock.now)
	defer bar.Finish()
	bar.Set(n)
	for !done(p) {
		if err := w.clock.sleep(ctx, w.every); err != nil {
			return p, err
		}
		next, err := w.get(ctx)
		if err != nil {
			return p, err
		}
		p = next
		n, total = measure(p)
		bar.SetTotal(total)
		bar.Set(n)
	}
	return p, nil
}

// get reads the campaign, retrying for up to pollOutage while the API does not answer or
// answers with a server error, so that a restart of the API does not end a long wait.
func (w *campaignWatch) get(ctx context.Context) (domain.CampaignProgress, error) {
	var failingSince time.Time
	for {
		var p domain.CampaignProgress
		code, err := w.c.do(ctx, http.MethodGet, "/api/v1/campaigns/"+url.PathEscape(w.id), nil, &p)
		if err == nil {
			return p, nil
		}
		var usage *UsageError
		if errors.As(err, &usage) || (code != 0 && code < 500) {
			return p, fmt.Errorf("read campaign %s: %w", w.id, err)
		}
		now := w.clock.now()
		if failingSince.IsZero() {
			failingSince = now
		} else if now.Sub(failingSince) >= pollOutage {
			return p, fmt.Errorf("read campaign %s: no answer for %v: %w", w.id, now.Sub(failingSince).Round(time.Second), err)
		}
		if err := w.clock.sleep(ctx, w.every); err != nil {
			return p, err
		}
	}
}

// stopped ends a start whose following was interrupted (Ctrl-C) or failed: it prints the
// latest known progress and says that the campaign goes on, since nothing was sent to it.
func (w *campaignWatch) stopped(out io.Writer, p domain.CampaignProgress, err error) error {
	if perr := w.c.printCampaign(out, p); perr != nil {
		return perr
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("stopped following campaign %s; it goes on (rollin campaign status %s)", w.id, w.id)
	}
	return fmt.Errorf("%w; the campaign goes on (rollin campaign status %s)", err, w.id)
}

// startsDone measures how far the campaign is with starting: started, found existing or
// refused, out of its municipalities.
func startsDone(p domain.CampaignProgress) (done, total int) {
	return p.Started + p.Existing + p.Failed, p.Total
}

// runsDone measures how far the campaign's roll-ins are: live or needing attention, out
// of those the campaign has (started or found existing; failed starts and members a
// cancelled campaign never reached have no roll-in to wait for).
func runsDone(p domain.CampaignProgress) (done, total int) {
	r := p.Runs
	return r[string(domain.RunLive)] + runsNeedingAttention(p), p.Started + p.Existing
}

// runsNeedingAttention counts the roll-ins that ended or stopped without going live.
func runsNeedingAttention(p domain.CampaignProgress) int {
	r := p.Runs
	return r[string(domain.RunIncident)] + r[string(domain.RunBlocked)] + r[string(domain.RunCancelled)]
}

// runsOutstanding counts the roll-ins still under way. Members whose start failed stay
// "pending" in the read model for good, so they are not waited for.
func runsOutstanding(p domain.CampaignProgress) int {
	r := p.Runs
	return r[string(domain.RunRunning)] + r[string(domain.RunWaiting)] + max(0, r[campaignPending]-p.Failed)
}

// campaignPending is the Runs key of members without a roll-in in the read model yet.
const campaignPending = "pending"

// campaignOutcome turns what went wrong in a campaign into the command's error, so that
// scripts notice: failed starts, a cancelled campaign and, when the roll-ins were
// followed, roll-ins needing attention.
func campaignOutcome(p domain.CampaignProgress, waited bool) error {
	var problems, hints []string
	if p.Failed > 0 {
		problems = append(problems, fmt.Sprintf("%d roll-in(s) could not be started (see the worker log)", p.Failed))
	}
	if p.State == domain.CampaignCancelled {
		msg := "the campaign was cancelled"
		if p.Reason != "" {
			msg += " (" + p.Reason + ")"
		}
		if rest := p.Total - p.Started - p.Existing - p.Failed; rest > 0 {
			msg += fmt.Sprintf("; %d municipalities were not started", rest)
		}
		problems = append(problems, msg)
	}
	if waited {
		if n := runsNeedingAttention(p); n > 0 {
			var parts []string
			for _, s := range []domain.RunState{domain.RunIncident, domain.RunBlocked, domain.RunCancelled} {
				if k := p.Runs[string(s)]; k > 0 {
					parts = append(parts, fmt.Sprintf("%d %s", k, s))
					hints = append(hints, fmt.Sprintf("rollin list --state %s --service %s", s, p.Service))
				}
			}
			problems = append(problems, fmt.Sprintf("%d roll-in(s) need attention: %s", n, strings.Join(parts, ", ")))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	msg := fmt.Sprintf("campaign %s: %s", p.ID, strings.Join(problems, "; "))
	if len(hints) > 0 {
		msg += "; see " + strings.Join(hints, " and ")
	}
	return errors.New(msg)
}

func campaignStatusCommand(c *apiClient) *cobra.Command {
	return bindAPIFlags(&cobra.Command{
		Use:   "status ID",
		Short: "Show a campaign: its starts and its roll-ins by state and stage",
		Args:  campaignIDArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			var p domain.CampaignProgress
			if _, err := c.do(cmdContext(cmd), http.MethodGet, "/api/v1/campaigns/"+url.PathEscape(args[0]), nil, &p); err != nil {
				return fmt.Errorf("read campaign %s: %w", args[0], err)
			}
			return c.printCampaign(cmd.OutOrStdout(), p)
		},
	}, c)
}

// campaignActionCommand returns pause, resume or cancel; needReason makes --reason
// required, as the API records why a campaign was cancelled.
func campaignActionCommand(c *apiClient, action, short string, needReason bool) *cobra.Command {
	var reason string
	use := action + " ID [--reason TEXT]"
	reasonHelp := "why (recorded in the campaign)"
	if needReason {
		use = action + " ID --reason TEXT"
		reasonHelp += "; required"
	}
	cmd := bindAPIFlags(&cobra.Command{
		Use:   use,
		Short: short,
		Args:  campaignIDArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			if needReason && strings.TrimSpace(reason) == "" {
				return Usagef("--reason: required to %s a campaign", action)
			}
			body := struct {
				Action string `json:"action"`
				Reason string `json:"reason,omitempty"`
			}{action, reason}
			var p domain.CampaignProgress
			if _, err := c.do(cmdContext(cmd), http.MethodPost, "/api/v1/campaigns/"+url.PathEscape(args[0])+"/actions", body, &p); err != nil {
				return fmt.Errorf("%s campaign %s: %w", action, args[0], err)
			}
			return c.printCampaign(cmd.OutOrStdout(), p)
		},
	}, c)
	cmd.Flags().StringVar(&reason, "reason", "", reasonHelp)
	return cmd
}

// campaignIDArg requires exactly one non-empty campaign ID, as a usage error.
func campaignIDArg(_ *cobra.Command, args []string) error {
	if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
		return Usagef("want exactly one campaign ID (as `rollin campaign start` printed it), got %d argument(s)", len(args))
	}
	return nil
}

// runStateOrder and stageOrder fix the order of the campaign's counts in the table.
var (
	runStateOrder = []string{campaignPending, string(domain.RunRunning), string(domain.RunWaiting),
		string(domain.RunIncident), string(domain.RunBlocked), string(domain.RunLive), string(domain.RunCancelled)}
	stageOrder = []domain.Stage{domain.StagePruefung, domain.StageVereinbarung, domain.StageAnbindung,
		domain.StageTest, domain.StageGoLive}
)

// printCampaign prints a campaign as a table or JSON (-o json).
func (c *apiClient) printCampaign(w io.Writer, p domain.CampaignProgress) error {
	if c.output == "json" {
		return writeJSONTo(w, p)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Campaign:\t%s\nService:\t%s\nSelector:\t%s\nState:\t%s\n", p.ID, p.Service, p.Selector, p.State)
	if p.Reason != "" {
		fmt.Fprintf(tw, "Reason:\t%s\n", p.Reason)
	}
	fmt.Fprintf(tw, "Total:\t%d\nStarted:\t%d\nExisting:\t%d\nFailed:\t%d\n", p.Total, p.Started, p.Existing, p.Failed)
	if p.CreatedBy != "" {
		fmt.Fprintf(tw, "Created:\t%s by %s\n", p.CreatedAt.Format(time.DateTime), p.CreatedBy)
	}
	fmt.Fprintln(tw, "\nRUN STATE\tROLL-INS")
	for _, s := range withExtraKeys(runStateOrder, p.Runs) {
		fmt.Fprintf(tw, "%s\t%d\n", s, p.Runs[s])
	}
	fmt.Fprintln(tw, "\nSTAGE\tROLL-INS UNDER WAY")
	for _, s := range withExtraKeys(stageOrder, p.Stages) {
		fmt.Fprintf(tw, "%s\t%d\n", s, p.Stages[s])
	}
	return tw.Flush()
}

// withExtraKeys returns known followed by the keys of counts it does not name, sorted, so
// that a state or stage added to the server later is shown too.
func withExtraKeys[K ~string](known []K, counts map[K]int) []K {
	keys := slices.Clone(known)
	var extra []K
	for k := range counts {
		if !slices.Contains(known, k) {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	return append(keys, extra...)
}

// maxReportedLines bounds how many bad lines of an ARS file an error lists.
const maxReportedLines = 10

// readARSFile reads the ARS of a campaign from the first column of a CSV file; see
// parseARSList. Any problem is a usage error: the file is part of the call.
func readARSFile(name string) ([]string, error) {
	f, err := os.Open(name) // #nosec G304 -- the --file the user named, read with the user's rights
	if err != nil {
		return nil, Usagef("--file: %v", err)
	}
	defer f.Close()
	return parseARSList(f, name)
}

// parseARSList reads ARS from the first column of CSV text separated by ';' or ',': blank
// lines are skipped, and so is a first line whose first cell is not all digits (a header).
// Cells may be quoted. Every other line must hold a 12-digit ARS; the error names up to
// maxReportedLines bad lines by number, so the file can be fixed in one go.
func parseARSList(r io.Reader, name string) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var ars, bad []string
	badLines, line := 0, 0
	seenContent := false
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if line == 1 {
			text = strings.TrimSpace(strings.TrimPrefix(text, "\ufeff")) // spreadsheet BOM
		}
		if text == "" {
			continue
		}
		first := text
		if i := strings.IndexAny(text, ";,"); i >= 0 {
			first = text[:i]
		}
		first = strings.TrimSpace(strings.Trim(strings.TrimSpace(first), `"'`))
		if !seenContent {
			seenContent = true
			if !domain.AllDigits(first) {
				continue
			}
		}
		a, err := domain.ParseARS(first)
		if err != nil {
			badLines++
			if len(bad) < maxReportedLines {
				bad = append(bad, fmt.Sprintf("%s:%d: %v", name, line, err))
			}
			continue
		}
		ars = append(ars, string(a))
	}
	if err := sc.Err(); err != nil {
		return nil, Usagef("--file %s: line %d: %v", name, line+1, err)
	}
	if badLines > 0 {
		msg := fmt.Sprintf("--file %s: %d bad line(s), nothing sent:\n%s", name, badLines, strings.Join(bad, "\n"))
		if badLines > len(bad) {
			msg += fmt.Sprintf("\n... and %d more", badLines-len(bad))
		}
		return nil, Usagef("%s", msg)
	}
	if len(ars) == 0 {
		return nil, Usagef("--file %s: no ARS in the first column", name)
	}
	return ars, nil
}
