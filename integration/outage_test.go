package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
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

// pgServer is a PostgreSQL server of one test's own, made from Debian's binaries in a
// temporary directory on a free port, so that the test may stop and start it without
// touching the shared server on 5432.
type pgServer struct {
	t    *testing.T
	bin  string // the directory of initdb and pg_ctl
	dir  string // socket, log and data directory live here
	port int
	// asPostgres runs the binaries as the user postgres: PostgreSQL refuses to run as root.
	asPostgres bool
	// URL is the connection URL of the database "rollin" on it.
	URL string
}

// postgresBinaries returns the directory of Debian's PostgreSQL server binaries, 15
// preferred. Their absence fails the test: the outage test must run in CI.
func postgresBinaries(t *testing.T) string {
	t.Helper()
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(found, func(a, b string) int {
		if filepath.Base(filepath.Dir(filepath.Dir(a))) == "15" {
			return -1
		}
		if filepath.Base(filepath.Dir(filepath.Dir(b))) == "15" {
			return 1
		}
		return 0
	})
	if len(found) == 0 {
		t.Fatal("PostgreSQL's server binaries (initdb, pg_ctl under /usr/lib/postgresql/*/bin) are missing: install the Debian package postgresql")
	}
	return filepath.Dir(found[0])
}

// startPostgres initialises a cluster, starts it and creates the database "rollin".
func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	s := &pgServer{t: t, bin: postgresBinaries(t), asPostgres: os.Geteuid() == 0}
	dir, err := os.MkdirTemp("", "rollin-outage-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	s.dir = dir
	if s.asPostgres {
		u, err := user.Lookup("postgres")
		require.NoError(t, err, "the Debian package postgresql creates the user postgres")
		uid, err := strconv.Atoi(u.Uid)
		require.NoError(t, err)
		gid, err := strconv.Atoi(u.Gid)
		require.NoError(t, err)
		require.NoError(t, os.Chown(dir, uid, gid))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.port = l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())

	s.run("initdb", "-D", s.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	s.Start()
	t.Cleanup(func() {
		cmd := s.command("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop")
		_ = cmd.Run() // stopped already, or stopping now
	})
	admin := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
	conn, err := pgx.Connect(context.Background(), admin)
	require.NoError(t, err)
	_, err = conn.Exec(context.Background(), "CREATE DATABASE rollin")
	require.NoError(t, err)
	require.NoError(t, conn.Close(context.Background()))
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/rollin?sslmode=disable", s.port)
	return s
}

func (s *pgServer) data() string { return filepath.Join(s.dir, "data") }

// Start starts the server and waits until it accepts connections.
func (s *pgServer) Start() {
	s.t.Helper()
	s.run("pg_ctl", "-D", s.data(), "-l", filepath.Join(s.dir, "server.log"), "-w", "-t", "60",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", s.port, s.dir), "start")
}

// Stop stops the server as an administrator does for a restart (fast: connections are
// ended, open transactions rolled back) and waits until it is down.
func (s *pgServer) Stop() {
	s.t.Helper()
	s.run("pg_ctl", "-D", s.data(), "-m", "fast", "-w", "stop")
}

func (s *pgServer) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, name)
	cmd := exec.Command(path, args...)
	if s.asPostgres {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	cmd.Dir = s.dir
	return cmd
}

func (s *pgServer) run(name string, args ...string) {
	s.t.Helper()
	out, err := s.command(name, args...).CombinedOutput()
	require.NoError(s.t, err, "%s %v: %s", name, args, out)
}

// campaignTolerating503 polls a campaign until cond holds, taking 503s (a database that
// was just away, a pooled connection found dead) as "not yet".
func campaignTolerating503(h *harness, id, what string, limit time.Duration, cond func(domain.CampaignProgress) bool) domain.CampaignProgress {
	h.t.Helper()
	var p domain.CampaignProgress
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		code, out := h.call("pm", http.MethodGet, "/api/v1/campaigns/"+id, nil)
		if code == http.StatusServiceUnavailable {
			continue
		}
		require.Equal(h.t, http.StatusOK, code, out)
		if p = decode[domain.CampaignProgress](h.t, out); cond(p) {
			return p
		}
	}
	h.t.Fatalf("campaign %s never got %s within %s; last progress: %+v", id, what, limit, p)
	return p
}

// TestChaosDatabaseOutage stops Rollin's PostgreSQL server in the middle of a campaign on
// autopilot for longer than any retry budget (60 s in CI, ROLLIN_CHAOS_OUTAGE in `go tool
// task chaos`) and starts it again. Meanwhile a municipality signs on a run nobody else
// acts on: the answer comes within process.action_wait (503, accepted and not yet
// recorded), and the same action sent again after the outage answers the applied state.
// Afterwards, run by run, the read model equals what each workflow reports, the audit logs
// have no gaps, every run of the campaign is live and the campaign completed.
func TestChaosDatabaseOutage(t *testing.T) {
	t.Parallel()
	outage := envDuration(t, "ROLLIN_CHAOS_OUTAGE", 60*time.Second)
	pg := startPostgres(t)
	opts := fastOptions
	// External calls that read the database (the pre-check, filing the agreement) wait the
	// outage out too: their deadline is about three times the outage.
	opts.RetryInitial, opts.RetryMax, opts.CallAttempts = 100*time.Millisecond, max(time.Second, outage/20), 60
	opts.RoutingDeadline = time.Hour
	const (
		bochum    = "059110000000"   // the run nobody acts on
		steinfurt = "05566"          // Kreis Steinfurt, 24 municipalities
		wait      = 12 * time.Second // longer than a workflow task's renewal (8 s), which carries the acceptance
	)
	h := newHarnessWith(t, bochum, simulator.Config{}, harnessOptions{process: &opts, databaseURL: pg.URL})
	h.starter.SetActionWait(wait)

	// Bochum's run is started before the autopilot is attached, so its notice goes
	// unanswered and the signature below is the test's own.
	code, out := h.call("pm", http.MethodPost, "/api/v1/rollins", map[string]string{"ars": bochum, "service": wohngeld})
	require.Equal(t, http.StatusCreated, code, out)
	h.waitForAction(bochum, wohngeld, workflows.ActionSignAgreement)
	require.Eventually(t, func() bool { return sum(h.sims[simulator.Municipality].Sim.Counters().Effects) > 0 },
		30*time.Second, 20*time.Millisecond, "the municipality was told of the wait")
	// People (the autopilot) try again for as long as the outage lasts.
	h.autopilot(devsim.AutopilotConfig{Delay: 10 * time.Millisecond, Attempts: 10000})

	code, out = h.call("pm", http.MethodPost, "/api/v1/campaigns", map[string]any{"service": wohngeld, "kreis": steinfurt, "window": 4, "rate": 0.5})
	require.Equal(t, http.StatusCreated, code, out)
	id := out["id"].(string)
	before := h.waitForCampaign(id, "a first run live", 3*time.Minute, func(p domain.CampaignProgress) bool {
		return p.Runs[string(domain.RunLive)] > 0
	})

	pg.Stop()
	down := time.Now()
	t.Logf("database stopped with %+v (%d of %d started)", before.Runs, before.Started, before.Total)
	time.Sleep(time.Second)
	path := "/api/v1/rollins/" + bochum + "/" + wohngeld + "/actions"
	sign := map[string]any{"action": workflows.ActionSignAgreement, "action_id": "outage-signature"}
	asked := time.Now()
	code, out = h.call("municipality", http.MethodPost, path, sign)
	answered := time.Since(asked)
	require.Equal(t, http.StatusServiceUnavailable, code, out)
	require.Contains(t, out["error"], "accepted, not yet recorded: repeat with the same action_id", "the workflow took the action while the database was away")
	require.Less(t, answered, wait+3*time.Second, "answered within process.action_wait, not hanging")

	time.Sleep(time.Until(down.Add(outage)))
	pg.Start()
	up := time.Now()
	t.Logf("database started again after %s", up.Sub(down).Round(time.Second))

	var st domain.RunStatus
	for deadline := up.Add(5 * time.Minute); ; time.Sleep(time.Second) {
		require.True(t, time.Now().Before(deadline), "the signature was not recorded within 5 minutes of the database's return: %v", out)
		code, out = h.call("municipality", http.MethodPost, path, sign)
		if code == http.StatusOK {
			st = decode[domain.RunStatus](t, out)
			break
		}
		require.Equal(t, http.StatusServiceUnavailable, code, out)
	}
	signedAfter := time.Since(up)
	require.Equal(t, domain.RunWaiting, st.State, "the repeat answers the run after the signature")

	final := campaignTolerating503(h, id, "every run live", 10*time.Minute, func(p domain.CampaignProgress) bool {
		return p.State == domain.CampaignStarted && p.Runs[string(domain.RunLive)] == p.Total
	})
	recovered := time.Since(up)
	require.Equal(t, final.Total, final.Started+final.Existing)
	require.Zero(t, final.Failed)

	// Run by run: the read model and the audit log against Temporal's own state.
	ctx := context.Background()
	all, _, err := h.store.Runs(ctx, store.RunFilter{Limit: 1000})
	require.NoError(t, err)
	require.Len(t, all, final.Total+1, "the campaign's runs and Bochum's")
	events, live := 0, 0
	for _, r := range all {
		rm, audit := requireReadModelMatchesWorkflow(t, h, r.ID)
		signatures := 0
		for _, e := range audit {
			if e.Action == workflows.ActionSignAgreement && e.Actor == "kommune" {
				signatures++
			}
		}
		events += len(audit)
		if r.ARS == bochum {
			require.Equal(t, 1, signatures, "the signature sent during the outage and again after it is in the audit log once")
			continue
		}
		require.Equal(t, domain.RunLive, rm.State, "%s: every run of the campaign is live", r.ID)
		live++
	}
	require.Equal(t, final.Total, live)
	h.requireExactlyOnce()
	reportFigures(t, "%d runs on autopilot, PostgreSQL stopped for %s with %d live; an action sent meanwhile answered 503 (accepted, not yet recorded) in %s and its repeat the applied state %s after the restart; all %d live %s after the restart; read model equal to Temporal's state for %d of %d runs, %d audit events without gaps, effects each applied once",
		final.Total, outage.Round(time.Second), before.Runs[string(domain.RunLive)], answered.Round(100*time.Millisecond), signedAfter.Round(time.Second),
		final.Total, recovered.Round(time.Second), len(all), len(all), events)
}

// TestActionWhileItsWriteWaits: the read model takes no writes to runs (a lock, as a long
// migration would hold) while reads go on. An action is accepted, and its caller gets
// 503 "accepted, not yet recorded" after process.action_wait instead of hanging; once
// writes go through, the same action again answers the applied state, and its action ID
// used for another action answers 409 naming what it was used for.
func TestActionWhileItsWriteWaits(t *testing.T) {
	t.Parallel()
	const hagen = "059140000000"
	h := newHarness(t, hagen, simulator.Config{})
	const wait = 12 * time.Second // longer than a workflow task's renewal (8 s), which carries the acceptance
	h.starter.SetActionWait(wait)
	code, out := h.call("pm", http.MethodPost, "/api/v1/rollins", map[string]string{"ars": hagen, "service": wohngeld})
	require.Equal(t, http.StatusCreated, code, out)
	h.waitForAction(hagen, wohngeld, workflows.ActionSignAgreement)

	ctx := context.Background()
	admin, err := pgx.Connect(ctx, h.dbURL)
	require.NoError(t, err)
	defer admin.Close(ctx)
	tx, err := admin.Begin(ctx)
	require.NoError(t, err)
	// Reads wait too, as on a database that stopped answering without closing connections:
	// the action still answers within its bound.
	_, err = tx.Exec(ctx, "LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)

	path := "/api/v1/rollins/" + hagen + "/" + wohngeld + "/actions"
	sign := map[string]any{"action": workflows.ActionSignAgreement, "action_id": "locked-signature"}
	for i := range 2 { // the repeat attaches to the same Update and waits again
		asked := time.Now()
		code, out = h.call("municipality", http.MethodPost, path, sign)
		require.Equal(t, http.StatusServiceUnavailable, code, out)
		if i == 0 {
			require.Equal(t, "sign-agreement (action_id locked-signature) accepted, not yet recorded: repeat with the same action_id to see its result", out["error"])
		} // the repeat may find the run busy with its write and answer before it is asked
		require.Less(t, time.Since(asked), wait+3*time.Second)
	}
	require.NoError(t, tx.Rollback(ctx))

	require.Eventually(t, func() bool {
		code, out = h.call("municipality", http.MethodPost, path, sign)
		return code == http.StatusOK
	}, 2*time.Minute, 200*time.Millisecond, "the signature is recorded once writes go through: %v", out)
	audit, err := h.store.Audit(ctx, domain.RunID(hagen, wohngeld))
	require.NoError(t, err)
	signatures := 0
	for _, e := range audit {
		if e.Action == workflows.ActionSignAgreement {
			signatures++
		}
	}
	require.Equal(t, 1, signatures, "sent three times, applied once")

	for name, tc := range map[string]struct {
		caller string
		body   map[string]any
		want   string
	}{
		"another action": {"pm", map[string]any{"action": workflows.ActionCancel, "action_id": "locked-signature", "reason": "Test"},
			"action_id locked-signature is already used by someone else; choose a new action_id"},
		"another caller": {"operator", map[string]any{"action": workflows.ActionCancel, "action_id": "locked-signature", "reason": "Test"},
			"action_id locked-signature is already used by someone else; choose a new action_id"},
		"other content": {"municipality", map[string]any{"action": workflows.ActionSignAgreement, "action_id": "locked-signature", "reason": "geändert"},
			"action_id locked-signature was already used for sign-agreement with other content; choose a new action_id"},
	} {
		code, out = h.call(tc.caller, http.MethodPost, path, tc.body)
		require.Equal(t, http.StatusConflict, code, "%s: %v", name, out)
		require.Equal(t, tc.want, out["error"], name)
	}
	require.NotEqual(t, domain.RunCancelled, h.status("pm", hagen, wohngeld).State, "the refused cancel did nothing")
}
