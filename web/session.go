package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
)

// sessionCookie holds the signed-in user. It is signed, not stored: any `rollin serve`
// replica with the same web.session_secret accepts it, and nothing has to be cleaned up.
const sessionCookie = "rollin_session"

// loginCookie carries the random value the sign-in form repeats (double-submit), so that
// another site cannot sign a browser in under its own token (login CSRF).
const loginCookie = "rollin_login"

// Ways of signing in, kept in the session so that a token session ends with its token.
const (
	viaToken = "token"
	viaOIDC  = "oidc"
)

// session is the content of the session cookie.
type session struct {
	Name string      `json:"n"`
	Role domain.Role `json:"r"`
	ARS  string      `json:"a,omitempty"`
	Org  string      `json:"o,omitempty"`
	Via  string      `json:"v"`
	// Token is the fingerprint of the token a token session was signed in with.
	Token   string `json:"t,omitempty"`
	Expires int64  `json:"e"`
	// CSRF is the synchronizer token every form of the session repeats.
	CSRF string `json:"c"`
}

func (s session) principal() starter.Principal {
	return starter.Principal{Name: s.Name, Role: s.Role, ARS: domain.ARS(s.ARS), Organisation: domain.Organisation(s.Org)}
}

// sessions signs and checks session cookies.
type sessions struct {
	key    []byte
	ttl    time.Duration
	secure bool // Secure even on plain HTTP: TLS ends at a proxy in front
	now    func() time.Time
}

var errBadSession = errors.New("web: session cookie is not valid")

// newSession makes the session of p, signed in via; token is the fingerprint of the token
// of a token sign-in.
func (m *sessions) newSession(p starter.Principal, via, token string) session {
	return session{
		Name: p.Name, Role: p.Role, ARS: string(p.ARS), Org: string(p.Organisation), Via: via, Token: token,
		Expires: m.now().Add(m.ttl).Unix(), CSRF: randomToken(),
	}
}

func (m *sessions) encode(s session) string { return m.seal("session", s) }

func (m *sessions) decode(value string) (session, error) {
	var s session
	if !m.unseal("session", value, &s) || s.CSRF == "" || m.now().Unix() >= s.Expires {
		return session{}, errBadSession
	}
	return s, nil
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

// read returns the request's session, if it has a valid one.
func (m *sessions) read(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	s, err := m.decode(c.Value)
	return s, err == nil
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
