package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
)

// OIDC signs people in at the organisation's identity provider (Keycloak, typically) with
// the authorization code flow and PKCE, and maps the ID token's claims to a Principal.
// The provider is discovered on first use, not at start-up, so that Rollin starts while
// the identity provider is down and signs people in once it is back.
type OIDC struct {
	cfg    OIDCConfig
	client *http.Client

	mu       sync.Mutex
	provider *oidc.Provider
}

// OIDCConfig is the sign-in at the organisation's identity provider (web.oidc; see the
// configuration's documentation of each key).
type OIDCConfig struct {
	// Issuer is the provider's issuer URL; its /.well-known/openid-configuration is read
	// on first use.
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is this installation's callback as registered at the provider.
	RedirectURL string
	Scopes      []string
	// NameClaim names the person in the audit log (sub when the claim is missing).
	NameClaim string
	// RoleClaim holds the person's roles, a string or a list; a dotted name reaches into
	// nested claims (Keycloak: realm_access.roles).
	RoleClaim string
	// Roles are the values of RoleClaim that mean Rollin's roles.
	Roles OIDCRoles
	// ARSClaim holds a municipality person's 12-digit ARS.
	ARSClaim string
	// OrganisationClaim holds a project manager's or operator's organisation.
	OrganisationClaim string
}

// OIDCRoles are the role values the identity provider issues for Rollin's roles.
type OIDCRoles struct {
	PM, Operator, Municipality string
}

// providerTimeout bounds one request to the identity provider (discovery, keys, the token
// exchange): a provider that hangs must not hold a sign-in, and its server goroutine, for
// ever.
const providerTimeout = 10 * time.Second

// NewOIDC returns the sign-in of cfg. client, if not nil, is used for discovery, keys and
// the token exchange (tests: an in-test provider's TLS client); nil means a client with
// timeouts (providerTimeout per request), not http.DefaultClient, which has none.
func NewOIDC(cfg OIDCConfig, client *http.Client) *OIDC {
	if client == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.TLSHandshakeTimeout = 5 * time.Second
		transport.ResponseHeaderTimeout = providerTimeout
		client = &http.Client{Timeout: providerTimeout, Transport: transport}
	}
	return &OIDC{cfg: cfg, client: client}
}

// Login is what a sign-in keeps between sending the browser to the provider and its
// return: state against forged returns, nonce against replayed ID tokens, the PKCE
// verifier against stolen codes.
type Login struct {
	State, Nonce, Verifier string
}

// NewLogin makes the secrets of one sign-in.
func NewLogin() Login {
	return Login{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier()}
}

// discover returns the provider, discovering it on first use. The lock guards the field
// only, never the network: while the provider is slow or down, each sign-in waits for its
// own discovery (bounded by its context and providerTimeout), not for another's. Two
// first sign-ins at once may both discover; the first result is kept.
func (o *OIDC) discover(ctx context.Context) (*oidc.Provider, error) {
	o.mu.Lock()
	p := o.provider
	o.mu.Unlock()
	if p != nil {
		return p, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, o.client), o.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc: discover %s (web.oidc.issuer): %w", o.cfg.Issuer, err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider == nil {
		o.provider = p
	}
	return o.provider, nil
}

func (o *OIDC) oauth(p *oidc.Provider) *oauth2.Config {
	scopes := append([]string{oidc.ScopeOpenID}, o.cfg.Scopes...)
	return &oauth2.Config{
		ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: slices.Compact(scopes),
	}
}

// AuthURL is where the browser goes to sign in: the provider's authorization endpoint
// with the login's state, nonce and S256 code challenge.
func (o *OIDC) AuthURL(ctx context.Context, l Login) (string, error) {
	p, err := o.discover(ctx)
	if err != nil {
		return "", err
	}
	return o.oauth(p).AuthCodeURL(l.State, oidc.Nonce(l.Nonce), oauth2.S256ChallengeOption(l.Verifier)), nil
}

// Exchange redeems the code the provider returned with, verifies the ID token (issuer,
// audience, signature, expiry, nonce) and returns whom it names.
func (o *OIDC) Exchange(ctx context.Context, l Login, code string) (starter.Principal, error) {
	p, err := o.discover(ctx)
	if err != nil {
		return starter.Principal{}, err
	}
	ctx = oidc.ClientContext(ctx, o.client)
	tok, err := o.oauth(p).Exchange(ctx, code, oauth2.VerifierOption(l.Verifier))
	if err != nil {
		return starter.Principal{}, fmt.Errorf("oidc: redeem code: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return starter.Principal{}, errors.New("oidc: the token response has no id_token")
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		return starter.Principal{}, fmt.Errorf("oidc: verify ID token: %w", err)
	}
	if idt.Nonce != l.Nonce {
		return starter.Principal{}, errors.New("oidc: the ID token's nonce is not this sign-in's")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return starter.Principal{}, fmt.Errorf("oidc: read claims: %w", err)
	}
	return o.principal(claims)
}

// principal maps claims to a Principal by the configured claim names. The role claim may
// be a string or a list (Keycloak's realm_access.roles); a dotted name reaches into
// nested objects. A person with several Rollin roles gets one of them, always the same
// (see pickRole).
func (o *OIDC) principal(claims map[string]any) (starter.Principal, error) {
	c := o.cfg
	name := claimString(claims, c.NameClaim)
	if name == "" {
		name = claimString(claims, "sub")
	}
	role := pickRole(claimStrings(claims, c.RoleClaim), c.Roles)
	if role == "" {
		return starter.Principal{}, fmt.Errorf("oidc: %s has no Rollin role in claim %q (expected %q, %q or %q)", name, c.RoleClaim, c.Roles.PM, c.Roles.Operator, c.Roles.Municipality)
	}
	p := starter.Principal{Name: name, Role: role, Organisation: domain.Organisation(claimString(claims, c.OrganisationClaim))}
	if _, err := domain.ParseOrganisation(string(p.Organisation)); err != nil {
		return starter.Principal{}, fmt.Errorf("oidc: claim %q: %w", c.OrganisationClaim, err)
	}
	if role == domain.RoleMunicipality {
		ars, err := domain.ParseARS(claimString(claims, c.ARSClaim))
		if err != nil {
			return starter.Principal{}, fmt.Errorf("oidc: %s is a municipality but claim %q holds no ARS: %w", name, c.ARSClaim, err)
		}
		p.ARS = ars
	}
	return p, nil
}

// rolePrecedence is the order in which a person with several Rollin roles gets one: the
// narrowest first. A municipality is scoped to its ARS; an operator acts on runs that
// exist (retries, confirmations) but starts and cancels none; a project manager starts
// and cancels roll-ins and campaigns. Give a person one Rollin role to avoid the choice.
var rolePrecedence = []domain.Role{domain.RoleMunicipality, domain.RoleOperator, domain.RolePM}

// pickRole returns the first role of rolePrecedence that the values name (the IdP's role
// names as configured in web.oidc.roles), or "" if they name none. It does not depend on
// the order of values.
func pickRole(values []string, names OIDCRoles) domain.Role {
	nameOf := map[domain.Role]string{domain.RolePM: names.PM, domain.RoleOperator: names.Operator, domain.RoleMunicipality: names.Municipality}
	for _, r := range rolePrecedence {
		if nameOf[r] != "" && slices.Contains(values, nameOf[r]) {
			return r
		}
	}
	return ""
}

func claim(claims map[string]any, path string) any {
	var cur any = claims
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

func claimString(claims map[string]any, path string) string {
	if path == "" {
		return ""
	}
	s, _ := claim(claims, path).(string)
	return strings.TrimSpace(s)
}

func claimStrings(claims map[string]any, path string) []string {
	switch v := claim(claims, path).(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
