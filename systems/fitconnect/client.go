package fitconnect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/rollin-efa/rollin/systems"
)

// Tokens is what the client needs from a token source; *TokenSource implements it. It is
// an interface so that several clients can share one source per API client and tests
// can count calls.
type Tokens interface {
	Token(ctx context.Context) (string, error)
	Invalidate(token string)
}

// Client calls FIT-Connect's Submission API as one API client (subscriber). Rollin holds
// one Client per municipality, each with its own Tokens. It is safe for concurrent use.
type Client struct {
	sc     *systems.Client
	tokens Tokens

	// Public keys read for encrypting and verifying, which a sender asks for at every
	// submission and every read of an event log. A destination's key under a kid never
	// changes (FIT-Connect refuses another key under the same kid), so it is kept for
	// good; the submission service's key set is read again when an event names a kid it
	// does not hold (key rotation). Ensure does not use them: it must see the server.
	mu          sync.Mutex
	destKeys    map[string]JWK // by destination ID + "/" + kid
	serviceKeys []JWK
}

// New returns a client for the Submission API at baseURL (e.g.
// https://submission-api-testing.fit-connect.fitko.dev) that authenticates with tokens.
// A nil hc means one with systems.DefaultTimeout. A malformed baseURL is an error here,
// so configuration mistakes surface at start-up.
func New(baseURL string, tokens Tokens, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: base URL %q: want an absolute http or https URL", System, baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%s: base URL %q: must not carry user info, a query or a fragment", System, baseURL)
	}
	if tokens == nil {
		return nil, fmt.Errorf("%s: tokens: required", System)
	}
	sc, err := systems.NewClient(System, baseURL, hc)
	if err != nil {
		return nil, err
	}
	return &Client{sc: sc, tokens: tokens, destKeys: map[string]JWK{}}, nil
}

// call is one request to the Submission API.
type call struct {
	op     string
	method string
	path   string // already escaped
	query  url.Values
	key    string // Idempotency-Key, required for mutating methods
	body   any
	// secrets are scrubbed from every error text (e.g. the callback secret, which a
	// server might quote in a validation problem).
	secrets []string
}

// do sends c with a bearer token through the shared plumbing (systems.Client.Do) and
// decodes a 2xx JSON answer into out. On 401 it drops the token, fetches a new one and
// repeats the call once with the same idempotency key. Secrets are scrubbed from errors.
func (cl *Client) do(ctx context.Context, c call, out any) error {
	req := systems.Request{Op: c.op, Method: c.method, Path: c.path, Query: c.query, IdempotencyKey: c.key, Body: c.body}
	for attempt := 0; ; attempt++ {
		tok, err := cl.tokens.Token(ctx)
		if err != nil {
			return err // already a *systems.Error from the token source
		}
		req.Header = http.Header{"Authorization": {"Bearer " + tok}}
		err = cl.sc.Do(ctx, req, out)
		var se *systems.Error
		if errors.As(err, &se) && se.Status == http.StatusUnauthorized && attempt == 0 {
			cl.tokens.Invalidate(tok)
			continue
		}
		return scrub(err, c.secrets...)
	}
}
