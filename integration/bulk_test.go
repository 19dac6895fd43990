package integration

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/cli"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/register"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/workflows"
)

// Municipalities of the Landkreis Helmstedt (Niedersachsen): no other test uses Land 03, so
// their workflow IDs cannot clash in the shared Temporal server.
var helmstedt = []string{
	"031540013013", // Königslutter am Elm, Stadt
	"031540014014", // Lehre
	"031540019019", // Schöningen, Stadt
	"031540028028", // Helmstedt, Stadt
	"031545401008", // Grasleben
}

const mariental = "031545401015" // Mariental, same Kreis

// loadLand adds the municipalities of a Land to the harness's register (it loads NRW and
// Schleswig-Holstein only).
func (h *harness) loadLand(land string) {
	h.t.Helper()
	reg, err := register.Embedded()
	require.NoError(h.t, err)
	var ms []domain.Municipality
	for _, m := range reg.Municipalities {
		if m.Land == land {
			ms = append(ms, m)
		}
	}
	_, err = h.store.UpsertMunicipalities(context.Background(), ms)
	require.NoError(h.t, err)
}

// toFileAgreementIncident starts the roll-ins and drives them through the agreement stage
// as the municipality and the project manager; with the municipality system down, filing
// the agreement becomes an incident. The runs retry their calls side by side.
func (h *harness) toFileAgreementIncident(svc *starter.Service, service string, arss ...string) {
	h.t.Helper()
	ctx := context.Background()
	for _, ars := range arss {
		code, out := h.call("pm", http.MethodPost, "/api/v1/rollins", map[string]string{"ars": ars, "service": service})
		require.Equal(h.t, http.StatusCreated, code, out)
	}
	for _, ars := range arss {
		kommune := starter.Principal{Name: "kommune-" + ars, Role: domain.RoleMunicipality, ARS: domain.ARS(ars)}
		for i := 0; ; i++ {
			st := h.waitFor(ars, service, "a wait for a signature", func(st domain.RunStatus) bool { return st.WaitingFor != nil })
			if st.WaitingFor.Action != workflows.ActionSignAgreement {
				break
			}
			_, err := svc.Act(ctx, kommune, ars, service, starter.Action{
				Name: workflows.ActionSignAgreement, ID: fmt.Sprintf("sign-%s-%s-%d", ars, service, i),
			})
			require.NoError(h.t, err)
		}
		h.mustAct("pm", ars, service, workflows.ActionCountersignAgreement, nil)
	}
	for _, ars := range arss {
		st := h.waitForState(ars, service, domain.RunIncident)
		require.Equal(h.t, workflows.StepFileAgreement, st.WaitingFor.Step)
	}
}

// TestBulkRetryIncidents puts several runs into an incident on the same step, lists them
// with a dry run, and retries them in bulk through the CLI once the system is back; one
// run that Temporal no longer knows is reported as rejected, another service's incident
// is left alone and then cancelled in bulk by the project manager.
func TestBulkRetryIncidents(t *testing.T) {
	t.Parallel()
	h := newHarness(t, helmstedt[0], simulator.Config{})
	h.loadLand("03")
	svc := starter.New(h.client, h.store, h.queue, fastOptions)
	sim := h.sims[simulator.Municipality].Sim
	sim.AddFault(simulator.Fault{Method: http.MethodPost, PathPrefix: "/v1/agreements", Status: http.StatusServiceUnavailable})

	h.toFileAgreementIncident(svc, wohngeld, helmstedt...)
	h.toFileAgreementIncident(svc, gewerbe, mariental)

	// The step filter is checked against the process's steps.
	code, out := h.call("operator", http.MethodGet, "/api/v1/rollins?step=filing", nil)
	require.Equal(t, http.StatusBadRequest, code, out)
	require.Contains(t, out["error"], `step: "filing"`)
	code, out = h.call("operator", http.MethodGet, "/api/v1/rollins?state=incident&step=file-agreement&kreis=03154", nil)
	require.Equal(t, http.StatusOK, code, out)
	require.Len(t, out["items"], len(helmstedt)+1)

	filter := []string{"--step", workflows.StepFileAgreement, "--service", wohngeld, "--land", "03", "--kreis", "03154"}

	// A dry run lists the five and sends nothing.
	stdout, stderr, exit := h.rollinCLI("operator", append([]string{"retry", "--dry-run"}, filter...)...)
	require.Equal(t, cli.ExitOK, exit, stderr)
	require.Contains(t, stderr, "dry run: 5 run(s) match; retry-step would be sent to each, nothing was sent")
	for _, ars := range helmstedt {
		require.Contains(t, stdout, ars)
	}
	require.NotContains(t, stdout, mariental)
	for _, ars := range helmstedt {
		require.Equal(t, domain.RunIncident, h.status("pm", ars, wohngeld).State)
	}

	// One run ends in Temporal behind the read model's back (an operator terminated it).
	orphan := helmstedt[2]
	require.NoError(t, h.client.TerminateWorkflow(context.Background(), domain.RunID(domain.ARS(orphan), wohngeld), "", "test: orphaned run"))

	sim.ClearFaults()
	stdout, stderr, exit = h.rollinCLI("operator", append([]string{"retry", "--reason", "Kommunalsystem wieder erreichbar",
		"--batch-id", "helmstedt-1", "--rate", "20"}, filter...)...)
	require.Equal(t, cli.ExitFailure, exit, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 2, stdout)
	require.Equal(t, "done 4, rejected 1", lines[0])
	require.True(t, strings.HasPrefix(lines[1], orphan+": "), lines[1])
	require.Contains(t, lines[1], "Temporal has no open run with that ID")
	require.True(t, strings.HasSuffix(lines[1], "(HTTP 409)"), lines[1])
	require.Contains(t, stderr, "retry-step: 5 run(s) match")
	require.Contains(t, stderr, "[##############################] 5/5 100%")
	require.Contains(t, stderr, "1 of 5 retry-step actions rejected")

	for _, ars := range helmstedt {
		if ars == orphan {
			continue
		}
		st := h.waitForAction(ars, wohngeld, workflows.ActionSubmitConnectionData)
		require.Equal(t, domain.RunWaiting, st.State, "the retried run left the incident")
		code, out := h.call("operator", http.MethodGet, "/api/v1/rollins/"+ars+"/"+wohngeld+"/audit", nil)
		require.Equal(t, http.StatusOK, code)
		var retried []domain.AuditEvent
		for _, e := range decode[[]domain.AuditEvent](t, out["items"]) {
			if e.Action == workflows.ActionRetryStep {
				retried = append(retried, e)
			}
		}
		require.Len(t, retried, 1, ars)
		require.Equal(t, "betrieb", retried[0].Actor)
		require.Equal(t, "Kommunalsystem wieder erreichbar", retried[0].Reason)
	}
	require.Equal(t, domain.RunIncident, h.status("pm", mariental, gewerbe).State, "another service's incident is not touched")

	// Resending the batch reaches only what is still in the incident: the orphan.
	stdout, _, exit = h.rollinCLI("operator", append([]string{"retry", "--batch-id", "helmstedt-1"}, filter...)...)
	require.Equal(t, cli.ExitFailure, exit)
	require.True(t, strings.HasPrefix(stdout, "done 0, rejected 1\n"+orphan+": "), stdout)

	// Project managers may cancel in bulk as well.
	stdout, stderr, exit = h.rollinCLI("pm", "cancel", "--state", "incident", "--service", gewerbe, "--kreis", "03154",
		"--reason", "Kommune nimmt nicht teil")
	require.Equal(t, cli.ExitOK, exit, stderr)
	require.Equal(t, "done 1, rejected 0\n", stdout)
	st := h.status("pm", mariental, gewerbe)
	require.Equal(t, domain.RunCancelled, st.State)
	require.Equal(t, "Kommune nimmt nicht teil", st.Reason)

	// Retrying is the operator's: the project manager's bulk retry is refused run by run.
	stdout, _, exit = h.rollinCLI("pm", "retry", "--step", workflows.StepFileAgreement, "--service", wohngeld, "--land", "03")
	require.Equal(t, cli.ExitFailure, exit)
	require.Contains(t, stdout, "done 0, rejected 1\n"+orphan+`: role "pm" may not retry-step (HTTP 403)`)
}
