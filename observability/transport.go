package observability

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Transport wraps next (nil: http.DefaultTransport) so that every call through it is
// counted and timed as a call to system: the activities' clients of the provider, state
// and municipality systems each get one, so the latency and error rate of each system can
// be told apart without touching the typed clients.
func (m *Metrics) Transport(system string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if m == nil {
		return next
	}
	return &transport{m: m, system: system, next: next}
}

type transport struct {
	m      *Metrics
	system string
	next   http.RoundTripper
}

// RoundTrip times the call until the answer's header arrived (the body is the caller's).
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	outcome := Outcome(resp, err)
	t.m.callDuration.WithLabelValues(t.system, req.Method, outcome).Observe(time.Since(start).Seconds())
	if err != nil || resp.StatusCode >= 400 {
		t.m.callErrors.WithLabelValues(t.system, outcome).Inc()
	}
	return resp, err
}

// Outcome is the label of a call's result: the status class (2xx … 5xx), "timeout" when
// the deadline passed, "canceled" when the caller gave up, else "error" (no answer).
func Outcome(resp *http.Response, err error) string {
	switch {
	case err == nil && resp != nil:
		return strconv.Itoa(resp.StatusCode/100) + "xx"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "error"
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
