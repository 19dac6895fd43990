package api

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
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/store"
)

// loadOpenAPI loads the served description and requires it to be valid OpenAPI 3.0.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openAPIDocument)
	require.NoError(t, err, "load openapi.json")
	require.NoError(t, doc.Validate(t.Context()), "openapi.json is valid OpenAPI 3.0")
	return doc
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	require.Equal(t, "3.0.3", doc.OpenAPI)
	require.Equal(t, openapi3.SecurityRequirements{{"bearerAuth": []string{}}}, doc.Security,
		"a token is required unless an operation says otherwise")
	scheme := doc.Components.SecuritySchemes["bearerAuth"]
	require.NotNil(t, scheme)
	require.Equal(t, "http", scheme.Value.Type)
	require.Equal(t, "bearer", scheme.Value.Scheme)
}

// TestOpenAPIDescribesEveryRoute holds the description and the mux together both ways:
// every authenticated route is documented with the bearer requirement and the refusals
// every authenticated route can answer, and every documented operation is served, with a
// token unless it is documented as open.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	srv := New(&fakeStarter{}, testTokens(), func(context.Context) error { return nil }, zap.NewNop())
	registered := map[string]bool{}
	for _, pattern := range srv.Routes() {
		registered[pattern] = true
		method, path, ok := strings.Cut(pattern, " ")
		require.True(t, ok, "route %q has a method", pattern)
		item := doc.Paths.Value(path)
		require.NotNil(t, item, "openapi.json lacks the path of %s", pattern)
		op := item.GetOperation(method)
		require.NotNil(t, op, "openapi.json lacks %s", pattern)
		require.Nil(t, op.Security, "%s inherits the bearer requirement", pattern)
		for _, status := range []int{http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusInternalServerError} {
			require.NotNil(t, op.Responses.Status(status), "%s documents %d", pattern, status)
		}
		if method == http.MethodPost {
			require.NotNil(t, op.RequestBody, "%s documents its body", pattern)
			require.NotNil(t, op.Responses.Status(http.StatusRequestEntityTooLarge), "%s documents 413", pattern)
			require.NotNil(t, op.Responses.Status(http.StatusBadRequest), "%s documents 400", pattern)
		}
	}
	open := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			pattern := method + " " + path
			if op.Security != nil && len(*op.Security) == 0 {
				open++
				require.False(t, registered[pattern], "%s is documented as open but needs a token", pattern)
				rec := call(t, srv, method, path, "", "")
				require.Equal(t, http.StatusOK, rec.Code, "%s is documented as open: %s", pattern, rec.Body)
				continue
			}
			require.True(t, registered[pattern], "openapi.json documents %s, which is not a route", pattern)
		}
	}
	require.Equal(t, 3, open, "open: the description itself, /healthz and /readyz")
}

func TestOpenAPIServedWithoutToken(t *testing.T) {
	t.Parallel()
	h, fake := newTestAPI(t, newLimiter(Limits{PerSecond: 1, Burst: 1}, time.Now))
	for range 3 { // no rate limit either: it counts by token
		rec := call(t, h, http.MethodGet, "/api/v1/openapi.json", "", "")
		require.Equal(t, http.StatusOK, rec.Code)
		require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
		require.Equal(t, openAPIDocument, rec.Body.Bytes())
		require.Equal(t, "no-store", rec.Header().Get("Cache-Control"), "Protect's headers apply")
	}
	require.Zero(t, fake.calls.Load())
	rec := call(t, h, http.MethodPost, "/api/v1/openapi.json", "", "{}")
	require.Equal(t, http.StatusNotFound, rec.Code, "GET only")
}

// openAPIChecker validates exchanges with the API against openapi.json.
type openAPIChecker struct {
	doc    *openapi3.T
	router routers.Router
	opts   *openapi3filter.Options
}

func newOpenAPIChecker(t *testing.T) *openAPIChecker {
	t.Helper()
	doc := loadOpenAPI(t)
	router, err := gorillamux.NewRouter(doc)
	require.NoError(t, err)
	return &openAPIChecker{doc: doc, router: router, opts: &openapi3filter.Options{
		MultiError:                        true,
		IncludeResponseStatus:             true, // a status the description does not list is a deviation
		RejectWhenRequestBodyNotSpecified: true,
		AuthenticationFunc:                bearerGiven,
		SchemaValidationOptions:           doc.GetSchemaValidationOptions(),
	}}
}

// bearerGiven accepts a request that carries a bearer token; whether the token is known is
// the server's business (a valid request with an unknown token answers 401 as documented).
func bearerGiven(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	tok, ok := strings.CutPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(tok) == "" {
		return errors.New("no bearer token")
	}
	return nil
}

// check validates one exchange: the response must conform to the description whatever
// the request was; the request's verdict is returned (nil: it conforms), and a request the
// description calls invalid must have been refused with a 4xx. A path the description
// does not have must be answered with the API's JSON 404.
func (c *openAPIChecker) check(t *testing.T, req *http.Request, reqBody []byte, resp *http.Response) error {
	t.Helper()
	respBody, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	vreq := req.Clone(t.Context())
	vreq.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(reqBody)), nil }
	vreq.Body, _ = vreq.GetBody()
	vreq.ContentLength = int64(len(reqBody))
	if len(reqBody) > 0 && vreq.Header.Get("Content-Type") == "" {
		vreq.Header.Set("Content-Type", "application/json") // the API reads JSON whatever the header says
	}
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s %s is not in openapi.json (%v), yet answered: %s", req.Method, req.URL, err, respBody)
		require.NoError(t, c.doc.Components.Schemas["Error"].Value.VisitJSON(decodeJSON(t, respBody)), "the 404 is an Error")
		return fmt.Errorf("not an operation: %w", err)
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: c.opts}
	reqErr := openapi3filter.ValidateRequest(t.Context(), in)
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: c.opts}
	out.SetBodyBytes(respBody)
	require.NoError(t, openapi3filter.ValidateResponse(t.Context(), out), "%s %s answered %d: %s", req.Method, req.URL, resp.StatusCode, respBody)
	if reqErr != nil {
		require.True(t, resp.StatusCode >= 400 && resp.StatusCode < 500,
			"%s %s is invalid per openapi.json (%v) but answered %d", req.Method, req.URL, reqErr, resp.StatusCode)
	}
	return reqErr
}

func decodeJSON(t *testing.T, raw []byte) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(raw, &v), "%s", raw)
	return v
}

// docStarter answers like the real starter does, with every optional part of the answers
// present in one case or another, so that the responses exercise the whole description.
type docStarter struct {
	err     error // returned by every call when set
	created bool
	// fresh answers Start and StartCampaign as before the read model has the new object.
	fresh bool
}

var _ starter.API = (*docStarter)(nil)

var docTime = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

const (
	docARS     = "055150000000"
	docBlocked = "010010000000" // Status answers this municipality's run blocked
	docService = "99107023037000"
	docCampID  = "d-nrw-99107023037000-land-05"
)

func docRun(ars string) domain.RunStatus {
	st := domain.RunStatus{
		ID: "rollin/" + ars + "/" + docService, ARS: domain.ARS(ars), Service: docService, Organisation: "d-nrw",
		State: domain.RunWaiting, Stage: domain.StageVereinbarung,
		WaitingFor: &domain.WaitingFor{Action: "sign-agreement", Role: domain.RoleMunicipality, Step: "framework-agreement"},
		Steps: []domain.StepStatus{
			{Name: "precheck", Stage: domain.StagePruefung, State: domain.StepDone, Attempts: 1, UpdatedAt: docTime},
			{Name: "framework-agreement", Stage: domain.StageVereinbarung, State: domain.StepWaiting, UpdatedAt: docTime},
		},
		CreatedAt: docTime, UpdatedAt: docTime, Seq: 4,
	}
	if ars == docBlocked {
		st.Organisation, st.State, st.Stage, st.WaitingFor = "", domain.RunBlocked, domain.StagePruefung, nil
		st.Reason, st.Steps = "service 99107023037000 (Wohngeld) is not offered in Land 01", nil
	}
	return st
}

func docProgress() domain.CampaignProgress {
	return domain.CampaignProgress{
		Campaign: domain.Campaign{ID: docCampID, Service: docService, Organisation: "d-nrw", Selector: "land 05",
			State: domain.CampaignStarted, Total: 396, Started: 390, Existing: 5, Failed: 1, CreatedBy: "pl-dnrw",
			CreatedAt: docTime, UpdatedAt: docTime, Seq: 12},
		Runs:   map[string]int{"pending": 1, "waiting": 300, "incident": 2, "live": 93},
		Stages: map[domain.Stage]int{domain.StageVereinbarung: 250, domain.StageAnbindung: 53},
	}
}

func (f *docStarter) Start(_ context.Context, _ starter.Principal, ars, service string) (domain.RunStatus, bool, error) {
	if f.fresh {
		return domain.RunStatus{ID: domain.RunID(domain.ARS(ars), domain.ServiceKey(service)), ARS: domain.ARS(ars), Service: domain.ServiceKey(service),
			State: domain.RunRunning, Stage: domain.StagePruefung, Steps: []domain.StepStatus{}}, f.created, f.err
	}
	return docRun(ars), f.created, f.err
}

func (f *docStarter) Status(_ context.Context, _ starter.Principal, ars, _ string) (domain.RunStatus, error) {
	return docRun(ars), f.err
}

func (f *docStarter) List(context.Context, starter.Principal, store.RunFilter) ([]domain.RunStatus, string, error) {
	listed := docRun(docARS)
	listed.Steps = nil // the list does not load steps
	return []domain.RunStatus{listed, docRun(docBlocked)}, "rollin/" + docBlocked + "/" + docService, f.err
}

func (f *docStarter) Act(_ context.Context, _ starter.Principal, ars, _ string, _ starter.Action) (domain.RunStatus, error) {
	return docRun(ars), f.err
}

func (f *docStarter) Audit(context.Context, starter.Principal, string, string) ([]domain.AuditEvent, error) {
	id := "rollin/" + docARS + "/" + docService
	return []domain.AuditEvent{
		{RunID: id, Seq: 1, At: docTime, Actor: "pl-dnrw", Role: domain.RolePM, Action: "start", Detail: "roll-in of " + docService + " into " + docARS, Worker: "worker-1"},
		{RunID: id, Seq: 2, At: docTime, Actor: "rollin", Role: domain.RoleSystem, Action: "step-done", Step: "precheck", Worker: "worker-1"},
		{RunID: id, Seq: 3, At: docTime, Actor: "kommune", Role: domain.RoleMunicipality, Action: "sign-agreement", Step: "framework-agreement", Reason: "signed"},
	}, f.err
}

func docService1() domain.Service {
	return domain.Service{Key: docService, Name: "Wohngeld", Provider: "Dataport", Fachverfahren: []string{"OK.SOZIUS"},
		Transports: []domain.Transport{domain.TransportFITConnect}, Lands: []string{"01", "05"},
		ActivationDates: []time.Time{docTime}, Costs: "none", Contacts: []domain.Contact{{Role: "Projektleitung", Name: "Büro", Email: "efa@example.org"}},
		SubmissionSchemas: []domain.SubmissionSchema{{SchemaURI: "urn:rollin:demo:schema:wohngeld:1.0.0", MimeType: "application/json"}}}
}

func (f *docStarter) Services(context.Context, starter.Principal) ([]domain.Service, error) {
	own := docService1()
	own.Key, own.Organisation, own.ActivationDates, own.SubmissionSchemas = "99107023037099", "d-nrw", nil, nil
	own.Transports, own.Contacts = []domain.Transport{domain.TransportXTA, domain.TransportEmail}, []domain.Contact{}
	return []domain.Service{docService1(), own}, f.err
}

func (f *docStarter) Service(context.Context, starter.Principal, string) (domain.Service, error) {
	return docService1(), f.err
}

func (f *docStarter) Municipalities(context.Context, starter.Principal, store.MunicipalityFilter) ([]domain.Municipality, string, error) {
	return []domain.Municipality{
		{ARS: docARS, Name: "Münster, Stadt", Land: "05", Kreis: "05515", KreisName: "Münster", Population: 320946,
			Fachverfahren: []string{"OK.SOZIUS"}, Transports: []domain.Transport{domain.TransportFITConnect}, FrameworkAgreement: true},
		{ARS: "055540004004", Name: "Ahaus, Stadt", Land: "05", Kreis: "05554", KreisName: "Borken", Population: 39800},
	}, "055540004004", f.err
}

func (f *docStarter) StartCampaign(context.Context, starter.Principal, starter.CampaignRequest) (domain.CampaignProgress, bool, error) {
	if f.fresh {
		return domain.CampaignProgress{Campaign: domain.Campaign{ID: docCampID, Service: docService, Organisation: "d-nrw",
			Selector: "land 05", State: domain.CampaignStarting, Total: 396}}, f.created, f.err
	}
	return docProgress(), f.created, f.err
}

func (f *docStarter) Campaign(context.Context, starter.Principal, string) (domain.CampaignProgress, error) {
	return docProgress(), f.err
}

func (f *docStarter) ActOnCampaign(context.Context, starter.Principal, string, string, string) (domain.CampaignProgress, error) {
	p := docProgress()
	p.State, p.Reason = domain.CampaignCancelled, "wrong Land"
	return p, f.err
}

// TestResponsesMatchOpenAPI sends requests to every route, answered by a starter that
// answers like the real one or refuses, and validates request and response against
// openapi.json, error answers included.
func TestResponsesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	checker := newOpenAPIChecker(t)
	run := "/api/v1/rollins/" + docARS + "/" + docService
	refuse := func(kind starter.Kind) error { return &starter.Error{Kind: kind, Msg: "refused"} }
	tests := []struct {
		name, method, target, token, body string
		starter                           docStarter
		// drained empties the caller's rate-limit bucket first; draining drains the server.
		drained, draining bool
		status            int
		// invalid says the request breaks the description (and must be refused).
		invalid bool
	}{
		{name: "start", method: "POST", target: "/api/v1/rollins", body: `{"ars":"055150000000","service":"99107023037000"}`, starter: docStarter{created: true}, status: 201},
		{name: "start existing", method: "POST", target: "/api/v1/rollins", body: `{"ars":"055150000000","service":"99107023037000"}`, status: 200},
		{name: "start before the read model has it", method: "POST", target: "/api/v1/rollins", body: `{"ars":"055150000000","service":"99107023037000"}`, starter: docStarter{created: true, fresh: true}, status: 201},
		{name: "start foreign run", method: "POST", target: "/api/v1/rollins", body: `{"ars":"055150000000","service":"99107023037000"}`, starter: docStarter{err: refuse(starter.KindConflict)}, status: 409},
		{name: "start unknown municipality", method: "POST", target: "/api/v1/rollins", body: `{"ars":"059999999999","service":"99107023037000"}`, starter: docStarter{err: refuse(starter.KindNotFound)}, status: 404},
		{name: "start as municipality", method: "POST", target: "/api/v1/rollins", body: `{"ars":"055150000000","service":"99107023037000"}`, starter: docStarter{err: refuse(starter.KindForbidden)}, status: 403},
		{name: "start malformed ARS", method: "POST", target: "/api/v1/rollins", body: `{"ars":"05515","service":"99107023037000"}`, starter: docStarter{err: refuse(starter.KindInvalid)}, status: 400, invalid: true},
		{name: "start not JSON", method: "POST", target: "/api/v1/rollins", body: `{ars:`, status: 400, invalid: true},
		{name: "start empty body", method: "POST", target: "/api/v1/rollins", status: 400, invalid: true},
		{name: "start unknown field", method: "POST", target: "/api/v1/rollins", body: `{"ars":"055150000000","service":"99107023037000","land":"05"}`, status: 400, invalid: true},
		{name: "start too large", method: "POST", target: "/api/v1/rollins", body: `{"ars":"` + strings.Repeat("0", maxBody) + `"}`, status: 413, invalid: true},
		{name: "list with every filter", method: "GET", target: "/api/v1/rollins?state=waiting&stage=vereinbarung&service=99107023037000&land=05&kreis=05515&ars=055150000000&step=framework-agreement&limit=2&cursor=rollin%2F0", status: 200},
		{name: "list bad step", method: "GET", target: "/api/v1/rollins?step=filing", starter: docStarter{err: refuse(starter.KindInvalid)}, status: 400, invalid: true},
		{name: "list limit 0", method: "GET", target: "/api/v1/rollins?limit=0", status: 400, invalid: true},
		// kin-openapi drops a malformed pair as url.Query does, so it sees a valid request;
		// the server refuses it rather than leave a filter out.
		{name: "list malformed query", method: "GET", target: "/api/v1/rollins?state=%zz", status: 400},
		{name: "read waiting run", method: "GET", target: run, status: 200},
		{name: "read blocked run", method: "GET", target: "/api/v1/rollins/" + docBlocked + "/" + docService, status: 200},
		{name: "read unknown run", method: "GET", target: run, starter: docStarter{err: refuse(starter.KindNotFound)}, status: 404},
		{name: "read malformed ARS", method: "GET", target: "/api/v1/rollins/abc/" + docService, starter: docStarter{err: refuse(starter.KindInvalid)}, status: 400, invalid: true},
		{name: "act", method: "POST", target: run + "/actions", token: opToken, status: 200,
			body: `{"action":"submit-connection-data","action_id":"a-1","step":"connection-data","data":{"contact_email":"a@b.example","fachverfahren":"OK.SOZIUS","transport":"fit-connect","org_unit_id":"OE-1"}}`},
		{name: "act with null data", method: "POST", target: run + "/actions", body: `{"action":"cancel","action_id":"a-2","reason":"r","data":null}`, status: 200},
		{name: "act not now", method: "POST", target: run + "/actions", body: `{"action":"confirm-test","action_id":"a-3","data":{"received":true}}`, starter: docStarter{err: refuse(starter.KindConflict)}, status: 409},
		{name: "act of another role", method: "POST", target: run + "/actions", body: `{"action":"retry-step","action_id":"a-4"}`, starter: docStarter{err: refuse(starter.KindForbidden)}, status: 403},
		{name: "act unknown action", method: "POST", target: run + "/actions", body: `{"action":"approve","action_id":"a-5"}`, starter: docStarter{err: refuse(starter.KindInvalid)}, status: 400, invalid: true},
		{name: "act without action_id", method: "POST", target: run + "/actions", body: `{"action":"cancel","reason":"r"}`, starter: docStarter{err: refuse(starter.KindInvalid)}, status: 400, invalid: true},
		{name: "audit", method: "GET", target: run + "/audit", status: 200},
		{name: "services", method: "GET", target: "/api/v1/services", status: 200},
		{name: "services unavailable", method: "GET", target: "/api/v1/services", starter: docStarter{err: refuse(starter.KindUnavailable)}, status: 503},
		{name: "services internal error", method: "GET", target: "/api/v1/services", starter: docStarter{err: errors.New("boom")}, status: 500},
		{name: "service", method: "GET", target: "/api/v1/services/" + docService, status: 200},
		{name: "service unknown", method: "GET", target: "/api/v1/services/99000000000000", starter: docStarter{err: refuse(starter.KindNotFound)}, status: 404},
		{name: "municipalities", method: "GET", target: "/api/v1/municipalities?land=05&kreis=05515&q=m%C3%BCnster&limit=2&cursor=05", status: 200},
		{name: "municipalities bad limit", method: "GET", target: "/api/v1/municipalities?limit=ten", status: 400, invalid: true},
		{name: "start campaign", method: "POST", target: "/api/v1/campaigns", body: `{"service":"99107023037000","land":"05","rate":2.5,"window":10}`, starter: docStarter{created: true}, status: 201},
		{name: "start campaign before the read model has it", method: "POST", target: "/api/v1/campaigns", body: `{"service":"99107023037000","ars":["055150000000"]}`, starter: docStarter{created: true, fresh: true}, status: 201},
		{name: "start existing campaign", method: "POST", target: "/api/v1/campaigns", body: `{"service":"99107023037000","kreis":"05515"}`, status: 200},
		{name: "start campaign window too large", method: "POST", target: "/api/v1/campaigns", body: `{"service":"99107023037000","land":"05","window":501}`, starter: docStarter{err: refuse(starter.KindInvalid)}, status: 400, invalid: true},
		{name: "campaign", method: "GET", target: "/api/v1/campaigns/" + docCampID, status: 200},
		{name: "campaign as municipality", method: "GET", target: "/api/v1/campaigns/" + docCampID, starter: docStarter{err: refuse(starter.KindForbidden)}, status: 403},
		{name: "cancel campaign", method: "POST", target: "/api/v1/campaigns/" + docCampID + "/actions", body: `{"action":"cancel","reason":"wrong Land"}`, status: 200},
		{name: "act on final campaign", method: "POST", target: "/api/v1/campaigns/" + docCampID + "/actions", body: `{"action":"pause"}`, starter: docStarter{err: refuse(starter.KindConflict)}, status: 409},
		{name: "no token", method: "GET", target: "/api/v1/rollins", token: "-", status: 401, invalid: true},
		{name: "unknown token", method: "GET", target: "/api/v1/rollins", token: "not-a-token", status: 401},
		{name: "rate limited", method: "GET", target: "/api/v1/services", drained: true, status: 429},
		{name: "unknown route", method: "GET", target: "/api/v1/nothing", status: 404, invalid: true},
		{name: "unknown method", method: "DELETE", target: run, status: 404, invalid: true},
		{name: "description", method: "GET", target: "/api/v1/openapi.json", token: "-", status: 200},
		{name: "healthz", method: "GET", target: "/healthz", token: "-", status: 200},
		{name: "readyz", method: "GET", target: "/readyz", token: "-", status: 200},
		{name: "readyz draining", method: "GET", target: "/readyz", token: "-", draining: true, status: 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := tc.starter
			srv := New(&fake, testTokens(), func(context.Context) error { return nil }, zap.NewNop())
			if tc.draining {
				srv.Drain()
			}
			lim := newLimiter(Limits{PerSecond: 0.5, Burst: 1}, func() time.Time { return docTime })
			if tc.drained {
				_, ok := lim.allow("pm")
				require.True(t, ok)
			}
			req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			switch tc.token {
			case "":
				req.Header.Set("Authorization", "Bearer "+pmToken)
			case "-":
			default:
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			rec := httptest.NewRecorder()
			protectWith(srv, lim).ServeHTTP(rec, req)
			resp := rec.Result()
			require.Equal(t, tc.status, resp.StatusCode, rec.Body.String())
			reqErr := checker.check(t, req, []byte(tc.body), resp)
			if tc.invalid {
				require.Error(t, reqErr, "the request breaks openapi.json")
			} else {
				require.NoError(t, reqErr, "the request conforms to openapi.json")
			}
		})
	}
}
