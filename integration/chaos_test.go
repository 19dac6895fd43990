package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/devsim"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/workflows"
)

// The fault tests. Each proves that no roll-in is lost or done twice under one kind of
// fault, and reports what it did and counted with reportFigures; RELIABILITY.md publishes
// the figures. CI runs them at the sizes below; `go tool task chaos` runs them longer
// through the ROLLIN_CHAOS_* variables.

// The tests of this package share one Temporal server, and run and campaign IDs follow
// from ARS, service and selection: each test uses municipalities and Kreise of its own.

// envInt and envDuration read a ROLLIN_CHAOS_* size, or def when unset.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	raw := os.Getenv(name)
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	require.NoError(t, err, "%s=%q", name, raw)
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	raw := os.Getenv(name)
	if raw == "" {
		return def
	}
	d, err := time.ParseDuration(raw)
	require.NoError(t, err, "%s=%q", name, raw)
	return d
}

// reportFigures logs what a fault test did and counted and, when ROLLIN_RELIABILITY_OUT
// names a file, appends the line there for RELIABILITY.md.
func reportFigures(t *testing.T, figures string, args ...any) {
	t.Helper()
	line := fmt.Sprintf("%s: "+figures, append([]any{t.Name()}, args...)...)
	t.Log(line)
	if path := os.Getenv("ROLLIN_RELIABILITY_OUT"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		require.NoError(t, err)
		_, err = fmt.Fprintln(f, line)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
}

// TestChaosWorkerKilledRepeatedly rolls Wohngeld out to every municipality of
// Schleswig-Holstein (1,106) on autopilot with Temporal, simulators, API server and two
// workers as OS processes, and kills a worker with SIGKILL ten times, at evenly spaced
// points of the campaign, each time starting it again at once. Every run must go live and
// every side effect must be applied exactly once.
func TestChaosWorkerKilledRepeatedly(t *testing.T) {
	t.Parallel()
	kills := envInt(t, "ROLLIN_CHAOS_KILLS", 10)
	c := startCluster(t, []string{"worker-a", "worker-b"}, "log:\n  level: info\n")
	began := time.Now()
	campaign := c.startCampaign(map[string]any{"service": wohngeld, "land": "01", "window": 200})
	total := campaign.Total
	require.GreaterOrEqual(t, total, 1000)

	for i := range kills {
		target := (i + 1) * total / (kills + 1)
		for deadline := time.Now().Add(5 * time.Minute); c.progress(campaign.ID).Runs[string(domain.RunLive)] < target; time.Sleep(100 * time.Millisecond) {
			require.True(t, time.Now().Before(deadline), "%d runs not live within 5 minutes of kill %d", target, i)
		}
		id := []string{"worker-a", "worker-b"}[i%2]
		c.workers[id].kill()
		c.startWorker(id)
		t.Logf("kill %d of %s at %s: %+v", i+1, id, time.Since(began).Round(time.Second), c.progress(campaign.ID).Runs)
	}
	c.waitAllLive(campaign.ID, total, 15*time.Minute)
	perOp := c.requireEffectsOnce()
	for _, op := range []string{"create-tenant", "switch-to-production", "create-portal-link", "activate-portal-link", "announce-submission", "submit-submission", "create-destination"} {
		require.Equal(t, total, perOp[op], "%s effects", op)
	}
	effects := 0
	for _, n := range perOp {
		effects += n
	}
	c.requireNoSecretsInLogs()
	reportFigures(t, "%d runs, %d SIGKILLs (each worker restarted at once), all %d live in %s, %d effects each applied once (duplicates 0, lost 0)",
		total, kills, total, time.Since(began).Round(time.Second), effects)
}

// TestChaosSystemDown takes the state's system away in the middle of a campaign — first
// answering 503 to everything, then refusing connections — for longer than many retries
// but shorter than the configured deadline (call attempts × backoff). No run may become an
// incident meanwhile; when the system is back every run goes live, each effect once. (That
// a longer outage becomes an incident after the deadline and is retried by an operator is
// TestSimulatorFaultBecomesIncidentThenRetry.)
func TestChaosSystemDown(t *testing.T) {
	t.Parallel()
	outage := envDuration(t, "ROLLIN_CHAOS_OUTAGE", 40*time.Second) // longer than one StartToClose timeout (30 s)
	opts := fastOptions
	// The deadline (attempts × backoff) is about three times the outage.
	opts.RetryInitial, opts.RetryMax, opts.CallAttempts = 100*time.Millisecond, max(time.Second, outage/20), 60
	opts.RoutingDeadline = time.Hour
	const ars = "053580004004" // Aldenhoven, Kreis Düren (15 municipalities)
	h := newHarnessWith(t, ars, simulator.Config{}, harnessOptions{process: &opts})
	h.autopilot(devsim.AutopilotConfig{Delay: 10 * time.Millisecond})
	code, out := h.call("pm", http.MethodPost, "/api/v1/campaigns", map[string]any{"service": wohngeld, "kreis": "05358"})
	require.Equal(t, http.StatusCreated, code, out)
	id := out["id"].(string)
	h.waitForCampaign(id, "runs in Anbindung", time.Minute, func(p domain.CampaignProgress) bool { return p.Stages[domain.StageAnbindung] > 0 })

	state := h.sims[simulator.State]
	before := state.Sim.Counters()
	state.Sim.AddFault(simulator.Fault{Status: http.StatusServiceUnavailable})
	began := time.Now()
	maxWaiting := 0
	watch := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			p := h.campaign(id)
			require.Zero(t, p.Runs[string(domain.RunIncident)], "an incident %s into an outage shorter than the deadline: %+v", time.Since(began).Round(time.Second), p.Runs)
			maxWaiting = max(maxWaiting, p.Total-p.Runs[string(domain.RunLive)])
		}
	}
	watch(outage / 2)
	state.Sim.ClearFaults()
	require.NoError(t, state.Down())
	watch(outage / 2)
	require.NoError(t, state.Up())
	during := state.Sim.Counters()

	final := h.waitForCampaign(id, "all live", 3*time.Minute, func(p domain.CampaignProgress) bool {
		return p.Runs[string(domain.RunLive)] == p.Total
	})
	h.requireExactlyOnce()
	refused := sum(during.Requests) - sum(before.Requests)
	require.Positive(t, refused, "the runs kept trying during the outage")
	reportFigures(t, "%d runs, state system down %s (503, then connection refused) against a deadline of %d attempts up to %s apart; %d runs held, %d answered 503 during it, 0 incidents; all %d live afterwards, %d effects each applied once",
		final.Total, outage, opts.CallAttempts, opts.RetryMax, maxWaiting, refused, final.Total, sumEffects(h))
}

// TestChaosDatabaseConnectionsKilled kills every connection to Rollin's database over and
// over (pg_terminate_backend, as a PostgreSQL restart does) while two Kreise roll in on
// autopilot. Afterwards the read model and the audit log must agree with Temporal run by
// run: the same state, stage, steps and seq as the workflow reports, and an audit log
// without gaps.
func TestChaosDatabaseConnectionsKilled(t *testing.T) {
	t.Parallel()
	const ars = "055540004004" // Ahaus, Kreis Borken
	// Steps that read the database (the pre-check loads the Steckbrief and the
	// municipality) try for a few seconds, not the harness's three tries within 150 ms:
	// on two busy cores every one of those can meet a connection killed in the same
	// 300 ms, which opened an incident in CI now and then. What is tested is that
	// nothing is lost or written twice, not how few tries a step gets.
	opts := fastOptions
	opts.CallAttempts, opts.RetryMax = 20, 500*time.Millisecond
	h := newHarnessWith(t, ars, simulator.Config{Latency: 20 * time.Millisecond}, harnessOptions{process: &opts})
	pilot := h.autopilot(devsim.AutopilotConfig{Delay: 10 * time.Millisecond})
	admin, err := pgx.Connect(context.Background(), h.dbURL)
	require.NoError(t, err)
	defer admin.Close(context.Background())

	var ids []string
	for _, kreis := range []string{"05554", "05558"} { // Kreis Borken (17) and Kreis Coesfeld (11)
		code, out := h.call("pm", http.MethodPost, "/api/v1/campaigns", map[string]any{"service": wohngeld, "kreis": kreis})
		require.Equal(t, http.StatusCreated, code, out)
		ids = append(ids, out["id"].(string))
	}
	var (
		wg         sync.WaitGroup
		stop       = make(chan struct{})
		terminated int
	)
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			var n int
			if err := admin.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n); err == nil {
				terminated += n
			}
		}
	})
	runs := 0
	// Alone the two Kreise are live in about 20 s. In CI this test shares the two cores
	// with the 1,108-run worker-kill campaign, whose FIT-Connect simulator now signs and
	// decrypts with 4096-bit keys, and 4 minutes proved too short there once.
	deadline := time.Now().Add(8 * time.Minute)
	for _, id := range ids {
		var last domain.CampaignProgress // said when the deadline passes: which runs were stuck where
		for {
			require.True(t, time.Now().Before(deadline), "campaigns not live within 8 minutes; last progress of %s: %+v; autopilot: %+v; incidents: %s",
				id, last, pilot.Stats(), incidentErrors(h))
			code, out := h.call("pm", http.MethodGet, "/api/v1/campaigns/"+id, nil)
			if code == http.StatusOK { // 503 while the connections are being killed is fine
				p := decode[domain.CampaignProgress](t, out)
				last = p
				if p.Runs[string(domain.RunLive)] == p.Total {
					runs += p.Total
					break
				}
			}
			// Longer than pgxpool's one second after which an idle connection is pinged
			// before use: once the runs are done this poll is the pool's only user, and at
			// a faster pace it would draw, every time, a connection killed since its last
			// use (as a PostgreSQL restart leaves them) and never see a 200.
			time.Sleep(1100 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	require.Positive(t, terminated, "connections were killed")
	// A pooled connection killed last may not have been used since; pgxpool pings one
	// that was idle for over a second before handing it out and drops it when dead, so
	// after this pause the checks below get live connections.
	time.Sleep(1500 * time.Millisecond)

	// Run by run: the read model and the audit log against Temporal's own state.
	ctx := context.Background()
	all, _, err := h.store.Runs(ctx, store.RunFilter{Limit: 1000})
	require.NoError(t, err)
	require.Len(t, all, runs)
	events := 0
	for _, r := range all {
		_, audit := requireReadModelMatchesWorkflow(t, h, r.ID)
		events += len(audit)
	}
	h.requireExactlyOnce()
	reportFigures(t, "%d runs on autopilot, %d database connections killed every 300 ms; read model equal to Temporal's state for %d of %d runs, %d audit events without gaps, effects each applied once",
		runs, terminated, len(all), runs, events)
}

// incidentErrors lists the runs in incident with their failed steps' last errors, for a
// failure message.
func incidentErrors(h *harness) string {
	runs, _, err := h.store.Runs(context.Background(), store.RunFilter{State: string(domain.RunIncident), Limit: 100})
	if err != nil {
		return "(not read: " + err.Error() + ")"
	}
	var b strings.Builder
	for _, r := range runs {
		for _, st := range r.Steps {
			if st.LastError != "" {
				fmt.Fprintf(&b, "%s %s (%d attempts): %s; ", r.ID, st.Name, st.Attempts, st.LastError)
			}
		}
	}
	return b.String()
}

// requireReadModelMatchesWorkflow checks one run after a fault: the read model's seq,
// state, stage and steps equal what the workflow itself reports (a Temporal query), and
// its audit log is numbered without gaps. It returns the read model's run and audit log.
func requireReadModelMatchesWorkflow(t *testing.T, h *harness, id string) (domain.RunStatus, []domain.AuditEvent) {
	t.Helper()
	ctx := context.Background()
	q, err := h.client.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
	require.NoError(t, err)
	var wf domain.RunStatus
	require.NoError(t, q.Get(&wf))
	rm, err := h.store.Run(ctx, id)
	require.NoError(t, err)
	require.Equal(t, wf.Seq, rm.Seq, "%s: seq", id)
	require.Equal(t, wf.State, rm.State, "%s: state", id)
	require.Equal(t, wf.Stage, rm.Stage, "%s: stage", id)
	require.Equal(t, stepStates(wf), stepStates(rm), "%s: steps", id)
	audit, err := h.store.Audit(ctx, id)
	require.NoError(t, err)
	require.NotEmpty(t, audit, id)
	for i, e := range audit {
		require.Equal(t, int64(i+1), e.Seq, "%s: audit log without gaps", id)
	}
	return rm, audit
}

// sumEffects counts the effects all simulators applied.
func sumEffects(h *harness) int {
	n := 0
	for _, s := range h.sims {
		n += sum(s.Sim.Counters().Effects)
	}
	return n
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func stepStates(st domain.RunStatus) []string {
	out := make([]string, len(st.Steps))
	for i, s := range st.Steps {
		out[i] = s.Name + "=" + string(s.State)
	}
	return out
}

// TestChaosSlowAndFlappingSystems runs a Kreis on autopilot against systems that answer
// after 200 ms, take 1.5 s (past the client's 1 s timeout, while still applying the
// effect) on one request in five, and answer 503 on one in four: every run goes live and
// no effect is applied twice, though many requests are sent again.
func TestChaosSlowAndFlappingSystems(t *testing.T) {
	t.Parallel()
	opts := fastOptions
	opts.CallAttempts, opts.RetryInitial, opts.RetryMax = 30, 50*time.Millisecond, 300*time.Millisecond
	const ars = "053660004004" // Bad Münstereifel, Kreis Euskirchen (11)
	h := newHarnessWith(t, ars, simulator.Config{
		Latency: 200 * time.Millisecond, SlowRate: 0.2, SlowLatency: 1500 * time.Millisecond, ErrorRate: 0.25, Seed: 42,
	}, harnessOptions{process: &opts, callTimeout: time.Second})
	h.autopilot(devsim.AutopilotConfig{Delay: 10 * time.Millisecond})
	code, out := h.call("pm", http.MethodPost, "/api/v1/campaigns", map[string]any{"service": wohngeld, "kreis": "05366"})
	require.Equal(t, http.StatusCreated, code, out)
	final := h.waitForCampaign(out["id"].(string), "all live", 5*time.Minute, func(p domain.CampaignProgress) bool {
		return p.Runs[string(domain.RunLive)] == p.Total
	})
	h.requireExactlyOnce()
	requests, mutating := 0, 0
	for _, s := range h.sims {
		c := s.Sim.Counters()
		requests += sum(c.Requests)
		mutating += mutatingRequests(c)
	}
	effects := sumEffects(h)
	require.Greater(t, mutating, effects, "some mutating requests were sent again")
	reportFigures(t, "%d runs; %d requests, %d of them mutating for %d effects (%d sent again after 503s and timeouts); every effect applied once",
		final.Total, requests, mutating, effects, mutating-effects)
}

// TestChaosDuplicateRequests sends the same start, the same action and the same campaign
// many times at once: each is applied once.
func TestChaosDuplicateRequests(t *testing.T) {
	t.Parallel()
	const ars = "057620004004" // Bad Driburg, Kreis Höxter
	h := newHarness(t, ars, simulator.Config{})
	const n = 10
	concurrently := func(f func(i int) int) []int {
		codes := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { codes[i] = f(i) })
		}
		wg.Wait()
		slices.Sort(codes)
		return codes
	}
	created := func(codes []int) int {
		return len(slices.DeleteFunc(slices.Clone(codes), func(c int) bool { return c != http.StatusCreated }))
	}

	starts := concurrently(func(int) int {
		code, _ := h.call("pm", http.MethodPost, "/api/v1/rollins", map[string]string{"ars": ars, "service": wohngeld})
		return code
	})
	require.Equal(t, 1, created(starts), "one start created the run: %v", starts)
	require.Equal(t, []int{200, 200, 200, 200, 200, 200, 200, 200, 200, 201}, starts)

	h.waitForAction(ars, wohngeld, workflows.ActionSignAgreement)
	acts := concurrently(func(int) int {
		code, _ := h.call("municipality", http.MethodPost, "/api/v1/rollins/"+ars+"/"+wohngeld+"/actions",
			map[string]any{"action": workflows.ActionSignAgreement, "action_id": "same-signature"})
		return code
	})
	require.Equal(t, []int{200, 200, 200, 200, 200, 200, 200, 200, 200, 200}, acts, "the same action ID answers alike every time")
	audit, err := h.store.Audit(context.Background(), domain.RunID(ars, wohngeld))
	require.NoError(t, err)
	signatures := 0
	for _, e := range audit {
		if e.Action == workflows.ActionSignAgreement {
			signatures++
		}
	}
	require.Equal(t, 1, signatures, "the signature is in the audit log once")

	campaigns := concurrently(func(int) int {
		code, _ := h.call("pm", http.MethodPost, "/api/v1/campaigns", map[string]any{"service": wohngeld, "kreis": "05570"})
		return code
	})
	require.Equal(t, 1, created(campaigns), "one campaign: %v", campaigns)
	db, err := pgx.Connect(context.Background(), h.dbURL)
	require.NoError(t, err)
	defer db.Close(context.Background())
	var count int
	require.NoError(t, db.QueryRow(context.Background(), "SELECT count(*) FROM campaigns").Scan(&count))
	require.Equal(t, 1, count)
	reportFigures(t, "%d identical starts, %d identical actions (one action ID), %d identical campaigns at once: 1 run, 1 audit event, 1 campaign", n, n, n)
}
