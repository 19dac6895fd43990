package web

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
)

// TestSessionCookie: the cookie carries the session ID and survives its round trip; a
// changed, re-signed with another key, truncated or empty cookie names no session.
func TestSessionCookie(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	m := &sessions{key: []byte("0123456789abcdef0123456789abcdef"), ttl: time.Hour, now: func() time.Time { return now }}
	p := starter.Principal{Name: "kommune", Role: domain.RoleMunicipality, ARS: "055150000000"}
	s := m.newSession(p, viaToken, "fp")
	value := m.encode(s)
	require.Len(t, s.ID, 64, "256 random bits")
	require.Len(t, s.CSRF, 32)
	require.Equal(t, p, s.principal())
	require.NotContains(t, value, s.CSRF, "the cookie carries the ID only")

	id, err := m.decode(value)
	require.NoError(t, err)
	require.Equal(t, s.ID, id)

	body, sig, _ := strings.Cut(value, ".")
	forged := m.encode(session{ID: strings.Repeat("0", 64)})
	other := &sessions{key: []byte("another key, another installation"), ttl: time.Hour, now: m.now}
	for name, v := range map[string]string{
		"ID changed, old signature": strings.SplitN(forged, ".", 2)[0] + "." + sig,
		"signed with another key":   other.encode(s),
		"no signature":              body,
		"signature only":            "." + sig,
		"empty":                     "",
	} {
		_, err := m.decode(v)
		require.ErrorIs(t, err, errBadSession, name)
	}
}

// TestSessionCookieAttributes: HttpOnly and SameSite=Strict always, Secure under TLS or
// when TLS ends at a proxy in front.
func TestSessionCookieAttributes(t *testing.T) {
	for _, tc := range []struct {
		name         string
		tls, proxied bool
		secure       bool
	}{
		{"plain HTTP (development)", false, false, false},
		{"TLS", true, false, true},
		{"TLS at a proxy", false, true, true},
	} {
		m := &sessions{key: []byte("k"), ttl: time.Hour, secure: tc.proxied, now: time.Now}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		w := httptest.NewRecorder()
		m.set(w, r, m.newSession(starter.Principal{Name: "pl", Role: domain.RolePM}, viaToken, "fp"))
		c := w.Result().Cookies()[0]
		require.Equal(t, sessionCookie, c.Name, tc.name)
		require.True(t, c.HttpOnly, tc.name)
		require.Equal(t, http.SameSiteStrictMode, c.SameSite, tc.name)
		require.Equal(t, tc.secure, c.Secure, tc.name)
		require.Equal(t, 3600, c.MaxAge, tc.name)
	}
}

// TestLocalPath: after signing in the browser goes to plain paths of this site only,
// judged as the browser will read the redirect (after cleaning, with escapes decoded).
func TestLocalPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/rollins?state=waiting", "/rollins?state=waiting"},
		{"/rollins/055150000000/1", "/rollins/055150000000/1"},
		{"/", "/"},
		{"/dienste/", "/dienste/"},
		{"/a/../rollins", "/rollins"},
		{"/rollins?q=%5C", "/rollins?q=%5C"}, // a backslash in the query sends nobody elsewhere
		// Hostile: each would leave the site, now or after http.Redirect cleans it.
		{"/a/../%5Cevil.example/", ""},
		{"/%5Cevil.example", ""},
		{"/%5cevil.example", ""},
		{"/\\evil.example", ""},
		{"\\\\evil.example", ""},
		{"//evil.example/", ""},
		{"/a/..//evil.example", "/evil.example"},
		{"/%2F%2Fevil.example", "/evil.example"},
		{"///evil.example", "/evil.example"},
		{"/.//evil.example", "/evil.example"},
		{"/\t/evil.example", ""},
		{"/%09/evil.example", ""},
		{"/%0d%0aSet-Cookie:x", ""},
		{"/ evil", ""},
		{"https://evil.example/", ""},
		{"https:evil.example", ""},
		{"javascript:alert(1)", ""},
		{"rollins", ""},
		{"", ""},
	} {
		got := localPath(tc.in)
		require.Equal(t, tc.want, got, tc.in)
		if got != "" { // what http.Redirect sends stays on this site
			rec := httptest.NewRecorder()
			http.Redirect(rec, httptest.NewRequest(http.MethodGet, "/anmelden", nil), got, http.StatusSeeOther)
			loc := rec.Header().Get("Location")
			require.True(t, strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") && !strings.Contains(loc, "\\"), "%s redirects to %s", tc.in, loc)
		}
	}
}

// TestSignInRedirectStaysOnSite: the sign-in form's "weiter" cannot send the browser to
// another host, whatever escapes it holds.
func TestSignInRedirectStaysOnSite(t *testing.T) {
	s := pagesWith(t, &memSessions{}, plEntry)
	page := serve(s, http.MethodGet, "/anmelden", nil)
	login := cookie(page, loginCookie)
	resp := serve(s, http.MethodPost, "/anmelden", url.Values{"login": {login.Value}, "token": {plToken}, "weiter": {"/a/../%5Cevil.example/"}}, login)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/rollins", resp.Header.Get("Location"), "the role's start page instead")
}

// TestCSVSafe: a cell a spreadsheet would read as a formula is quoted.
func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{
		"Münster, Stadt": "Münster, Stadt", "=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")", "+1": "'+1", "-2": "'-2", "@SUM(A1)": "'@SUM(A1)", "\t=1": "'\t=1", "\r=1": "'\r=1", "": "",
	} {
		require.Equal(t, want, csvSafe(in), in)
	}
}

// TestCoverageChartEscapesNames: names from the register reach the SVG as text only.
func TestCoverageChartEscapesNames(t *testing.T) {
	svg := string(coverageChart(`Dienst <script>`, "", []domain.CoverageGroup{
		{Key: "05", Name: `<img src=x onerror=alert(1)>`, Municipalities: 4, ByState: map[domain.RunState]int{domain.RunLive: 1, domain.RunWaiting: 2}},
	}))
	require.NotContains(t, svg, "<script>")
	require.NotContains(t, svg, "<img")
	require.Contains(t, svg, "&lt;img src=x onerror=alert(1)&gt;")
	require.Equal(t, 3, strings.Count(svg, `class="seg"`), "one segment per state with runs, one for the municipalities without")
	require.Contains(t, svg, `width="115.0"`, "one of four municipalities live: a quarter of the 460-pixel bar")
}
