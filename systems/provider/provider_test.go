package provider_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/systems"
	"github.com/rollin-efa/rollin/systems/provider"
	"github.com/rollin-efa/rollin/systems/simulator"
)

const (
	ars     = "055150000000"
	service = "99050012104000"
)

var tenantReq = provider.TenantRequest{
	ARS: ars, ServiceKey: service, Name: "Stadt Münster", Fachverfahren: "OK.EWO", Transport: "fit-connect",
}

// setup starts a provider simulator and a client for it; hc may be nil.
func setup(t *testing.T, cfg simulator.Config, hc *http.Client) (*provider.Client, *simulator.Server) {
	t.Helper()
	srv, err := simulator.Start(simulator.Provider, cfg, "")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	c, err := provider.New(srv.URL, hc)
	require.NoError(t, err)
	return c, srv
}

// requireSystemError asserts err is a *systems.Error with the given status and
// retryability, and returns it.
func requireSystemError(t *testing.T, err error, status int, retryable bool) *systems.Error {
	t.Helper()
	var e *systems.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, provider.System, e.System)
	require.Equal(t, status, e.Status, "error: %v", err)
	require.Equal(t, retryable, systems.IsRetryable(err), "error: %v", err)
	return e
}

func TestNewRejectsBadBaseURL(t *testing.T) {
	t.Parallel()
	_, err := provider.New("localhost:8080", nil)
	require.ErrorContains(t, err, "provider: base URL")
}

func TestCreateTenantIsIdempotent(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, simulator.Config{}, nil)

	first, err := c.CreateTenant(t.Context(), "run-1/tenant", tenantReq)
	require.NoError(t, err)
	require.NotEmpty(t, first.ID)

	again, err := c.CreateTenant(t.Context(), "run-1/tenant", tenantReq)
	require.NoError(t, err)
	require.Equal(t, first, again)

	counters := srv.Sim.Counters()
	require.Equal(t, map[string]int{"create-tenant " + ars + "/" + service: 1}, counters.Effects)
	require.Equal(t, 2, counters.Requests["POST /v1/tenants"])
	require.Equal(t, 1, counters.Keys)
}

func TestCreateTenantPermanentErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		key        string
		mutate     func(*provider.TenantRequest)
		wantStatus int
		wantDetail string
	}{
		{"missing key", "", func(*provider.TenantRequest) {}, 0, ""},
		{"bad ARS", "k", func(r *provider.TenantRequest) { r.ARS = "05515" }, 422, "ars"},
		{"bad service key", "k", func(r *provider.TenantRequest) { r.ServiceKey = "1234" }, 422, "serviceKey"},
		{"missing Fachverfahren", "k", func(r *provider.TenantRequest) { r.Fachverfahren = "" }, 422, "fachverfahren"},
		{"bad transport", "k", func(r *provider.TenantRequest) { r.Transport = "fax" }, 422, "transport"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, srv := setup(t, simulator.Config{}, nil)
			r := tenantReq
			tt.mutate(&r)
			_, err := c.CreateTenant(t.Context(), tt.key, r)
			e := requireSystemError(t, err, tt.wantStatus, false)
			if tt.wantDetail != "" {
				require.NotNil(t, e.Problem)
				require.Contains(t, e.Problem.Detail, tt.wantDetail)
			}
			require.Empty(t, srv.Sim.Counters().Effects)
		})
	}
}

func TestCreateTenantRetryableErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cfg        simulator.Config
		fault      *simulator.Fault
		wantStatus int
		wantAfter  time.Duration
	}{
		{"error rate", simulator.Config{ErrorRate: 1}, nil, 503, 0},
		{"fault 500", simulator.Config{}, &simulator.Fault{Status: 500, Times: 1}, 500, 0},
		{"fault 503 with Retry-After", simulator.Config{},
			&simulator.Fault{Status: 503, Times: 1, Headers: map[string]string{"Retry-After": "2"}}, 503, 2 * time.Second},
		{"429 with Retry-After", simulator.Config{},
			&simulator.Fault{Status: 429, Times: 1, Headers: map[string]string{"Retry-After": "7"}}, 429, 7 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, srv := setup(t, tt.cfg, nil)
			if tt.fault != nil {
				srv.Sim.AddFault(*tt.fault)
			}
			_, err := c.CreateTenant(t.Context(), "k", tenantReq)
			e := requireSystemError(t, err, tt.wantStatus, true)
			require.Equal(t, tt.wantAfter, e.RetryAfter)
			require.NotNil(t, e.Problem)
			require.Empty(t, srv.Sim.Counters().Effects, "failures before apply have no effect")

			if tt.fault != nil { // the retry with the same key succeeds and applies once
				_, err = c.CreateTenant(t.Context(), "k", tenantReq)
				require.NoError(t, err)
				require.Equal(t, 1, srv.Sim.Counters().Effects["create-tenant "+ars+"/"+service])
			}
		})
	}
}

func TestCreateTenantLostResponseIsAppliedOnce(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, simulator.Config{}, nil)
	srv.Sim.AddFault(simulator.Fault{Method: http.MethodPost, PathPrefix: "/v1/tenants", Status: 502, Times: 2, AfterApply: true})

	for range 2 {
		_, err := c.CreateTenant(t.Context(), "k", tenantReq)
		requireSystemError(t, err, 502, true)
	}
	first, err := c.CreateTenant(t.Context(), "k", tenantReq)
	require.NoError(t, err)
	again, err := c.CreateTenant(t.Context(), "k", tenantReq)
	require.NoError(t, err)
	require.Equal(t, first, again)
	require.Equal(t, map[string]int{"create-tenant " + ars + "/" + service: 1}, srv.Sim.Counters().Effects)
}

func TestCreateTenantTimeoutThenRetry(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, simulator.Config{Latency: 300 * time.Millisecond}, &http.Client{Timeout: 50 * time.Millisecond})

	_, err := c.CreateTenant(t.Context(), "k", tenantReq)
	requireSystemError(t, err, 0, true)

	// The simulator, like a real backend, finishes the request the client gave up on;
	// the retry with the same key must find that result, not create a second tenant.
	require.Eventually(t, func() bool { return len(srv.Sim.Counters().Effects) == 1 }, 5*time.Second, 10*time.Millisecond)
	patient, err := provider.New(srv.URL, nil)
	require.NoError(t, err)
	tenant, err := patient.CreateTenant(t.Context(), "k", tenantReq)
	require.NoError(t, err)
	require.NotEmpty(t, tenant.ID)
	require.Equal(t, map[string]int{"create-tenant " + ars + "/" + service: 1}, srv.Sim.Counters().Effects)
}

func TestTestSubmission(t *testing.T) {
	t.Parallel()
	rejection := systems.Problem{
		Type:   "https://schema.fitko.de/fit-connect/events/problems/invalid-data",
		Title:  "Fachdaten ungültig",
		Status: 422,
		Detail: "XML does not validate against the schema",
	}
	tests := []struct {
		name        string
		testPolls   int
		reject      bool
		wantStates  []string // of consecutive GETs
		wantProblem *systems.Problem
	}{
		{"default: submitted, then accepted", 0, false, []string{"submitted", "accepted", "accepted"}, nil},
		{"slow receiver", 3, false, []string{"submitted", "forwarded", "forwarded", "accepted"}, nil},
		{"immediate", -1, false, []string{"accepted"}, nil},
		{"rejected", 1, true, []string{"submitted", "rejected", "rejected"}, &rejection},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, srv := setup(t, simulator.Config{TestPolls: tt.testPolls}, nil)
			if tt.reject {
				srv.Sim.RejectTests(ars, rejection)
			}
			tenant, err := c.CreateTenant(t.Context(), "tenant", tenantReq)
			require.NoError(t, err)
			req := provider.TestSubmissionRequest{
				TenantID: tenant.ID, ARS: ars, ServiceKey: service, Transport: "fit-connect", DestinationID: "dest-1",
			}
			sub, err := c.SendTestSubmission(t.Context(), "test-1", req)
			require.NoError(t, err)
			require.Equal(t, provider.StateSubmitted, sub.State)
			require.False(t, sub.Final())
			replay, err := c.SendTestSubmission(t.Context(), "test-1", req)
			require.NoError(t, err)
			require.Equal(t, sub.ID, replay.ID)

			var states []string
			for range tt.wantStates {
				got, err := c.TestSubmission(t.Context(), sub.ID)
				require.NoError(t, err)
				require.Equal(t, sub.ID, got.ID)
				states = append(states, got.State)
				sub = got
			}
			require.Equal(t, tt.wantStates, states)
			require.True(t, sub.Final())
			require.Equal(t, tt.wantProblem, sub.Problem)
			require.Equal(t, 1, srv.Sim.Counters().Effects["send-test-submission "+ars+"/"+service])
		})
	}
}

func TestRejectionAppliesToSubmissionsSentWhileSet(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, simulator.Config{TestPolls: -1}, nil)
	tenant, err := c.CreateTenant(t.Context(), "tenant", tenantReq)
	require.NoError(t, err)
	req := provider.TestSubmissionRequest{TenantID: tenant.ID, ARS: ars, ServiceKey: service, Transport: "email"}

	srv.Sim.RejectTests(ars, systems.Problem{Title: "rejected"})
	rejected, err := c.SendTestSubmission(t.Context(), "a", req)
	require.NoError(t, err)
	srv.Sim.ClearRejections()
	accepted, err := c.SendTestSubmission(t.Context(), "b", req)
	require.NoError(t, err)

	got, err := c.TestSubmission(t.Context(), rejected.ID)
	require.NoError(t, err)
	require.Equal(t, provider.StateRejected, got.State)
	got, err = c.TestSubmission(t.Context(), accepted.ID)
	require.NoError(t, err)
	require.Equal(t, provider.StateAccepted, got.State)
	require.Nil(t, got.Problem)
}

func TestTestSubmissionErrors(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, simulator.Config{}, nil)
	tenant, err := c.CreateTenant(t.Context(), "tenant", tenantReq)
	require.NoError(t, err)

	_, err = c.TestSubmission(t.Context(), "unknown")
	e := requireSystemError(t, err, 404, false)
	require.Contains(t, e.Problem.Detail, "unknown")

	_, err = c.TestSubmission(t.Context(), "")
	requireSystemError(t, err, 0, false)

	_, err = c.SendTestSubmission(t.Context(), "s1", provider.TestSubmissionRequest{
		TenantID: "unknown", ARS: ars, ServiceKey: service, Transport: "email"})
	requireSystemError(t, err, 404, false)

	_, err = c.SendTestSubmission(t.Context(), "s2", provider.TestSubmissionRequest{
		TenantID: tenant.ID, ARS: ars, ServiceKey: service, Transport: "fit-connect"})
	e = requireSystemError(t, err, 422, false)
	require.Contains(t, e.Problem.Detail, "destinationId")

	_, err = c.SendTestSubmission(t.Context(), "s3", provider.TestSubmissionRequest{
		TenantID: tenant.ID, ARS: "051110000000", ServiceKey: service, Transport: "email"})
	e = requireSystemError(t, err, 422, false)
	require.Contains(t, e.Problem.Detail, "tenantId")

	srv.Sim.AddFault(simulator.Fault{Method: http.MethodGet, Status: 503, Times: 1})
	_, err = c.TestSubmission(t.Context(), "unknown")
	requireSystemError(t, err, 503, true)
}

func TestSwitchToProduction(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, simulator.Config{}, nil)
	tenant, err := c.CreateTenant(t.Context(), "tenant", tenantReq)
	require.NoError(t, err)

	srv.Sim.AddFault(simulator.Fault{PathPrefix: "/v1/tenants/" + tenant.ID, Status: 504, Times: 1, AfterApply: true})
	err = c.SwitchToProduction(t.Context(), "golive", tenant.ID)
	requireSystemError(t, err, 504, true)
	require.NoError(t, c.SwitchToProduction(t.Context(), "golive", tenant.ID))
	require.NoError(t, c.SwitchToProduction(t.Context(), "golive", tenant.ID))
	require.Equal(t, 1, srv.Sim.Counters().Effects["switch-to-production "+ars+"/"+service])

	err = c.SwitchToProduction(t.Context(), "other", "no-such-tenant")
	requireSystemError(t, err, 404, false)
	err = c.SwitchToProduction(t.Context(), "", tenant.ID)
	requireSystemError(t, err, 0, false)
	err = c.SwitchToProduction(t.Context(), "k", "")
	requireSystemError(t, err, 0, false)
}
