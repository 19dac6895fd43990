package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/workflows"
)

// steinfurt is Kreis Steinfurt (NRW): 24 municipalities, a campaign that fits CI time.
const steinfurt = "05566"

// TestDevSurvivesKills runs `rollin-dev --autopilot` as an OS process, starts a campaign
// for Wohngeld in Kreis Steinfurt, and kills the process with SIGKILL three times while
// the runs are on their way — each time at a different point of the roll-ins — starting
// it again on the same data dir each time. Every run must reach live, none through an
// incident, and every simulated effect must have happened exactly once: the simulators
// keep their state in the data dir (tenants, links, destinations, submissions,
// idempotency keys, counters), so the calls Temporal retries after a restart find what
// they created before.
func TestDevSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a campaign through three kills of rollin-dev (about two minutes)")
	}
	t.Parallel()
	// A routing check whose worker died is tried again after its 30 s timeout and one
	// routing_poll (10 minutes by default): a second here.
	env, httpAddr := devEnv(t, "ROLLIN_PROCESS_ROUTING_POLL=1s")
	args := []string{"--autopilot", "--autopilot-delay", "100ms"}
	dev := startDev(t, env, args...)
	c := devClient{t: t, base: "http://" + httpAddr, tokens: devTokens(t, env)}

	code, body := c.do(domain.RolePM, http.MethodPost, "/api/v1/campaigns", map[string]string{"service": wohngeld, "kreis": steinfurt})
	require.Equal(t, http.StatusCreated, code, body)
	var campaign domain.CampaignProgress
	require.NoError(t, json.Unmarshal([]byte(body), &campaign))
	require.Equal(t, 24, campaign.Total)
	began := time.Now()

	// Kill when the runs have come some way (a run takes 33 transitions to live): the
	// first kill while they sign, the second while they connect (tenants, links,
	// destinations, routing), the third while they test (FIT-Connect submissions) and the
	// first go live.
	for i, progress := range []int{5, 15, 25} {
		c.waitProgress(campaign, progress)
		stages := c.runStages()
		dev.kill()
		t.Logf("kill %d after %s, runs by stage %v", i+1, time.Since(began).Round(time.Millisecond), stages)
		dev = startDev(t, env, args...)
	}
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
		states := c.runStates()
		if states[domain.RunLive] == campaign.Total {
			break
		}
		require.True(t, time.Now().Before(deadline), "runs not all live three minutes after the last restart: %v\n%s\n%s\n%s",
			states, c.notLive(), workflowsOf(t, env, c.runs()), dev.output)
		require.Zero(t, states[domain.RunIncident], "a run ended in an incident: %v\n%s\n%s", states, c.notLive(), dev.output)
	}
	var seqs []int64
	for _, r := range c.runs() {
		seqs = append(seqs, r.Seq)
	}
	t.Logf("%d runs live through three kills in %s; transitions per run %v", campaign.Total, time.Since(began).Round(time.Second), seqs)

	// Every simulated effect once, and each of the roll-in's effects once per run.
	perOp := map[string]int{}
	for kind, addr := range simulatorAddrs(t, dev.output.String()) {
		resp, err := http.Get(addr + "/_sim/counters")
		require.NoError(t, err)
		var counters simulator.Counters
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&counters))
		_ = resp.Body.Close()
		for effect, n := range counters.Effects {
			require.Equal(t, 1, n, "%s simulator applied %q %d times", kind, effect, n)
			perOp[strings.Fields(effect)[0]]++
		}
	}
	for _, op := range []string{"create-tenant", "switch-to-production", "create-portal-link",
		"activate-portal-link", "create-destination", "announce-submission", "submit-submission"} {
		require.Equal(t, campaign.Total, perOp[op], "%s: %v", op, perOp)
	}
	t.Logf("effects: %v", perOp)
}

// waitProgress waits until the campaign's runs have taken n transitions on average
// (their Seq), within three minutes.
func (c *devClient) waitProgress(campaign domain.CampaignProgress, n int) {
	c.t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		runs := c.runs()
		var sum int64
		for _, r := range runs {
			sum += r.Seq
		}
		if sum >= int64(n*campaign.Total) {
			return
		}
	}
	c.t.Fatalf("campaign %s: runs not at %d transitions within three minutes: %v", campaign.ID, n, c.runStates())
}

// runs lists the roll-ins of Wohngeld in Kreis Steinfurt.
func (c *devClient) runs() []domain.RunStatus {
	c.t.Helper()
	code, body := c.do(domain.RolePM, http.MethodGet, "/api/v1/rollins?service="+wohngeld+"&kreis="+steinfurt+"&limit=100", nil)
	require.Equal(c.t, http.StatusOK, code, body)
	var list struct{ Items []domain.RunStatus }
	require.NoError(c.t, json.Unmarshal([]byte(body), &list))
	return list.Items
}

// runStages counts the runs by stage, live ones as "live".
func (c *devClient) runStages() map[string]int {
	stages := map[string]int{}
	for _, r := range c.runs() {
		if r.State == domain.RunLive {
			stages["live"]++
			continue
		}
		stages[string(r.Stage)]++
	}
	return stages
}

func (c *devClient) runStates() map[domain.RunState]int {
	states := map[domain.RunState]int{}
	for _, r := range c.runs() {
		states[r.State]++
	}
	return states
}

// notLive describes the runs that are not live, with the steps they have not done.
func (c *devClient) notLive() string {
	var b strings.Builder
	for _, r := range c.runs() {
		if r.State == domain.RunLive {
			continue
		}
		fmt.Fprintf(&b, "%s: %s, stage %s, seq %d", r.ID, r.State, r.Stage, r.Seq)
		if r.WaitingFor != nil {
			fmt.Fprintf(&b, ", waiting for %s on %s", r.WaitingFor.Action, r.WaitingFor.Step)
		}
		for _, st := range r.Steps {
			if st.State != domain.StepDone && st.State != domain.StepPending {
				fmt.Fprintf(&b, "; %s %s (%d attempts) %s", st.Name, st.State, st.Attempts, st.LastError)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// workflowsOf describes what Temporal knows of the runs that are not live: the workflow's
// own status and its pending activities.
func workflowsOf(t *testing.T, env []string, runs []domain.RunStatus) string {
	var port string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "ROLLIN_TEMPORAL_EMBEDDED_PORT="); ok {
			port = v
		}
	}
	tc, err := client.Dial(client.Options{HostPort: "127.0.0.1:" + port})
	if err != nil {
		return err.Error()
	}
	defer tc.Close()
	var b strings.Builder
	for _, r := range runs {
		if r.State == domain.RunLive {
			continue
		}
		q, err := tc.QueryWorkflow(t.Context(), r.ID, "", workflows.QueryStatus)
		var st domain.RunStatus
		if err == nil {
			err = q.Get(&st)
		}
		fmt.Fprintf(&b, "%s in Temporal: %s seq %d waiting %+v err %v", r.ID, st.State, st.Seq, st.WaitingFor, err)
		if d, err := tc.DescribeWorkflowExecution(t.Context(), r.ID, ""); err == nil {
			for _, a := range d.PendingActivities {
				fmt.Fprintf(&b, "; pending %s attempt %d: %s", a.ActivityType.GetName(), a.Attempt, a.LastFailure.GetMessage())
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// simulatorAddrs reads the simulators' base URLs from the last banner of `rollin-dev`.
func simulatorAddrs(t *testing.T, out string) map[simulator.Kind]string {
	t.Helper()
	sys := regexp.MustCompile(`Systems:\s+provider (\S+), state (\S+), municipality (\S+)`).FindAllStringSubmatch(out, -1)
	fc := regexp.MustCompile(`FIT-Connect: Submission API (\S+),`).FindAllStringSubmatch(out, -1)
	require.NotEmpty(t, sys, out)
	require.NotEmpty(t, fc, out)
	last := sys[len(sys)-1]
	return map[simulator.Kind]string{simulator.Provider: last[1], simulator.State: last[2], simulator.Municipality: last[3],
		simulator.FitConnectKind: fc[len(fc)-1][1]}
}
