package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"

	"github.com/rollin-efa/rollin/devsim"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/workflows"
)

// Kreise of NRW no other test uses, so their workflow IDs are this file's alone.
const (
	heinsbergKreis = "05370" // Kreis Heinsberg, 10 municipalities
	mettmannKreis  = "05158" // Kreis Mettmann, 10 municipalities
	dormagen       = "051620004004"
)

// autopilot attaches an autopilot to the harness's municipality simulator that acts through
// the same starter as the API, as rollin-dev wires it.
func (h *harness) autopilot(cfg devsim.AutopilotConfig) *devsim.Autopilot {
	h.t.Helper()
	cfg.Enabled = true
	a := devsim.NewAutopilot(cfg, h.starter, h.log)
	h.sims[simulator.Municipality].Sim.SetListener(a)
	h.t.Cleanup(a.Stop) // before the worker and client go (cleanups run last-in first-out)
	return a
}

// kreis returns the ARS of a Kreis's municipalities from the read model.
func (h *harness) kreis(key string) []string {
	h.t.Helper()
	ms, _, err := h.store.Municipalities(context.Background(), store.MunicipalityFilter{Kreis: key, Limit: 100})
	require.NoError(h.t, err)
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.ARS)
	}
	return out
}

// campaign reads a campaign through the API as the project manager.
func (h *harness) campaign(id string) domain.CampaignProgress {
	h.t.Helper()
	code, out := h.call("pm", http.MethodGet, "/api/v1/campaigns/"+id, nil)
	require.Equal(h.t, http.StatusOK, code, out)
	return decode[domain.CampaignProgress](h.t, out)
}

// waitForCampaign polls the campaign until cond holds, failing after limit.
func (h *harness) waitForCampaign(id, what string, limit time.Duration, cond func(domain.CampaignProgress) bool) domain.CampaignProgress {
	h.t.Helper()
	deadline := time.Now().Add(limit)
	var p domain.CampaignProgress
	for time.Now().Before(deadline) {
		if p = h.campaign(id); cond(p) {
			return p
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.t.Fatalf("campaign %s never got %s; last progress: %+v", id, what, p)
	return p
}

// TestCampaignReachesLiveOnAutopilot rolls Wohngeld out to a whole Kreis through the API
// with nobody at the keyboard: the autopilot signs, countersigns, fills the questionnaire
// and confirms the test (answering "not received" for some, which sends those runs back
// to the connection stage). Every run reaches live, each external effect happens once, and
// a second campaign that overlaps the first starts only the run that is new.
func TestCampaignReachesLiveOnAutopilot(t *testing.T) {
	t.Parallel()
	h := newHarness(t, dormagen, simulator.Config{})
	pilot := h.autopilot(devsim.AutopilotConfig{TestFailureRate: 0.3, Seed: 1})
	members := h.kreis(heinsbergKreis)
	require.Len(t, members, 10, "Kreis Heinsberg has 10 municipalities in the register")

	// One municipality of the Kreis started by hand before the campaign: it counts as existing.
	code, out := h.call("pm", http.MethodPost, "/api/v1/rollins", map[string]string{"ars": members[4], "service": wohngeld})
	require.Equal(t, http.StatusCreated, code, out)

	req := map[string]any{"service": wohngeld, "kreis": heinsbergKreis, "window": 3}
	code, out = h.call("operator", http.MethodPost, "/api/v1/campaigns", req)
	require.Equal(t, http.StatusForbidden, code, out)
	code, out = h.call("pm", http.MethodPost, "/api/v1/campaigns", req)
	require.Equal(t, http.StatusCreated, code, out)
	started := decode[domain.CampaignProgress](t, out)
	id := wohngeld + "-kreis-" + heinsbergKreis
	require.Equal(t, id, started.ID)
	require.Equal(t, 10, started.Total)
	require.Equal(t, "kreis "+heinsbergKreis, started.Selector)

	code, out = h.call("pm", http.MethodPost, "/api/v1/campaigns", req)
	require.Equal(t, http.StatusOK, code, "the same campaign again finds the first: %v", out)
	require.Equal(t, id, out["id"])
	code, out = h.call("municipality", http.MethodGet, "/api/v1/campaigns/"+id, nil)
	require.Equal(t, http.StatusForbidden, code, out)

	done := h.waitForCampaign(id, "every run live", 2*time.Minute, func(p domain.CampaignProgress) bool {
		return p.State == domain.CampaignStarted && p.Runs[string(domain.RunLive)] == p.Total
	})
	require.Equal(t, 9, done.Started)
	require.Equal(t, 1, done.Existing, "the run started by hand is not started again")
	require.Zero(t, done.Failed)
	require.Empty(t, done.Stages, "no run is left in a stage")

	// A run is live in the read model a moment before the autopilot's last action returns
	// and is counted: wait until it has nothing in flight.
	var stats devsim.AutopilotStats
	require.Eventually(t, func() bool { stats = pilot.Stats(); return stats.Pending == 0 }, 10*time.Second, 20*time.Millisecond,
		"the autopilot still has actions in flight: %+v", stats)
	require.Zero(t, stats.Failed, "every autopilot action was accepted: %+v", stats)
	require.NotZero(t, stats.TestNotReceived, "with a 30%% failure rate some tests were answered not received: %+v", stats)
	// Per run: a countersignature, a questionnaire and a test confirmation, plus a
	// questionnaire and a confirmation again for every test answered "not received".
	require.Equal(t, 10, stats.ByAction[workflows.ActionCountersignAgreement].Acted, "%+v", stats)
	require.Equal(t, 10+stats.TestNotReceived, stats.ByAction[workflows.ActionSubmitConnectionData].Acted, "%+v", stats)
	require.Equal(t, 10+stats.TestNotReceived, stats.ByAction[workflows.ActionConfirmTest].Acted, "%+v", stats)

	// A test answered "not received" sends the run through connection and test once more,
	// so their effects happen once per round; everything else exactly once.
	rounds := map[string]int{}
	for _, ars := range members {
		code, out := h.call("pm", http.MethodGet, "/api/v1/rollins/"+ars+"/"+wohngeld+"/audit", nil)
		require.Equal(t, http.StatusOK, code, out)
		events := decode[[]domain.AuditEvent](t, out["items"])
		actors := map[string]string{}
		for _, e := range events {
			actors[e.Action] = e.Actor
			if e.Action == workflows.ActionSubmitConnectionData {
				rounds[ars]++
			}
		}
		require.Equal(t, devsim.Principal, actors[workflows.ActionSignAgreement], "%s: %+v", ars, events)
		require.Equal(t, devsim.Principal, actors[workflows.ActionConfirmTest], "%s: %+v", ars, events)
	}
	repeated := 0
	for kind, s := range h.sims {
		if kind == simulator.FitConnectKind {
			continue // its effects name destinations, not municipalities: checked below
		}
		for effect, n := range s.Sim.Counters().Effects {
			fields := strings.Fields(effect)
			ars, _, _ := strings.Cut(fields[len(fields)-1], "/")
			require.Contains(t, rounds, ars, "%s: effect %q on a municipality outside the campaign", kind, effect)
			require.LessOrEqual(t, n, rounds[ars], "%s: effect %q applied %d times in %d rounds", kind, effect, n, rounds[ars])
			if n > 1 {
				repeated++
			}
		}
	}
	require.NotZero(t, repeated, "the runs that looped back did their connection again")
	// One destination per municipality, created once and, in a second round, found again
	// unchanged: no FIT-Connect effect repeats.
	for effect, n := range h.sims[simulator.FitConnectKind].Sim.Counters().Effects {
		require.Equal(t, 1, n, "fit-connect: effect %q applied %d times", effect, n)
	}
	for ars := range rounds {
		d := h.destination(ars, wohngeld)
		require.Equal(t, 1, h.sims[simulator.FitConnectKind].Sim.Counters().Effects["create-destination "+d.ID], ars)
	}
	// The test stage spoke FIT-Connect: one test submission announced and submitted per
	// run and round (the simulated receiving system decrypted and accepted each).
	perOp, allRounds := map[string]int{}, 0
	for effect := range h.sims[simulator.FitConnectKind].Sim.Counters().Effects {
		op, _, _ := strings.Cut(effect, " ")
		perOp[op]++
	}
	for _, n := range rounds {
		allRounds += n
	}
	require.Equal(t, allRounds, perOp["announce-submission"], "%v", perOp)
	require.Equal(t, allRounds, perOp["submit-submission"], "%v", perOp)

	// Short calls ran as local activities: the server scheduled only the routing check and
	// the test submission, which wait long.
	it := h.client.GetWorkflowHistory(context.Background(), domain.RunID(domain.ARS(members[0]), wohngeld), "", false,
		enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	scheduled := map[string]int{}
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			scheduled[a.GetActivityType().GetName()]++
		}
	}
	require.Equal(t, map[string]int{workflows.ActivityVerifyRouting: rounds[members[0]], workflows.ActivityRunTestSubmission: rounds[members[0]]}, scheduled)

	// A list that overlaps the Kreis in two places starts only Dormagen.
	code, out = h.call("pm", http.MethodPost, "/api/v1/campaigns", map[string]any{
		"service": wohngeld, "ars": []string{members[0], dormagen, members[7], members[0]},
	})
	require.Equal(t, http.StatusCreated, code, out)
	list := h.waitForCampaign(out["id"].(string), "Dormagen live", time.Minute, func(p domain.CampaignProgress) bool {
		return p.State == domain.CampaignStarted && p.Runs[string(domain.RunLive)] == 3
	})
	require.Equal(t, 3, list.Total, "the duplicate ARS counts once")
	require.Equal(t, 1, list.Started)
	require.Equal(t, 2, list.Existing)
	require.Equal(t, "list of 3", list.Selector)
	dest := h.destination(dormagen, wohngeld)
	require.Equal(t, 1, h.sims[simulator.FitConnectKind].Sim.Counters().Effects["create-destination "+dest.ID])
	require.Equal(t, 1, h.sims[simulator.Municipality].Sim.Counters().Effects["file-agreement framework "+dormagen])
}

// TestCampaignPauseResumeCancel steers a slow campaign through the API: paused it starts
// nothing, resumed it goes on, cancelled it stops for good with the reason kept, and the
// roll-ins it started live on. Only project managers steer; bad actions are refused.
func TestCampaignPauseResumeCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t, dormagen, simulator.Config{})
	code, out := h.call("pm", http.MethodPost, "/api/v1/campaigns", map[string]any{
		"service": gewerbe, "kreis": mettmannKreis, "rate": 1, "window": 1,
	})
	require.Equal(t, http.StatusCreated, code, out)
	id := out["id"].(string)
	path := "/api/v1/campaigns/" + id + "/actions"

	for _, c := range []struct {
		role string
		body map[string]any
		code int
		msg  string
	}{
		{"operator", map[string]any{"action": "pause"}, http.StatusForbidden, "may not pause"},
		{"municipality", map[string]any{"action": "pause"}, http.StatusForbidden, "may not pause"},
		{"pm", map[string]any{"action": "explode"}, http.StatusBadRequest, `"explode"`},
		{"pm", map[string]any{"action": "cancel"}, http.StatusBadRequest, "reason"},
	} {
		code, out := h.call(c.role, http.MethodPost, path, c.body)
		require.Equal(t, c.code, code, "%s %v: %v", c.role, c.body, out)
		require.Contains(t, out["error"], c.msg)
	}

	code, out = h.call("pm", http.MethodPost, path, map[string]any{"action": "pause"})
	require.Equal(t, http.StatusOK, code, out)
	paused := decode[domain.CampaignProgress](t, out)
	require.Equal(t, domain.CampaignPaused, paused.State)
	require.Less(t, paused.Started, 10)
	// A start already under way when the pause came may still be counted: let it land,
	// then a second and a half — one and a half starts at this rate — must add nothing.
	time.Sleep(300 * time.Millisecond)
	settled := h.campaign(id).Started
	time.Sleep(1500 * time.Millisecond)
	require.Equal(t, settled, h.campaign(id).Started, "a paused campaign starts nothing")
	require.LessOrEqual(t, settled, paused.Started+1)

	code, out = h.call("pm", http.MethodPost, path, map[string]any{"action": "resume"})
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, domain.CampaignStarting, decode[domain.CampaignProgress](t, out).State)
	h.waitForCampaign(id, "another start", 30*time.Second, func(p domain.CampaignProgress) bool {
		return p.Started > settled
	})

	code, out = h.call("pm", http.MethodPost, path, map[string]any{"action": "cancel", "reason": "Fachverfahren-Update abwarten"})
	require.Equal(t, http.StatusOK, code, out)
	cancelled := decode[domain.CampaignProgress](t, out)
	require.Equal(t, domain.CampaignCancelled, cancelled.State)
	require.Equal(t, "Fachverfahren-Update abwarten", cancelled.Reason)
	require.Less(t, cancelled.Started, 10, "cancelled before the end")
	time.Sleep(300 * time.Millisecond)
	final := h.campaign(id)
	time.Sleep(1500 * time.Millisecond)
	require.Equal(t, final.Started, h.campaign(id).Started, "a cancelled campaign starts nothing more")

	code, out = h.call("pm", http.MethodPost, path, map[string]any{"action": "resume"})
	require.Equal(t, http.StatusConflict, code, out)

	// The roll-ins it started go on: they wait for the municipality's signature.
	runs, _, err := h.store.Runs(context.Background(), store.RunFilter{Kreis: mettmannKreis, Service: gewerbe})
	require.NoError(t, err)
	require.Len(t, runs, final.Started)
	for _, r := range runs {
		h.waitForAction(string(r.ARS), gewerbe, workflows.ActionSignAgreement)
	}
}

// TestCampaignCLI starts campaigns the way a project manager does from a terminal: a Kreis
// with --wait until every roll-in is live on autopilot, and a list from a CSV file.
func TestCampaignCLI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, dormagen, simulator.Config{})
	h.autopilot(devsim.AutopilotConfig{})
	const viersen = "05166" // Kreis Viersen, 9 municipalities

	stdout, stderr, exit := h.rollinCLI("pm", "campaign", "start", "--service", gewerbe, "--kreis", viersen,
		"--window", "4", "--wait", "--poll", "100ms")
	require.Equal(t, 0, exit, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	id := gewerbe + "-kreis-" + viersen
	require.Contains(t, stderr, "started campaign "+id)
	require.Regexp(t, `(?m)^State:\s+started$`, stdout)
	require.Regexp(t, `(?m)^Started:\s+9$`, stdout)
	require.Regexp(t, `(?m)^live\s+9$`, stdout)

	stdout, stderr, exit = h.rollinCLI("pm", "campaign", "status", id, "-o", "json")
	require.Equal(t, 0, exit, stderr)
	var p domain.CampaignProgress
	require.NoError(t, json.Unmarshal([]byte(stdout), &p), stdout)
	require.Equal(t, 9, p.Runs[string(domain.RunLive)])

	_, stderr, exit = h.rollinCLI("pm", "campaign", "pause", id)
	require.Equal(t, 1, exit)
	require.Contains(t, stderr, "started", "a finished campaign cannot be paused, and the answer says why")
	_, stderr, exit = h.rollinCLI("operator", "campaign", "start", "--service", gewerbe, "--kreis", viersen)
	require.Equal(t, 1, exit)
	require.Contains(t, stderr, "may not start campaigns")

	// A list from a spreadsheet export: a header, one municipality of Viersen (existing) and
	// Grevenbroich (new).
	file := filepath.Join(t.TempDir(), "kommunen.csv")
	require.NoError(t, os.WriteFile(file, []byte("ARS;Name\n051660004004;Brüggen\n\n051620008008;Grevenbroich\n"), 0o600))
	stdout, stderr, exit = h.rollinCLI("pm", "campaign", "start", "--service", gewerbe, "--file", file, "--wait", "--poll", "100ms")
	require.Equal(t, 0, exit, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Regexp(t, `(?m)^Started:\s+1$`, stdout)
	require.Regexp(t, `(?m)^Existing:\s+1$`, stdout)
	require.Regexp(t, `(?m)^live\s+2$`, stdout)
}
