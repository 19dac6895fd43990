package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rollin-efa/rollin/auth"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/store/storetest"
)

var sessionKey = []byte("0123456789abcdef0123456789abcdef")

// newStore opens a store on a database of the test's own, for the sessions.
func newStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), storetest.NewDatabase(t), zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

// pagesWith serves the pages with tokens and the sessions in db; no page that reads runs
// is requested, so they need no starter.
func pagesWith(t *testing.T, db SessionStore, tokens ...auth.Token) *Server {
	t.Helper()
	set, err := auth.NewTokens(tokens)
	require.NoError(t, err)
	s, err := New(nil, Options{Tokens: set, SessionKey: sessionKey, Sessions: db})
	require.NoError(t, err)
	return s
}

func serve(s http.Handler, method, path string, form url.Values, cookies ...*http.Cookie) *http.Response {
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec.Result()
}

func cookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// signInWith signs in with token through the form and returns the session cookie.
func signInWith(t *testing.T, s *Server, token string) *http.Cookie {
	t.Helper()
	page := serve(s, http.MethodGet, "/anmelden", nil)
	login := cookie(page, loginCookie)
	require.NotNil(t, login)
	body := new(strings.Builder)
	_, _ = io.Copy(body, page.Body)
	require.Regexp(t, regexp.MustCompile(`name="login" value="`+login.Value+`"`), body.String())
	resp := serve(s, http.MethodPost, "/anmelden", url.Values{"login": {login.Value}, "token": {token}}, login)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	c := cookie(resp, sessionCookie)
	require.NotNil(t, c)
	return c
}

// TestTokenSessionEndsWithItsToken: a session signed in with a token ends when the token
// gets a new secret, or its entry a new role, although the name stays; the stale cookie
// is removed rather than bouncing the browser between the sign-in page and the pages.
func TestTokenSessionEndsWithItsToken(t *testing.T) {
	const old = "old-secret-0123456789"
	pl := auth.Token{Name: "pl", Role: domain.RolePM, Token: old}
	db := &memSessions{} // the check is the pages', against the configured tokens
	sess := signInWith(t, pagesWith(t, db, pl), old)

	same := pagesWith(t, db, pl)
	resp := serve(same, http.MethodGet, "/anmelden", nil, sess)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "still signed in: on to the start page")
	require.Equal(t, "/rollins", resp.Header.Get("Location"))

	for name, s := range map[string]*Server{
		"new secret": pagesWith(t, db, auth.Token{Name: "pl", Role: domain.RolePM, Token: "new-secret-0123456789"}),
		"new role":   pagesWith(t, db, auth.Token{Name: "pl", Role: domain.RoleMunicipality, Token: old, ARS: "055150000000"}),
		"removed":    pagesWith(t, db, auth.Token{Name: "andere", Role: domain.RolePM, Token: "other-secret-0123456789"}),
	} {
		resp := serve(s, http.MethodGet, "/rollins", nil, sess)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, name)
		require.Equal(t, "/anmelden?weiter=%2Frollins", resp.Header.Get("Location"), name)
		cleared := cookie(resp, sessionCookie)
		require.NotNil(t, cleared, name)
		require.Negative(t, cleared.MaxAge, "%s: the stale cookie is removed", name)

		resp = serve(s, http.MethodGet, "/anmelden", nil, sess)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: the sign-in page shows, no loop", name)
	}
}

// TestSignInRefusals: an unknown token, and a form without its double-submit value (a
// form another site posted), start no session.
func TestSignInRefusals(t *testing.T) {
	s := pagesWith(t, &memSessions{}, auth.Token{Name: "pl", Role: domain.RolePM, Token: "secret-0123456789"})
	login := cookie(serve(s, http.MethodGet, "/anmelden", nil), loginCookie)
	resp := serve(s, http.MethodPost, "/anmelden", url.Values{"login": {login.Value}, "token": {"wrong-0123456789"}}, login)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Nil(t, cookie(resp, sessionCookie))
	resp = serve(s, http.MethodPost, "/anmelden", url.Values{"token": {"secret-0123456789"}}, login)
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "no login value: login CSRF")
	require.Nil(t, cookie(resp, sessionCookie))
	resp = serve(s, http.MethodPost, "/anmelden", url.Values{"login": {login.Value}, "token": {"secret-0123456789"}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "no login cookie")
	require.Nil(t, cookie(resp, sessionCookie))
}
