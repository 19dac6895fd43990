package auth_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/auth"
	"github.com/rollin-efa/rollin/auth/oidctest"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
)

// oidcConfig is the configuration's defaults (Keycloak's claim layout) for provider p.
func oidcConfig(p *oidctest.Provider) auth.OIDCConfig {
	return auth.OIDCConfig{
		Issuer: p.URL, ClientID: p.ClientID, ClientSecret: p.ClientSecret, RedirectURL: "http://rollin.test/anmelden/oidc/zurueck",
		Scopes: []string{"openid", "profile"}, NameClaim: "preferred_username", RoleClaim: "realm_access.roles",
		Roles:    auth.OIDCRoles{PM: "rollin-pm", Operator: "rollin-operator", Municipality: "rollin-municipality"},
		ARSClaim: "ars", OrganisationClaim: "organisation",
	}
}

// signIn walks the browser's part: to the provider's authorization endpoint and back,
// returning the code and state the provider sent back.
func signIn(t *testing.T, p *oidctest.Provider, o *auth.OIDC, l auth.Login) (code, state string) {
	t.Helper()
	target, err := o.AuthURL(t.Context(), l)
	require.NoError(t, err)
	u, err := url.Parse(target)
	require.NoError(t, err)
	require.Equal(t, "S256", u.Query().Get("code_challenge_method"), "PKCE")
	require.NotContains(t, target, l.Verifier, "the verifier never leaves Rollin")
	// The provider's sign-in page posts the authorization request on; post it directly.
	page, err := http.Get(target)
	require.NoError(t, err)
	require.NoError(t, page.Body.Close())
	require.Equal(t, http.StatusOK, page.StatusCode)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.PostForm(p.URL+"/authorize", u.Query())
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	back, err := resp.Location()
	require.NoError(t, err)
	require.Equal(t, "rollin.test", back.Host)
	return back.Query().Get("code"), back.Query().Get("state")
}

// TestOIDCSignInWithPKCE signs in against a provider started in the test: discovery, the
// code flow with PKCE, an RS256 ID token checked against the provider's JWKS, and claims
// mapped to role, ARS and organisation.
func TestOIDCSignInWithPKCE(t *testing.T) {
	p := oidctest.New(t)
	o := auth.NewOIDC(oidcConfig(p), nil)

	for _, tc := range []struct {
		name   string
		claims map[string]any
		want   starter.Principal
		err    string
	}{
		{
			name:   "project manager of an organisation, Keycloak realm roles",
			claims: map[string]any{"sub": "u1", "preferred_username": "pl.mueller", "realm_access": map[string]any{"roles": []any{"offline_access", "rollin-pm"}}, "organisation": "d-nrw"},
			want:   starter.Principal{Name: "pl.mueller", Role: domain.RolePM, Organisation: "d-nrw"},
		},
		{
			name:   "municipality with its ARS",
			claims: map[string]any{"sub": "u2", "preferred_username": "kommune.muenster", "realm_access": map[string]any{"roles": []any{"rollin-municipality"}}, "ars": "055150000000"},
			want:   starter.Principal{Name: "kommune.muenster", Role: domain.RoleMunicipality, ARS: "055150000000"},
		},
		{
			name:   "a municipality role wins over a wider one",
			claims: map[string]any{"sub": "u3", "realm_access": map[string]any{"roles": []any{"rollin-operator", "rollin-municipality"}}, "ars": "055150000000"},
			want:   starter.Principal{Name: "u3", Role: domain.RoleMunicipality, ARS: "055150000000"},
		},
		{
			name:   "municipality without ARS",
			claims: map[string]any{"sub": "u4", "realm_access": map[string]any{"roles": []any{"rollin-municipality"}}},
			err:    `claim "ars" holds no ARS`,
		},
		{
			name:   "no Rollin role",
			claims: map[string]any{"sub": "u5", "realm_access": map[string]any{"roles": []any{"offline_access"}}},
			err:    "has no Rollin role",
		},
		{
			name:   "malformed organisation",
			claims: map[string]any{"sub": "u6", "realm_access": map[string]any{"roles": []any{"rollin-pm"}}, "organisation": "D NRW"},
			err:    `claim "organisation"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.SignInAs(tc.claims)
			l := auth.NewLogin()
			code, state := signIn(t, p, o, l)
			require.Equal(t, l.State, state)
			got, err := o.Exchange(t.Context(), l, code)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// TestOIDCRefusesWhatAnAttackerCouldBring: a stolen code without the verifier, a code used
// twice, an ID token for another sign-in (nonce), and one not signed by the provider.
func TestOIDCRefusesWhatAnAttackerCouldBring(t *testing.T) {
	p := oidctest.New(t)
	o := auth.NewOIDC(oidcConfig(p), nil)
	p.SignInAs(map[string]any{"sub": "u1", "realm_access": map[string]any{"roles": []any{"rollin-pm"}}})

	l := auth.NewLogin()
	code, _ := signIn(t, p, o, l)
	stolen := l
	stolen.Verifier = auth.NewLogin().Verifier
	_, err := o.Exchange(t.Context(), stolen, code)
	require.ErrorContains(t, err, "invalid_grant", "a code without its PKCE verifier is worthless")
	_, err = o.Exchange(t.Context(), l, code)
	require.ErrorContains(t, err, "invalid_grant", "a code is redeemed once")

	l = auth.NewLogin()
	code, _ = signIn(t, p, o, l)
	other := l
	other.Nonce = "another-sign-in"
	_, err = o.Exchange(t.Context(), other, code)
	require.ErrorContains(t, err, "nonce")

	p.ForgeSignatures()
	l = auth.NewLogin()
	code, _ = signIn(t, p, o, l)
	_, err = o.Exchange(t.Context(), l, code)
	require.ErrorContains(t, err, "verify ID token")
}

// TestOIDCDiscoversOnFirstUse: Rollin starts while the provider is down and signs people
// in once it answers.
func TestOIDCDiscoversOnFirstUse(t *testing.T) {
	cfg := auth.OIDCConfig{Issuer: "http://127.0.0.1:1/realms/none", ClientID: "rollin"}
	_, err := auth.NewOIDC(cfg, nil).AuthURL(t.Context(), auth.NewLogin())
	require.ErrorContains(t, err, "web.oidc.issuer")
}
