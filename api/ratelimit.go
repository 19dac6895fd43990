package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits bounds how fast one API token may call, so that one runaway script or leaked
// token cannot starve the others or the database: each token has a bucket of Burst
// requests that refills at PerSecond.
type Limits struct {
	// PerSecond is the sustained rate per token; 0 (or less) turns the limit off.
	PerSecond float64
	// Burst is how many requests a token may make at once; less than 1 counts as 1.
	Burst int
}

// limiter holds a token bucket per token name. Buckets are created on a name's first
// request, and names come only from authenticated principals, so the map stays as small
// as auth.tokens however many requests with made-up tokens arrive.
type limiter struct {
	limits  Limits
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// newLimiter returns nil when l turns limiting off.
func newLimiter(l Limits, now func() time.Time) *limiter {
	if !(l.PerSecond > 0) {
		return nil
	}
	l.Burst = max(l.Burst, 1)
	return &limiter{limits: l, now: now, buckets: map[string]*rate.Limiter{}}
}

// allow takes a request from name's bucket. When the bucket is empty it takes nothing
// (a refused request does not delay the next one further) and says how long until there
// is a request in it again.
func (l *limiter) allow(name string) (retryAfter time.Duration, ok bool) {
	l.mu.Lock()
	b := l.buckets[name]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(l.limits.PerSecond), l.limits.Burst)
		l.buckets[name] = b
	}
	l.mu.Unlock()
	now := l.now()
	if b.AllowN(now, 1) {
		return 0, true
	}
	missing := 1 - b.TokensAt(now)
	return time.Duration(missing / l.limits.PerSecond * float64(time.Second)), false
}

// refuse answers 429 with Retry-After in whole seconds, rounded up and at least 1, as
// HTTP clients read it.
func (l *limiter) refuse(w http.ResponseWriter, name string, retryAfter time.Duration) {
	secs := max(int(math.Ceil(retryAfter.Seconds())), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusTooManyRequests, fmt.Sprintf(
		"too many requests for token %q: limit %g per second, burst %d; retry after %d s",
		name, l.limits.PerSecond, l.limits.Burst, secs))
}
