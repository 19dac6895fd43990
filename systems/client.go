package systems

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rollin-efa/rollin/textrule"
)

// DefaultTimeout bounds one call (connect, send, wait, read) when the caller brings no
// http.Client or one without a Timeout. Activities have their own, longer timeouts; this
// one makes a hung connection fail fast and retryably instead of eating the whole
// activity attempt.
const DefaultTimeout = 30 * time.Second

// maxResponseBody caps how much of a response is read; the systems' answers are small
// JSON documents, and a runaway body must not exhaust a worker's memory.
const maxResponseBody = 1 << 20

// unixTimeThreshold separates the two readings of RateLimit-Reset: smaller values are
// seconds from now (IETF draft), larger ones a Unix time (some gateways, and one reading
// of FITKO's description "the point in time, in seconds").
const unixTimeThreshold = 1_000_000_000

// Client is the HTTP plumbing the three system clients share. It sends JSON, insists on
// an idempotency key for every mutating call, bounds each call by a timeout, and maps
// every failure to an *Error. It is safe for concurrent use.
type Client struct {
	system  string
	base    string
	hc      *http.Client
	timeout time.Duration
}

// NewClient returns the plumbing for system (used in error messages) talking to baseURL,
// an absolute http(s) URL that may carry a path prefix. A nil hc means a client with
// DefaultTimeout. The per-call timeout is hc.Timeout, or DefaultTimeout if that is zero,
// and is applied through the request context as well, so even http.DefaultClient cannot
// hang forever. The URL is checked here so that a misconfiguration fails at start-up and
// not as an incident on every run.
func NewClient(system, baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("%s: base URL %q: %w", system, baseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: base URL %q: want an absolute http or https URL", system, baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, fmt.Errorf("%s: base URL %q: must not carry a query or fragment", system, baseURL)
	}
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	timeout := hc.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Client{
		system:  system,
		base:    strings.TrimRight(u.String(), "/"),
		hc:      hc,
		timeout: timeout,
	}, nil
}

// Request is one call to an external system.
type Request struct {
	// Op names the operation in errors, e.g. "create tenant".
	Op     string
	Method string
	// Path is appended to the base URL; it starts with "/" and its variable segments are
	// already escaped with url.PathEscape.
	Path  string
	Query url.Values
	// IdempotencyKey is sent as the Idempotency-Key header. It is required for POST, PUT,
	// PATCH and DELETE: a retried call must be recognised by the system and applied once.
	IdempotencyKey string
	// Body is encoded as JSON when not nil.
	Body any
	// Header holds extra request headers, e.g. Authorization. The headers the plumbing
	// sets itself (Accept, User-Agent, Content-Type, Idempotency-Key) take precedence.
	Header http.Header
}

// Do sends req and decodes a 2xx JSON answer into out (if out is not nil and the body is
// not empty). Any failure is returned as an *Error.
func (c *Client) Do(ctx context.Context, req Request, out any) error {
	if isMutating(req.Method) && req.IdempotencyKey == "" {
		return c.fail(req.Op, 0, false, fmt.Errorf("%s %s needs an idempotency key", req.Method, req.Path))
	}
	var body io.Reader
	if req.Body != nil {
		b, err := json.Marshal(req.Body)
		if err != nil {
			return c.fail(req.Op, 0, false, fmt.Errorf("encode request body: %w", err))
		}
		body = bytes.NewReader(b)
	}
	target := c.base + req.Path
	if len(req.Query) > 0 {
		target += "?" + req.Query.Encode()
	}

	hreq, err := http.NewRequestWithContext(ctx, req.Method, target, body)
	if err != nil {
		return c.fail(req.Op, 0, false, fmt.Errorf("build request: %w", err))
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			hreq.Header.Add(k, v)
		}
	}
	hreq.Header.Set("Accept", "application/json, application/problem+json")
	hreq.Header.Set("User-Agent", "rollin")
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if req.IdempotencyKey != "" {
		hreq.Header.Set("Idempotency-Key", req.IdempotencyKey)
	}

	resp, data, err := c.send(req.Op, hreq)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out == nil || len(bytes.TrimSpace(data)) == 0 {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			// The server answered but not in the agreed shape; asking again will not help.
			return c.fail(req.Op, resp.StatusCode, false, fmt.Errorf("decode response: %w", err))
		}
		return nil
	}
	return StatusError(c.system, req.Op, resp, data)
}

// Send performs req, a request the caller prepared because Do cannot express it (a
// form-encoded OAuth token request, say), for system's operation op. It is what Do does
// once its request is built: the call is bounded by hc's timeout (DefaultTimeout if hc
// has none; a nil hc means http.DefaultClient), at most 1 MiB of the answer is read, and
// a failure without a usable response is returned as an *Error classified as in Do. A
// response of any status comes back with its body read and closed, for the caller to
// decode or to map with StatusError.
func Send(system, op string, hc *http.Client, req *http.Request) (*http.Response, []byte, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := &Client{system: system, hc: hc, timeout: hc.Timeout}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	return c.send(op, req)
}

// send performs req under c's per-call timeout and reads the bounded body; see Send.
func (c *Client) send(op string, req *http.Request) (*http.Response, []byte, error) {
	ctx := req.Context()
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// #nosec G704 -- the URL is the configured base URL of a system (Do) or an endpoint from
	// the caller's configuration (Send, e.g. a token URL), never taken from a request.
	resp, err := c.hc.Do(req.WithContext(callCtx))
	if err != nil {
		return nil, nil, c.transportError(ctx, op, 0, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return nil, nil, c.transportError(ctx, op, resp.StatusCode, fmt.Errorf("read response: %w", err))
	}
	if len(data) > maxResponseBody {
		return nil, nil, c.fail(op, resp.StatusCode, false, fmt.Errorf("response larger than %d bytes", maxResponseBody))
	}
	return resp, data, nil
}

func (c *Client) fail(op string, status int, retryable bool, err error) *Error {
	return &Error{System: c.system, Op: op, Status: status, Retryable: retryable, Err: err}
}

// transportError classifies a failure without a complete response. The caller's context
// is checked first: if it is done, the caller gave up and a retry inside the same context
// is pointless, whatever the transport reported. Certificate errors are configuration
// problems and do not heal by retrying. Everything else (refused or reset connections,
// our own per-call timeout, a body cut short) is transient.
func (c *Client) transportError(ctx context.Context, op string, status int, err error) *Error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return c.fail(op, status, false, err)
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return c.fail(op, status, false, err)
	}
	return c.fail(op, status, true, err)
}

// StatusError maps a non-2xx response of system's operation op, with its body data, to
// an *Error: retryable by status, the server's requested wait on 429 and 503, and the
// RFC 7807 problem if the body is one, else the (shortened) body text.
func StatusError(system, op string, resp *http.Response, data []byte) *Error {
	e := &Error{
		System:    system,
		Op:        op,
		Status:    resp.StatusCode,
		Retryable: retryableStatus(resp.StatusCode),
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		e.RetryAfter = parseRetryAfter(resp.Header, time.Now())
	}
	if isProblemJSON(resp.Header.Get("Content-Type")) {
		var p Problem
		if err := json.Unmarshal(data, &p); err == nil {
			p.Type, p.Title, p.Instance = cleanBody(p.Type), cleanBody(p.Title), cleanBody(p.Instance)
			p.Detail = cleanBody(p.Detail)
			e.Problem = &p
			return e
		}
	}
	text := cleanBody(strings.TrimSpace(string(data)))
	if text == "" {
		text = http.StatusText(resp.StatusCode)
	}
	e.Err = errors.New(text)
	return e
}

// maxBodyText bounds how much of an error body an *Error keeps: enough for a message and
// the field it names, not a whole HTML error page.
const maxBodyText = 300

// cleanBody makes text from another system's answer safe to keep: it reaches an incident's
// last_error, the audit log and Temporal's history, and PostgreSQL refuses NUL and invalid
// UTF-8. It is cleaned and cut, never refused: the text is the operator's diagnosis.
func cleanBody(s string) string { return textrule.Clean(s, maxBodyText) }

// retryableStatus says which HTTP statuses describe a transient condition: the server or
// a proxy failed (5xx), the request took too long (408), or we were throttled (429).
// Every other 4xx means the request itself is wrong and will stay wrong.
func retryableStatus(code int) bool {
	return code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests
}

func isMutating(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

func isProblemJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/problem+json"
}

// parseRetryAfter reads how long the server wants us to wait: Retry-After (seconds or an
// HTTP date) first, then RateLimit-Reset, which FIT-Connect's Routing API sends on 429.
// Unparseable or past values count as no advice (0).
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
			return seconds(secs)
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0)
		}
	}
	if v := strings.TrimSpace(h.Get("RateLimit-Reset")); v != "" {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
			if secs >= unixTimeThreshold {
				return max(time.Unix(secs, 0).Sub(now), 0)
			}
			return seconds(secs)
		}
	}
	return 0
}

// seconds converts a server-sent number of seconds, capped at a day so that a bogus value
// can neither overflow time.Duration nor park a retry for weeks.
func seconds(n int64) time.Duration {
	if n <= 0 {
		return 0
	}
	const limit = int64(24 * time.Hour / time.Second)
	return time.Duration(min(n, limit)) * time.Second
}
