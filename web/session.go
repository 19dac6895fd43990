package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/store"
)

// sessionCookie holds the signed-in user's session ID, signed with web.session_secret.
// The session itself (who, how signed in, its CSRF token, until when) lives in the
// database (store.Session), so that every `rollin serve` replica on it sees the same
// sessions and signing out, or an operator ending a token's sessions, ends them at once.
const sessionCookie = "rollin_session"

// loginCookie carries the random value the sign-in form repeats (double-submit), so that
// another site cannot sign a browser in under its own token (login CSRF).
const loginCookie = "rollin_login"

// Ways of signing in, kept in the session so that a token session ends with its token.
const (
	viaToken = "token"
	viaOIDC  = "oidc"
)

// SessionStore keeps the sessions of the pages: *store.Store, whose table all replicas
// share.
type SessionStore interface {
	CreateSession(ctx context.Context, s store.Session) error
	Session(ctx context.Context, id string) (store.Session, error)
	DeleteSession(ctx context.Context, id string) error
}

// session is one sign-in, as the pages use it.
type session struct {
	// ID is the random value the cookie carries (256 bits).
	ID   string
	Name string
	Role domain.Role
	ARS  string
	Org  string
	Via  string
	// Token is the fingerprint of the token a token session was signed in with.
	Token   string
	Expires int64
	// CSRF is the synchronizer token every form of the session repeats.
	CSRF string
}

func (s session) principal() starter.Principal {
	return starter.Principal{Name: s.Name, Role: s.Role, ARS: domain.ARS(s.ARS), Organisation: domain.Organisation(s.Org)}
}

// sessions signs session cookies and keeps the sessions in db.
type sessions struct {
	key    []byte
	ttl    time.Duration
	secure bool // Secure even on plain HTTP: TLS ends at a proxy in front
	now    func() time.Time
	db     SessionStore
}

// errBadSession is a cookie that names no current session: forged, signed out, ended by
// an operator, or expired. Other errors of read mean the session store did not answer.
var errBadSession = errors.New("web: session cookie is not valid")

// newSession makes the session of p, signed in via; token is the fingerprint of the token
// of a token sign-in.
func (m *sessions) newSession(p starter.Principal, via, token string) session {
	return session{
		ID: randomToken() + randomToken(), Name: p.Name, Role: p.Role, ARS: string(p.ARS), Org: string(p.Organisation),
		Via: via, Token: token, Expires: m.now().Add(m.ttl).Unix(), CSRF: randomToken(),
	}
}

// start stores a new session, so that every replica accepts its cookie.
func (m *sessions) start(ctx context.Context, s session) error {
	return m.db.CreateSession(ctx, store.Session{
		ID: s.ID, Name: s.Name, Role: s.Role, ARS: s.ARS, Organisation: s.Org, Via: s.Via, Token: s.Token, CSRF: s.CSRF,
		Created: m.now(), Expires: time.Unix(s.Expires, 0),
	})
}

// end deletes the session of id on every replica (sign-out).
func (m *sessions) end(ctx context.Context, id string) error { return m.db.DeleteSession(ctx, id) }

// cookieValue is what the session cookie carries: the session ID alone.
type cookieValue struct {
	ID string `json:"s"`
}

func (m *sessions) encode(s session) string { return m.seal("session", cookieValue{ID: s.ID}) }

// decode checks a cookie's signature and returns the session ID it carries.
func (m *sessions) decode(value string) (string, error) {
	var c cookieValue
	if !m.unseal("session", value, &c) || len(c.ID) < 32 {
		return "", errBadSession
	}
	return c.ID, nil
}

// seal signs v as a cookie value: base64 JSON and its HMAC, bound to purpose so that a
// value sealed for one cookie is never accepted as another.
func (m *sessions) seal(purpose string, v any) string {
	payload, _ := json.Marshal(v) // structs of strings and ints always marshal
	body := base64.RawURLEncoding.EncodeToString(payload)
	return body + "." + base64.RawURLEncoding.EncodeToString(m.sign(purpose, body))
}

// unseal checks the signature of a sealed value and decodes it into v.
func (m *sessions) unseal(purpose, value string, v any) bool {
	body, sig, ok := strings.Cut(value, ".")
	if !ok {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, m.sign(purpose, body)) {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(body)
	return err == nil && json.Unmarshal(payload, v) == nil
}

func (m *sessions) sign(purpose, body string) []byte {
	mac := hmac.New(sha256.New, m.key)
	mac.Write([]byte(purpose + "\x00" + body))
	return mac.Sum(nil)
}

// read returns the request's session: errBadSession when the request has none that is
// current, another error when the session store did not answer.
func (m *sessions) read(r *http.Request) (session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, errBadSession
	}
	id, err := m.decode(c.Value)
	if err != nil {
		return session{}, err
	}
	st, err := m.db.Session(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return session{}, errBadSession
	case err != nil:
		return session{}, fmt.Errorf("web: look up session: %w", err)
	case !m.now().Before(st.Expires):
		return session{}, errBadSession
	}
	return session{
		ID: id, Name: st.Name, Role: st.Role, ARS: st.ARS, Org: st.Organisation, Via: st.Via, Token: st.Token,
		Expires: st.Expires.Unix(), CSRF: st.CSRF,
	}, nil
}

// set writes the session cookie: HttpOnly (no script reads it), SameSite=Strict (no other
// site's page sends it), Secure under TLS.
func (m *sessions) set(w http.ResponseWriter, r *http.Request, s session) {
	http.SetCookie(w, m.cookie(r, sessionCookie, m.encode(s), int(m.ttl.Seconds()), http.SameSiteStrictMode))
}

// clear removes the session cookie (sign-out).
func (m *sessions) clear(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, m.cookie(r, sessionCookie, "", -1, http.SameSiteStrictMode))
}

func (m *sessions) cookie(r *http.Request, name, value string, maxAge int, same http.SameSite) *http.Cookie {
	return &http.Cookie{ // #nosec G124 -- HttpOnly and SameSite always; Secure under TLS or when web.secure_cookies says TLS ends in front
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: same, Secure: m.secure || r.TLS != nil,
	}
}

// sameToken compares a form's token with the expected one in constant time.
func sameToken(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// randomToken returns 128 random bits in hex: CSRF tokens, action IDs, the sign-in form's
// double-submit value, a random session key.
func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
