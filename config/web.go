package config

import (
	"fmt"
	"maps"
	"net/url"
	"time"
)

// Web configures the pages for people (sign-in, sessions) of `rollin serve` and
// `rollin-dev`.
type Web struct {
	// SessionSecret signs session cookies (at least 32 bytes). Replicas of `rollin serve`
	// behind one load balancer need the same one; empty makes a random secret per
	// process, so that a restart signs everyone out. Keep it out of version control
	// (ROLLIN_WEB_SESSION_SECRET).
	SessionSecret string `mapstructure:"session_secret" yaml:"session_secret,omitempty"`
	// SessionTTL is how long a sign-in lasts.
	SessionTTL time.Duration `mapstructure:"session_ttl"`
	// SecureCookies marks cookies Secure although requests arrive by plain HTTP: set it
	// when TLS ends at a proxy in front of Rollin (under http.tls_* they are anyway).
	SecureCookies bool `mapstructure:"secure_cookies"`
	// TokenSignIn offers the sign-in with an API token of auth.tokens: for development
	// and small installations without an identity provider.
	TokenSignIn bool `mapstructure:"token_sign_in"`
	OIDC        OIDC `mapstructure:"oidc"`
}

// OIDC configures the sign-in at the organisation's identity provider (OpenID Connect,
// authorization code flow with PKCE). An empty Issuer turns it off.
type OIDC struct {
	// Issuer is the provider's issuer URL, e.g. https://login.example.org/realms/kommunen
	// for Keycloak; its /.well-known/openid-configuration is read on first use.
	Issuer   string `mapstructure:"issuer"`
	ClientID string `mapstructure:"client_id"`
	// ClientSecret is the confidential client's secret (empty for a public client, which
	// PKCE protects). Keep it in the environment (ROLLIN_WEB_OIDC_CLIENT_SECRET).
	ClientSecret string `mapstructure:"client_secret" yaml:"client_secret,omitempty"`
	// RedirectURL is this installation's callback as registered at the provider:
	// https://<host>/anmelden/oidc/zurueck.
	RedirectURL string   `mapstructure:"redirect_url"`
	Scopes      []string `mapstructure:"scopes"`
	// NameClaim names the person in the audit log (sub when the claim is missing).
	NameClaim string `mapstructure:"name_claim"`
	// RoleClaim holds the person's roles, a string or a list; a dotted name reaches into
	// nested claims (Keycloak: realm_access.roles).
	RoleClaim string `mapstructure:"role_claim"`
	// Roles are the values of RoleClaim that mean Rollin's roles.
	Roles OIDCRoles `mapstructure:"roles"`
	// ARSClaim holds a municipality person's 12-digit ARS.
	ARSClaim string `mapstructure:"ars_claim"`
	// OrganisationClaim holds a project manager's or operator's organisation (e.g. d-nrw);
	// a missing claim is the installation's own.
	OrganisationClaim string `mapstructure:"organisation_claim"`
}

// OIDCRoles are the role values the identity provider issues for Rollin's roles.
type OIDCRoles struct {
	PM           string `mapstructure:"pm"`
	Operator     string `mapstructure:"operator"`
	Municipality string `mapstructure:"municipality"`
}

// webDefaults are the defaults of the web.* keys.
var webDefaults = map[string]any{
	"web.session_secret":          "",
	"web.session_ttl":             8 * time.Hour,
	"web.secure_cookies":          false,
	"web.token_sign_in":           true,
	"web.oidc.issuer":             "",
	"web.oidc.client_id":          "",
	"web.oidc.client_secret":      "",
	"web.oidc.redirect_url":       "",
	"web.oidc.scopes":             []string{"openid", "profile", "email"},
	"web.oidc.name_claim":         "preferred_username",
	"web.oidc.role_claim":         "realm_access.roles",
	"web.oidc.roles.pm":           "rollin-pm",
	"web.oidc.roles.operator":     "rollin-operator",
	"web.oidc.roles.municipality": "rollin-municipality",
	"web.oidc.ars_claim":          "ars",
	"web.oidc.organisation_claim": "organisation",
}

func (w Web) validate() error {
	if w.SessionSecret != "" && len(w.SessionSecret) < 32 {
		return &KeyError{"web.session_secret", fmt.Sprintf("%d bytes: use at least 32 random bytes", len(w.SessionSecret))}
	}
	if w.SessionTTL < time.Minute || w.SessionTTL > 30*24*time.Hour {
		return &KeyError{"web.session_ttl", fmt.Sprintf("%s: must be between 1m and 720h", w.SessionTTL)}
	}
	o := w.OIDC
	if o.Issuer == "" {
		return nil
	}
	for key, raw := range map[string]string{"web.oidc.issuer": o.Issuer, "web.oidc.redirect_url": o.RedirectURL} {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return &KeyError{key, fmt.Sprintf("%q is not an http(s) URL", raw)}
		}
	}
	for key, v := range map[string]string{
		"web.oidc.client_id": o.ClientID, "web.oidc.role_claim": o.RoleClaim, "web.oidc.ars_claim": o.ARSClaim,
		"web.oidc.roles.pm": o.Roles.PM, "web.oidc.roles.operator": o.Roles.Operator, "web.oidc.roles.municipality": o.Roles.Municipality,
	} {
		if v == "" {
			return &KeyError{key, "required when web.oidc.issuer is set"}
		}
	}
	if o.Roles.PM == o.Roles.Operator || o.Roles.PM == o.Roles.Municipality || o.Roles.Operator == o.Roles.Municipality {
		return &KeyError{"web.oidc.roles", "pm, operator and municipality need three different values"}
	}
	return nil
}

// The web.* keys live beside their struct; they join the other defaults (and so Keys and
// the environment variables) here.
func init() { maps.Copy(defaults, webDefaults) }
