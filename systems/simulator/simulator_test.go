package simulator_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/systems"
	"github.com/rollin-efa/rollin/systems/simulator"
)

const (
	ars     = "055150000000"
	service = "99050012104000"
)

const tenantBody = `{"ars":"055150000000","serviceKey":"99050012104000","name":"Münster",` +
	`"fachverfahren":"OK.EWO","transport":"fit-connect"}`

// start serves a simulator for the test and closes it afterwards.
func start(t *testing.T, kind simulator.Kind, cfg simulator.Config) *simulator.Server {
	t.Helper()
	srv, err := simulator.Start(kind, cfg, "")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	return srv
}

// answer is a raw HTTP response, read completely.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) problem(t *testing.T) systems.Problem {
	t.Helper()
	require.Equal(t, "application/problem+json", a.header.Get("Content-Type"), "body: %s", a.body)
	var p systems.Problem
	require.NoError(t, json.Unmarshal(a.body, &p))
	require.Equal(t, a.status, p.Status)
	return p
}

func (a answer) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(a.body, v), "body: %s", a.body)
}

func call(t *testing.T, method, url, key, body string) answer {
	t.Helper()
	return authCall(t, method, url, "", key, body)
}

// authCall is call with a bearer token (none when tok is empty).
func authCall(t *testing.T, method, url, tok, key, body string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	require.NoError(t, err)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func TestIdempotencyContract(t *testing.T) {
	t.Parallel()
	srv := start(t, simulator.Provider, simulator.Config{})
	url := srv.URL + "/v1/tenants"

	missing := call(t, http.MethodPost, url, "", tenantBody)
	require.Equal(t, http.StatusBadRequest, missing.status)
	require.Contains(t, missing.problem(t).Detail, "Idempotency-Key")

	first := call(t, http.MethodPost, url, "k1", tenantBody)
	require.Equal(t, http.StatusCreated, first.status)
	require.Empty(t, first.header.Get("Idempotent-Replayed"))

	// Same key, same body (whitespace does not matter): the stored answer, no new effect.
	again := call(t, http.MethodPost, url, "k1", " "+tenantBody+"\n")
	require.Equal(t, http.StatusCreated, again.status)
	require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	require.JSONEq(t, string(first.body), string(again.body))

	// Same key, different body.
	other := call(t, http.MethodPost, url, "k1", strings.Replace(tenantBody, "Münster", "Bonn", 1))
	require.Equal(t, http.StatusUnprocessableEntity, other.status)
	require.Contains(t, other.problem(t).Detail, "Idempotency-Key")

	// A new key for the same logical effect applies it again: that is what the Effects
	// counter exists to catch.
	second := call(t, http.MethodPost, url, "k2", tenantBody)
	require.Equal(t, http.StatusCreated, second.status)
	require.NotEqual(t, string(first.body), string(second.body))

	c := srv.Sim.Counters()
	require.Equal(t, map[string]int{"create-tenant " + ars + "/" + service: 2}, c.Effects)
	require.Equal(t, map[string]int{"POST /v1/tenants": 5}, c.Requests)
	require.Equal(t, 2, c.Keys)
}

func TestConcurrentRequestsWithOneKeyApplyOnce(t *testing.T) {
	t.Parallel()
	srv := start(t, simulator.Provider, simulator.Config{Latency: 10 * time.Millisecond})
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		bodies = map[string]int{}
	)
	for range 16 {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/tenants", strings.NewReader(tenantBody))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Idempotency-Key", "same")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			mu.Lock()
			bodies[string(b)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	require.Len(t, bodies, 1, "every caller sees the same tenant")
	require.Equal(t, 1, srv.Sim.Counters().Effects["create-tenant "+ars+"/"+service])
}

func TestValidationProblemsNameTheField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		kind       simulator.Kind
		path       string
		body       string
		wantStatus int
		wantField  string
	}{
		{"malformed json", simulator.Provider, "/v1/tenants", `{"ars":`, 400, "request body"},
		{"unknown field", simulator.Provider, "/v1/tenants", `{"ARS_typo":"x"}`, 400, "ARS_typo"},
		{"bad ars", simulator.Provider, "/v1/tenants", strings.Replace(tenantBody, ars, "0551", 1), 422, "ars"},
		{"bad service key", simulator.Provider, "/v1/tenants", strings.Replace(tenantBody, service, "12345678901234", 1), 422, "serviceKey"},
		{"missing name", simulator.Provider, "/v1/tenants", strings.Replace(tenantBody, "Münster", "", 1), 422, "name"},
		{"bad transport", simulator.Provider, "/v1/tenants", strings.Replace(tenantBody, "fit-connect", "fax", 1), 422, "transport"},
		{"link without destination", simulator.State, "/pvog/v1/links",
			`{"ars":"055150000000","serviceKey":"99050012104000","orgUnitId":"ou-1","transport":"fit-connect"}`, 422, "destinationId"},
		{"bad dvdv key", simulator.State, "/dvdv/v1/entries",
			`{"ars":"055150000000","serviceKey":"99050012104000","orgKey":"dvdv:1"}`, 422, "orgKey"},
		{"agreement kind", simulator.Municipality, "/v1/agreements",
			`{"ars":"055150000000","kind":"lease","signedBy":"a","countersignedBy":"b"}`, 422, "kind"},
		{"notification ars", simulator.Municipality, "/v1/notifications",
			`{"ars":"05515","serviceKey":"99050012104000","recipient":"municipality","kind":"reminder","subject":"s","body":"b"}`,
			422, "ars"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := start(t, tt.kind, simulator.Config{})
			a := call(t, http.MethodPost, srv.URL+tt.path, "k", tt.body)
			require.Equal(t, tt.wantStatus, a.status, "body: %s", a.body)
			require.Contains(t, a.problem(t).Detail, tt.wantField)
			require.Empty(t, srv.Sim.Counters().Effects)
		})
	}
}

func TestUnknownRouteAndID(t *testing.T) {
	t.Parallel()
	srv := start(t, simulator.Provider, simulator.Config{})

	a := call(t, http.MethodGet, srv.URL+"/v2/nothing", "", "")
	require.Equal(t, http.StatusNotFound, a.status)
	a.problem(t)

	a = call(t, http.MethodGet, srv.URL+"/v1/test-submissions/nope", "", "")
	require.Equal(t, http.StatusNotFound, a.status)
	require.Contains(t, a.problem(t).Detail, "nope")

	c := srv.Sim.Counters()
	require.Equal(t, 1, c.Requests["GET /v2/nothing"])
	require.Equal(t, 1, c.Requests["GET /v1/test-submissions/{id}"])
}

func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		fault       simulator.Fault
		wantStatus  []int // of three identical requests with the same key
		wantEffects int
	}{
		{"twice before apply", simulator.Fault{Method: "POST", PathPrefix: "/v1/tenants", Status: 503, Times: 2},
			[]int{503, 503, 201}, 1},
		{"until cleared", simulator.Fault{Status: 500}, []int{500, 500, 500}, 0},
		{"other method", simulator.Fault{Method: "GET", Status: 500}, []int{201, 201, 201}, 1},
		{"other path", simulator.Fault{PathPrefix: "/v1/test-submissions", Status: 500}, []int{201, 201, 201}, 1},
		{"after apply once", simulator.Fault{PathPrefix: "/v1/", Status: 502, Times: 1, AfterApply: true},
			[]int{502, 201, 201}, 1},
		{"after apply always", simulator.Fault{Status: 504, AfterApply: true}, []int{504, 504, 504}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := start(t, simulator.Provider, simulator.Config{})
			srv.Sim.AddFault(tt.fault)
			var got []int
			for range 3 {
				got = append(got, call(t, http.MethodPost, srv.URL+"/v1/tenants", "k", tenantBody).status)
			}
			require.Equal(t, tt.wantStatus, got)
			require.Equal(t, tt.wantEffects, srv.Sim.Counters().Effects["create-tenant "+ars+"/"+service])
		})
	}
}

func TestControlEndpoints(t *testing.T) {
	t.Parallel()
	srv := start(t, simulator.Provider, simulator.Config{})

	a := call(t, http.MethodPost, srv.URL+"/_sim/faults", "",
		`{"method":"POST","pathPrefix":"/v1/tenants","status":429,"times":1,"headers":{"Retry-After":"4"}}`)
	require.Equal(t, http.StatusNoContent, a.status)
	a = call(t, http.MethodGet, srv.URL+"/_sim/faults", "", "")
	var faults []simulator.Fault
	a.json(t, &faults)
	require.Equal(t, []simulator.Fault{{Method: "POST", PathPrefix: "/v1/tenants", Status: 429, Times: 1,
		Headers: map[string]string{"Retry-After": "4"}}}, faults)

	a = call(t, http.MethodPost, srv.URL+"/v1/tenants", "k", tenantBody)
	require.Equal(t, http.StatusTooManyRequests, a.status)
	require.Equal(t, "4", a.header.Get("Retry-After"))

	require.Equal(t, http.StatusUnprocessableEntity, call(t, http.MethodPost, srv.URL+"/_sim/faults", "", `{"status":42}`).status)
	require.Equal(t, http.StatusBadRequest, call(t, http.MethodPost, srv.URL+"/_sim/faults", "", `{"stat":500}`).status)
	require.Equal(t, http.StatusNoContent, call(t, http.MethodPost, srv.URL+"/_sim/faults", "", `{"status":500}`).status)
	require.Equal(t, http.StatusNoContent, call(t, http.MethodDelete, srv.URL+"/_sim/faults", "", "").status)
	require.Equal(t, http.StatusCreated, call(t, http.MethodPost, srv.URL+"/v1/tenants", "k", tenantBody).status)

	a = call(t, http.MethodGet, srv.URL+"/_sim/counters", "", "")
	require.Equal(t, http.StatusOK, a.status)
	var c simulator.Counters
	a.json(t, &c)
	require.Equal(t, simulator.Counters{
		Requests: map[string]int{"POST /v1/tenants": 2},
		Effects:  map[string]int{"create-tenant " + ars + "/" + service: 1},
		Keys:     1,
	}, c, "control requests are not counted")
}

func TestRejectionsOverHTTP(t *testing.T) {
	t.Parallel()
	srv := start(t, simulator.Provider, simulator.Config{TestPolls: -1})
	a := call(t, http.MethodPost, srv.URL+"/_sim/rejections", "",
		`{"ars":"055150000000","problem":{"title":"Schema violation","status":422,"detail":"xml"}}`)
	require.Equal(t, http.StatusNoContent, a.status)

	var tenant struct{ ID string }
	call(t, http.MethodPost, srv.URL+"/v1/tenants", "t", tenantBody).json(t, &tenant)
	var sub struct {
		ID      string           `json:"id"`
		State   string           `json:"state"`
		Problem *systems.Problem `json:"problem"`
	}
	call(t, http.MethodPost, srv.URL+"/v1/test-submissions", "s",
		`{"tenantId":"`+tenant.ID+`","ars":"055150000000","serviceKey":"99050012104000","transport":"email"}`).json(t, &sub)
	require.Equal(t, "submitted", sub.State)

	call(t, http.MethodGet, srv.URL+"/v1/test-submissions/"+sub.ID, "", "").json(t, &sub)
	require.Equal(t, "rejected", sub.State, "TestPolls < 0 settles at the first GET")
	require.Equal(t, &systems.Problem{Title: "Schema violation", Status: 422, Detail: "xml"}, sub.Problem)

	require.Equal(t, http.StatusNoContent, call(t, http.MethodDelete, srv.URL+"/_sim/rejections", "", "").status)
	call(t, http.MethodPost, srv.URL+"/v1/test-submissions", "s2",
		`{"tenantId":"`+tenant.ID+`","ars":"055150000000","serviceKey":"99050012104000","transport":"email"}`).json(t, &sub)
	call(t, http.MethodGet, srv.URL+"/v1/test-submissions/"+sub.ID, "", "").json(t, &sub)
	require.Equal(t, "accepted", sub.State)
}

func TestErrorRateIsDeterministic(t *testing.T) {
	t.Parallel()
	statuses := func(seed int64) []int {
		sim := simulator.New(simulator.State, simulator.Config{ErrorRate: 0.5, Seed: seed})
		var out []int
		for range 40 {
			rec := &recorder{header: http.Header{}}
			req, err := http.NewRequest(http.MethodGet, "/routes?leikaKey=99050012104000&ars=055150000000", nil)
			require.NoError(t, err)
			sim.ServeHTTP(rec, req)
			out = append(out, rec.status)
		}
		return out
	}
	a, b := statuses(7), statuses(7)
	require.Equal(t, a, b)
	require.Contains(t, a, http.StatusOK)
	require.Contains(t, a, http.StatusServiceUnavailable)
	require.NotEqual(t, a, statuses(8))
}

// recorder is a minimal http.ResponseWriter, so this package's tests stay free of
// httptest, as the simulators are meant to be tested over real sockets elsewhere.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(status int) { r.status = status }

func TestStartAndNewRejectUnknownKind(t *testing.T) {
	t.Parallel()
	_, err := simulator.Start("fax", simulator.Config{}, "")
	require.ErrorContains(t, err, "unknown kind")
	require.Panics(t, func() { simulator.New("fax", simulator.Config{}) })
	_, err = simulator.Start(simulator.State, simulator.Config{}, "256.0.0.1:0")
	require.Error(t, err)
}

func TestCloseCutsLatencyShort(t *testing.T) {
	t.Parallel()
	srv, err := simulator.Start(simulator.Municipality, simulator.Config{Latency: time.Minute}, "")
	require.NoError(t, err)
	done := make(chan int, 1)
	go func() {
		resp, err := http.Post(srv.URL+"/v1/notifications", "application/json", strings.NewReader(`{}`))
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	require.Eventually(t, func() bool { return srv.Sim.Counters().Requests["POST /v1/notifications"] == 1 },
		5*time.Second, 5*time.Millisecond)
	start := time.Now()
	require.NoError(t, srv.Close())
	require.NoError(t, srv.Close(), "closing twice is harmless")
	require.Less(t, time.Since(start), 3*time.Second)
	require.Equal(t, http.StatusServiceUnavailable, <-done)
	require.Empty(t, srv.Sim.Counters().Effects)
}
