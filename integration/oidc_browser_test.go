package integration

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/auth"
	"github.com/rollin-efa/rollin/auth/oidctest"
	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/web"
	"github.com/rollin-efa/rollin/workflows"
)

// TestOIDCSignInInTheBrowser signs a municipality in at an OpenID Connect provider started
// in the test, in Chromium: discovery, the code flow with PKCE, the signed ID token, the
// role and ARS from its claims. Rollin is served as localhost and the provider as
// 127.0.0.1, two sites, so the browser applies SameSite as it would with a real identity
// provider: the sign-in's state cookie must come back on the provider's redirect, and the
// Strict session cookie must be sent once the browser is back. A refused sign-in starts no
// session.
func TestOIDCSignInInTheBrowser(t *testing.T) {
	t.Parallel()
	const gummersbach, other = "053740012012", "053740004004"
	h := newHarness(t, gummersbach, simulator.Config{})
	code, out := h.call("pm", http.MethodPost, "/api/v1/rollins", map[string]string{"ars": gummersbach, "service": wohngeld})
	require.Equal(t, http.StatusCreated, code, out)
	h.waitForAction(gummersbach, wohngeld, workflows.ActionSignAgreement)

	idp := oidctest.New(t)
	var pages http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { pages.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	base := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	o := auth.NewOIDC(auth.OIDCConfig{
		Issuer: idp.URL, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret, RedirectURL: base + "/anmelden/oidc/zurueck",
		Scopes: []string{"openid", "profile"}, NameClaim: "preferred_username", RoleClaim: "realm_access.roles",
		Roles:    auth.OIDCRoles{PM: "rollin-pm", Operator: "rollin-operator", Municipality: "rollin-municipality"},
		ARSClaim: "ars", OrganisationClaim: "organisation",
	}, nil)
	var err error
	pages, err = web.New(h.starter, web.Options{OIDC: o, Sessions: h.store, Log: h.log}) // no tokens: the identity provider only
	require.NoError(t, err)

	b := newBrowser(t, base, nil)

	// Refused at the provider: back on the sign-in page, with the reason, and no session.
	b.open("/anmelden")
	require.NotContains(t, b.text("main"), "API-Token", "no token sign-in configured")
	b.run(chromedp.Click(`a[href^="/anmelden/oidc"]`, chromedp.ByQuery), chromedp.WaitReady("#idp-sign-in", chromedp.ByQuery))
	b.submit("#idp-sign-in")
	require.Contains(t, b.text("p.error"), "abgelehnt")
	b.open("/rollins")
	require.Contains(t, b.text("h1"), "Anmelden")

	// Signed in as Gummersbach's staff: the municipality's own runs, and only those.
	idp.SignInAs(map[string]any{"sub": "k-4711", "preferred_username": "kommune.gummersbach",
		"realm_access": map[string]any{"roles": []any{"offline_access", "rollin-municipality"}}, "ars": gummersbach})
	b.open("/anmelden?weiter=/rollins/" + gummersbach + "/" + wohngeld)
	b.run(chromedp.Click(`a[href^="/anmelden/oidc"]`, chromedp.ByQuery), chromedp.WaitReady("#idp-sign-in", chromedp.ByQuery),
		chromedp.Click("#idp-sign-in", chromedp.ByQuery))
	var path string
	require.Eventually(t, func() bool { // through the provider and Rollin's signed-in page, which moves on by itself
		var loc string
		err := chromedp.Run(b.ctx, chromedp.Location(&loc))
		u, _ := url.Parse(loc)
		if err != nil || u == nil || u.Host != strings.TrimPrefix(base, "http://") || !strings.HasPrefix(u.Path, "/rollins/") {
			return false
		}
		path = u.Path
		return true
	}, 10*time.Second, 50*time.Millisecond)
	b.run(chromedp.WaitReady("main .facts", chromedp.ByQuery))
	b.check()
	require.Equal(t, "/rollins/"+gummersbach+"/"+wohngeld, path, "back where the sign-in began")
	require.Contains(t, b.text("form.signout span"), "kommune.gummersbach (Kommune, ARS "+gummersbach+")")
	require.Contains(t, b.text("main"), "Vereinbarung unterzeichnen", "the municipality's task is shown")
	b.open("/rollins/" + other + "/" + wohngeld)
	require.Contains(t, b.text("p.error"), "Nicht gefunden", "another municipality's run does not exist for it")
	require.Equal(t, 1, idp.TokensIssued(), "one ID token: the refused sign-in never reached the token endpoint")

	require.Empty(t, b.violations, "axe-core: serious or critical violations")
}
