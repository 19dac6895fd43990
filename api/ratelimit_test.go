package api

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClock is a clock that moves only when the test says so.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func fixedClock() func() time.Time { return (&fakeClock{now: time.Unix(1_700_000_000, 0)}).Now }

// TestRateLimitPerToken plays request sequences against a fake clock: the request after
// the burst answers 429 with Retry-After and does not reach the handler, other tokens
// keep their own buckets, and the bucket refills with time.
func TestRateLimitPerToken(t *testing.T) {
	type step struct {
		advance    time.Duration
		token      string
		n          int    // requests in a row, each expecting status
		status     int    // of each
		retryAfter string // of the last, when 429
	}
	tests := []struct {
		name   string
		limits Limits
		steps  []step
	}{
		{"burst then 429, other token unaffected, refill", Limits{PerSecond: 2, Burst: 3}, []step{
			{token: pmToken, n: 3, status: 200},
			{token: pmToken, n: 1, status: 429, retryAfter: "1"},
			{token: opToken, n: 3, status: 200},
			{token: hashedToken, n: 3, status: 200},
			{token: pmToken, n: 2, status: 429, retryAfter: "1"}, // refused requests take nothing
			{advance: 500 * time.Millisecond, token: pmToken, n: 1, status: 200},
			{token: pmToken, n: 1, status: 429, retryAfter: "1"},
			{advance: time.Minute, token: pmToken, n: 3, status: 200}, // full again, not more
			{token: pmToken, n: 1, status: 429, retryAfter: "1"},
		}},
		{"retry after rounds up to whole seconds", Limits{PerSecond: 0.1, Burst: 1}, []step{
			{token: pmToken, n: 1, status: 200},
			{token: pmToken, n: 1, status: 429, retryAfter: "10"},
			{advance: 2500 * time.Millisecond, token: pmToken, n: 1, status: 429, retryAfter: "8"},
			{advance: 7500 * time.Millisecond, token: pmToken, n: 1, status: 200},
		}},
		{"burst below 1 counts as 1", Limits{PerSecond: 1}, []step{
			{token: pmToken, n: 1, status: 200},
			{token: pmToken, n: 1, status: 429, retryAfter: "1"},
		}},
		{"unauthenticated requests answer 401, not 429", Limits{PerSecond: 1, Burst: 1}, []step{
			{token: "made-up-token-0123456789", n: 5, status: 401},
			{token: pmToken, n: 1, status: 200},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
			h, fake := newTestAPI(t, newLimiter(tc.limits, clock.Now))
			var reached int64
			for i, s := range tc.steps {
				clock.Advance(s.advance)
				for j := range s.n {
					rec := call(t, h, "GET", "/api/v1/services", s.token, "")
					where := fmt.Sprintf("step %d, request %d", i, j)
					require.Equal(t, s.status, rec.Code, where)
					if s.status == http.StatusOK {
						reached++
					}
					if s.status == http.StatusTooManyRequests {
						requireJSONError(t, rec.Result(), http.StatusTooManyRequests, "too many requests")
						require.Equal(t, s.retryAfter, rec.Header().Get("Retry-After"), where)
					}
				}
			}
			require.Equal(t, reached, fake.calls.Load(), "refused requests do not reach the starter")
		})
	}
}

func TestRateLimitOff(t *testing.T) {
	require.Nil(t, newLimiter(Limits{PerSecond: 0, Burst: 100}, time.Now))
	h, fake := newTestAPI(t, nil)
	for range 500 {
		require.Equal(t, http.StatusOK, call(t, h, "GET", "/api/v1/services", pmToken, "").Code)
	}
	require.EqualValues(t, 500, fake.calls.Load())
}

// TestRateLimitBucketsOnlyForConfiguredTokens sends many made-up tokens: none of them
// gets a bucket, so they cannot grow the limiter's memory.
func TestRateLimitBucketsOnlyForConfiguredTokens(t *testing.T) {
	lim := newLimiter(Limits{PerSecond: 1, Burst: 1}, fixedClock())
	h, _ := newTestAPI(t, lim)
	for i := range 1000 {
		require.Equal(t, http.StatusUnauthorized, call(t, h, "GET", "/api/v1/services", fmt.Sprintf("guess-%d", i), "").Code)
	}
	call(t, h, "GET", "/api/v1/services", pmToken, "")
	call(t, h, "GET", "/api/v1/services", opToken, "")
	require.Len(t, lim.buckets, 2)
}
