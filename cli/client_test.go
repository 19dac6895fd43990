package cli

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRateLimitedRequestWaitsAndRepeats answers 429 twice: the client waits as Retry-After
// says and sends the same request again; after maxRateLimitWaits refusals it reports the
// error instead of waiting for ever.
func TestRateLimitedRequestWaitsAndRepeats(t *testing.T) {
	refuse := 2
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		if refuse > 0 {
			refuse--
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":"rate limit of token pm exceeded"}`))
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	var waits []time.Duration
	c := &apiClient{base: srv.URL, token: "t", http: srv.Client(), output: "json",
		sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}

	var out map[string]bool
	code, err := c.do(context.Background(), http.MethodPost, "/api/v1/rollins", map[string]string{"ars": "055150000000"}, &out)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.True(t, out["ok"])
	require.Equal(t, []time.Duration{3 * time.Second, 3 * time.Second}, waits)
	require.Len(t, bodies, 3)
	require.Equal(t, bodies[0], bodies[2], "the same request each time")

	refuse, waits = 100, nil
	code, err = c.do(context.Background(), http.MethodGet, "/api/v1/rollins", nil, &out)
	require.Equal(t, http.StatusTooManyRequests, code)
	require.ErrorContains(t, err, "rate limit of token pm exceeded (HTTP 429)")
	require.Len(t, waits, maxRateLimitWaits)
}

func TestRetryAfter(t *testing.T) {
	for raw, want := range map[string]time.Duration{
		"": time.Second, "0": time.Second, "2": 2 * time.Second, "soon": time.Second, "3600": maxRetryAfter,
	} {
		h := http.Header{}
		h.Set("Retry-After", raw)
		require.Equal(t, want, retryAfter(h), "Retry-After %q", raw)
	}
}
