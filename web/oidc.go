package web

import (
	"html/template"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/auth"
)

// oidcCookie keeps one sign-in's state, nonce and PKCE verifier while the browser is at
// the identity provider. It is SameSite=Lax, not Strict: the provider's redirect back is a
// navigation from another site, on which a Strict cookie would not be sent.
const oidcCookie = "rollin_oidc"

type pendingLogin struct {
	auth.Login
	Next    string `json:"next"`
	Expires int64  `json:"exp"`
}

// oidcStart sends the browser to the identity provider.
func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request) {
	if s.opts.OIDC == nil {
		http.NotFound(w, r)
		return
	}
	login := pendingLogin{Login: auth.NewLogin(), Next: localPath(r.URL.Query().Get("weiter")), Expires: s.opts.Now().Add(loginWindow).Unix()}
	target, err := s.opts.OIDC.AuthURL(r.Context(), login.Login)
	if err != nil {
		s.log.Error("OIDC sign-in unavailable", zap.Error(err))
		s.showSignIn(w, r, http.StatusServiceUnavailable, "Der Identitätsanbieter antwortet gerade nicht. Bitte versuchen Sie es gleich noch einmal.")
		return
	}
	value := s.sessions.seal("oidc", login)
	http.SetCookie(w, s.sessions.cookie(r, oidcCookie, value, int(loginWindow.Seconds()), http.SameSiteLaxMode))
	http.Redirect(w, r, target, http.StatusFound)
}

// loginWindow is how long a person may take at the identity provider.
const loginWindow = 10 * time.Minute

// oidcCallback takes the browser back from the identity provider: it checks the state,
// redeems the code with the PKCE verifier, and starts the session.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	if s.opts.OIDC == nil {
		http.NotFound(w, r)
		return
	}
	fail := func(status int, msg string, err error) {
		s.log.Info("OIDC sign-in refused", zap.String("why", msg), zap.Error(err))
		http.SetCookie(w, s.sessions.cookie(r, oidcCookie, "", -1, http.SameSiteLaxMode))
		s.showSignIn(w, r, status, msg)
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		fail(http.StatusUnauthorized, "Der Identitätsanbieter hat die Anmeldung abgelehnt ("+e+").", nil)
		return
	}
	login, ok := s.readLogin(r)
	if !ok || !sameToken(q.Get("state"), login.State) {
		fail(http.StatusBadRequest, "Diese Anmeldung gehört nicht zu diesem Browser oder ist abgelaufen. Bitte melden Sie sich erneut an.", nil)
		return
	}
	p, err := s.opts.OIDC.Exchange(r.Context(), login.Login, q.Get("code"))
	if err != nil {
		fail(http.StatusUnauthorized, "Die Anmeldung beim Identitätsanbieter konnte nicht bestätigt werden.", err)
		return
	}
	sess := s.sessions.newSession(p, viaOIDC, "")
	if err := s.sessions.start(r.Context(), sess); err != nil {
		s.log.Error("store session", zap.Error(err))
		fail(http.StatusServiceUnavailable, "Die Anmeldung kann gerade nicht gespeichert werden. Bitte versuchen Sie es gleich noch einmal.", err)
		return
	}
	s.sessions.set(w, r, sess)
	http.SetCookie(w, s.sessions.cookie(r, oidcCookie, "", -1, http.SameSiteLaxMode))
	s.log.Info("signed in", zap.String("name", sess.Name), zap.String("role", string(sess.Role)), zap.String("via", sess.Via))
	next := login.Next
	if next == "" {
		next = homeOf(sess.Role)
	}
	// A page, not a redirect: the browser came here from the provider's site, and a
	// redirect from here continues that cross-site navigation, with which Chromium does
	// not send the SameSite=Strict session cookie (TestOIDCSignInInTheBrowser fails with a
	// redirect). A navigation this page starts is same-site.
	v := view{Title: "Angemeldet", Data: template.URL(next), Refresh: template.URL(next)} // #nosec G203 -- localPath or homeOf: a path of this site
	if err := s.write(w, r, nil, http.StatusOK, "signedin", v); err != nil {
		s.log.Error("render signed-in page", zap.Error(err))
	}
}

func (s *Server) readLogin(r *http.Request) (pendingLogin, bool) {
	c, err := r.Cookie(oidcCookie)
	if err != nil {
		return pendingLogin{}, false
	}
	var l pendingLogin
	if !s.sessions.unseal("oidc", c.Value, &l) || s.opts.Now().Unix() >= l.Expires {
		return pendingLogin{}, false
	}
	return l, true
}
