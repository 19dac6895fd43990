package municipality_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/systems"
	"github.com/rollin-efa/rollin/systems/municipality"
	"github.com/rollin-efa/rollin/systems/simulator"
)

const (
	ars     = "055150000000"
	service = "99050012104000"
)

func setup(t *testing.T, cfg simulator.Config, hc *http.Client) (*municipality.Client, *simulator.Server) {
	t.Helper()
	srv, err := simulator.Start(simulator.Municipality, cfg, "")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	c, err := municipality.New(srv.URL, hc)
	require.NoError(t, err)
	return c, srv
}

func requireSystemError(t *testing.T, err error, status int, retryable bool) *systems.Error {
	t.Helper()
	var e *systems.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, municipality.System, e.System)
	require.Equal(t, status, e.Status, "error: %v", err)
	require.Equal(t, retryable, systems.IsRetryable(err), "error: %v", err)
	return e
}

func TestFileAgreement(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, simulator.Config{}, nil)
	framework := municipality.AgreementRequest{ARS: ars, Kind: municipality.AgreementFramework,
		SignedBy: "Oberbürgermeister", CountersignedBy: "d-NRW"}
	callOff := municipality.AgreementRequest{ARS: ars, ServiceKey: service, Kind: municipality.AgreementCallOff,
		SignedBy: "Amtsleitung 32", CountersignedBy: "d-NRW"}

	srv.Sim.AddFault(simulator.Fault{Method: http.MethodPost, PathPrefix: "/v1/agreements", Status: 503, Times: 1})
	err := c.FileAgreement(t.Context(), "framework", framework)
	requireSystemError(t, err, 503, true)
	require.NoError(t, c.FileAgreement(t.Context(), "framework", framework))
	require.NoError(t, c.FileAgreement(t.Context(), "call-off", callOff))
	require.NoError(t, c.FileAgreement(t.Context(), "call-off", callOff))

	require.Equal(t, map[string]int{
		"file-agreement framework " + ars:                1,
		"file-agreement call-off " + ars + "/" + service: 1,
	}, srv.Sim.Counters().Effects)

	missing := callOff
	missing.ServiceKey = ""
	err = c.FileAgreement(t.Context(), "call-off-2", missing)
	e := requireSystemError(t, err, 422, false)
	require.Contains(t, e.Problem.Detail, "serviceKey")
}

func TestNotify(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, simulator.Config{}, nil)
	n := municipality.Notification{ARS: ars, ServiceKey: service,
		Recipient: municipality.RecipientMunicipality, Kind: municipality.NoticeReminder,
		Subject: "Einzelabruf wartet auf Unterschrift", Body: "Bitte unterschreiben Sie den Einzelabruf."}

	// The mail went out but the answer got lost: the retry must not send it again.
	srv.Sim.AddFault(simulator.Fault{PathPrefix: "/v1/notifications", Status: 502, Times: 1, AfterApply: true})
	err := c.Notify(t.Context(), "reminder-1", n)
	requireSystemError(t, err, 502, true)
	require.NoError(t, c.Notify(t.Context(), "reminder-1", n))
	require.Equal(t, map[string]int{"notify municipality reminder " + ars + "/" + service: 1}, srv.Sim.Counters().Effects)

	bad := n
	bad.Kind = "spam"
	err = c.Notify(t.Context(), "reminder-2", bad)
	e := requireSystemError(t, err, 422, false)
	require.Contains(t, e.Problem.Detail, "kind")

	err = c.Notify(t.Context(), "", n)
	requireSystemError(t, err, 0, false)
}

func TestTimeoutIsRetryable(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, simulator.Config{Latency: 200 * time.Millisecond}, &http.Client{Timeout: 30 * time.Millisecond})
	framework := municipality.AgreementRequest{ARS: ars, Kind: municipality.AgreementFramework,
		SignedBy: "Oberbürgermeister", CountersignedBy: "d-NRW"}
	err := c.FileAgreement(t.Context(), "framework", framework)
	requireSystemError(t, err, 0, true)
	require.Eventually(t, func() bool { return srv.Sim.Counters().Requests["POST /v1/agreements"] == 1 },
		5*time.Second, 10*time.Millisecond)
}

func TestNotifyWaiting(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, simulator.Config{}, nil)
	n := municipality.Notification{ARS: ars, ServiceKey: service,
		Recipient: municipality.RecipientMunicipality, Kind: municipality.NoticeWaiting,
		Action: "sign-agreement", Step: "framework-agreement",
		Subject: "Rahmenvereinbarung wartet", Body: "Bitte unterschreiben Sie die Rahmenvereinbarung."}
	callOff := n
	callOff.Step = "call-off"
	countersign := n
	countersign.Recipient, countersign.Action, countersign.Step = municipality.RecipientPM, "countersign-agreement", "countersign"

	require.NoError(t, c.Notify(t.Context(), "w-framework", n))
	require.NoError(t, c.Notify(t.Context(), "w-framework", n)) // replay
	require.NoError(t, c.Notify(t.Context(), "w-call-off", callOff))
	require.NoError(t, c.Notify(t.Context(), "w-countersign", countersign))
	require.Equal(t, map[string]int{
		"notify municipality waiting framework-agreement " + ars + "/" + service: 1,
		"notify municipality waiting call-off " + ars + "/" + service:            1,
		"notify pm waiting countersign " + ars + "/" + service:                   1,
	}, srv.Sim.Counters().Effects)

	tests := []struct {
		name      string
		mutate    func(*municipality.Notification)
		wantField string
	}{
		{"no action", func(n *municipality.Notification) { n.Action = "" }, "action"},
		{"no step", func(n *municipality.Notification) { n.Step = "" }, "step"},
		{"unknown action", func(n *municipality.Notification) { n.Action = "sign" }, "action"},
		{"wrong recipient", func(n *municipality.Notification) { n.Recipient = municipality.RecipientPM }, "recipient"},
		{"malformed step", func(n *municipality.Notification) { n.Step = "Framework Agreement" }, "step"},
	}
	for i, tt := range tests {
		bad := n
		tt.mutate(&bad)
		err := c.Notify(t.Context(), fmt.Sprintf("bad-%d", i), bad)
		e := requireSystemError(t, err, 422, false)
		require.Contains(t, e.Problem.Detail, tt.wantField, tt.name)
	}

	// Reminders and escalations may name the action and step; the pm is told about the
	// municipality's step.
	escalation := n
	escalation.Kind, escalation.Recipient = municipality.NoticeEscalation, municipality.RecipientPM
	require.NoError(t, c.Notify(t.Context(), "escalation", escalation))
	require.Equal(t, 1, srv.Sim.Counters().Effects["notify pm escalation framework-agreement "+ars+"/"+service])
}
