package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"unicode"

	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/auth"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
)

// current returns the request's session while it is good: signed, stored (not signed out
// or ended by an operator), not expired, and for a token sign-in its token still
// configured (same secret) for the same principal. A cookie that is no longer good is
// removed, so that the browser is not sent back and forth between the sign-in page and
// the pages. An error means the session store did not answer: the caller answers 503
// rather than signing anyone out.
func (s *Server) current(w http.ResponseWriter, r *http.Request) (session, bool, error) {
	sess, err := s.sessions.read(r)
	if err != nil && !errors.Is(err, errBadSession) {
		return session{}, false, err
	}
	ok := err == nil
	if ok && sess.Via == viaToken {
		p, still := s.opts.Tokens.Still(sess.Token)
		ok = still && p == sess.principal()
	}
	if !ok {
		if _, err := r.Cookie(sessionCookie); err == nil {
			s.sessions.clear(w, r)
		}
	}
	return sess, ok, nil
}

// unavailable answers a request whose session could not be looked up.
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("session store unavailable", zap.String("path", r.URL.Path), zap.Error(err))
	s.renderError(w, r, nil, http.StatusServiceUnavailable, "Die Anmeldung kann gerade nicht geprüft werden. Bitte versuchen Sie es gleich noch einmal.")
}

// home sends a signed-in user to the page their role starts from, others to sign in.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	sess, ok, err := s.current(w, r)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
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
	sess, ok, err := s.current(w, r)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	if ok {
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

// startSession stores the session, sets its cookie and sends the browser on to next (a
// path of this site only) or to the role's start page.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, sess session, next string) {
	if err := s.sessions.start(r.Context(), sess); err != nil {
		s.log.Error("store session", zap.Error(err))
		s.showSignIn(w, r, http.StatusServiceUnavailable, "Die Anmeldung kann gerade nicht gespeichert werden. Bitte versuchen Sie es gleich noch einmal.")
		return
	}
	s.sessions.set(w, r, sess)
	http.SetCookie(w, s.sessions.cookie(r, loginCookie, "", -1, http.SameSiteStrictMode))
	s.log.Info("signed in", zap.String("name", sess.Name), zap.String("role", string(sess.Role)), zap.String("via", sess.Via))
	if next = localPath(next); next == "" {
		next = homeOf(sess.Role)
	}
	http.Redirect(w, r, next, http.StatusSeeOther) // #nosec G710 -- next passed localPath (a path of this site) or is the role's start page
}

// signOut ends the session on every replica, not only in this browser: a copy of the
// cookie (and of its CSRF token) is worth nothing afterwards.
func (s *Server) signOut(q *request) error {
	if err := s.sessions.end(q.r.Context(), q.sess.ID); err != nil {
		return fmt.Errorf("sign out: %w", &starter.Error{Kind: starter.KindUnavailable, Msg: "the session store did not answer", Err: err})
	}
	s.sessions.clear(q.w, q.r)
	s.log.Info("signed out", zap.String("name", q.sess.Name), zap.String("via", q.sess.Via))
	http.Redirect(q.w, q.r, "/anmelden?ok=abgemeldet", http.StatusSeeOther)
	return nil
}

// localPath returns p if it is a plain path of this site, else "": a sign-in link must not
// send the browser elsewhere afterwards (open redirect). The path is judged as
// http.Redirect will send it, after cleaning: "/a/../%5Cevil.example/" is refused because
// it becomes "/\evil.example/", which browsers read as another host. Backslashes, control
// characters and anything with a scheme, a host or user info are refused anywhere.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\") || strings.IndexFunc(p, unsafeInPath) >= 0 {
		return ""
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	if strings.ContainsAny(u.Path, "\\") || strings.IndexFunc(u.Path, unsafeInPath) >= 0 {
		return "" // an escaped backslash or control character
	}
	clean := path.Clean(u.Path)
	if !strings.HasPrefix(clean, "/") || strings.HasPrefix(clean, "//") {
		return ""
	}
	if strings.HasSuffix(u.Path, "/") && clean != "/" {
		clean += "/"
	}
	u.Path, u.RawPath = clean, ""
	return u.String()
}

// unsafeInPath is a character no redirect target of the pages contains: control
// characters and blanks, which browsers strip or reinterpret.
func unsafeInPath(r rune) bool {
	return r <= ' ' || r == 0x7f || unicode.IsControl(r) || unicode.IsSpace(r)
}
