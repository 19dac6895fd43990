package integration

// Every exchange the tests have with the API goes through apiClient, whose transport
// validates request and response against the API's OpenAPI description
// (api/openapi.json, served at /api/v1/openapi.json): the answers of the real server, over
// real HTTP, with Temporal and PostgreSQL behind it, error answers included. A deviation
// fails the test that made the call, so parallel tests blame the right one.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/require"
)

// apiSpecFile is the description the API embeds and serves.
const apiSpecFile = "../api/openapi.json"

// apiContract is the loaded description and what validates against it.
type apiContract struct {
	doc    *openapi3.T
	router routers.Router
	opts   *openapi3filter.Options
}

var loadAPIContract = sync.OnceValues(func() (*apiContract, error) {
	doc, err := openapi3.NewLoader().LoadFromFile(apiSpecFile)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", apiSpecFile, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("%s is not valid OpenAPI: %w", apiSpecFile, err)
	}
	router, err := gorillamux.NewRouter(doc) // servers: "/", so any host matches
	if err != nil {
		return nil, fmt.Errorf("route %s: %w", apiSpecFile, err)
	}
	return &apiContract{doc: doc, router: router, opts: &openapi3filter.Options{
		MultiError:                        true,
		IncludeResponseStatus:             true, // a status the description does not list is a deviation
		RejectWhenRequestBodyNotSpecified: true,
		AuthenticationFunc:                bearerGiven,
		SchemaValidationOptions:           doc.GetSchemaValidationOptions(),
	}}, nil
})

// bearerGiven accepts a request that carries a bearer token; whether the server knows the
// token is its business (an unknown token is a valid request answered 401).
func bearerGiven(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	tok, ok := strings.CutPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(tok) == "" {
		return errors.New("no bearer token")
	}
	return nil
}

// check validates one exchange and returns what deviates from the description ("" when
// nothing does) and whether the exchange was the API's at all. The response must conform
// whatever the request; a request the description calls invalid (the bad-input tests send
// those on purpose) must have been refused with a 4xx; a path under /api/ that the
// description lacks must have been answered with the API's JSON 404.
func (c *apiContract) check(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) (problem string, requestInvalid, api bool) {
	vreq := req.Clone(context.Background())
	vreq.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(reqBody)), nil }
	vreq.Body, _ = vreq.GetBody()
	vreq.ContentLength = int64(len(reqBody))
	if len(reqBody) > 0 && vreq.Header.Get("Content-Type") == "" {
		vreq.Header.Set("Content-Type", "application/json") // the API reads JSON whatever the header says
	}
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		if !strings.HasPrefix(req.URL.Path, "/api/") {
			return "", false, false
		}
		var body any
		switch {
		case resp.StatusCode != http.StatusNotFound:
			return fmt.Sprintf("not an operation of openapi.json (%v), yet answered %d", err, resp.StatusCode), true, true
		case json.Unmarshal(respBody, &body) != nil:
			return "the 404 of an unknown route is not JSON", true, true
		}
		if err := c.doc.Components.Schemas["Error"].Value.VisitJSON(body); err != nil {
			return fmt.Sprintf("the 404 of an unknown route is not an Error: %v", err), true, true
		}
		return "", true, true
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: c.opts}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: c.opts}
	out.SetBodyBytes(respBody)
	var problems []string
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		problems = append(problems, "response: "+err.Error())
	}
	if reqErr != nil && (resp.StatusCode < 400 || resp.StatusCode >= 500) {
		problems = append(problems, fmt.Sprintf("request is invalid per openapi.json (%v), yet answered %d", reqErr, resp.StatusCode))
	}
	return strings.Join(problems, "\n"), reqErr != nil, true
}

// contractTransport validates each exchange of one test with the API and reports a
// deviation (apiClient: with t.Errorf, so the test fails); the caller still gets the
// response, body unread, to check it as it would without validation.
type contractTransport struct {
	report func(format string, args ...any)
	next   http.RoundTripper
	// exchanges counts the API exchanges validated; refused those of them that were
	// requests the description calls invalid, refused by the server as they must be.
	exchanges, refused atomic.Int64
}

// The package's totals, for the log.
var contractTotal struct{ exchanges, refused atomic.Int64 }

var (
	contractMu         sync.Mutex
	contractTransports = map[*testing.T]*contractTransport{}
)

// apiClient returns a client for the API whose every exchange is validated against
// openapi.json; a deviation fails t. It is http.DefaultClient otherwise.
func apiClient(t *testing.T) *http.Client {
	contractMu.Lock()
	defer contractMu.Unlock()
	ct := contractTransports[t]
	if ct == nil {
		ct = &contractTransport{report: t.Errorf, next: http.DefaultTransport}
		contractTransports[t] = ct
		t.Cleanup(func() {
			contractMu.Lock()
			delete(contractTransports, t)
			contractMu.Unlock()
			t.Logf("openapi.json: %d API exchanges validated (%d invalid requests refused as they should be); package so far: %d",
				ct.exchanges.Load(), ct.refused.Load(), contractTotal.exchanges.Load())
		})
	}
	return &http.Client{Transport: ct}
}

// RoundTrip implements http.RoundTripper.
func (ct *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("contract transport: read request body: %w", err)
		}
		reqBody = b
	}
	send := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		send.Body = io.NopCloser(bytes.NewReader(reqBody))
		send.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(reqBody)), nil }
	}
	resp, err := ct.next.RoundTrip(send)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("contract transport: read response body: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))

	c, err := loadAPIContract()
	if err != nil {
		ct.report("openapi.json: %v", err)
		return resp, nil
	}
	problem, invalid, api := c.check(req, reqBody, resp, respBody)
	if !api {
		return resp, nil
	}
	ct.exchanges.Add(1)
	contractTotal.exchanges.Add(1)
	if invalid && problem == "" {
		ct.refused.Add(1)
		contractTotal.refused.Add(1)
	}
	if problem != "" {
		sent := ""
		if len(reqBody) > 0 {
			sent = " with " + clip(reqBody)
		}
		ct.report("openapi.json: %s %s%s answered %d: %s\n%s",
			req.Method, req.URL.RequestURI(), sent, resp.StatusCode, clip(respBody), problem)
	}
	return resp, nil
}

// clip shortens a body for a failure message.
func clip(b []byte) string {
	const limit = 600
	if len(b) > limit {
		return fmt.Sprintf("%s… (%d bytes)", b[:limit], len(b))
	}
	return string(b)
}

// TestContractTransportReportsDeviations checks the checker, against a server that
// answers what the description forbids: each deviation is reported, conforming exchanges
// are not, and the caller reads the body the server sent.
func TestContractTransportReportsDeviations(t *testing.T) {
	t.Parallel()
	const runs = `{"items":[],"next_cursor":null}`
	answers := map[string]struct {
		status int
		body   string
	}{
		"/api/v1/services":       {http.StatusOK, `{"items":[]}`},                             // next_cursor missing
		"/api/v1/municipalities": {http.StatusTeapot, `{"error":"teapot"}`},                   // undocumented status
		"/api/v1/rollins":        {http.StatusOK, runs},                                       // conforms, or accepts a bad filter
		"/api/v1/campaigns/x":    {http.StatusOK, `{"error":"not a campaign"}`},               // wrong shape
		"/api/v1/nothing":        {http.StatusOK, `{}`},                                       // unknown route not 404
		"/api/v1/elsewhere":      {http.StatusNotFound, `{"error":"no route GET /api/v1/x"}`}, // as the API answers
		"/healthz":               {http.StatusOK, `{"status":"ok"}`},                          // conforms
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answers[r.URL.Path]
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	defer srv.Close()
	var reports []string
	ct := &contractTransport{next: http.DefaultTransport, report: func(format string, args ...any) {
		reports = append(reports, fmt.Sprintf(format, args...))
	}}
	client := &http.Client{Transport: ct}
	for _, tc := range []struct {
		target, says string // says: "" when the exchange conforms
	}{
		{"/api/v1/services", `property "next_cursor" is missing`},
		{"/api/v1/municipalities", "status is not supported"},
		{"/api/v1/rollins?state=running", ""},
		{"/api/v1/rollins?state=done", "yet answered 200"},
		{"/api/v1/campaigns/x", `property "id" is missing`},
		{"/api/v1/nothing", "not an operation of openapi.json"},
		{"/api/v1/elsewhere", ""},
		{"/healthz", ""},
	} {
		before := len(reports)
		req, err := http.NewRequest(http.MethodGet, srv.URL+tc.target, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer some-token")
		resp, err := client.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, answers[req.URL.Path].body, string(body), "the caller reads what the server sent")
		if tc.says == "" {
			require.Len(t, reports, before, "%s conforms: %v", tc.target, reports[before:])
			continue
		}
		require.Len(t, reports, before+1, "%s deviates", tc.target)
		require.Contains(t, reports[before], tc.says)
	}
	require.EqualValues(t, 8, ct.exchanges.Load())
}
