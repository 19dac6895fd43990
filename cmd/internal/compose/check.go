package compose

import (
	"errors"
	"fmt"

	"github.com/rollin-efa/rollin/auth"
	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/systems/fitconnect"
	"github.com/rollin-efa/rollin/systems/notify"
)

// Check refuses a configuration whose values config cannot judge alone: config checks
// forms (URLs, durations, ranges, addresses) and imports no part of Rollin, while the
// rules below belong to the packages that own them — the roles, ARS and organisations of
// domain and auth, FIT-Connect's callback secrets, the mail relay's STARTTLS modes and the
// webhook's key length. Every process runs it right after loading, so a bad value stops
// the start with its key named (exit code 2), as config's own checks do.
func Check(cfg config.Config) error {
	if _, err := Tokens(cfg.Auth.Tokens); err != nil {
		return err
	}
	for i, s := range cfg.FitConnect.Subscribers {
		if len(s.CallbackSecret) < fitconnect.MinCallbackSecretLength {
			return &config.KeyError{Key: fmt.Sprintf("fitconnect.subscribers[%d].callback_secret", i),
				Msg: fmt.Sprintf("want at least %d characters", fitconnect.MinCallbackSecretLength)}
		}
	}
	n := cfg.Notify
	mode, err := notify.ParseStartTLS(n.SMTP.StartTLS, n.SMTP.Addr)
	switch {
	case err != nil && n.SMTP.StartTLS != "":
		return &config.KeyError{Key: "notify.smtp.starttls",
			Msg: fmt.Sprintf("%q: want required, opportunistic or off (empty: opportunistic on localhost, else required)", n.SMTP.StartTLS)}
	case n.SMTP.Username != "" && mode == notify.StartTLSOff:
		return &config.KeyError{Key: "notify.smtp.starttls", Msg: "off, but a username is set: the password is only sent over TLS"}
	case n.Webhook.URL != "" && len(n.Webhook.Secret) < notify.MinSecretLength:
		return &config.KeyError{Key: "notify.webhook.secret", Msg: fmt.Sprintf("want at least %d bytes to sign the webhook's deliveries", notify.MinSecretLength)}
	}
	for i, o := range n.Email.Organisations {
		if _, err := domain.ParseOrganisation(o.Organisation); err != nil {
			return &config.KeyError{Key: fmt.Sprintf("notify.email.organisations[%d].organisation", i), Msg: err.Error()}
		}
	}
	return nil
}

// Tokens builds the API's token set from auth.tokens; a bad entry is a *config.KeyError
// naming its key, e.g. auth.tokens[2].ars.
func Tokens(entries []config.Token) (*auth.Tokens, error) {
	tokens := make([]auth.Token, len(entries))
	for i, t := range entries {
		tokens[i] = auth.Token{Name: t.Name, Role: domain.Role(t.Role), Token: t.Token, TokenSHA256: t.TokenSHA256, ARS: t.ARS, Organisation: t.Organisation}
	}
	set, err := auth.NewTokens(tokens)
	var bad *auth.EntryError
	if errors.As(err, &bad) {
		return nil, &config.KeyError{Key: fmt.Sprintf("auth.tokens[%d].%s", bad.Index, bad.Field), Msg: bad.Msg}
	}
	return set, err
}

// oidc is the sign-in at the identity provider of web.oidc.
func oidc(o config.OIDC) *auth.OIDC {
	return auth.NewOIDC(auth.OIDCConfig{
		Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: o.RedirectURL, Scopes: o.Scopes,
		NameClaim: o.NameClaim, RoleClaim: o.RoleClaim, ARSClaim: o.ARSClaim, OrganisationClaim: o.OrganisationClaim,
		Roles: auth.OIDCRoles{PM: o.Roles.PM, Operator: o.Roles.Operator, Municipality: o.Roles.Municipality},
	}, nil)
}
