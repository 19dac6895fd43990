package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/rollin-efa/rollin/cli"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/workflows"
)

// campaignResult is one campaign run to its end.
type campaignResult struct {
	runs    int
	elapsed time.Duration
	final   domain.CampaignProgress
	// calls is the number of requests the simulators answered during the campaign.
	calls int
}

func (r campaignResult) perSecond() float64 { return float64(r.runs) / r.elapsed.Seconds() }

// runCampaign starts a campaign of service over ars and waits until every run satisfies
// done (counted in the read model), or limit passes.
func (e *env) runCampaign(ctx context.Context, service domain.ServiceKey, ars []domain.ARS, done func(domain.CampaignProgress) bool, limit time.Duration) (campaignResult, error) {
	list := make([]string, len(ars))
	for i, a := range ars {
		list[i] = string(a)
	}
	before := e.requests()
	began := time.Now()
	p, _, err := e.starter.StartCampaign(ctx, pm, starter.CampaignRequest{Service: string(service), ARS: list, Window: workflows.MaxCampaignWindow})
	if err != nil {
		return campaignResult{}, fmt.Errorf("start campaign: %w", err)
	}
	deadline := began.Add(limit)
	for {
		cur, err := e.store.Campaign(ctx, p.ID)
		if err != nil {
			return campaignResult{}, err
		}
		if done(cur) {
			return campaignResult{runs: len(ars), elapsed: time.Since(began), final: cur, calls: e.requests() - before}, nil
		}
		if time.Now().After(deadline) {
			return campaignResult{}, fmt.Errorf("campaign %s not done after %s: %+v", p.ID, limit, cur.Runs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settled is a done function: every run of the campaign is live or needs a person
// (incident, blocked, cancelled), so waiting longer changes nothing.
func settled(p domain.CampaignProgress) bool {
	n := 0
	for _, s := range []domain.RunState{domain.RunLive, domain.RunIncident, domain.RunBlocked, domain.RunCancelled} {
		n += p.Runs[string(s)]
	}
	return n == p.Total
}

// allIn returns a done function: every run of the campaign is in state.
func allIn(state domain.RunState) func(domain.CampaignProgress) bool {
	return func(p domain.CampaignProgress) bool { return p.Runs[string(state)] == p.Total }
}

// requests counts the requests all simulators have answered.
func (e *env) requests() int {
	n := 0
	for _, s := range e.sims.Servers {
		for _, c := range s.Sim.Counters().Requests {
			n += c
		}
	}
	return n
}

// historyLength counts the events of one workflow's history.
func (e *env) historyLength(ctx context.Context, id string) (int, error) {
	it := e.client.GetWorkflowHistory(ctx, id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// ---- baseline -------------------------------------------------------------------------

const baselineQueue = "bench-baseline"

// baselineWorkflow calls a no-op activity calls times, one after the other, as a roll-in
// calls its systems.
func baselineWorkflow(ctx workflow.Context, calls int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	for i := range calls {
		if err := workflow.ExecuteActivity(ctx, "noop", i).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// baselineLocalWorkflow is baselineWorkflow with local activities: the lever Rollin takes
// for its short calls, measured bare.
func baselineLocalWorkflow(ctx workflow.Context, calls int) error {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	for i := range calls {
		if err := workflow.ExecuteLocalActivity(ctx, "noop", i).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

func noop(context.Context, int) error { return nil }

type baselineResult struct {
	runs, calls int
	elapsed     time.Duration
	history     int
}

func (r baselineResult) perSecond() float64 { return float64(r.runs) / r.elapsed.Seconds() }

// runBaseline starts n baseline workflows (local: of local activities) from 64 goroutines
// and waits for all of them.
func (e *env) runBaseline(ctx context.Context, n, calls int, local bool) (baselineResult, error) {
	w := sdkworker.New(e.client, baselineQueue, sdkworker.Options{})
	name, fn, prefix := "baseline", baselineWorkflow, "baseline/"
	if local {
		name, fn, prefix = "baseline-local", baselineLocalWorkflow, "baseline-local/"
	}
	w.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: name})
	w.RegisterActivityWithOptions(noop, activity.RegisterOptions{Name: "noop"})
	if err := w.Start(); err != nil {
		return baselineResult{}, err
	}
	defer w.Stop()

	// Start all n (64 starts in flight), then wait for all: like a campaign, every
	// workflow runs at the same time.
	began := time.Now()
	runs := make([]client.WorkflowRun, n)
	errs := make([]error, n)
	ids := make(chan int)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := range ids {
				runs[i], errs[i] = e.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
					ID: prefix + strconv.Itoa(i), TaskQueue: baselineQueue,
				}, name, calls)
			}
		})
	}
	for i := range n {
		ids <- i
	}
	close(ids)
	wg.Wait()
	for i, run := range runs {
		if errs[i] == nil {
			errs[i] = run.Get(ctx, nil)
		}
		if errs[i] != nil {
			return baselineResult{}, fmt.Errorf("baseline workflow %d: %w", i, errs[i])
		}
	}
	elapsed := time.Since(began)
	h, err := e.historyLength(ctx, prefix+"0")
	if err != nil {
		return baselineResult{}, err
	}
	return baselineResult{runs: n, calls: calls, elapsed: elapsed, history: h}, nil
}

// ---- status reads ---------------------------------------------------------------------

// latencies summarises one read load.
type latencies struct {
	name          string
	requests      int
	errors        int
	elapsed       time.Duration
	p50, p99, max time.Duration
}

func (l latencies) perSecond() float64 { return float64(l.requests) / l.elapsed.Seconds() }

// load calls read from clients goroutines for d and measures every call.
func load(name string, clients int, d time.Duration, read func(r *rand.Rand) error) latencies {
	var mu sync.Mutex
	var all []time.Duration
	errs := 0
	began := time.Now()
	stop := began.Add(d)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			// #nosec G115 G404 -- c counts up from 0; a reproducible choice of benchmark rows, no secret
			r := rand.New(rand.NewPCG(uint64(c), 42))
			var mine []time.Duration
			bad := 0
			for time.Now().Before(stop) {
				t := time.Now()
				if err := read(r); err != nil {
					bad++
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			all = append(all, mine...)
			errs += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	slices.Sort(all)
	l := latencies{name: name, requests: len(all), errors: errs, elapsed: elapsed}
	if len(all) > 0 {
		l.p50, l.p99, l.max = all[len(all)/2], all[len(all)*99/100], all[len(all)-1]
	}
	return l
}

// syntheticRun picks one of the n synthetic runs FillSyntheticRuns wrote: service number
// i/len(ars)+1 crossed with the register in ARS order.
func (e *env) syntheticRun(r *rand.Rand, n int) (ars, service string) {
	i := r.IntN(n)
	return string(e.ars[i%len(e.ars)]), fmt.Sprintf("99999%09d", i/len(e.ars)+1)
}

// statusReads fills the read model and loads the status endpoint and the bare lookups.
func (e *env) statusReads(ctx context.Context, rows, clients int, d time.Duration) ([]latencies, time.Duration, error) {
	began := time.Now()
	if _, err := e.store.FillSyntheticRuns(ctx, rows, 12); err != nil {
		return nil, 0, err
	}
	fill := time.Since(began)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	endpoint := func(r *rand.Rand) error {
		ars, svc := e.syntheticRun(r, rows)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.apiURL+"/api/v1/rollins/"+ars+"/"+svc, nil)
		req.Header.Set("Authorization", "Bearer "+pmToken)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	raw := func(r *rand.Rand) error {
		ars, svc := e.syntheticRun(r, rows)
		return e.store.LookupRunRow(ctx, domain.RunID(domain.ARS(ars), domain.ServiceKey(svc)))
	}
	withSteps := func(r *rand.Rand) error {
		ars, svc := e.syntheticRun(r, rows)
		_, err := e.store.Run(ctx, domain.RunID(domain.ARS(ars), domain.ServiceKey(svc)))
		return err
	}
	// A short warm-up fills the connection pools and the page cache for all three.
	load("warm-up", clients, d/5, endpoint)
	return []latencies{
		load("GET /api/v1/rollins/{ars}/{service} (run + 12 steps, JSON over HTTP)", clients, d, endpoint),
		load("store.Run with pgx (run + 12 steps, no HTTP)", clients, d, withSteps),
		load("raw pgx point lookup on runs (primary key)", clients, d, raw),
	}, fill, nil
}

// ---- bulk retry -----------------------------------------------------------------------

type bulkResult struct {
	incidents      int
	toIncident     time.Duration
	cli            time.Duration
	allMovedOn     time.Duration
	summary        string
	exitCode       int
	liveAfterwards time.Duration
}

// bulkRetry drives n runs into an incident at file-agreement (the municipality system
// answers 503), brings the system back, and retries them all with `rollin retry`.
func (e *env) bulkRetry(ctx context.Context, ars []domain.ARS) (bulkResult, error) {
	sim := e.sims.Municipality.Sim
	sim.AddFault(simulator.Fault{Method: http.MethodPost, PathPrefix: "/v1/agreements", Status: http.StatusServiceUnavailable})
	key := benchServices["incidents"]
	camp, err := e.runCampaign(ctx, key, ars, allIn(domain.RunIncident), 30*time.Minute)
	if err != nil {
		return bulkResult{}, err
	}
	sim.ClearFaults()
	res := bulkResult{incidents: len(ars), toIncident: camp.elapsed}

	root := &cobra.Command{Use: "rollin", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(cli.BulkCommands()...)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"retry", "--service", string(key), "--step", workflows.StepFileAgreement,
		"--rate", "1000", "--concurrency", strconv.Itoa(e.bulkConcurrency), "--batch-id", "bench", "--api", e.apiURL, "--token", operatorToken})
	began := time.Now()
	err = root.ExecuteContext(ctx)
	res.cli = time.Since(began)
	res.exitCode = cli.ExitCode(err)
	res.summary = lastLines(out.String(), 3)
	if err != nil {
		return res, fmt.Errorf("rollin retry: %w\n%s%s", err, out.String(), errOut.String())
	}
	for {
		p, err := e.store.Campaign(ctx, camp.final.ID)
		if err != nil {
			return res, err
		}
		if res.allMovedOn == 0 && p.Runs[string(domain.RunIncident)] == 0 {
			res.allMovedOn = time.Since(began)
		}
		if p.Runs[string(domain.RunLive)] == p.Total {
			res.liveAfterwards = time.Since(began)
			return res, nil
		}
		if time.Since(began) > 30*time.Minute {
			return res, fmt.Errorf("retried runs not live after 30 minutes: %+v", p.Runs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// ---- worker memory --------------------------------------------------------------------

type rssResult struct {
	runs      int
	toWaiting time.Duration
	rss, peak int64 // bytes
	idleRSS   int64
}

// waitingRSS runs `rollin worker` as its own process in place of the in-process worker,
// starts n runs that wait on people (autopilot off), and reads the process's memory.
func (e *env) waitingRSS(ctx context.Context, bin string, ars []domain.ARS) (rssResult, error) {
	e.stopWorker()
	e.sims.Municipality.Sim.SetListener(nil)
	defer e.sims.Municipality.Sim.SetListener(e.pilot)

	cmd := exec.CommandContext(ctx, bin, "worker")
	cmd.Env = append(os.Environ(),
		"ROLLIN_TEMPORAL_ADDRESS="+e.temporal.Address(),
		"ROLLIN_TEMPORAL_NAMESPACE=default",
		"ROLLIN_TEMPORAL_TASK_QUEUE="+e.cfg.Temporal.TaskQueue,
		"ROLLIN_DATABASE_URL="+e.cfg.Database.URL,
		"ROLLIN_SYSTEMS_PROVIDER_URL="+e.cfg.Systems.ProviderURL,
		"ROLLIN_SYSTEMS_STATE_URL="+e.cfg.Systems.StateURL,
		"ROLLIN_SYSTEMS_MUNICIPALITY_URL="+e.cfg.Systems.MunicipalityURL,
		"ROLLIN_LOG_LEVEL=warn",
	)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = os.Stderr, &stderr
	if err := cmd.Start(); err != nil {
		return rssResult{}, fmt.Errorf("start rollin worker: %w", err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		_ = e.startWorker()
	}()
	time.Sleep(2 * time.Second)
	idle, _, err := procMemory(cmd.Process.Pid)
	if err != nil {
		return rssResult{}, fmt.Errorf("%w; worker stderr: %s", err, stderr.String())
	}
	camp, err := e.runCampaign(ctx, benchServices["waiting"], ars, allIn(domain.RunWaiting), time.Hour)
	if err != nil {
		return rssResult{}, fmt.Errorf("%w; worker stderr: %s", err, lastLines(stderr.String(), 5))
	}
	// Let the worker settle (GC, caches) and take the largest of a few readings.
	var rss, peak int64
	for range 5 {
		time.Sleep(time.Second)
		r, p, err := procMemory(cmd.Process.Pid)
		if err != nil {
			return rssResult{}, err
		}
		rss, peak = max(rss, r), max(peak, p)
	}
	return rssResult{runs: len(ars), toWaiting: camp.elapsed, rss: rss, peak: peak, idleRSS: idle}, nil
}

// procMemory reads a process's resident set size and its peak from /proc.
func procMemory(pid int) (rss, peak int64, err error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb * 1024
		case "VmHWM:":
			peak = kb * 1024
		}
	}
	return rss, peak, nil
}
