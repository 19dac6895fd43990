package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rollin-efa/rollin/systems"
)

// The headers of a webhook delivery besides Idempotency-Key (the event's ID).
const (
	// TimestampHeader carries the delivery's time in Unix seconds; it is signed with the
	// body, so a receiver that checks its age refuses a replayed old delivery.
	TimestampHeader = "X-Rollin-Timestamp"
	// SignatureHeader carries "sha256=" and the hex HMAC-SHA256, keyed with the shared
	// secret, of the timestamp, a dot and the body.
	SignatureHeader = "X-Rollin-Signature"
)

// MinSecretLength is the shortest webhook secret accepted: 32 bytes, the output size of
// SHA-256, so the key is not the weak point of the HMAC.
const MinSecretLength = 32

// DefaultMaxAge is how old a delivery Verify accepts when the caller gives no maximum:
// long enough for clock skew and a slow network, short enough to make replays useless.
const DefaultMaxAge = 5 * time.Minute

// Webhook posts notices as signed JSON to one URL. It is safe for concurrent use.
type Webhook struct {
	url    string
	secret []byte
	hc     *http.Client
}

// NewWebhook returns a sender to rawURL (http or https, without user info: the signature
// authenticates Rollin, and credentials in a URL end up in logs) signing with secret (at
// least MinSecretLength bytes). hc's Timeout bounds each delivery (systems.DefaultTimeout
// if it has none); redirects are not followed — a POST that is redirected is a
// misconfigured URL, and following it would send the signed notice somewhere unchecked.
func NewWebhook(rawURL string, secret []byte, hc *http.Client) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("webhook URL %q: want an http(s) URL without user info", rawURL)
	}
	if len(secret) < MinSecretLength {
		return nil, fmt.Errorf("webhook secret: want at least %d bytes, got %d", MinSecretLength, len(secret))
	}
	c := &http.Client{Timeout: systems.DefaultTimeout}
	if hc != nil {
		c = &http.Client{Timeout: hc.Timeout, Transport: hc.Transport, Jar: hc.Jar}
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Webhook{url: u.String(), secret: bytes.Clone(secret), hc: c}, nil
}

// Send posts e. A 2xx answer is a delivery. Any other answer or failure is a
// *systems.Error classified like the other systems' answers: retryable for 5xx, 408, 429
// and transport failures (honouring Retry-After), permanent for other statuses (the
// receiver refuses the notice, and will again).
func (w *Webhook) Send(ctx context.Context, e Event) error {
	const op = "deliver notice"
	if e.ID == "" {
		return &systems.Error{System: SystemWebhook, Op: op, Err: errors.New("event id is empty: the delivery could not be recognised when sent again")}
	}
	if e.SentAt.IsZero() {
		e.SentAt = time.Now()
	}
	e.SentAt = e.SentAt.UTC().Truncate(time.Second)
	body, err := json.Marshal(e)
	if err != nil {
		return &systems.Error{System: SystemWebhook, Op: op, Err: fmt.Errorf("encode event: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return &systems.Error{System: SystemWebhook, Op: op, Err: fmt.Errorf("build request: %w", err)}
	}
	ts := e.SentAt.Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rollin")
	req.Header.Set("Idempotency-Key", e.ID)
	req.Header.Set(TimestampHeader, strconv.FormatInt(ts, 10))
	req.Header.Set(SignatureHeader, Sign(w.secret, ts, body))
	resp, data, err := systems.Send(SystemWebhook, op, w.hc, req)
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return systems.StatusError(SystemWebhook, op, resp, data)
	}
	return nil
}

// Sign returns the SignatureHeader value for body sent at timestamp (Unix seconds):
// "sha256=" and the hex HMAC-SHA256 of "<timestamp>.<body>" keyed with secret. The
// timestamp is inside the MAC, so it cannot be changed to make an old delivery look new.
func Sign(secret []byte, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors Verify wraps, so a receiver can answer (and log) a forged delivery differently
// from a stale one.
var (
	ErrBadSignature = errors.New("webhook signature does not match")
	ErrStale        = errors.New("webhook timestamp outside the accepted window")
)

// Verify is what a receiver of Rollin's webhook calls with the shared secret, the
// request's headers and its raw body (before decoding it): it checks the signature in
// constant time and that the timestamp is at most maxAge away from now, in either
// direction (DefaultMaxAge if maxAge is not positive). A receiver should then
// de-duplicate by the Idempotency-Key: a delivery may arrive twice.
func Verify(secret []byte, h http.Header, body []byte, maxAge time.Duration, now time.Time) error {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	rawTS := h.Get(TimestampHeader)
	ts, err := strconv.ParseInt(rawTS, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not Unix seconds", ErrBadSignature, TimestampHeader, rawTS)
	}
	sig, ok := strings.CutPrefix(h.Get(SignatureHeader), "sha256=")
	if !ok {
		return fmt.Errorf("%w: %s is not sha256=<hex>", ErrBadSignature, SignatureHeader)
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("%w: %s is not hex", ErrBadSignature, SignatureHeader)
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(Sign(secret, ts, body), "sha256="))
	if !hmac.Equal(got, want) {
		return ErrBadSignature
	}
	// Compared in seconds as floats, so that no timestamp can overflow the subtraction.
	if age := float64(now.Unix()) - float64(ts); math.Abs(age) > maxAge.Seconds() {
		return fmt.Errorf("%w: sent %s, now %s, at most %s apart", ErrStale,
			time.Unix(ts, 0).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), maxAge)
	}
	return nil
}
