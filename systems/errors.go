// Package systems holds what the typed clients of Rollin's external systems (provider,
// state, municipality, FIT-Connect) share: the error type that tells an activity whether a
// failed call is worth retrying, RFC 7807 problem details, and the HTTP plumbing that
// enforces idempotency keys and per-call timeouts. The clients live in the subpackages
// provider, state, municipality and fitconnect; their simulators live in simulator.
//
// The clients never retry on their own. Retrying is the job of the Temporal activity
// retry policy, which needs exactly one bit from here: IsRetryable.
package systems

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Problem is an RFC 7807 problem detail as FIT-Connect and the simulators send it with
// Content-Type application/problem+json. It is kept whole because its Detail usually
// names the offending field, which is what an operator needs to fix an incident.
type Problem struct {
	Type     string `json:"type,omitempty"`
	Title    string `json:"title,omitempty"`
	Status   int    `json:"status,omitempty"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// String renders the problem as one line for logs, incident texts and error messages.
func (p Problem) String() string {
	switch {
	case p.Title != "" && p.Detail != "":
		return p.Title + ": " + p.Detail
	case p.Title != "":
		return p.Title
	case p.Detail != "":
		return p.Detail
	case p.Type != "":
		return p.Type
	default:
		return "unspecified problem"
	}
}

// Error is a failed call to an external system. Every error the clients return is an
// *Error, so that activities can decide with IsRetryable (and RetryAfter) alone whether
// the call deserves another attempt, and incidents show which system and operation failed.
type Error struct {
	System string // "provider", "state", "municipality"
	Op     string // what was attempted, e.g. "create tenant"
	// Status is the HTTP status, 0 when no response arrived (transport error, timeout,
	// cancellation) or the request was never sent.
	Status int
	// Retryable is true for 5xx, 408, 429, timeouts and connection errors: the same call
	// (with the same idempotency key) may succeed later. Other 4xx and caller mistakes
	// are permanent.
	Retryable bool
	// RetryAfter is the server's requested wait from Retry-After or RateLimit-Reset on a
	// 429 or 503, else 0.
	RetryAfter time.Duration
	// Problem is the response body if the server sent application/problem+json.
	Problem *Problem
	// Err is the underlying cause: the transport error, a decoding error, or the text of
	// a non-problem error body. It is nil when Problem says it all.
	Err error
}

// Error reads like `provider: create tenant: HTTP 503: Service Unavailable: maintenance`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.System)
	b.WriteString(": ")
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Problem != nil {
		b.WriteString(": ")
		b.WriteString(e.Problem.String())
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap exposes the cause, so errors.Is(err, context.Canceled) works through an *Error.
func (e *Error) Unwrap() error { return e.Err }

// IsRetryable reports whether err is a failed external call that may succeed if repeated
// with the same idempotency key. It is false for nil and for errors that are not (and do
// not wrap) an *Error: an unknown failure is treated as permanent, so that it surfaces as
// an incident instead of being retried blindly.
//
// A call that ran into its own per-call timeout is retryable; a call whose caller's
// context was cancelled or ran out of time is not, because the caller has given up.
func IsRetryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable
	}
	return false
}
