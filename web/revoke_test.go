package web

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/auth"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
)

// startCounter is a starter that only starts: it counts the runs the pages start.
type startCounter struct {
	Starter // nil: any other call panics, and these tests make none
	starts  int
}

func (c *startCounter) Start(_ context.Context, p starter.Principal, ars, service string) (domain.RunStatus, bool, error) {
	c.starts++
	return domain.RunStatus{ARS: domain.ARS(ars), Service: domain.ServiceKey(service)}, true, nil
}

const plToken = "pl-secret-0123456789"

var plEntry = auth.Token{Name: "pl", Role: domain.RolePM, Token: plToken}

// pagesOver serves the pages of replica over the shared session store db with the same
// secret, as two `rollin serve` processes behind one load balancer.
func pagesOver(t *testing.T, db SessionStore, s Starter) *Server {
	t.Helper()
	set, _ := auth.NewTokens([]auth.Token{plEntry})
	srv, err := New(s, Options{Tokens: set, SessionKey: sessionKey, Sessions: db})
	require.NoError(t, err)
	return srv
}

// csrfOf reads the CSRF token of the session a cookie names, as the pages' forms carry it.
func csrfOf(t *testing.T, s *Server, c *http.Cookie) string {
	t.Helper()
	id, err := s.sessions.decode(c.Value)
	require.NoError(t, err)
	sess, err := s.sessions.db.Session(t.Context(), id)
	require.NoError(t, err)
	return sess.CSRF
}

func startForm(csrf string) url.Values {
	return url.Values{"csrf": {csrf}, "ars": {"055150000000"}, "service": {"99107023037000"}}
}

// TestSignOutEndsTheSession: after signing out, the old cookie with its CSRF token starts
// no run any more, although it is still correctly signed and not expired: the session is
// gone from the store (ASVS 3.3.1).
func TestSignOutEndsTheSession(t *testing.T) {
	t.Parallel() // each on a database of its own
	counter := &startCounter{}
	s := pagesOver(t, newStore(t), counter)
	c := signInWith(t, s, plToken)
	csrf := csrfOf(t, s, c)

	resp := serve(s, http.MethodPost, "/rollins/neu", startForm(csrf), c)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "signed in: the run starts")
	require.Equal(t, 1, counter.starts)

	resp = serve(s, http.MethodPost, "/abmelden", url.Values{"csrf": {csrf}}, c)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/anmelden?ok=abgemeldet", resp.Header.Get("Location"))

	resp = serve(s, http.MethodPost, "/rollins/neu", startForm(csrf), c)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the old cookie and CSRF token after sign-out")
	require.Equal(t, 1, counter.starts, "no run started after sign-out")
	cleared := cookie(resp, sessionCookie)
	require.NotNil(t, cleared)
	require.Negative(t, cleared.MaxAge, "the dead cookie is removed")
	resp = serve(s, http.MethodGet, "/rollins", nil, c)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/anmelden?weiter=%2Frollins", resp.Header.Get("Location"))
}

// TestOIDCSessionSignOut: a session from the identity provider is stored and ended like a
// token's.
func TestOIDCSessionSignOut(t *testing.T) {
	t.Parallel() // each on a database of its own
	counter := &startCounter{}
	s := pagesOver(t, newStore(t), counter)
	sess := s.sessions.newSession(starter.Principal{Name: "erika", Role: domain.RolePM, Organisation: "d-nrw"}, viaOIDC, "")
	require.NoError(t, s.sessions.start(t.Context(), sess))
	c := &http.Cookie{Name: sessionCookie, Value: s.sessions.encode(sess)}

	require.Equal(t, http.StatusSeeOther, serve(s, http.MethodPost, "/rollins/neu", startForm(sess.CSRF), c).StatusCode)
	require.Equal(t, http.StatusSeeOther, serve(s, http.MethodPost, "/abmelden", url.Values{"csrf": {sess.CSRF}}, c).StatusCode)
	require.Equal(t, http.StatusUnauthorized, serve(s, http.MethodPost, "/rollins/neu", startForm(sess.CSRF), c).StatusCode)
	require.Equal(t, 1, counter.starts)
}

// TestSessionsAreSharedByReplicas: two servers over one store and secret see the same
// sessions: signed in at one, signed in at the other; signed out at the other, signed
// out at the first; and an operator's ending of a token's sessions holds at both.
func TestSessionsAreSharedByReplicas(t *testing.T) {
	t.Parallel() // each on a database of its own
	db := newStore(t)
	a, b := pagesOver(t, db, nil), pagesOver(t, db, nil)
	signedIn := func(s *Server, c *http.Cookie) bool {
		resp := serve(s, http.MethodGet, "/anmelden", nil, c)
		return resp.StatusCode == http.StatusSeeOther && resp.Header.Get("Location") == "/rollins"
	}

	c := signInWith(t, a, plToken)
	require.True(t, signedIn(a, c))
	require.True(t, signedIn(b, c), "the other replica knows the session")
	resp := serve(b, http.MethodPost, "/abmelden", url.Values{"csrf": {csrfOf(t, b, c)}}, c)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.False(t, signedIn(a, c), "signed out at the other replica")

	first, second := signInWith(t, a, plToken), signInWith(t, b, plToken)
	n, err := db.EndSessions(t.Context(), "pl", nil)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	for _, s := range []*Server{a, b} {
		require.False(t, signedIn(s, first), "ended by an operator")
		require.False(t, signedIn(s, second), "ended by an operator")
	}
}

// TestExpiredSessionIsGone: past its time a stored session signs nobody in.
func TestExpiredSessionIsGone(t *testing.T) {
	t.Parallel() // each on a database of its own
	db := newStore(t)
	s := pagesOver(t, db, nil)
	c := signInWith(t, s, plToken)
	id, err := s.sessions.decode(c.Value)
	require.NoError(t, err)
	stored, err := db.Session(t.Context(), id)
	require.NoError(t, err)
	s.sessions.now = func() time.Time { return stored.Expires }
	resp := serve(s, http.MethodGet, "/anmelden", nil, c)
	require.Equal(t, http.StatusOK, resp.StatusCode, "expired: the sign-in page")
}

// TestStaticServesFilesOnly: the stylesheet is served; the directory is no page (no
// listing), nor is anything outside it.
func TestStaticServesFilesOnly(t *testing.T) {
	s := pagesOver(t, &memSessions{}, nil)
	resp := serve(s, http.MethodGet, "/static/rollin.css", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/css")
	for _, p := range []string{"/static/", "/static", "/static/.", "/static/missing.css", "/static/../web.go", "/static//rollin.css/"} {
		resp := serve(s, http.MethodGet, p, nil)
		require.NotEqual(t, http.StatusOK, resp.StatusCode, p)
		body := new(strings.Builder)
		_, _ = io.Copy(body, resp.Body)
		require.NotContains(t, body.String(), `<a href="rollin.css">`, "%s lists nothing", p)
	}
	require.Equal(t, http.StatusNotFound, serve(s, http.MethodGet, "/static/", nil).StatusCode)
}
