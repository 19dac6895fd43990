package integration

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/workflows"
)

// TestRollInToLiveThroughAPI takes a real NRW municipality (Münster) to live through the
// JSON API, with each of the three roles doing its part, and checks what every party sees.
func TestRollInToLiveThroughAPI(t *testing.T) {
	t.Parallel()
	const ars = "055150000000" // Münster, Stadt
	h := newHarness(t, ars, simulator.Config{})

	code, out := h.call("pm", http.MethodPost, "/api/v1/rollins", map[string]string{"ars": ars, "service": gewerbe})
	require.Equal(t, http.StatusCreated, code, out)
	require.Equal(t, "rollin/"+ars+"/"+gewerbe, out["id"])
	code, out = h.call("pm", http.MethodPost, "/api/v1/rollins", map[string]string{"ars": ars, "service": gewerbe})
	require.Equal(t, http.StatusOK, code, "starting again returns the existing run: %v", out)

	st := h.waitForAction(ars, gewerbe, workflows.ActionSignAgreement)
	require.Equal(t, domain.RunWaiting, st.State)
	require.Equal(t, domain.StageVereinbarung, st.Stage)
	require.Equal(t, domain.RoleMunicipality, st.WaitingFor.Role)
	require.Equal(t, workflows.StepFrameworkAgreement, st.WaitingFor.Step)

	// The municipality sees its own run; another municipality does not, nobody anonymous does.
	require.Equal(t, st.ID, h.status("municipality", ars, gewerbe).ID)
	code, _ = h.call("other", http.MethodGet, "/api/v1/rollins/"+ars+"/"+gewerbe, nil)
	require.Equal(t, http.StatusNotFound, code)
	code, _ = h.call("", http.MethodGet, "/api/v1/rollins/"+ars+"/"+gewerbe, nil)
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = h.act("other", ars, gewerbe, workflows.ActionSignAgreement, nil)
	require.Equal(t, http.StatusNotFound, code, "a foreign municipality cannot act either")

	// Roles: a project manager may not sign for the municipality.
	code, out = h.act("pm", ars, gewerbe, workflows.ActionSignAgreement, nil)
	require.Equal(t, http.StatusForbidden, code, out)
	// Not now: nothing to countersign yet.
	code, out = h.act("pm", ars, gewerbe, workflows.ActionCountersignAgreement, nil)
	require.Equal(t, http.StatusConflict, code, out)
	require.Contains(t, out["error"], "not waiting for countersign-agreement")

	signed := h.mustAct("municipality", ars, gewerbe, workflows.ActionSignAgreement, nil)
	require.Equal(t, workflows.StepCallOff, signed.WaitingFor.Step, "the answer already shows the next wait")
	h.mustAct("municipality", ars, gewerbe, workflows.ActionSignAgreement, map[string]any{"step": workflows.StepCallOff})
	h.mustAct("pm", ars, gewerbe, workflows.ActionCountersignAgreement, nil)
	h.waitForAction(ars, gewerbe, workflows.ActionSubmitConnectionData)

	bad := connection()
	bad["fachverfahren"] = "Excel"
	code, out = h.act("municipality", ars, gewerbe, workflows.ActionSubmitConnectionData, map[string]any{"data": bad})
	require.Equal(t, http.StatusBadRequest, code, out)
	require.Contains(t, out["error"], `data.fachverfahren "Excel"`)

	h.mustAct("municipality", ars, gewerbe, workflows.ActionSubmitConnectionData, map[string]any{"data": connection()})
	h.waitForAction(ars, gewerbe, workflows.ActionConfirmTest)
	h.mustAct("municipality", ars, gewerbe, workflows.ActionConfirmTest, map[string]any{"data": map[string]any{"received": true}})
	st = h.waitForState(ars, gewerbe, domain.RunLive)

	require.Equal(t, domain.StageGoLive, st.Stage)
	require.Nil(t, st.WaitingFor)
	for _, s := range st.Steps {
		require.Contains(t, []domain.StepState{domain.StepDone, domain.StepSkipped}, s.State, s.Name)
	}
	h.requireExactlyOnce()

	// The framework agreement is on file now: the municipality's next roll-in skips it.
	m, err := h.store.Municipality(context.Background(), ars)
	require.NoError(t, err)
	require.True(t, m.FrameworkAgreement)

	// The audit log tells the story with who did what.
	code, out = h.call("municipality", http.MethodGet, "/api/v1/rollins/"+ars+"/"+gewerbe+"/audit", nil)
	require.Equal(t, http.StatusOK, code)
	events := decode[[]domain.AuditEvent](t, out["items"])
	actors := map[string]string{}
	for _, e := range events {
		actors[e.Action] = e.Actor
	}
	require.Equal(t, "kommune", actors[workflows.ActionSignAgreement])
	require.Equal(t, "projektleitung", actors[workflows.ActionCountersignAgreement])
	require.Equal(t, "projektleitung", actors["start"])
	require.Contains(t, actors, "live")

	// Lists: filters and the municipality's scope.
	code, out = h.call("pm", http.MethodGet, "/api/v1/rollins?state=live&land=05", nil)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, out["items"], 1)
	require.Nil(t, out["next_cursor"])
	code, out = h.call("other", http.MethodGet, "/api/v1/rollins", nil)
	require.Equal(t, http.StatusOK, code)
	require.Empty(t, out["items"], "another municipality lists none of Münster's runs")

	// Acting on a finished run is a conflict.
	code, out = h.act("pm", ars, gewerbe, workflows.ActionCancel, map[string]any{"reason": "too late"})
	require.Equal(t, http.StatusConflict, code, out)
}

// TestBlockedMunicipality: Hundesteuer is not offered in Schleswig-Holstein.
func TestBlockedMunicipality(t *testing.T) {
	t.Parallel()
	const ars = "010020000000" // Kiel
	h := newHarness(t, ars, simulator.Config{})
	code, out := h.call("pm", http.MethodPost, "/api/v1/rollins", map[string]string{"ars": ars, "service": hund})
	require.Equal(t, http.StatusCreated, code, out)
	st := h.waitForState(ars, hund, domain.RunBlocked)
	require.Contains(t, st.Reason, "not offered in Land 01")
}

// TestWorkerReplacedMidRun stops the only worker while a run waits and while its calls are
// in flight; a new worker finishes the run, and no effect is applied twice.
func TestWorkerReplacedMidRun(t *testing.T) {
	t.Parallel()
	const ars = "053150000000" // Köln, Stadt
	h := newHarness(t, ars, simulator.Config{Latency: 30 * time.Millisecond})
	code, out := h.call("pm", http.MethodPost, "/api/v1/rollins", map[string]string{"ars": ars, "service": wohngeld})
	require.Equal(t, http.StatusCreated, code, out)
	h.waitForAction(ars, wohngeld, workflows.ActionSignAgreement)

	h.worker.Stop() // no worker at all while people act: the Updates wait for one
	h.startWorker()
	for h.status("pm", ars, wohngeld).WaitingFor.Action == workflows.ActionSignAgreement {
		h.mustAct("municipality", ars, wohngeld, workflows.ActionSignAgreement, nil)
	}
	h.mustAct("pm", ars, wohngeld, workflows.ActionCountersignAgreement, nil)
	h.waitForAction(ars, wohngeld, workflows.ActionSubmitConnectionData)
	conn := map[string]any{"contact_email": "wohngeld@stadt-koeln.example", "contact_address": "Willy-Brandt-Platz 2, 50679 Köln", "fachverfahren": "OK.SOZIUS", "transport": "fit-connect", "org_unit_id": "OE-0815"}
	h.mustAct("municipality", ars, wohngeld, workflows.ActionSubmitConnectionData, map[string]any{"data": conn})

	// The connection calls are now running; replace the worker in the middle of them.
	h.waitFor(ars, wohngeld, "a connection call running", func(st domain.RunStatus) bool {
		return st.Stage == domain.StageAnbindung && st.State == domain.RunRunning
	})
	h.worker.Stop()
	time.Sleep(200 * time.Millisecond)
	h.startWorker()

	h.waitForAction(ars, wohngeld, workflows.ActionConfirmTest)
	h.mustAct("municipality", ars, wohngeld, workflows.ActionConfirmTest, map[string]any{"data": map[string]any{"received": true}})
	h.waitForState(ars, wohngeld, domain.RunLive)
	h.requireExactlyOnce()
}

// TestWorkerStopLetsRunningCallsFinish stops the worker (as SIGTERM does) while an
// external call is in flight, with every system answering after 400 ms: the call finishes
// inside the worker's stop timeout instead of being cut off and sent again by the next
// worker. Every mutating request the simulators saw applied an effect — a call cut off and
// retried would show as one more request than effects (the repeat is answered from the
// idempotency store).
func TestWorkerStopLetsRunningCallsFinish(t *testing.T) {
	t.Parallel()
	const ars = "051190000000" // Oberhausen, Stadt
	h := newHarness(t, ars, simulator.Config{Latency: 400 * time.Millisecond})
	code, out := h.call("pm", http.MethodPost, "/api/v1/rollins", map[string]string{"ars": ars, "service": wohngeld})
	require.Equal(t, http.StatusCreated, code, out)
	for h.waitFor(ars, wohngeld, "a signature", func(st domain.RunStatus) bool { return st.WaitingFor != nil }).WaitingFor.Action == workflows.ActionSignAgreement {
		h.mustAct("municipality", ars, wohngeld, workflows.ActionSignAgreement, nil)
	}
	h.mustAct("pm", ars, wohngeld, workflows.ActionCountersignAgreement, nil)
	h.waitForAction(ars, wohngeld, workflows.ActionSubmitConnectionData)
	conn := map[string]any{"contact_email": "wohngeld@oberhausen.example", "contact_address": "Schwartzstraße 72, 46045 Oberhausen", "fachverfahren": "OK.SOZIUS", "transport": "fit-connect", "org_unit_id": "OE-0815"}
	h.mustAct("municipality", ars, wohngeld, workflows.ActionSubmitConnectionData, map[string]any{"data": conn})

	// The connection calls now run one after the other, 400 ms each. Stop the worker
	// while a mutating request has arrived but not yet been applied.
	for deadline := time.Now().Add(10 * time.Second); inFlight(h) == 0; time.Sleep(5 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "no mutating call in flight within 10 s")
	}
	began := time.Now()
	h.worker.Stop()
	require.Zero(t, inFlight(h), "the call in flight was answered before the worker stopped (stop took %s)", time.Since(began))
	waited := time.Since(began).Round(time.Millisecond)
	h.startWorker()

	h.waitForAction(ars, wohngeld, workflows.ActionConfirmTest)
	h.mustAct("municipality", ars, wohngeld, workflows.ActionConfirmTest, map[string]any{"data": map[string]any{"received": true}})
	h.waitForState(ars, wohngeld, domain.RunLive)
	h.requireExactlyOnce()
	require.Zero(t, inFlight(h), "every mutating request applied exactly one effect: none was sent again")
	reportFigures(t, "worker stopped with a call in flight (systems answering after 400 ms): stop waited %s, the call finished; requests = effects = %d, none sent again", waited, sumEffects(h))
}

// inFlight is how many mutating requests the simulators have received but not applied:
// requests minus effects. A request sent again after a cut-off call (and answered from
// the idempotency store without a new effect) keeps it above zero for good.
func inFlight(h *harness) int {
	n := 0
	for _, s := range h.sims {
		c := s.Sim.Counters()
		n += mutatingRequests(c) - sum(c.Effects)
	}
	return n
}

// mutatingRequests counts the requests of a simulator that may apply an effect (all but
// GETs and FIT-Connect's token requests), failed and repeated ones included.
func mutatingRequests(c simulator.Counters) int {
	n := 0
	for req, k := range c.Requests {
		if !strings.HasPrefix(req, http.MethodGet+" ") && !strings.HasSuffix(req, " /token") {
			n += k
		}
	}
	return n
}

// TestSimulatorFaultBecomesIncidentThenRetry turns the provider's tenant endpoint off: the
// step retries, becomes an incident, the operator retries once the system is back, and the
// run goes live with the tenant created exactly once.
func TestSimulatorFaultBecomesIncidentThenRetry(t *testing.T) {
	t.Parallel()
	const ars = "051110000000" // Düsseldorf, Stadt
	h := newHarness(t, ars, simulator.Config{})
	provider := h.sims[simulator.Provider].Sim
	// The first try applies the effect but its answer is lost; then the system is down.
	provider.AddFault(simulator.Fault{Method: http.MethodPost, PathPrefix: "/v1/tenants", Status: http.StatusBadGateway, Times: 1, AfterApply: true})
	provider.AddFault(simulator.Fault{Method: http.MethodPost, PathPrefix: "/v1/tenants", Status: http.StatusServiceUnavailable})

	h.signUpTo(ars, gewerbe)
	h.mustAct("municipality", ars, gewerbe, workflows.ActionSubmitConnectionData, map[string]any{"data": connection()})

	st := h.waitForState(ars, gewerbe, domain.RunIncident)
	require.Equal(t, &domain.WaitingFor{Action: workflows.ActionRetryStep, Role: domain.RoleOperator, Step: workflows.StepTenant, Note: st.WaitingFor.Note}, st.WaitingFor)
	var tenant domain.StepStatus
	for _, s := range st.Steps {
		if s.Name == workflows.StepTenant {
			tenant = s
		}
	}
	require.Equal(t, domain.StepFailed, tenant.State)
	require.Equal(t, fastOptions.CallAttempts, tenant.Attempts)
	require.Contains(t, tenant.LastError, "503")

	// Wrong people and wrong moments are refused; the incident stays.
	code, out := h.act("municipality", ars, gewerbe, workflows.ActionRetryStep, nil)
	require.Equal(t, http.StatusForbidden, code, out)
	code, out = h.act("operator", ars, gewerbe, workflows.ActionSkipStep, map[string]any{"step": workflows.StepTenant})
	require.Equal(t, http.StatusBadRequest, code, out)
	require.Contains(t, out["error"], "reason: required")
	code, out = h.act("operator", ars, gewerbe, workflows.ActionRetryStep, map[string]any{"step": workflows.StepPayment})
	require.Equal(t, http.StatusConflict, code, out)

	provider.ClearFaults()
	h.mustAct("operator", ars, gewerbe, workflows.ActionRetryStep, map[string]any{"step": workflows.StepTenant, "reason": "provider is back"})
	h.waitForAction(ars, gewerbe, workflows.ActionConfirmTest)
	h.mustAct("municipality", ars, gewerbe, workflows.ActionConfirmTest, map[string]any{"data": map[string]any{"received": true}})
	h.waitForState(ars, gewerbe, domain.RunLive)

	counters := provider.Counters()
	tenants := 0
	for effect, n := range counters.Effects {
		if strings.Contains(effect, "tenant") && !strings.Contains(effect, "production") {
			tenants += n
		}
	}
	require.Equal(t, 1, tenants, "the tenant was created once although its first answer was lost: %v", counters.Effects)
	h.requireExactlyOnce()
}

// TestSameActionIDTwice: a client that resends an action (e.g. after a timeout) with the
// same action_id gets the run's status and nothing is applied twice.
func TestSameActionIDTwice(t *testing.T) {
	t.Parallel()
	const ars = "057110000000" // Bielefeld, Stadt
	h := newHarness(t, ars, simulator.Config{})
	code, _ := h.call("pm", http.MethodPost, "/api/v1/rollins", map[string]string{"ars": ars, "service": wohngeld})
	require.Equal(t, http.StatusCreated, code)
	h.waitForAction(ars, wohngeld, workflows.ActionSignAgreement)
	body := map[string]any{"action": workflows.ActionSignAgreement, "action_id": "sig-bielefeld-1"}
	path := "/api/v1/rollins/" + ars + "/" + wohngeld + "/actions"
	code, first := h.call("municipality", http.MethodPost, path, body)
	require.Equal(t, http.StatusOK, code, first)
	code, second := h.call("municipality", http.MethodPost, path, body)
	require.Equal(t, http.StatusOK, code, second)
	require.Equal(t, workflows.StepCallOff, decode[domain.RunStatus](t, second).WaitingFor.Step,
		"the repeated ID did not sign the call-off as well")
	code, out := h.call("municipality", http.MethodGet, "/api/v1/rollins/"+ars+"/"+wohngeld+"/audit", nil)
	require.Equal(t, http.StatusOK, code)
	signs := 0
	for _, e := range decode[[]domain.AuditEvent](t, out["items"]) {
		if e.Action == workflows.ActionSignAgreement {
			signs++
		}
	}
	require.Equal(t, 1, signs)
}

// TestCancel: a project manager cancels a waiting run with a reason.
func TestCancel(t *testing.T) {
	t.Parallel()
	const ars = "059130000000" // Dortmund, Stadt
	h := newHarness(t, ars, simulator.Config{})
	code, _ := h.call("pm", http.MethodPost, "/api/v1/rollins", map[string]string{"ars": ars, "service": gewerbe})
	require.Equal(t, http.StatusCreated, code)
	h.waitForAction(ars, gewerbe, workflows.ActionSignAgreement)
	code, out := h.act("pm", ars, gewerbe, workflows.ActionCancel, nil)
	require.Equal(t, http.StatusBadRequest, code, out)
	st := h.mustAct("pm", ars, gewerbe, workflows.ActionCancel, map[string]any{"reason": "Kommune hat abgesagt"})
	require.Equal(t, domain.RunCancelled, st.State)
	require.Equal(t, "Kommune hat abgesagt", st.Reason)
}

// TestXTAConnectionIsATaskForOperators walks a roll-in connected by XTA/OSCI: the DVDV
// entry has no API, so the run waits for an operator and shows what to enter; a
// municipality cannot confirm it, the operator can, and the run goes on to live.
func TestXTAConnectionIsATaskForOperators(t *testing.T) {
	t.Parallel()
	const ars = "053340002002" // Aachen, Stadt
	h := newHarness(t, ars, simulator.Config{})
	h.signUpTo(ars, hund)
	conn := map[string]any{"contact_email": "hundesteuer@aachen.example", "fachverfahren": "OK.FIS", "transport": "xta",
		"org_unit_id": "OE-4711", "dvdv_key": "dvd:053340002002"}
	h.mustAct("municipality", ars, hund, workflows.ActionSubmitConnectionData, map[string]any{"data": conn})

	st := h.waitForAction(ars, hund, workflows.ActionConfirmConnection)
	require.Equal(t, workflows.StepDVDV, st.WaitingFor.Step)
	require.Equal(t, domain.RoleOperator, st.WaitingFor.Role)
	for _, want := range []string{"dvd:053340002002", hund, ars, "OK.FIS"} {
		require.Contains(t, st.WaitingFor.Note, want, "the task shows what to enter")
	}
	code, out := h.act("municipality", ars, hund, workflows.ActionConfirmConnection, nil)
	require.Equal(t, http.StatusForbidden, code, out)
	h.mustAct("operator", ars, hund, workflows.ActionConfirmConnection, map[string]any{"reason": "DVDV-Eintrag angelegt, Ticket 4711"})

	h.waitForAction(ars, hund, workflows.ActionConfirmTest)
	h.mustAct("municipality", ars, hund, workflows.ActionConfirmTest, map[string]any{"data": map[string]any{"received": true}})
	h.waitForState(ars, hund, domain.RunLive)
	h.requireExactlyOnce()
	effects := h.sims[simulator.State].Sim.Counters().Effects
	for effect := range effects {
		require.NotContains(t, effect, "dvdv", "no call stands in for the DVDV entry")
	}
	code, out = h.call("operator", http.MethodGet, "/api/v1/rollins/"+ars+"/"+hund+"/audit", nil)
	require.Equal(t, http.StatusOK, code, out)
	events := decode[[]domain.AuditEvent](t, out["items"])
	i := slices.IndexFunc(events, func(e domain.AuditEvent) bool { return e.Action == workflows.ActionConfirmConnection })
	require.GreaterOrEqual(t, i, 0)
	require.Equal(t, "DVDV-Eintrag angelegt, Ticket 4711", events[i].Reason)
	require.Equal(t, workflows.StepDVDV, events[i].Step)
}
