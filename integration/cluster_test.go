package integration

import (
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
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
	// At debug level, so that the log scan at the end sees everything the processes can log.
	c := startCluster(t, []string{"worker-a", "worker-b"}, "log:\n  level: debug\n")
	campaign := c.startCampaign(map[string]any{"service": wohngeld, "land": "05"})
	require.Equal(t, 396, campaign.Total)

	// Midway: both workers have recorded events and some runs, not all, are live.
	var (
		before     map[string]int
		killedAt   time.Time
		liveAtKill int
	)
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "no midway point within 3 minutes: %+v", c.progress(campaign.ID))
		n, _ := c.eventsByWorker()
		if live := c.progress(campaign.ID).Runs[string(domain.RunLive)]; n["worker-a"] > 0 && n["worker-b"] > 0 && live >= 40 {
			require.Less(t, live, 396, "the campaign finished before the kill; it is too small for this test")
			c.workers["worker-a"].kill()
			killedAt = time.Now()
			before = c.eventsAfterKill("worker-a") // worker-a may have written between the count above and its death
			liveAtKill = live
			break
		}
	}
	c.waitAllLive(campaign.ID, 396, 5*time.Minute)
	liveAfter := time.Since(killedAt).Round(time.Second)

	after, last := c.eventsByWorker()
	require.Greater(t, before["worker-a"], 0, "worker-a worked before the kill")
	require.Greater(t, before["worker-b"], 0, "worker-b worked before the kill")
	require.Equal(t, before["worker-a"], after["worker-a"], "nothing recorded by the killed worker afterwards")
	require.False(t, last["worker-a"].After(killedAt), "worker-a's last event is before the kill")
	require.Greater(t, after["worker-b"], before["worker-b"], "worker-b carried the campaign on")
	require.Zero(t, after[""], "every event names the worker that recorded it")

	// Exactly once: every effect in every simulator applied once, and the effects that
	// each roll-in must have had, there for all 396.
	perOp := c.requireEffectsOnce()
	for _, op := range []string{"create-tenant", "switch-to-production", "create-portal-link", "activate-portal-link", "create-destination", "announce-submission", "submit-submission"} {
		require.Equal(t, 396, perOp[op], "%s effects", op)
	}

	// The real server sends the security headers on every answer, health included.
	resp, err := http.Get("http://" + c.apiAddr + "/healthz")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, "default-src 'none'; frame-ancestors 'none'", resp.Header.Get("Content-Security-Policy"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))

	// Graceful stop of the API server: not ready first (shutdown_delay 2s), still alive,
	// then a clean exit.
	require.NoError(t, c.serve.cmd.Process.Signal(syscall.SIGTERM))
	sawDraining := false
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && !sawDraining; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + c.apiAddr + "/readyz")
		if err != nil {
			break
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			sawDraining = true
			resp, err := http.Get("http://" + c.apiAddr + "/healthz")
			require.NoError(t, err)
			_ = resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, "alive while draining")
		}
	}
	require.True(t, sawDraining, "/readyz answered 503 before the API server closed")
	c.serve.wait(30 * time.Second)

	c.workers["worker-b"].stop()
	require.Contains(t, c.workers["worker-b"].output.String(), "worker stopped")

	lines := c.requireNoSecretsInLogs()
	require.Greater(t, lines, 1000, "the processes logged at debug level")
	reportFigures(t, "396 runs over 5 OS processes, worker-a killed (SIGKILL) with %d live; all 396 live %s later; events recorded before the kill by worker-a %d, worker-b %d; every effect once; API and worker stopped cleanly on SIGTERM (readiness 503 first); log scan of %d debug lines: no token, e-mail address or IBAN",
		liveAtKill, liveAfter, before["worker-a"], before["worker-b"], lines)
}
