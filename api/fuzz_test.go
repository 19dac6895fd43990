package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/api"
	"github.com/rollin-efa/rollin/auth"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/store"
)

// The fuzz tests of this file drive the real handler of api.New with a recording fake of
// starter.API behind it. The fake is the edge: it records every call and answers with a
// fixed success, so whatever the handler answers other than 2xx is the handler's own doing.

const (
	fuzzToken   = "fuzz-token-0123456789"
	fuzzARS     = "055150000000"
	fuzzService = "99107023037000"
	fuzzCampID  = "99107023037000-land-05"
	// fuzzMaxBody is the documented bound of request bodies (api.maxBody).
	fuzzMaxBody = 1 << 20
)

// fuzzCall is one call the handler made into the starter.
type fuzzCall struct {
	Method string
	Args   []any
}

// fuzzStarter implements starter.API by recording each call and succeeding.
type fuzzStarter struct{ calls []fuzzCall }

var _ starter.API = (*fuzzStarter)(nil)

func (f *fuzzStarter) record(method string, args ...any) {
	f.calls = append(f.calls, fuzzCall{Method: method, Args: args})
}

func fuzzRun(ars, service string) domain.RunStatus {
	return domain.RunStatus{ID: "rollin/" + ars + "/" + service, ARS: domain.ARS(ars), Service: domain.ServiceKey(service),
		State: domain.RunRunning, Stage: domain.StagePruefung}
}

func fuzzProgress(id string) domain.CampaignProgress {
	return domain.CampaignProgress{Campaign: domain.Campaign{ID: id, State: domain.CampaignStarting, Total: 1}}
}

func (f *fuzzStarter) Start(_ context.Context, _ starter.Principal, ars, service string) (domain.RunStatus, bool, error) {
	f.record("Start", ars, service)
	return fuzzRun(ars, service), true, nil
}

func (f *fuzzStarter) Status(_ context.Context, _ starter.Principal, ars, service string) (domain.RunStatus, error) {
	f.record("Status", ars, service)
	return fuzzRun(ars, service), nil
}

func (f *fuzzStarter) List(_ context.Context, _ starter.Principal, filter store.RunFilter) ([]domain.RunStatus, string, error) {
	f.record("List", filter)
	return []domain.RunStatus{fuzzRun(fuzzARS, fuzzService)}, "", nil
}

func (f *fuzzStarter) Act(_ context.Context, _ starter.Principal, ars, service string, a starter.Action) (domain.RunStatus, error) {
	f.record("Act", ars, service, a)
	return fuzzRun(ars, service), nil
}

func (f *fuzzStarter) Audit(_ context.Context, _ starter.Principal, ars, service string) ([]domain.AuditEvent, error) {
	f.record("Audit", ars, service)
	return nil, nil
}

func (f *fuzzStarter) Services(context.Context, starter.Principal) ([]domain.Service, error) {
	f.record("Services")
	return nil, nil
}

func (f *fuzzStarter) Service(_ context.Context, _ starter.Principal, key string) (domain.Service, error) {
	f.record("Service", key)
	return domain.Service{Key: domain.ServiceKey(key)}, nil
}

func (f *fuzzStarter) Municipalities(_ context.Context, _ starter.Principal, filter store.MunicipalityFilter) ([]domain.Municipality, string, error) {
	f.record("Municipalities", filter)
	return nil, "", nil
}

func (f *fuzzStarter) StartCampaign(_ context.Context, _ starter.Principal, req starter.CampaignRequest) (domain.CampaignProgress, bool, error) {
	f.record("StartCampaign", req)
	return fuzzProgress(fuzzCampID), true, nil
}

func (f *fuzzStarter) Campaign(_ context.Context, _ starter.Principal, id string) (domain.CampaignProgress, error) {
	f.record("Campaign", id)
	return fuzzProgress(id), nil
}

func (f *fuzzStarter) ActOnCampaign(_ context.Context, _ starter.Principal, id, action, reason string) (domain.CampaignProgress, error) {
	f.record("ActOnCampaign", id, action, reason)
	return fuzzProgress(id), nil
}

// fuzzServe sends one request with a valid project manager's token through a fresh
// handler and fake, and returns the answer and the calls the handler made.
func fuzzServe(t *testing.T, req *http.Request) (*httptest.ResponseRecorder, []fuzzCall) {
	t.Helper()
	fake := &fuzzStarter{}
	tokens, err := auth.NewTokens([]auth.Token{{Name: "pm", Role: domain.RolePM, Token: fuzzToken}})
	require.NoError(t, err)
	srv := api.New(fake, tokens,
		func(context.Context) error { return nil }, zap.NewNop())
	req.Header.Set("Authorization", "Bearer "+fuzzToken)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec, fake.calls
}

// requireErrorBody checks the shape of every refusal: a JSON object {"error": "..."} with
// a non-empty message and nothing else, and returns the message.
func requireErrorBody(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"), "refusal %d", rec.Code)
	var body map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), "refusal %d is not a JSON object: %q", rec.Code, rec.Body.String())
	msg, ok := body["error"].(string)
	require.True(t, ok, "refusal %d has no error message: %q", rec.Code, rec.Body.String())
	require.Len(t, body, 1, "refusal %d carries more than the error: %q", rec.Code, rec.Body.String())
	require.NotEmpty(t, strings.TrimSpace(msg), "refusal %d with an empty error message", rec.Code)
	return msg
}

// bodyRoute is a route that takes a JSON body: its documented fields and what the
// starter must be called with for a body that decodes.
type bodyRoute struct {
	method, path string
	fields       []string
	// want decodes body on its own (encoding/json's Unmarshal, which matches field names
	// as the handler's decoder does) into the call the handler must make.
	want func(body []byte) (fuzzCall, error)
}

var bodyRoutes = []bodyRoute{
	{
		method: http.MethodPost, path: "/api/v1/rollins",
		fields: []string{"ars", "service"},
		want: func(body []byte) (fuzzCall, error) {
			var req struct {
				ARS     string `json:"ars"`
				Service string `json:"service"`
			}
			err := json.Unmarshal(body, &req)
			return fuzzCall{"Start", []any{req.ARS, req.Service}}, err
		},
	},
	{
		method: http.MethodPost, path: "/api/v1/rollins/" + fuzzARS + "/" + fuzzService + "/actions",
		fields: []string{"action", "action_id", "step", "reason", "data"},
		want: func(body []byte) (fuzzCall, error) {
			var a starter.Action
			err := json.Unmarshal(body, &a)
			return fuzzCall{"Act", []any{fuzzARS, fuzzService, a}}, err
		},
	},
	{
		method: http.MethodPost, path: "/api/v1/campaigns",
		fields: []string{"service", "land", "kreis", "ars", "rate", "window"},
		want: func(body []byte) (fuzzCall, error) {
			var req starter.CampaignRequest
			err := json.Unmarshal(body, &req)
			return fuzzCall{"StartCampaign", []any{req}}, err
		},
	},
	{
		method: http.MethodPost, path: "/api/v1/campaigns/" + fuzzCampID + "/actions",
		fields: []string{"action", "reason"},
		want: func(body []byte) (fuzzCall, error) {
			var a struct {
				Action string `json:"action"`
				Reason string `json:"reason"`
			}
			err := json.Unmarshal(body, &a)
			return fuzzCall{"ActOnCampaign", []any{fuzzCampID, a.Action, a.Reason}}, err
		},
	},
}

// singleObjectOfKnownFields reports whether body is exactly one JSON object (surrounding
// white space allowed, nothing else) whose member names are all among fields. Names match
// as encoding/json matches them: exactly or case-insensitively (bytes.EqualFold).
func singleObjectOfKnownFields(body []byte, fields []string) bool {
	if !json.Valid(body) || !bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{")) {
		return false
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) != nil {
		return false
	}
	for name := range members {
		if !slices.ContainsFunc(fields, func(f string) bool { return strings.EqualFold(f, name) }) {
			return false
		}
	}
	return true
}

// FuzzAPIJSONBodies sends each fuzzed body to every route that takes a JSON body. The
// decoder promises to read bodies strictly, so that a typo or a truncated request never
// does something half-meant. For every body and route:
//   - the handler neither panics nor answers 5xx (or anything but 2xx and 4xx);
//   - it answers 2xx exactly when the body is a single JSON object whose fields are all
//     known and of the right type, and then it called the starter once, with the values of
//     the body;
//   - a body with invalid UTF-8 is refused;
//   - any 4xx carries {"error": "..."} with a message, and the starter was not called:
//     nothing was partly done.
func FuzzAPIJSONBodies(f *testing.F) {
	for _, s := range []string{
		`{"ars": "055150000000", "service": "99107023037000"}`,
		`{"action": "sign-agreement", "action_id": "a-1", "step": "framework-agreement", "reason": "ok", "data": {"signed_by": "Bürgermeisterin"}}`,
		`{"service": "99107023037000", "land": "05", "rate": 2.5, "window": 50}`,
		`{"service": "99107023037000", "ars": ["055150000000", "051660004004"]}`,
		`{"action": "pause", "reason": "Wartungsfenster"}`,
		`{}`, ` { } ` + "\n", `{"ARS": "055150000000", "Service": "x"}`,
		`{"ars": "055150000000", "servcie": "99107023037000"}`,
		`{"ars": 55150000000}`, `{"window": 1.5}`, `{"rate": 1e400}`, `{"data": nul}`,
		`{"ars": "1"} {"ars": "2"}`, `{"ars": "1"} x`, `{"ars": "1"`, `{"ars": "\ud800"}`,
		`[]`, `"x"`, `0`, ``, ` `, "\ufeff{}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, route := range bodyRoutes {
			req := httptest.NewRequest(route.method, route.path, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec, calls := fuzzServe(t, req)

			require.True(t, rec.Code >= 200 && rec.Code < 300 || rec.Code >= 400 && rec.Code < 500,
				"%s %s answered %d to %q: %s", route.method, route.path, rec.Code, body, rec.Body.String())
			want, typeErr := route.want(body)
			// Invalid UTF-8 is refused by the field it is in (encoding/json would replace it).
			valid := singleObjectOfKnownFields(body, route.fields) && typeErr == nil && utf8.Valid(body)
			if rec.Code >= 400 {
				requireErrorBody(t, rec)
				require.Empty(t, calls, "%s %s refused %q with %d but called the starter", route.method, route.path, body, rec.Code)
				require.False(t, valid && len(body) <= fuzzMaxBody,
					"%s %s refused a valid body %q: %d %s", route.method, route.path, body, rec.Code, rec.Body.String())
				continue
			}
			require.True(t, valid, "%s %s accepted %q, which is not a single JSON object of known fields: %d %s",
				route.method, route.path, body, rec.Code, rec.Body.String())
			require.Equal(t, []fuzzCall{want}, calls, "%s %s with %q", route.method, route.path, body)
			require.True(t, json.Valid(rec.Body.Bytes()), "answer %q is not JSON", rec.Body.String())
		}
	})
}

// limitPattern is the documented form of the limit parameter: a decimal number (the
// handler's strconv.Atoi also takes a sign), checked for 1..1000 below.
var limitPattern = regexp.MustCompile(`^[+-]?[0-9]+$`)

// wantLimit says what the handler must make of a limit parameter: 0 when absent, the
// number when it is a decimal between 1 and 1000, else a refusal.
func wantLimit(raw string) (limit int, ok bool) {
	if raw == "" {
		return 0, true
	}
	if !limitPattern.MatchString(raw) {
		return 0, false
	}
	digits := strings.TrimLeft(strings.TrimLeft(raw, "+-"), "0")
	if strings.HasPrefix(raw, "-") || digits == "" || len(digits) > 4 {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n > 1000 {
		return 0, false
	}
	return n, true
}

// FuzzAPIQueryParameters fuzzes the raw query of the two list routes and one path
// segment of GET /api/v1/rollins/{ars}/{service}. The API itself checks only the page
// size (limit); everything else goes to the starter unchanged, which checks it (see
// starter's FuzzRunFilter). Properties:
//   - no panic, no 5xx;
//   - a malformed query (bad escape, semicolon) is a 400 {"error": ...} naming the query,
//     and the starter was not called;
//   - a refusal is a 400 {"error": ...} that names the limit parameter, for a limit that
//     is not a number between 1 and 1000, and the starter was not called;
//   - otherwise the starter got every filter parameter exactly as the query carries it
//     (url.ParseQuery's first value) and the limit as a number;
//   - a path segment reaches the starter unescaped and unchanged; only the segments the
//     router cleans away ("", ".", "..") or takes for a trailing slash ("/", sent as %2F)
//     are redirected or answered 404 {"error": ...} instead, without calling the starter.
func FuzzAPIQueryParameters(f *testing.F) {
	for _, s := range []struct{ query, segment string }{
		{"state=waiting&stage=anbindung&service=99107023037000&land=05&kreis=05515&ars=055150000000&step=tenant&limit=50&cursor=abc", fuzzARS},
		{"land=05&kreis=05515&q=M%C3%BCnster&limit=1000&cursor=eyJhIjoxfQ", " 055150000000"},
		{"limit=0", "."}, {"limit=1001", ".."}, {"limit=-1", ""}, {"limit=+7", "a/b"}, {"limit=1e3", "%2F"},
		{"limit=abc", "05515%000000"}, {"limit=99999999999999999999999", "ä"}, {"limit=%zz&state=x", "?x=1"},
		{"limit=5000;state=live", "#"}, {"limit=1&limit=5000", "\x00"}, {"LIMIT=5000", "..."}, {"", "~"},
	} {
		f.Add(s.query, s.segment)
	}
	f.Fuzz(func(t *testing.T, query, segment string) {
		q, queryErr := url.ParseQuery(query)
		limit, limitOK := wantLimit(q.Get("limit"))
		for _, path := range []string{"/api/v1/rollins", "/api/v1/municipalities"} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.URL.RawQuery = query
			rec, calls := fuzzServe(t, req)
			require.Less(t, rec.Code, 500, "GET %s?%s: %s", path, query, rec.Body.String())
			if queryErr != nil { // a malformed pair is refused, not dropped
				require.Equal(t, http.StatusBadRequest, rec.Code, "GET %s?%s accepted a malformed query", path, query)
				require.Contains(t, requireErrorBody(t, rec), "query", "GET %s?%s", path, query)
				require.Empty(t, calls, "GET %s?%s refused but called the starter", path, query)
				continue
			}
			if !limitOK {
				require.Equal(t, http.StatusBadRequest, rec.Code, "GET %s?%s accepted limit %q", path, query, q.Get("limit"))
				require.Contains(t, requireErrorBody(t, rec), "limit", "GET %s?%s", path, query)
				require.Empty(t, calls, "GET %s?%s refused but called the starter", path, query)
				continue
			}
			require.Equal(t, http.StatusOK, rec.Code, "GET %s?%s: %s", path, query, rec.Body.String())
			var want fuzzCall
			if path == "/api/v1/rollins" {
				want = fuzzCall{"List", []any{store.RunFilter{
					State: q.Get("state"), Stage: q.Get("stage"), Service: q.Get("service"), Land: q.Get("land"),
					Kreis: q.Get("kreis"), ARS: q.Get("ars"), Step: q.Get("step"), Limit: limit, Cursor: q.Get("cursor"),
				}}}
			} else {
				want = fuzzCall{"Municipalities", []any{store.MunicipalityFilter{
					Land: q.Get("land"), Kreis: q.Get("kreis"), Query: q.Get("q"), Limit: limit, Cursor: q.Get("cursor"),
				}}}
			}
			require.Equal(t, []fuzzCall{want}, calls, "GET %s?%s", path, query)
		}

		for _, pair := range [][2]string{{segment, fuzzService}, {fuzzARS, segment}} {
			u := &url.URL{
				Path:    "/api/v1/rollins/" + pair[0] + "/" + pair[1],
				RawPath: "/api/v1/rollins/" + url.PathEscape(pair[0]) + "/" + url.PathEscape(pair[1]),
			}
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.URL = u
			req.RequestURI = u.RequestURI()
			rec, calls := fuzzServe(t, req)
			target := u.EscapedPath()
			require.Less(t, rec.Code, 500, "GET %s: %s", target, rec.Body.String())
			switch segment {
			// The router cleans "", "." and ".." away (a redirect, or a 404 for a trailing
			// slash), and net/http takes a segment that unescapes to "/" for a trailing
			// slash, which no single wildcard matches (routing_tree.go): 404 "no route".
			case "", ".", "..", "/":
				require.True(t, rec.Code >= 300 && rec.Code < 400 || rec.Code == http.StatusNotFound,
					"GET %s: %d %s", target, rec.Code, rec.Body.String())
				if rec.Code == http.StatusNotFound {
					requireErrorBody(t, rec)
				}
				require.Empty(t, calls, "GET %s", target)
				continue
			}
			require.Equal(t, http.StatusOK, rec.Code, "GET %s: %s", target, rec.Body.String())
			require.Equal(t, []fuzzCall{{"Status", []any{pair[0], pair[1]}}}, calls, "GET %s", target)
		}
	})
}
