package integration

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/workflows"
)

// pageClient is a browser without a browser: a cookie jar, no redirects followed.
type pageClient struct {
	t    *testing.T
	h    *harness
	http *http.Client
	csrf string
}

var hiddenValue = regexp.MustCompile(`name="(login|csrf)" value="([0-9a-f]+)"`)

// signedIn signs caller in through the token form ("" stays signed out).
func (h *harness) signedIn(t *testing.T, caller string) *pageClient {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &pageClient{t: t, h: h, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if caller == "" {
		return c
	}
	_, body := c.do(http.MethodGet, "/anmelden", nil)
	login := hiddenValue.FindStringSubmatch(body)
	require.NotNil(t, login, body)
	code, _ := c.do(http.MethodPost, "/anmelden", url.Values{"login": {login[2]}, "token": {h.tokens[caller]}})
	require.Equal(t, http.StatusSeeOther, code)
	_, body = c.do(http.MethodGet, "/dienste", nil)
	csrf := hiddenValue.FindStringSubmatch(body)
	require.NotNil(t, csrf, body)
	c.csrf = csrf[2]
	return c
}

func (c *pageClient) do(method, path string, form url.Values) (int, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.h.api.URL+path, body)
	require.NoError(c.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp.StatusCode, string(raw)
}

// TestPagesFollowTheRoleMatrix walks every page for signed-in users with every kind of
// caller — project manager, operator, the run's own municipality, another municipality,
// nobody — and requires the answer the starter's role matrix gives, so that the pages
// cannot let anyone do what the API refuses. A form without the session's CSRF token is
// refused whoever sends it.
func TestPagesFollowTheRoleMatrix(t *testing.T) {
	t.Parallel()
	const own, started = "053740004004", "053740008008" // Bergneustadt (the harness's municipality), Engelskirchen
	h := newHarness(t, own, simulator.Config{})
	code, out := h.call("pm", http.MethodPost, "/api/v1/rollins", map[string]string{"ars": own, "service": wohngeld})
	require.Equal(t, http.StatusCreated, code, out)
	h.waitForAction(own, wohngeld, workflows.ActionSignAgreement)
	run := "/rollins/" + own + "/" + wohngeld
	// pm-sh and op-sh work for another organisation (ITVSH) than the run's (the
	// installation's own): to them the run does not exist.
	callers := []string{"pm", "operator", "municipality", "other", "pm-sh", "op-sh", ""}
	const (
		ok, redirect, forbidden, notFound, conflict, unauth = 200, 303, 403, 404, 409, 401
	)
	type want map[string]int
	cases := []struct {
		pattern, method, path string
		form                  url.Values
		want                  want
	}{
		{"GET /rollins", "GET", "/rollins", nil, want{"pm": ok, "operator": ok, "municipality": ok, "other": ok, "pm-sh": ok, "op-sh": ok, "": redirect}},
		{"GET /rollins.csv", "GET", "/rollins.csv", nil, want{"pm": ok, "operator": ok, "municipality": ok, "other": ok, "pm-sh": ok, "op-sh": ok, "": redirect}},
		{"GET /rollins/neu", "GET", "/rollins/neu", nil, want{"pm": ok, "operator": forbidden, "municipality": forbidden, "other": forbidden, "pm-sh": ok, "op-sh": forbidden, "": redirect}},
		{"POST /rollins/neu", "POST", "/rollins/neu", url.Values{"ars": {started}, "service": {wohngeld}}, want{"pm": redirect, "operator": forbidden, "municipality": forbidden, "other": forbidden, "pm-sh": conflict, "op-sh": forbidden, "": unauth}},
		{"GET /rollins/{ars}/{service}", "GET", run, nil, want{"pm": ok, "operator": ok, "municipality": ok, "other": notFound, "pm-sh": notFound, "op-sh": notFound, "": redirect}},
		{"POST /rollins/{ars}/{service}/aktion", "POST", run + "/aktion", url.Values{"action": {workflows.ActionConfirmTest}, "action_id": {"matrix-confirm"}, "received": {"ja"}},
			want{"pm": forbidden, "operator": forbidden, "municipality": conflict, "other": notFound, "pm-sh": forbidden, "op-sh": forbidden, "": unauth}},
		{"GET /stoerungen", "GET", "/stoerungen", nil, want{"pm": ok, "operator": ok, "municipality": ok, "other": ok, "pm-sh": ok, "op-sh": ok, "": redirect}},
		{"POST /stoerungen", "POST", "/stoerungen", url.Values{"action": {workflows.ActionRetryStep}, "bulk_id": {"matrix"}, "run": {own + "/" + wohngeld}},
			want{"pm": ok, "operator": ok, "municipality": ok, "other": ok, "pm-sh": ok, "op-sh": ok, "": unauth}},
		{"GET /ueberfaellig", "GET", "/ueberfaellig", nil, want{"pm": ok, "operator": ok, "municipality": ok, "other": ok, "pm-sh": ok, "op-sh": ok, "": redirect}},
		{"GET /abdeckung", "GET", "/abdeckung?land=05", nil, want{"pm": ok, "operator": ok, "municipality": forbidden, "other": forbidden, "pm-sh": ok, "op-sh": ok, "": redirect}},
		{"GET /abdeckung.svg", "GET", "/abdeckung.svg?land=05", nil, want{"pm": ok, "operator": ok, "municipality": forbidden, "other": forbidden, "pm-sh": ok, "op-sh": ok, "": redirect}},
		{"GET /dienste", "GET", "/dienste", nil, want{"pm": ok, "operator": ok, "municipality": ok, "other": ok, "pm-sh": ok, "op-sh": ok, "": redirect}},
		{"GET /dienste/{key}", "GET", "/dienste/" + wohngeld, nil, want{"pm": ok, "operator": ok, "municipality": ok, "other": ok, "pm-sh": ok, "op-sh": ok, "": redirect}},
		{"POST /abmelden", "POST", "/abmelden", url.Values{}, want{"pm": redirect, "operator": redirect, "municipality": redirect, "other": redirect, "pm-sh": redirect, "op-sh": redirect, "": unauth}},
	}
	var covered []string
	requests := 0
	for _, tc := range cases {
		covered = append(covered, tc.pattern)
		for _, caller := range callers {
			c := h.signedIn(t, caller)
			form := tc.form
			if form != nil {
				form = url.Values{}
				for k, v := range tc.form {
					form[k] = v
				}
				if caller != "" { // first without the CSRF token: refused, nothing done
					code, _ := c.do(tc.method, tc.path, form)
					requests++
					require.Equal(t, forbidden, code, "%s as %q without the CSRF token", tc.pattern, caller)
				}
				form.Set("csrf", c.csrf)
			}
			code, body := c.do(tc.method, tc.path, form)
			requests++
			require.Equal(t, tc.want[caller], code, "%s as %q: %s", tc.pattern, caller, body)
			if tc.pattern == "POST /stoerungen" && caller != "" {
				// The bulk form answers with a result per run: only the operator may act,
				// and this run has no incident to retry.
				require.Contains(t, body, "✗", "%s as %q", tc.pattern, caller)
			}
		}
	}
	require.ElementsMatch(t, h.pages.Routes(), covered, "the matrix covers every page for signed-in users")
	reportFigures(t, "pages: %d routes × %d callers (pm, operator, own and other municipality, pm and operator of another organisation, nobody): %d requests, each answered as the role matrix says; every form refused without its CSRF token", len(cases), len(callers), requests)
}
