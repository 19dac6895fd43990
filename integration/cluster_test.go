package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store/storetest"
	"github.com/rollin-efa/rollin/systems/simulator"
)

// TestSeparateProcessesSurviveWorkerKill runs Rollin as a real installation does, every
// part its own OS process: `rollin temporal` (the Temporal server), `rollin simulators
// --autopilot` (the external systems and the people), two `rollin worker` and one
// `rollin serve`. It rolls Wohngeld out to all 396 municipalities of Nordrhein-Westfalen
// through the API, kills one worker with SIGKILL midway, and requires that every run goes
// live, that both workers recorded work before the kill (worker identity in the audit
// log), that every side effect in the simulators was applied exactly once, and that the
// survivors stop gracefully on SIGTERM — the API server reporting not-ready first.
func TestSeparateProcessesSurviveWorkerKill(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewDatabase(t)
	dir := t.TempDir()
	tok := map[domain.Role]string{domain.RolePM: "cluster-pm-token-0123456789", domain.RoleOperator: "cluster-op-token-0123456789"}
	simAddr := map[simulator.Kind]string{}
	for _, k := range []simulator.Kind{simulator.Provider, simulator.State, simulator.Municipality} {
		simAddr[k] = fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	}
	temporalPort := freeTCPPort(t)
	// One configuration file for every process, as an installation would have it; what
	// differs per process comes from the environment.
	cfgFile := filepath.Join(dir, "rollin.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
data_dir: %[1]s
database:
  url: %[2]s
temporal:
  address: 127.0.0.1:%[3]d
  embedded_port: %[3]d
  worker_stop_timeout: 20s
systems:
  provider_url: http://%[4]s
  state_url: http://%[5]s
  municipality_url: http://%[6]s
simulators:
  provider_addr: %[4]s
  state_addr: %[5]s
  municipality_addr: %[6]s
process:
  test_poll: 50ms
auth:
  tokens:
    - {name: pm, role: pm, token: %[7]s}
    - {name: op, role: operator, token: %[8]s}
log:
  level: info
`, filepath.Join(dir, "data"), dbURL, temporalPort, simAddr[simulator.Provider], simAddr[simulator.State],
		simAddr[simulator.Municipality], tok[domain.RolePM], tok[domain.RoleOperator])), 0o600))
	env := func(extra ...string) []string {
		return append(append(os.Environ(), "ROLLIN_HTTP_ADDR="+fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))), extra...)
	}
	args := func(cmd string, more ...string) []string {
		return append(append(strings.Fields(cmd), "--config", cfgFile), more...)
	}
	bin, err := rollinBinary()
	require.NoError(t, err)

	// The installation steps: schema, register, catalogue.
	for _, step := range [][]string{
		args("migrate"),
		args("municipalities import", "../register/data/AuszugGV4QAktuell.csv", "--kreise", "../register/data/kreise-2019-destatis.csv"),
		args("services import", "../catalog/demo.json"),
	} {
		out, err := exec.Command(bin, step...).CombinedOutput()
		require.NoError(t, err, "rollin %v: %s", step, out)
	}

	temporal := startRollin(t, "rollin temporal", env(), "Temporal on", args("temporal")...)
	defer temporal.stop()
	sims := startRollin(t, "rollin simulators", env(), "systems.municipality_url:",
		args("simulators", "--autopilot", "--autopilot-delay", "50ms")...)
	defer sims.stop()
	apiAddr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	serve := startRollin(t, "rollin serve", env("ROLLIN_HTTP_ADDR="+apiAddr, "ROLLIN_HTTP_SHUTDOWN_DELAY=2s"), "Rollin API on", args("serve")...)
	workers := map[string]*process{}
	for _, id := range []string{"worker-a", "worker-b"} {
		workers[id] = startRollin(t, "rollin worker "+id, env("ROLLIN_TEMPORAL_WORKER_IDENTITY="+id), "worker running", args("worker")...)
	}

	c := devClient{t: t, base: "http://" + apiAddr, tokens: tok}
	code, body := c.do(domain.RolePM, http.MethodPost, "/api/v1/campaigns", map[string]any{"service": wohngeld, "land": "05"})
	require.Equal(t, http.StatusCreated, code, body)
	var campaign domain.CampaignProgress
	require.NoError(t, json.Unmarshal([]byte(body), &campaign))
	require.Equal(t, 396, campaign.Total)

	db, err := pgx.Connect(context.Background(), dbURL)
	require.NoError(t, err)
	defer db.Close(context.Background())
	// eventsByWorker counts audit events by the worker that recorded them, and the time
	// of each worker's last event.
	eventsByWorker := func() (map[string]int, map[string]time.Time) {
		rows, err := db.Query(context.Background(), `SELECT worker, count(*), max(at) FROM audit_events GROUP BY worker`)
		require.NoError(t, err)
		n, last := map[string]int{}, map[string]time.Time{}
		for rows.Next() {
			var (
				w  string
				k  int
				at time.Time
			)
			require.NoError(t, rows.Scan(&w, &k, &at))
			n[w], last[w] = k, at
		}
		require.NoError(t, rows.Err())
		return n, last
	}
	progress := func() domain.CampaignProgress {
		code, body := c.do(domain.RolePM, http.MethodGet, "/api/v1/campaigns/"+campaign.ID, nil)
		require.Equal(t, http.StatusOK, code, body)
		var p domain.CampaignProgress
		require.NoError(t, json.Unmarshal([]byte(body), &p))
		return p
	}

	// Midway: both workers have recorded events and some runs, not all, are live.
	var (
		before   map[string]int
		killedAt time.Time
	)
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "no midway point within 3 minutes: %+v", progress())
		n, _ := eventsByWorker()
		if live := progress().Runs[string(domain.RunLive)]; n["worker-a"] > 0 && n["worker-b"] > 0 && live >= 40 {
			require.Less(t, live, 396, "the campaign finished before the kill; it is too small for this test")
			workers["worker-a"].kill()
			killedAt = time.Now()
			before = n
			t.Logf("killed worker-a with %d runs live; events so far by worker: %v", live, n)
			break
		}
	}

	var final domain.CampaignProgress
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		final = progress()
		if final.Runs[string(domain.RunLive)] == 396 {
			break
		}
		require.True(t, time.Now().Before(deadline), "not all runs live 5 minutes after the kill: %+v\nworker-b:\n%s", final.Runs, workers["worker-b"].output)
	}
	t.Logf("all 396 live %s after the kill", time.Since(killedAt).Round(time.Second))

	after, last := eventsByWorker()
	require.Greater(t, before["worker-a"], 0, "worker-a worked before the kill")
	require.Greater(t, before["worker-b"], 0, "worker-b worked before the kill")
	require.Equal(t, before["worker-a"], after["worker-a"], "nothing recorded by the killed worker afterwards")
	require.False(t, last["worker-a"].After(killedAt), "worker-a's last event is before the kill")
	require.Greater(t, after["worker-b"], before["worker-b"], "worker-b carried the campaign on")
	require.Zero(t, after[""], "every event names the worker that recorded it")

	// Exactly once: every effect in every simulator applied once, and the effects that
	// each roll-in must have had, there for all 396.
	perOp := map[string]int{}
	for kind, addr := range simAddr {
		resp, err := http.Get("http://" + addr + "/_sim/counters")
		require.NoError(t, err)
		var counters simulator.Counters
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&counters))
		_ = resp.Body.Close()
		for effect, n := range counters.Effects {
			require.Equal(t, 1, n, "%s simulator applied %q %d times", kind, effect, n)
			perOp[strings.Fields(effect)[0]]++
		}
	}
	for _, op := range []string{"create-tenant", "switch-to-production", "create-portal-link", "activate-portal-link", "send-test-submission"} {
		require.Equal(t, 396, perOp[op], "%s effects", op)
	}

	// Graceful stop of the API server: not ready first (shutdown_delay 2s), still alive,
	// then a clean exit.
	require.NoError(t, serve.cmd.Process.Signal(syscall.SIGTERM))
	sawDraining := false
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && !sawDraining; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + apiAddr + "/readyz")
		if err != nil {
			break
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			sawDraining = true
			resp, err := http.Get("http://" + apiAddr + "/healthz")
			require.NoError(t, err)
			_ = resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, "alive while draining")
		}
	}
	require.True(t, sawDraining, "/readyz answered 503 before the API server closed")
	serve.wait(30 * time.Second)

	workers["worker-b"].stop()
	require.Contains(t, workers["worker-b"].output.String(), "worker stopped")
}
