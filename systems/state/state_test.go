package state_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/systems"
	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/systems/state"
)

const (
	ars     = "055150000000"
	service = "99050012104000"
	destID  = "00000003-0000-4000-8000-000000000001"
)

var linkReq = state.PortalLinkRequest{
	ARS: ars, ServiceKey: service, OrgUnitID: "ou-4711", DestinationID: destID, Transport: "fit-connect",
}

func setup(t *testing.T, cfg simulator.Config, hc *http.Client) (*state.Client, *simulator.Server) {
	t.Helper()
	srv, err := simulator.Start(simulator.State, cfg, "")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	c, err := state.New(srv.URL, hc)
	require.NoError(t, err)
	return c, srv
}

func requireSystemError(t *testing.T, err error, status int, retryable bool) *systems.Error {
	t.Helper()
	var e *systems.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, state.System, e.System)
	require.Equal(t, status, e.Status, "error: %v", err)
	require.Equal(t, retryable, systems.IsRetryable(err), "error: %v", err)
	return e
}

func TestPortalLinkAppearsInRoutingAfterLag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		lag  int
	}{
		{"no lag", 0},
		{"lag of three polls", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, srv := setup(t, simulator.Config{RoutingLag: tt.lag}, nil)

			before, err := c.Routes(t.Context(), service, ars)
			require.NoError(t, err)
			require.Equal(t, state.RouteList{Routes: []state.Route{}}, before, "nothing before the link")

			link, err := c.CreatePortalLink(t.Context(), "link", linkReq)
			require.NoError(t, err)
			require.NotEmpty(t, link.ID)

			for i := range tt.lag {
				l, err := c.Routes(t.Context(), service, ars)
				require.NoError(t, err)
				require.Zero(t, l.TotalCount, "poll %d is still inside the lag", i+1)
				require.False(t, l.Has(destID))
			}
			l, err := c.Routes(t.Context(), service, ars)
			require.NoError(t, err)
			require.Equal(t, 1, l.Count)
			require.Equal(t, 1, l.TotalCount)
			require.Zero(t, l.Offset)
			require.True(t, l.Has(destID))
			require.Len(t, strings.Split(l.Routes[0].DestinationSignature, "."), 3, "a compact JWS")
			require.Contains(t, l.Routes[0].DestinationName, "ou-4711")

			other, err := c.Routes(t.Context(), "99050012105000", ars)
			require.NoError(t, err)
			require.Zero(t, other.TotalCount, "another service is not routed")

			require.Equal(t, tt.lag+3, srv.Sim.Counters().Requests["GET /routes"])
		})
	}
}

func TestRoutesErrors(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, simulator.Config{}, nil)

	_, err := c.Routes(t.Context(), "12345", ars)
	e := requireSystemError(t, err, 400, false)
	require.Contains(t, e.Problem.Detail, "leikaKey")

	_, err = c.Routes(t.Context(), service, "0551")
	e = requireSystemError(t, err, 400, false)
	require.Contains(t, e.Problem.Detail, "ars")

	// The area rule the OpenAPI document states only in prose is the client's to keep.
	_, err = c.Routes(t.Context(), service, "")
	requireSystemError(t, err, 0, false)
	require.ErrorContains(t, err, "exactly one of ars, ags, areaId")

	// FIT-Connect's Routing API throttles with 429 and RateLimit headers.
	srv.Sim.AddFault(simulator.Fault{Method: http.MethodGet, PathPrefix: "/routes", Status: 429, Times: 1,
		Headers: map[string]string{"RateLimit-Limit": "10", "RateLimit-Remaining": "0", "RateLimit-Reset": "3"}})
	_, err = c.Routes(t.Context(), service, ars)
	e = requireSystemError(t, err, 429, true)
	require.Equal(t, 3*time.Second, e.RetryAfter)

	_, err = c.Routes(t.Context(), service, ars)
	require.NoError(t, err)
}

func TestCreatePortalLink(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, simulator.Config{}, nil)

	srv.Sim.AddFault(simulator.Fault{PathPrefix: "/pvog/", Status: 500, Times: 1, AfterApply: true})
	_, err := c.CreatePortalLink(t.Context(), "link", linkReq)
	requireSystemError(t, err, 500, true)
	first, err := c.CreatePortalLink(t.Context(), "link", linkReq)
	require.NoError(t, err)
	again, err := c.CreatePortalLink(t.Context(), "link", linkReq)
	require.NoError(t, err)
	require.Equal(t, first, again)

	xta := linkReq
	xta.Transport, xta.DestinationID, xta.ServiceKey = "xta", "", "99050012105000"
	_, err = c.CreatePortalLink(t.Context(), "xta-link", xta)
	require.NoError(t, err, "XTA needs no destination")

	bad := linkReq
	bad.DestinationID = ""
	_, err = c.CreatePortalLink(t.Context(), "bad", bad)
	e := requireSystemError(t, err, 422, false)
	require.Contains(t, e.Problem.Detail, "destinationId")

	require.Equal(t, map[string]int{
		"create-portal-link " + ars + "/" + service:     1,
		"create-portal-link " + ars + "/99050012105000": 1,
	}, srv.Sim.Counters().Effects)
}

func TestActivatePortalLink(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, simulator.Config{}, nil)
	link, err := c.CreatePortalLink(t.Context(), "link", linkReq)
	require.NoError(t, err)

	require.NoError(t, c.ActivatePortalLink(t.Context(), "activate", link.ID))
	require.NoError(t, c.ActivatePortalLink(t.Context(), "activate", link.ID))
	require.Equal(t, 1, srv.Sim.Counters().Effects["activate-portal-link "+ars+"/"+service])

	err = c.ActivatePortalLink(t.Context(), "activate-2", "missing")
	requireSystemError(t, err, 404, false)
	err = c.ActivatePortalLink(t.Context(), "activate-3", "")
	requireSystemError(t, err, 0, false)
	err = c.ActivatePortalLink(t.Context(), "", link.ID)
	requireSystemError(t, err, 0, false)
}

func TestConfirmDVDV(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		req        state.DVDVRequest
		wantStatus int
		wantDetail string
	}{
		{"ok", state.DVDVRequest{ARS: ars, ServiceKey: service, OrgKey: "dvv055150000000"}, 0, ""},
		{"bad org key", state.DVDVRequest{ARS: ars, ServiceKey: service, OrgKey: "055150000000"}, 422, "orgKey"},
		{"bad ARS", state.DVDVRequest{ARS: "x", ServiceKey: service, OrgKey: "dvv055150000000"}, 422, "ars"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, srv := setup(t, simulator.Config{}, nil)
			err := c.ConfirmDVDV(t.Context(), "dvdv", tt.req)
			if tt.wantStatus == 0 {
				require.NoError(t, err)
				require.NoError(t, c.ConfirmDVDV(t.Context(), "dvdv", tt.req))
				require.Equal(t, map[string]int{"confirm-dvdv " + ars + "/" + service: 1}, srv.Sim.Counters().Effects)
				return
			}
			e := requireSystemError(t, err, tt.wantStatus, false)
			require.Contains(t, e.Problem.Detail, tt.wantDetail)
		})
	}
}

func TestConfigurePayment(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, simulator.Config{ErrorRate: 1}, nil)
	req := state.PaymentRequest{ARS: ars, ServiceKey: service, Account: "epay-0551-01"}

	err := c.ConfigurePayment(t.Context(), "pay", req)
	requireSystemError(t, err, 503, true)
	require.Empty(t, srv.Sim.Counters().Effects)

	c, srv = setup(t, simulator.Config{}, nil)
	require.NoError(t, c.ConfigurePayment(t.Context(), "pay", req))
	require.NoError(t, c.ConfigurePayment(t.Context(), "pay", req))
	require.Equal(t, map[string]int{"configure-payment " + ars + "/" + service: 1}, srv.Sim.Counters().Effects)

	req.Account = ""
	err = c.ConfigurePayment(t.Context(), "pay", req)
	e := requireSystemError(t, err, 422, false)
	require.Contains(t, e.Problem.Detail, "Idempotency-Key", "same key with a different body")
	err = c.ConfigurePayment(t.Context(), "pay-2", req)
	e = requireSystemError(t, err, 422, false)
	require.Contains(t, e.Problem.Detail, "account")
}

func TestTimeoutIsRetryable(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, simulator.Config{Latency: 200 * time.Millisecond}, &http.Client{Timeout: 30 * time.Millisecond})
	_, err := c.Routes(t.Context(), service, ars)
	requireSystemError(t, err, 0, true)
}

// TestAllRoutesLaterPageFails checks that a failure on a later page keeps its
// classification (a 503 stays retryable), names the page, and returns no partial list
// that could pass for a complete one.
func TestAllRoutesLaterPageFails(t *testing.T) {
	t.Parallel()
	const firstPage = `{"count":2,"offset":0,"totalCount":3,"routes":[` +
		`{"destinationId":"00000003-0000-4000-8000-000000000001","destinationSignature":"a.b.c"},` +
		`{"destinationId":"00000003-0000-4000-8000-000000000002","destinationSignature":"a.b.c"}]}`
	var (
		mu      sync.Mutex
		offsets []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		offsets = append(offsets, r.URL.Query().Get("offset"))
		mu.Unlock()
		if r.URL.Query().Get("offset") == "" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(firstPage))
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	c, err := state.New(srv.URL, nil)
	require.NoError(t, err)

	l, err := c.AllRoutes(t.Context(), state.RouteQuery{LeikaKey: service, ARS: ars, Limit: 2})
	requireSystemError(t, err, http.StatusServiceUnavailable, true)
	require.ErrorContains(t, err, "page of routes at offset 2")
	require.Zero(t, l.Count)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"", "2"}, offsets)
}
