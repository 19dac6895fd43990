package web

import (
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/auth"
	"github.com/rollin-efa/rollin/domain"
)

// current returns the request's session while it is good: signed, not expired, and for a
// token sign-in its token still configured (same secret) for the same principal. A cookie
// that is no longer good is removed, so that the browser is not sent back and forth
// between the sign-in page and the pages.
func (s *Server) current(w http.ResponseWriter, r *http.Request) (session, bool) {
	sess, ok := s.sessions.read(r)
	if ok && sess.Via == viaToken {
		p, still := s.opts.Tokens.Still(sess.Token)
		ok = still && p == sess.principal()
	}
	if !ok {
		if _, err := r.Cookie(sessionCookie); err == nil {
			s.sessions.clear(w, r)
		}
	}
	return sess, ok
}

// home sends a signed-in user to the page their role starts from, others to sign in.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.current(w, r)
	if !ok {
		http.Redirect(w, r, "/anmelden", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, homeOf(sess.Role), http.StatusSeeOther)
}

func homeOf(role domain.Role) string {
	if role == domain.RoleOperator {
		return "/stoerungen"
	}
	return "/rollins"
}

// signInData is the sign-in page's content.
type signInData struct {
	Tokens bool
	OIDC   bool
	Login  string // the double-submit value of the token form
	Next   string
}

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	if sess, ok := s.current(w, r); ok {
		http.Redirect(w, r, homeOf(sess.Role), http.StatusSeeOther)
		return
	}
	s.showSignIn(w, r, http.StatusOK, "")
}

func (s *Server) showSignIn(w http.ResponseWriter, r *http.Request, status int, problem string) {
	login := randomToken()
	http.SetCookie(w, s.sessions.cookie(r, loginCookie, login, 600, http.SameSiteStrictMode))
	v := view{
		Title: "Anmelden", Error: problem, Flash: flashes[r.URL.Query().Get("ok")],
		Data: signInData{Tokens: s.opts.Tokens != nil, OIDC: s.opts.OIDC != nil, Login: login, Next: localPath(r.FormValue("weiter"))},
	}
	if err := s.write(w, r, nil, status, "signin", v); err != nil {
		s.log.Error("render sign-in page", zap.Error(err))
	}
}

// signIn exchanges an API token for a session.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.showSignIn(w, r, http.StatusBadRequest, "Das Formular konnte nicht gelesen werden.")
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameToken(r.PostForm.Get("login"), c.Value) {
		s.showSignIn(w, r, http.StatusForbidden, "Das Anmeldeformular ist abgelaufen. Bitte versuchen Sie es noch einmal.")
		return
	}
	p, ok := s.opts.Tokens.Lookup(r.PostForm.Get("token"))
	if !ok {
		s.log.Info("sign-in refused: unknown token", zap.String("remote", r.RemoteAddr))
		s.showSignIn(w, r, http.StatusUnauthorized, "Dieses Token ist nicht bekannt.")
		return
	}
	s.startSession(w, r, s.sessions.newSession(p, viaToken, auth.Fingerprint(r.PostForm.Get("token"))), r.PostForm.Get("weiter"))
}

// startSession sets the session cookie and sends the browser on to next (a path of this
// site only) or to the role's start page.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, sess session, next string) {
	s.sessions.set(w, r, sess)
	http.SetCookie(w, s.sessions.cookie(r, loginCookie, "", -1, http.SameSiteStrictMode))
	s.log.Info("signed in", zap.String("name", sess.Name), zap.String("role", string(sess.Role)), zap.String("via", sess.Via))
	if next = localPath(next); next == "" {
		next = homeOf(sess.Role)
	}
	http.Redirect(w, r, next, http.StatusSeeOther) // #nosec G710 -- next passed localPath (a path of this site) or is the role's start page
}

func (s *Server) signOut(q *request) error {
	s.sessions.clear(q.w, q.r)
	http.Redirect(q.w, q.r, "/anmelden?ok=abgemeldet", http.StatusSeeOther)
	return nil
}

// localPath returns p if it is a path on this site, else "": a sign-in link must not send
// the browser elsewhere afterwards (open redirect).
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return ""
	}
	if u, err := url.Parse(p); err != nil || u.Host != "" || u.Scheme != "" {
		return ""
	}
	return p
}
