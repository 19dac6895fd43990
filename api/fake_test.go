package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/auth"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/store"
)

// fakeStarter answers every call with an empty result and counts the calls, so that a
// test can tell whether a refused request reached a handler.
type fakeStarter struct{ calls atomic.Int64 }

var _ starter.API = (*fakeStarter)(nil)

func (f *fakeStarter) Start(context.Context, starter.Principal, string, string) (domain.RunStatus, bool, error) {
	f.calls.Add(1)
	return domain.RunStatus{}, true, nil
}

func (f *fakeStarter) Status(context.Context, starter.Principal, string, string) (domain.RunStatus, error) {
	f.calls.Add(1)
	return domain.RunStatus{}, nil
}

func (f *fakeStarter) List(context.Context, starter.Principal, store.RunFilter) ([]domain.RunStatus, string, error) {
	f.calls.Add(1)
	return nil, "", nil
}

func (f *fakeStarter) Act(context.Context, starter.Principal, string, string, starter.Action) (domain.RunStatus, error) {
	f.calls.Add(1)
	return domain.RunStatus{}, nil
}

func (f *fakeStarter) Audit(context.Context, starter.Principal, string, string) ([]domain.AuditEvent, error) {
	f.calls.Add(1)
	return nil, nil
}

func (f *fakeStarter) Services(context.Context, starter.Principal) ([]domain.Service, error) {
	f.calls.Add(1)
	return nil, nil
}

func (f *fakeStarter) Service(context.Context, starter.Principal, string) (domain.Service, error) {
	f.calls.Add(1)
	return domain.Service{}, nil
}

func (f *fakeStarter) Municipalities(context.Context, starter.Principal, store.MunicipalityFilter) ([]domain.Municipality, string, error) {
	f.calls.Add(1)
	return nil, "", nil
}

func (f *fakeStarter) StartCampaign(context.Context, starter.Principal, starter.CampaignRequest) (domain.CampaignProgress, bool, error) {
	f.calls.Add(1)
	return domain.CampaignProgress{}, true, nil
}

func (f *fakeStarter) Campaign(context.Context, starter.Principal, string) (domain.CampaignProgress, error) {
	f.calls.Add(1)
	return domain.CampaignProgress{}, nil
}

func (f *fakeStarter) ActOnCampaign(context.Context, starter.Principal, string, string, string) (domain.CampaignProgress, error) {
	f.calls.Add(1)
	return domain.CampaignProgress{}, nil
}

// Plain tokens of the test principals; "hashed" is configured by its SHA-256 only.
const (
	pmToken     = "pm-token-0123456789"
	opToken     = "operator-token-0123456789"
	hashedToken = "hashed-token-0123456789"
	// hashedTokenSHA256 is printf %s hashed-token-0123456789 | sha256sum.
	hashedTokenSHA256 = "b22fd458dbe2426bebe59cfafe4c46e013df3efd439e4d91cda767ac3052ddd0"
)

func testTokenList() []auth.Token {
	return []auth.Token{
		{Name: "pm", Role: domain.RolePM, Token: pmToken},
		{Name: "operator", Role: domain.RoleOperator, Token: opToken},
		{Name: "hashed", Role: domain.RolePM, TokenSHA256: hashedTokenSHA256},
	}
}

// testTokens is the token set of testTokenList.
func testTokens() *auth.Tokens { return mustTokens(testTokenList()...) }

// mustTokens builds a token set of valid entries.
func mustTokens(entries ...auth.Token) *auth.Tokens {
	set, err := auth.NewTokens(entries)
	if err != nil {
		panic(err)
	}
	return set
}

// newTestAPI is the API over a fake starter, wrapped like httpServer does, with limiter
// lim (nil: no limit).
func newTestAPI(t *testing.T, lim *limiter) (http.Handler, *fakeStarter) {
	t.Helper()
	fake := &fakeStarter{}
	srv := New(fake, testTokens(), func(context.Context) error { return nil }, zap.NewNop())
	return protectWith(srv, lim), fake
}

// call sends one request to h; token "" sends none.
func call(t *testing.T, h http.Handler, method, path, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// requireJSONError checks that resp is an error answer like all the API's: JSON with an
// "error" message containing want. Pass a recorder's rec.Result().
func requireJSONError(t *testing.T, resp *http.Response, status int, want string) {
	t.Helper()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, status, resp.StatusCode, string(raw))
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var body struct{ Error string }
	require.NoError(t, json.Unmarshal(raw, &body))
	require.Contains(t, body.Error, want)
}
