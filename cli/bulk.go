package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/workflows"
)

// bulkKind describes one bulk command: which action it sends and what it needs.
type bulkKind struct {
	use, short   string
	action       string // the Update sent to every run
	needStep     bool   // the action names the step (retry-step, skip-step)
	needReason   bool
	defaultState string // --state when not given
}

var bulkKinds = []bulkKind{
	{use: "retry", action: workflows.ActionRetryStep, needStep: true, defaultState: string(domain.RunIncident),
		short: "Retry the failed step of every matching run (operator)"},
	{use: "skip", action: workflows.ActionSkipStep, needStep: true, needReason: true, defaultState: string(domain.RunIncident),
		short: "Skip the failed step of every matching run, with a reason (operator)"},
	{use: "cancel", action: workflows.ActionCancel, needReason: true,
		short: "Cancel every matching run, with a reason (operator, project manager)"},
}

// bulkOptions are the flags of a bulk command.
type bulkOptions struct {
	state, stage, step, service, land, kreis string
	reason, batchID                          string
	rate                                     float64
	concurrency                              int
	dryRun                                   bool
}

// BulkCommands returns the operators' bulk actions retry, skip and cancel. Each lists every
// run matching its filters through the API (GET /api/v1/rollins, all pages), then sends
// the action to each at a bounded rate with a few requests in flight, shows a progress bar
// on stderr and ends with a summary: done, and each rejection with its reason. Action IDs
// derive from --batch-id and the run, so running the same batch again never applies an
// action twice. The exit code is 1 when any action was rejected.
func BulkCommands() []*cobra.Command {
	cmds := make([]*cobra.Command, len(bulkKinds))
	for i, k := range bulkKinds {
		cmds[i] = bulkCommand(k)
	}
	return cmds
}

func bulkCommand(k bulkKind) *cobra.Command {
	c := &apiClient{http: &http.Client{Timeout: 60 * time.Second}}
	var o bulkOptions
	use := k.use + " [--state S] [--step NAME] [--service KEY] [--land NN] [--kreis NNNNN]"
	if k.needStep {
		use = k.use + " --step NAME [--state incident] [--service KEY] [--land NN] [--kreis NNNNN]"
	}
	if k.needReason {
		use += " --reason TEXT"
	}
	cmd := &cobra.Command{
		Use:   use + " [--rate N] [--dry-run]",
		Short: k.short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmdContext(cmd), os.Interrupt)
			defer stop()
			return runBulk(ctx, cmd, c, k, o)
		},
	}
	f := bindAPIFlags(cmd, c).Flags()
	stateHelp := "running, waiting, incident, blocked, live or cancelled"
	if k.defaultState != "" {
		stateHelp += " (the action applies to incidents only)"
	}
	f.StringVar(&o.state, "state", k.defaultState, stateHelp)
	f.StringVar(&o.stage, "stage", "", "pruefung, vereinbarung, anbindung, test or golive")
	stepHelp := "only runs waiting on this step (the step with the incident, or the human step they wait for)"
	if k.needStep {
		stepHelp = "the failed step to " + k.use + ", e.g. tenant; only runs with their incident on it match"
	}
	f.StringVar(&o.step, "step", "", stepHelp)
	f.StringVar(&o.service, "service", "", "Leistungsschlüssel")
	f.StringVar(&o.land, "land", "", "2-digit Land key, e.g. 05 for Nordrhein-Westfalen")
	f.StringVar(&o.kreis, "kreis", "", "5-digit Kreis key")
	reasonHelp := "why (recorded in each run's audit log)"
	if k.needReason {
		reasonHelp += "; required"
	}
	f.StringVar(&o.reason, "reason", "", reasonHelp)
	f.Float64Var(&o.rate, "rate", 10, "actions per second at most")
	f.IntVar(&o.concurrency, "concurrency", 4, "requests in flight at most")
	f.BoolVar(&o.dryRun, "dry-run", false, "list the matching runs and send nothing")
	f.StringVar(&o.batchID, "batch-id", "", "ID of this bulk action (default: random, printed); run again with the same ID to resend safely")
	return cmd
}

var batchIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// check validates the flags before anything is listed or sent.
func (o *bulkOptions) check(k bulkKind) error {
	if k.needStep && o.step == "" {
		return Usagef("--step: required: name the failed step to %s (e.g. tenant)", k.use)
	}
	if o.step != "" {
		if _, ok := workflows.StepByName(o.step); !ok {
			return Usagef("--step %q: not a step of the roll-in process", o.step)
		}
	}
	if k.needReason && strings.TrimSpace(o.reason) == "" {
		return Usagef("--reason: required to %s", k.use)
	}
	if o.state == "" && o.stage == "" && o.step == "" && o.service == "" && o.land == "" && o.kreis == "" {
		return Usagef("no filter: give at least one of --state, --stage, --step, --service, --land, --kreis")
	}
	if o.rate <= 0 {
		return Usagef("--rate %v: want more than 0 actions per second", o.rate)
	}
	if o.concurrency < 1 || o.concurrency > 64 {
		return Usagef("--concurrency %d: want 1 to 64", o.concurrency)
	}
	if o.batchID != "" && !batchIDPattern.MatchString(o.batchID) {
		return Usagef("--batch-id %q: want 1 to 64 letters, digits, '.', '_' or '-'", o.batchID)
	}
	return nil
}

// query is the list request's filter.
func (o *bulkOptions) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"state": o.state, "stage": o.stage, "step": o.step,
		"service": o.service, "land": o.land, "kreis": o.kreis} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// bulkResult is the outcome of the action on one run.
type bulkResult struct {
	run    domain.RunStatus
	sent   bool
	status int    // HTTP status; 0 when no answer came
	reason string // why the action was refused or failed; empty when done
}

// bulkSummary is the JSON form of a bulk command's outcome.
type bulkSummary struct {
	BatchID  string          `json:"batch_id"`
	Action   string          `json:"action"`
	Matched  int             `json:"matched"`
	Done     int             `json:"done"`
	Rejected []bulkRejection `json:"rejected"`
	NotSent  int             `json:"not_sent,omitempty"`
}

type bulkRejection struct {
	ARS     domain.ARS        `json:"ars"`
	Service domain.ServiceKey `json:"service"`
	Status  int               `json:"status"`
	Reason  string            `json:"reason"`
}

func runBulk(ctx context.Context, cmd *cobra.Command, c *apiClient, k bulkKind, o bulkOptions) error {
	if err := o.check(k); err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	runs, err := c.listAll(ctx, o.query())
	if err != nil {
		return err
	}
	if o.dryRun {
		fmt.Fprintf(stderr, "dry run: %d run(s) match; %s would be sent to each, nothing was sent\n", len(runs), k.action)
		return c.printRunList(cmd.OutOrStdout(), runs)
	}
	if o.batchID == "" {
		o.batchID = newActionID()[:16]
		fmt.Fprintf(stderr, "batch ID %s (run again with --batch-id %s to resend safely: an action already applied is not applied again)\n", o.batchID, o.batchID)
	}
	fmt.Fprintf(stderr, "%s: %d run(s) match, at most %v/s\n", k.action, len(runs), o.rate)
	if len(runs) == 0 {
		return c.printSummary(cmd.OutOrStdout(), k, o, nil)
	}

	bar := newProgress(stderr, len(runs))
	results := c.sendAll(ctx, runs, k, o, bar)
	bar.Finish()
	return c.printSummary(cmd.OutOrStdout(), k, o, results)
}

// listAll follows the keyset pages of GET /api/v1/rollins to the end.
func (c *apiClient) listAll(ctx context.Context, q url.Values) ([]domain.RunStatus, error) {
	q.Set("limit", "1000")
	var runs []domain.RunStatus
	for {
		var page struct {
			Items      []domain.RunStatus `json:"items"`
			NextCursor *string            `json:"next_cursor"`
		}
		if _, err := c.do(ctx, http.MethodGet, "/api/v1/rollins?"+q.Encode(), nil, &page); err != nil {
			return nil, fmt.Errorf("list matching runs: %w", err)
		}
		runs = append(runs, page.Items...)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return runs, nil
		}
		q.Set("cursor", *page.NextCursor)
	}
}

// sendAll sends the action to every run, starting at most o.rate requests per second with
// at most o.concurrency in flight. When ctx ends, runs not yet sent are left alone.
func (c *apiClient) sendAll(ctx context.Context, runs []domain.RunStatus, k bulkKind, o bulkOptions, bar *progress) []bulkResult {
	results := make([]bulkResult, len(runs))
	for i, r := range runs {
		results[i].run = r
	}
	lim := newLimiter(o.rate, 1)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Go(func() {
			for i := range jobs {
				// A send under way finishes even after Ctrl-C, so the summary can say what
				// became of it.
				results[i] = c.sendOne(context.WithoutCancel(ctx), runs[i], k, o)
				bar.Add(1)
			}
		})
	}
	for i := range runs {
		if lim.Wait(ctx) != nil {
			break
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	return results
}

// sendOne sends the action to one run with an action ID derived from the batch, the
// action and the run, so a resend is recognised by the workflow and applied once.
func (c *apiClient) sendOne(ctx context.Context, run domain.RunStatus, k bulkKind, o bulkOptions) bulkResult {
	body := map[string]any{
		"action":    k.action,
		"action_id": fmt.Sprintf("bulk/%s/%s/%s/%s", o.batchID, k.action, run.ARS, run.Service),
		"reason":    o.reason,
	}
	if k.needStep {
		body["step"] = o.step
	}
	var ignored map[string]any
	code, err := c.do(ctx, http.MethodPost, "/api/v1/rollins/"+url.PathEscape(string(run.ARS))+"/"+url.PathEscape(string(run.Service))+"/actions", body, &ignored)
	res := bulkResult{run: run, sent: true, status: code}
	if err != nil {
		res.reason = strings.TrimSuffix(err.Error(), " (HTTP "+strconv.Itoa(code)+")")
		if res.reason == "" {
			res.reason = http.StatusText(code)
		}
	}
	return res
}

// printSummary prints done and rejected runs and returns an error when any action was
// rejected or not sent, so that scripts notice.
func (c *apiClient) printSummary(w io.Writer, k bulkKind, o bulkOptions, results []bulkResult) error {
	sum := bulkSummary{BatchID: o.batchID, Action: k.action, Matched: len(results), Rejected: []bulkRejection{}}
	services := map[domain.ServiceKey]bool{}
	for _, r := range results {
		services[r.run.Service] = true
		switch {
		case !r.sent:
			sum.NotSent++
		case r.reason == "":
			sum.Done++
		default:
			sum.Rejected = append(sum.Rejected, bulkRejection{ARS: r.run.ARS, Service: r.run.Service, Status: r.status, Reason: r.reason})
		}
	}
	slices.SortFunc(sum.Rejected, func(a, b bulkRejection) int {
		return strings.Compare(string(a.ARS)+string(a.Service), string(b.ARS)+string(b.Service))
	})
	if c.output == "json" {
		if err := writeJSONTo(w, sum); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "done %d, rejected %d", sum.Done, len(sum.Rejected))
		if sum.NotSent > 0 {
			fmt.Fprintf(w, ", not sent %d (interrupted)", sum.NotSent)
		}
		fmt.Fprintln(w)
		for _, r := range sum.Rejected {
			label := string(r.ARS)
			if len(services) > 1 {
				label += "/" + string(r.Service)
			}
			status := "no answer"
			if r.Status != 0 {
				status = "HTTP " + strconv.Itoa(r.Status)
			}
			fmt.Fprintf(w, "%s: %s (%s)\n", label, r.Reason, status)
		}
	}
	switch {
	case sum.NotSent > 0:
		return fmt.Errorf("interrupted: %d of %d %s actions not sent; run again with --batch-id %s", sum.NotSent, sum.Matched, k.action, o.batchID)
	case len(sum.Rejected) > 0:
		return fmt.Errorf("%d of %d %s actions rejected", len(sum.Rejected), sum.Matched, k.action)
	}
	return nil
}

// printRunList prints runs as a table or JSON, for --dry-run.
func (c *apiClient) printRunList(w io.Writer, runs []domain.RunStatus) error {
	if c.output == "json" {
		if runs == nil {
			runs = []domain.RunStatus{}
		}
		return writeJSONTo(w, runs)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ARS\tSERVICE\tSTATE\tSTAGE\tWAITING FOR\tUPDATED")
	for _, st := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", st.ARS, st.Service, st.State, st.Stage, waiting(st), st.UpdatedAt.Format(time.DateTime))
	}
	return tw.Flush()
}

// cmdContext returns the command's context, or the background context when it was
// executed without one.
func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// limiter is a token bucket: it admits rate events per second on average and up to burst
// at once. It is safe for concurrent use.
type limiter struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
}

// newLimiter returns a full bucket admitting rate events per second, burst at once.
func newLimiter(rate float64, burst int) *limiter {
	return newLimiterAt(rate, burst, time.Now, sleepContext)
}

// newLimiterAt is newLimiter with the clock and the sleep given, for tests.
func newLimiterAt(rate float64, burst int, now func() time.Time, sleep func(context.Context, time.Duration) error) *limiter {
	b := float64(max(1, burst))
	return &limiter{rate: rate, burst: b, tokens: b, last: now(), now: now, sleep: sleep}
}

// Wait blocks until the bucket admits one event or ctx ends. Each caller reserves its
// token at once, so concurrent callers are admitted in turn, evenly spaced.
func (l *limiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	now := l.now()
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens--
	var wait time.Duration
	if l.tokens < 0 {
		wait = time.Duration(-l.tokens / l.rate * float64(time.Second))
	}
	l.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	return l.sleep(ctx, wait)
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
