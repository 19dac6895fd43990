package state_test

// The contract test runs the real state client against the real state simulator over
// HTTP and validates every Routing API exchange between them against FITKO's published
// OpenAPI document (routing-api.yaml), so that neither side can drift from FIT-Connect's
// routing service without a failing test. The document is not part of the repository;
// it is read from the shared specs directory next to it, or from ROLLIN_ROUTING_API_SPEC.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/systems/state"
)

// routingSpecDefault is where the shared specs lie relative to this package's directory
// (systems/state inside the repository, which sits next to shared/).
const routingSpecDefault = "../../../shared/specs/fit-connect/routing-api.yaml"

// routingSpec returns the bytes of routing-api.yaml, from the shared specs next to the
// repository or from ROLLIN_ROUTING_API_SPEC. A missing document fails the test: the
// contract is what it checks.
func routingSpec(t *testing.T) []byte {
	t.Helper()
	path, ok := os.LookupEnv("ROLLIN_ROUTING_API_SPEC")
	if !ok {
		path = routingSpecDefault
	}
	b, err := os.ReadFile(path) // #nosec G304 -- a test reading the API description it is told to
	require.NoError(t, err, "read FITKO's Routing API description (set ROLLIN_ROUTING_API_SPEC to its path)")
	return b
}

// exchange is one request and response that passed the validating transport, with what
// the validator said about each side.
type exchange struct {
	method, target string
	status         int
	body           string
	requestErr     error
	responseErr    error
}

func (e exchange) String() string {
	return fmt.Sprintf("%s %s -> %d %s\n  request: %v\n  response: %v", e.method, e.target, e.status, e.body,
		e.requestErr, e.responseErr)
}

// validatingTransport is an http.RoundTripper that validates each request against the
// OpenAPI document before sending it and each response after receiving it, and records
// both verdicts. It never changes the exchange: the client sees exactly what the server
// sent, so the test observes the client's real behaviour.
type validatingTransport struct {
	router routers.Router
	opts   *openapi3filter.Options
	next   http.RoundTripper

	mu        sync.Mutex
	exchanges []exchange
}

// newValidatingTransport loads spec with its servers replaced by baseURL (the simulator
// serves the API at its root, FITKO under /v1/), so that the router finds the operation.
func newValidatingTransport(t *testing.T, spec []byte, baseURL string) *validatingTransport {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	require.NoError(t, err, "load Routing API description")
	require.NoError(t, doc.Validate(context.Background()), "Routing API description is valid OpenAPI")
	// Formats kin-openapi leaves unchecked unless told: destinationId is a UUID; problem
	// instances and the route's URLs are URIs.
	doc.SetStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562))
	doc.SetStringFormatValidator("uri", openapi3.NewCallbackValidator(func(s string) error {
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" {
			return fmt.Errorf("not an absolute URI: %q", s)
		}
		return nil
	}))
	doc.Servers = openapi3.Servers{{URL: baseURL}}
	router, err := gorillamux.NewRouter(doc)
	require.NoError(t, err, "route the Routing API description")
	return &validatingTransport{
		router: router,
		opts: &openapi3filter.Options{
			MultiError:              true,
			IncludeResponseStatus:   true, // a status the API does not document is a deviation
			AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
			SchemaValidationOptions: doc.GetSchemaValidationOptions(),
		},
		next: http.DefaultTransport,
	}
}

// RoundTrip implements http.RoundTripper.
func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ex := exchange{method: req.Method, target: req.URL.RequestURI()}
	route, pathParams, err := v.router.FindRoute(req)
	var in *openapi3filter.RequestValidationInput
	if err != nil {
		ex.requestErr = fmt.Errorf("not an operation of the Routing API: %w", err)
	} else {
		in = &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route, Options: v.opts}
		ex.requestErr = openapi3filter.ValidateRequest(req.Context(), in)
	}

	resp, err := v.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read response in validating transport: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	ex.status, ex.body = resp.StatusCode, string(body)
	if in != nil {
		out := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in,
			Status:                 resp.StatusCode,
			Header:                 resp.Header,
			Options:                v.opts,
		}
		out.SetBodyBytes(body)
		ex.responseErr = openapi3filter.ValidateResponse(req.Context(), out)
	}

	v.mu.Lock()
	v.exchanges = append(v.exchanges, ex)
	v.mu.Unlock()
	return resp, nil
}

// recorded returns the exchanges so far.
func (v *validatingTransport) recorded() []exchange {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]exchange(nil), v.exchanges...)
}

// contractEnv is a state simulator, a plain client for set-up calls outside the Routing
// API, and a client whose every call goes through the validating transport.
type contractEnv struct {
	srv   *simulator.Server
	setup *state.Client
	c     *state.Client
	vt    *validatingTransport
}

func newContractEnv(t *testing.T, spec []byte) contractEnv {
	t.Helper()
	srv, err := simulator.Start(simulator.State, simulator.Config{}, "")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	setup, err := state.New(srv.URL, nil)
	require.NoError(t, err)
	vt := newValidatingTransport(t, spec, srv.URL)
	c, err := state.New(srv.URL, &http.Client{Transport: vt, Timeout: 10 * time.Second})
	require.NoError(t, err)
	return contractEnv{srv: srv, setup: setup, c: c, vt: vt}
}

// link enters a route for (service, ars) to destination through the editorial system.
func (e contractEnv) link(t *testing.T, service, ars, destination string) {
	t.Helper()
	_, err := e.setup.CreatePortalLink(t.Context(), "link-"+service+"-"+ars+"-"+destination, state.PortalLinkRequest{
		ARS: ars, ServiceKey: service, OrgUnitID: "ou-" + destination[len(destination)-4:],
		DestinationID: destination, Transport: "fit-connect",
	})
	require.NoError(t, err)
}

func destination(n int) string { return fmt.Sprintf("00000003-0000-4000-8000-%012d", n) }

func TestRoutingAPIContract(t *testing.T) {
	t.Parallel()
	spec := routingSpec(t)

	tests := []struct {
		name string
		// arrange sets up the simulator; act calls the client and checks its result.
		arrange func(t *testing.T, e contractEnv)
		act     func(t *testing.T, e contractEnv)
		// wantExchanges is how many Routing API calls the client makes.
		wantExchanges int
		// wantStatuses are the statuses the simulator answers, in order.
		wantStatuses []int
		// wantInvalidRequest is a substring of the validator's verdict on a request the
		// test sends on purpose against the document (only the bad-parameter case).
		wantInvalidRequest string
		// knownDeviation maps an exchange to the validator's verdict on a response that
		// is known to deviate and cannot be fixed in the files this change may touch; the
		// test fails both if the verdict differs and if the deviation disappears, so the
		// entry is removed together with the fix.
		knownDeviation map[int]string
	}{
		{
			name:    "route found by ars",
			arrange: func(t *testing.T, e contractEnv) { e.link(t, service, ars, destID) },
			act: func(t *testing.T, e contractEnv) {
				l, err := e.c.Routes(t.Context(), service, ars)
				require.NoError(t, err)
				require.Equal(t, 1, l.TotalCount)
				require.True(t, l.Has(destID))
				require.Equal(t, "PVOG", l.Routes[0].Origin)
			},
			wantExchanges: 1, wantStatuses: []int{200},
		},
		{
			name:    "route found by ags",
			arrange: func(t *testing.T, e contractEnv) { e.link(t, service, ars, destID) },
			act: func(t *testing.T, e contractEnv) {
				l, err := e.c.RoutePage(t.Context(), state.RouteQuery{LeikaKey: service, AGS: "05515000"})
				require.NoError(t, err)
				require.True(t, l.Has(destID))
			},
			wantExchanges: 1, wantStatuses: []int{200},
		},
		{
			name:    "no route yet",
			arrange: func(t *testing.T, e contractEnv) { e.link(t, service, ars, destID) },
			act: func(t *testing.T, e contractEnv) {
				l, err := e.c.Routes(t.Context(), "99050012105000", ars)
				require.NoError(t, err)
				require.Equal(t, state.RouteList{Routes: []state.Route{}}, l)
			},
			wantExchanges: 1, wantStatuses: []int{200},
		},
		{
			name: "no route for an area id",
			act: func(t *testing.T, e contractEnv) {
				l, err := e.c.RoutePage(t.Context(), state.RouteQuery{LeikaKey: service, AreaID: "1024"})
				require.NoError(t, err)
				require.Zero(t, l.TotalCount)
			},
			wantExchanges: 1, wantStatuses: []int{200},
		},
		{
			name: "paging over five routes two at a time",
			arrange: func(t *testing.T, e contractEnv) {
				for i := range 5 {
					e.link(t, service, ars, destination(i+1))
				}
			},
			act: func(t *testing.T, e contractEnv) {
				page, err := e.c.RoutePage(t.Context(), state.RouteQuery{LeikaKey: service, ARS: ars, Offset: 4, Limit: 2})
				require.NoError(t, err)
				require.Equal(t, state.RouteList{Count: 1, Offset: 4, TotalCount: 5, Routes: page.Routes}, page)
				require.True(t, page.Has(destination(5)))

				all, err := e.c.AllRoutes(t.Context(), state.RouteQuery{LeikaKey: service, ARS: ars, Limit: 2})
				require.NoError(t, err)
				require.Equal(t, 5, all.Count)
				require.Equal(t, 5, all.TotalCount)
				for i := range 5 {
					require.True(t, all.Has(destination(i+1)), "destination %d", i+1)
				}
			},
			wantExchanges: 4, wantStatuses: []int{200, 200, 200, 200},
		},
		{
			name: "bad leikaKey is a problem+json 400",
			act: func(t *testing.T, e contractEnv) {
				_, err := e.c.Routes(t.Context(), "12345", ars)
				e400 := requireSystemError(t, err, http.StatusBadRequest, false)
				require.NotNil(t, e400.Problem)
				require.Equal(t, http.StatusBadRequest, e400.Problem.Status)
				require.Contains(t, e400.Problem.Detail, "leikaKey")
			},
			wantExchanges: 1, wantStatuses: []int{400},
			wantInvalidRequest: `parameter "leikaKey" in query has an error`,
		},
		{
			name: "429 with RateLimit headers, then the answer",
			arrange: func(t *testing.T, e contractEnv) {
				e.link(t, service, ars, destID)
				e.srv.Sim.AddFault(simulator.Fault{Method: http.MethodGet, PathPrefix: "/routes", Status: 429, Times: 1,
					Headers: map[string]string{"RateLimit-Limit": "10", "RateLimit-Remaining": "0", "RateLimit-Reset": "3"}})
			},
			act: func(t *testing.T, e contractEnv) {
				_, err := e.c.Routes(t.Context(), service, ars)
				e429 := requireSystemError(t, err, http.StatusTooManyRequests, true)
				require.Equal(t, 3*time.Second, e429.RetryAfter)

				l, err := e.c.Routes(t.Context(), service, ars)
				require.NoError(t, err)
				require.True(t, l.Has(destID))
			},
			wantExchanges: 2, wantStatuses: []int{429, 200},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newContractEnv(t, spec)
			if tt.arrange != nil {
				tt.arrange(t, e)
			}
			tt.act(t, e)

			got := e.vt.recorded()
			require.Len(t, got, tt.wantExchanges, "Routing API calls: %v", got)
			for i, ex := range got {
				require.Equal(t, tt.wantStatuses[i], ex.status, "exchange %d: %s", i, ex)
				if tt.wantInvalidRequest != "" {
					require.ErrorContains(t, ex.requestErr, tt.wantInvalidRequest, "exchange %d: %s", i, ex)
				} else {
					require.NoError(t, ex.requestErr, "request %d deviates from routing-api.yaml: %s", i, ex)
				}
				if want, ok := tt.knownDeviation[i]; ok {
					require.EqualError(t, ex.responseErr, want, "exchange %d: known deviation changed or fixed: %s", i, ex)
					t.Logf("KNOWN DEVIATION: %s %s -> %d: %v", ex.method, ex.target, ex.status, ex.responseErr)
					continue
				}
				require.NoError(t, ex.responseErr, "response %d deviates from routing-api.yaml: %s", i, ex)
				t.Logf("valid: %s %s -> %d", ex.method, ex.target, ex.status)
			}
		})
	}
}

// TestRoutingAPIContractCatchesDeviations proves the validating transport is not
// vacuous: answers that break the document in the ways a careless change would (a
// renamed or missing field, null for the list, a problem with the wrong media type) are
// reported, as are requests the client must never send.
func TestRoutingAPIContractCatchesDeviations(t *testing.T) {
	t.Parallel()
	spec := routingSpec(t)
	const sig = "aGVhZGVy.cGF5bG9hZA.c2ln"
	tests := []struct {
		name        string
		query       string
		status      int
		contentType string
		body        string
		wantRequest string
		wantResp    string
	}{
		{name: "renamed field", status: 200, contentType: "application/json",
			body:     `{"count":1,"offset":0,"totalCount":1,"routes":[{"destinationID":"` + destID + `","destinationSignature":"` + sig + `"}]}`,
			wantResp: "destinationId"},
		{name: "missing totalCount", status: 200, contentType: "application/json",
			body: `{"count":0,"offset":0,"routes":[]}`, wantResp: "totalCount"},
		{name: "null routes", status: 200, contentType: "application/json",
			body: `{"count":0,"offset":0,"totalCount":0,"routes":null}`, wantResp: "routes"},
		{name: "destinationId not a uuid", status: 200, contentType: "application/json",
			body:     `{"count":1,"offset":0,"totalCount":1,"routes":[{"destinationId":"dest-1-not-a-uuid-but-long-enough-xx","destinationSignature":"` + sig + `"}]}`,
			wantResp: "destinationId"},
		{name: "signature not a compact JWS", status: 200, contentType: "application/json",
			body:     `{"count":1,"offset":0,"totalCount":1,"routes":[{"destinationId":"` + destID + `","destinationSignature":"nope"}]}`,
			wantResp: "destinationSignature"},
		{name: "400 as plain json", status: 400, contentType: "application/json",
			body: `{"type":"x","title":"Bad Request","status":400}`, wantResp: "Content-Type"},
		{name: "problem without title", status: 400, contentType: "application/problem+json",
			body: `{"type":"x","status":400}`, wantResp: "title"},
		{name: "undocumented status", status: 404, contentType: "application/problem+json",
			body: `{"type":"x","title":"Not Found","status":404}`, wantResp: "status is not supported"},
		{name: "non-integer RateLimit-Reset", status: 429, contentType: "application/json", body: `{}`,
			wantResp: "RateLimit-Reset"},
		{name: "limit above 500", query: "leikaKey=" + service + "&ars=" + ars + "&limit=501",
			status: 200, contentType: "application/json", body: `{"count":0,"offset":0,"totalCount":0,"routes":[]}`,
			wantRequest: "limit"},
		{name: "ars of 4 digits", query: "leikaKey=" + service + "&ars=0551",
			status: 200, contentType: "application/json", body: `{"count":0,"offset":0,"totalCount":0,"routes":[]}`,
			wantRequest: "ars"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				if tt.name == "non-integer RateLimit-Reset" {
					w.Header().Set("RateLimit-Reset", "soon")
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			vt := newValidatingTransport(t, spec, srv.URL)
			q := tt.query
			if q == "" {
				q = "leikaKey=" + service + "&ars=" + ars
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/routes?"+q, nil)
			require.NoError(t, err)
			resp, err := (&http.Client{Transport: vt}).Do(req)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())

			got := vt.recorded()
			require.Len(t, got, 1)
			if tt.wantRequest != "" {
				require.ErrorContains(t, got[0].requestErr, tt.wantRequest)
			} else {
				require.NoError(t, got[0].requestErr)
			}
			if tt.wantResp != "" {
				require.ErrorContains(t, got[0].responseErr, tt.wantResp)
			}
		})
	}
}

// TestRoutingAPIClientRejectsIncompleteAnswers checks the client side of the contract
// where JSON decoding alone would not: an answer without a required property is a
// permanent error, not an empty list that would keep a run polling.
func TestRoutingAPIClientRejectsIncompleteAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
	}{
		{"no routes", `{"count":0,"offset":0,"totalCount":0}`, "lacks routes"},
		{"null routes", `{"count":0,"offset":0,"totalCount":0,"routes":null}`, "lacks routes"},
		{"no totalCount", `{"count":0,"offset":0,"routes":[]}`, "lacks totalCount"},
		{"route without signature", `{"count":1,"offset":0,"totalCount":1,"routes":[{"destinationId":"` + destID + `"}]}`,
			"lacks destinationId or destinationSignature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			c, err := state.New(srv.URL, nil)
			require.NoError(t, err)
			_, err = c.Routes(t.Context(), service, ars)
			requireSystemError(t, err, http.StatusOK, false)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// TestRouteQueryNeedsExactlyOneArea covers the rule the OpenAPI document states only in
// prose ("Es muss genau ein Parameter für das Gebiet gesetzt sein"), so the validator
// cannot: the client refuses such a query before sending it.
func TestRouteQueryNeedsExactlyOneArea(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		q    state.RouteQuery
		want string
	}{
		{"no area", state.RouteQuery{LeikaKey: service}, "exactly one of ars, ags, areaId, got 0"},
		{"two areas", state.RouteQuery{LeikaKey: service, ARS: ars, AGS: "05515000"}, "got 2"},
		{"negative offset", state.RouteQuery{LeikaKey: service, ARS: ars, Offset: -1}, "offset -1"},
		{"limit too large", state.RouteQuery{LeikaKey: service, ARS: ars, Limit: 501}, "limit 501"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, srv := setup(t, simulator.Config{}, nil)
			_, err := c.RoutePage(t.Context(), tt.q)
			requireSystemError(t, err, 0, false)
			require.ErrorContains(t, err, tt.want)
			require.Zero(t, srv.Sim.Counters().Requests["GET /routes"], "nothing sent")
		})
	}
}
