package integration

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/systems/simulator"
)

// TestSignedOutSessionIsDead: with the real starter, Temporal and PostgreSQL, a copy of a
// project manager's session cookie and CSRF token, taken before they signed out, starts
// no run afterwards; and once an operator has ended a token's sessions through the API,
// that token's open page sessions are gone, while an operator of another organisation
// ends none of them.
func TestSignedOutSessionIsDead(t *testing.T) {
	t.Parallel()
	const ars = "053740004004" // Bergneustadt, the harness's municipality
	h := newHarness(t, ars, simulator.Config{})
	base, err := url.Parse(h.api.URL)
	require.NoError(t, err)

	pm := h.signedIn(t, "pm")
	stolen := pm.http.Jar.Cookies(base)
	require.NotEmpty(t, stolen)
	code, _ := pm.do(http.MethodPost, "/abmelden", url.Values{"csrf": {pm.csrf}})
	require.Equal(t, http.StatusSeeOther, code)

	thief := h.signedIn(t, "")
	thief.http.Jar.SetCookies(base, stolen)
	code, body := thief.do(http.MethodPost, "/rollins/neu", url.Values{"csrf": {pm.csrf}, "ars": {ars}, "service": {wohngeld}})
	require.Equal(t, http.StatusUnauthorized, code, body)
	code, out := h.call("pm", http.MethodGet, "/api/v1/rollins/"+ars+"/"+wohngeld, nil)
	require.Equal(t, http.StatusNotFound, code, "no run was started: %v", out)

	// An operator ends every page session of the d-NRW project manager's token.
	nrw, again := h.signedIn(t, "pm-nrw"), h.signedIn(t, "pm-nrw")
	code, out = h.call("op-sh", http.MethodDelete, "/api/v1/sessions/pl-dnrw", nil)
	require.Equal(t, http.StatusOK, code, out)
	require.EqualValues(t, 0, out["ended"], "another organisation's operator ends none")
	code, _ = nrw.do(http.MethodGet, "/rollins", nil)
	require.Equal(t, http.StatusOK, code, "still signed in")
	code, out = h.call("op-nrw", http.MethodDelete, "/api/v1/sessions/pl-dnrw", nil)
	require.Equal(t, http.StatusOK, code, out)
	require.EqualValues(t, 2, out["ended"])
	for _, c := range []*pageClient{nrw, again} {
		code, _ = c.do(http.MethodGet, "/rollins", nil)
		require.Equal(t, http.StatusSeeOther, code, "sent to sign in")
		code, _ = c.do(http.MethodPost, "/rollins/neu", url.Values{"csrf": {c.csrf}, "ars": {ars}, "service": {wohngeld}})
		require.Equal(t, http.StatusUnauthorized, code)
	}
}
