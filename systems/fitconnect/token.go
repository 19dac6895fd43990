// Package fitconnect is the typed client of FIT-Connect's Submission API in the two roles
// Rollin plays: as a subscriber (the receiving side, one API client per Land, Kreis or
// municipality) it manages destinations ("Zustellpunkte") — OAuth 2.0 client
// credentials, create, read, update, add a key, and Ensure, which makes a destination
// match what Rollin wants and is safe to repeat from a retried Temporal activity; as a
// sender it sends a destination a test submission — announce, encrypt metadata and data
// as JWE to the destination's key, submit — and reads the verdict from the case's event
// log of signed Security Event Tokens (Prepare, Submit, Verdict).
//
// It follows FITKO's published FIT-Connect documentation (docs.fitko.de). Where a detail
// is not pinned down there the package follows the documentation as the author knows it
// and says so at the spot ("Assumption:").
//
// Like the other clients under systems, it never retries on its own, with one exception:
// a 401 is answered by fetching a fresh token and repeating the call once, because an
// access token can expire or be revoked between the cache check and the call, and that
// is not a failure the activity should see. Every error is (or wraps) a *systems.Error.
package fitconnect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rollin-efa/rollin/systems"
)

// System is the name errors of this package carry in systems.Error.System.
const System = "fit-connect"

// DefaultExpiryMargin is how long before its expiry a cached access token is replaced,
// so that a token does not expire between the cache check and the server's check.
const DefaultExpiryMargin = 30 * time.Second

const redacted = "[redacted]"

// Secret is a credential (an OAuth client secret or a callback secret). Its String,
// GoString and Format print "[redacted]", so that a Secret in a logged struct or an
// error built with fmt never shows its value. Use Reveal where the value must be sent.
type Secret string

// String hides the value; see Secret.
func (Secret) String() string { return redacted }

// GoString hides the value from %#v; see Secret.
func (Secret) GoString() string { return redacted }

// Format hides the value from every fmt verb (%s, %v, %q, %x …); see Secret.
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// Reveal returns the value, for the one place that has to send it.
func (s Secret) Reveal() string { return string(s) }

// AuthStyle says where the client credentials go in the token request (RFC 6749 §2.3.1).
type AuthStyle int

const (
	// AuthInBody sends client_id and client_secret as form fields. It is the default
	// because FIT-Connect's documentation shows the token request that way (assumption:
	// as the author knows the docs' curl example).
	AuthInBody AuthStyle = iota
	// AuthInHeader sends them as HTTP Basic authentication, each form-encoded first, as
	// RFC 6749 §2.3.1 prescribes and every compliant server must accept.
	AuthInHeader
)

// Credentials configure the OAuth 2.0 client-credentials grant of one FIT-Connect API
// client. Rollin holds one per municipality (subscriber), so the credentials are a value
// the caller picks per call site, not global configuration.
type Credentials struct {
	// TokenURL is the authorisation server's token endpoint, e.g.
	// https://auth-testing.fit-connect.fitko.dev/token.
	TokenURL     string
	ClientID     string
	ClientSecret Secret
	// Scope is sent when not empty (space-separated scopes, RFC 6749 §3.3).
	Scope     string
	AuthStyle AuthStyle
	// HTTPClient is used for token requests; nil means one with systems.DefaultTimeout.
	HTTPClient *http.Client
	// Now is the clock for expiry; nil means time.Now. Tests inject one.
	Now func() time.Time
	// ExpiryMargin replaces DefaultExpiryMargin when positive.
	ExpiryMargin time.Duration
}

// TokenSource fetches access tokens with the client-credentials grant and caches each
// until ExpiryMargin before it expires. It is safe for concurrent use: concurrent callers
// that find no valid token share one token request instead of each sending their own.
// The client secret never appears in its errors.
type TokenSource struct {
	cred   Credentials
	hc     *http.Client
	now    func() time.Time
	margin time.Duration

	// lock is a one-slot semaphore rather than a mutex so that a caller waiting for
	// another's token request can give up when its context ends.
	lock    chan struct{}
	token   string
	expires time.Time
}

// NewTokenSource checks cred and returns a token source for it. Errors name the field and
// never contain the secret.
func NewTokenSource(cred Credentials) (*TokenSource, error) {
	u, err := url.Parse(cred.TokenURL)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return nil, fmt.Errorf("%s: credentials: tokenURL: want an absolute http(s) URL", System)
	case u.User != nil:
		return nil, fmt.Errorf("%s: credentials: tokenURL: must not carry user info (credentials go in ClientID and ClientSecret)", System)
	case strings.TrimSpace(cred.ClientID) == "":
		return nil, fmt.Errorf("%s: credentials: clientID: required", System)
	case cred.ClientSecret == "":
		return nil, fmt.Errorf("%s: credentials: clientSecret: required", System)
	case cred.AuthStyle != AuthInBody && cred.AuthStyle != AuthInHeader:
		return nil, fmt.Errorf("%s: credentials: authStyle: want AuthInBody or AuthInHeader, got %d", System, cred.AuthStyle)
	}
	ts := &TokenSource{cred: cred, hc: cred.HTTPClient, now: cred.Now, margin: cred.ExpiryMargin, lock: make(chan struct{}, 1)}
	if ts.hc == nil {
		ts.hc = &http.Client{Timeout: systems.DefaultTimeout}
	}
	if ts.now == nil {
		ts.now = time.Now
	}
	if ts.margin <= 0 {
		ts.margin = DefaultExpiryMargin
	}
	return ts, nil
}

// ClientID returns the API client the tokens are for, e.g. to tell clients apart in logs.
func (ts *TokenSource) ClientID() string { return ts.cred.ClientID }

// Token returns a valid access token, from the cache or freshly fetched.
func (ts *TokenSource) Token(ctx context.Context) (string, error) {
	select {
	case ts.lock <- struct{}{}:
	case <-ctx.Done():
		return "", &systems.Error{System: System, Op: "fetch token", Err: ctx.Err()}
	}
	defer func() { <-ts.lock }()

	if ts.token != "" && ts.now().Before(ts.expires) {
		return ts.token, nil
	}
	tok, lifetime, err := ts.fetch(ctx)
	if err != nil {
		return "", err
	}
	ts.token = tok
	// A token without expires_in is used for this call only: we cannot know how long it
	// lives, and a failed call with a stale token costs more than one more token request.
	ts.expires = ts.now()
	if lifetime > ts.margin {
		ts.expires = ts.expires.Add(lifetime - ts.margin)
	}
	return tok, nil
}

// Invalidate drops token from the cache if it is still the cached one, after the server
// rejected it with 401. A token that was already replaced by a concurrent caller is left
// alone, so that two callers with the same stale token cause one token request, not two.
func (ts *TokenSource) Invalidate(token string) {
	ts.lock <- struct{}{}
	defer func() { <-ts.lock }()
	if ts.token == token {
		ts.token, ts.expires = "", time.Time{}
	}
}

// tokenResponse is RFC 6749 §5.1's success answer.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// tokenError is RFC 6749 §5.2's error answer.
type tokenError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func (ts *TokenSource) fetch(ctx context.Context) (string, time.Duration, error) {
	op := "fetch token for client " + ts.cred.ClientID
	secret := ts.cred.ClientSecret.Reveal()
	form := url.Values{"grant_type": {"client_credentials"}}
	if ts.cred.Scope != "" {
		form.Set("scope", ts.cred.Scope)
	}
	if ts.cred.AuthStyle == AuthInBody {
		form.Set("client_id", ts.cred.ClientID)
		form.Set("client_secret", secret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.cred.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, ts.fail(op, 0, false, fmt.Errorf("build request: %w", err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "rollin")
	if ts.cred.AuthStyle == AuthInHeader {
		req.SetBasicAuth(url.QueryEscape(ts.cred.ClientID), url.QueryEscape(secret))
	}
	resp, data, err := systems.Send(System, op, ts.hc, req)
	if err != nil {
		return "", 0, scrub(err, secret)
	}
	if resp.StatusCode != http.StatusOK {
		e := systems.StatusError(System, op, resp, data)
		var te tokenError
		if json.Unmarshal(data, &te) == nil && te.Error != "" {
			msg := te.Error
			if te.Description != "" {
				msg += ": " + te.Description
			}
			e.Problem, e.Err = nil, errors.New(msg)
		}
		return "", 0, scrub(e, secret)
	}
	var tr tokenResponse
	if err := json.Unmarshal(data, &tr); err != nil {
		return "", 0, ts.fail(op, resp.StatusCode, false, fmt.Errorf("decode token response: %w", err))
	}
	if tr.AccessToken == "" {
		return "", 0, ts.fail(op, resp.StatusCode, false, errors.New("token response: access_token: missing"))
	}
	if !strings.EqualFold(tr.TokenType, "bearer") {
		return "", 0, ts.fail(op, resp.StatusCode, false, fmt.Errorf("token response: token_type: want Bearer, got %q", tr.TokenType))
	}
	// A bogus expires_in must neither overflow time.Duration nor keep a token for weeks.
	const maxLifetime = int64(24 * time.Hour / time.Second)
	return tr.AccessToken, time.Duration(min(max(tr.ExpiresIn, 0), maxLifetime)) * time.Second, nil
}

// fail builds the error of a token request; the cause is scrubbed of the secret in case a
// server or proxy echoed it.
func (ts *TokenSource) fail(op string, status int, retryable bool, err error) error {
	return scrub(&systems.Error{System: System, Op: op, Status: status, Retryable: retryable, Err: err},
		ts.cred.ClientSecret.Reveal())
}
