package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// TestClientLimitBeforeAuthentication plays request sequences from client addresses
// against a fake clock, through the API and a stand-in for the pages: wrong tokens,
// missing tokens and page loads count against the address before anything is
// authenticated; past the burst the answer is 429 with Retry-After (JSON under /api/,
// text elsewhere) and the request reaches nothing; other addresses keep their own
// buckets, an IPv6 /64 shares one, the health endpoints are exempt, and the bucket
// refills with time.
func TestClientLimitBeforeAuthentication(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	api := New(&fakeStarter{}, testTokens(), func(context.Context) error { return nil }, zap.NewNop())
	pages := 0
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("/healthz", api)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { pages++ })
	h := protectWith(limitClients(mux, newClientLimiter(ClientLimits{PerSecond: 1, Burst: 3}, clock.Now)), nil)

	send := func(remote, path, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.RemoteAddr = remote
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, tc := range []struct {
		name, remote, path, token string
		advance                   time.Duration
		status                    int
		retryAfter                string
	}{
		{name: "wrong token 1", remote: "192.0.2.1:1000", path: "/api/v1/services", token: "guess-1", status: 401},
		{name: "wrong token 2", remote: "192.0.2.1:1001", path: "/api/v1/services", token: "guess-2", status: 401},
		{name: "no token", remote: "192.0.2.1:1002", path: "/api/v1/services", status: 401},
		{name: "the right token, too late", remote: "192.0.2.1:1003", path: "/api/v1/services", token: pmToken, status: 429, retryAfter: "1"},
		{name: "a page from the same address", remote: "192.0.2.1:1004", path: "/anmelden", status: 429, retryAfter: "1"},
		{name: "health is exempt", remote: "192.0.2.1:1005", path: "/healthz", status: 200},
		{name: "another address", remote: "192.0.2.2:1000", path: "/api/v1/services", token: pmToken, status: 200},
		{name: "refilled by one", remote: "192.0.2.1:1006", path: "/api/v1/services", token: pmToken, advance: time.Second, status: 200},
		{name: "and empty again", remote: "192.0.2.1:1007", path: "/anmelden", status: 429, retryAfter: "1"},
		{name: "IPv6 1", remote: "[2001:db8:1:2::1]:443", path: "/anmelden", status: 200},
		{name: "IPv6 2, same /64", remote: "[2001:db8:1:2::ffff]:443", path: "/anmelden", status: 200},
		{name: "IPv6 3, same /64", remote: "[2001:db8:1:2:aaaa::]:443", path: "/anmelden", status: 200},
		{name: "IPv6 4, same /64", remote: "[2001:db8:1:2::3]:443", path: "/anmelden", status: 429, retryAfter: "1"},
		{name: "IPv6, another /64", remote: "[2001:db8:1:3::1]:443", path: "/anmelden", status: 200},
		{name: "IPv4-mapped counts as IPv4", remote: "[::ffff:192.0.2.2]:80", path: "/anmelden", status: 200},
	} {
		clock.Advance(tc.advance)
		rec := send(tc.remote, tc.path, tc.token)
		require.Equal(t, tc.status, rec.Code, tc.name)
		require.Equal(t, tc.retryAfter, rec.Header().Get("Retry-After"), tc.name)
		require.Equal(t, "no-store", rec.Header().Get("Cache-Control"), "%s: Protect's headers apply", tc.name)
		if tc.status == http.StatusTooManyRequests && tc.path != "/anmelden" {
			var body struct{ Error string }
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), tc.name)
			require.Contains(t, body.Error, "too many requests from 192.0.2.1", tc.name)
		}
		if tc.status == http.StatusTooManyRequests && tc.path == "/anmelden" {
			require.Contains(t, rec.Body.String(), "Zu viele Anfragen", tc.name)
		}
	}
	require.Equal(t, 5, pages, "refused page loads reach nothing")
}

// TestClientLimitMemoryIsBounded: however many addresses send requests, at most
// maxClients buckets are kept, and buckets idle long enough to be full again are dropped.
func TestClientLimitMemoryIsBounded(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	lim := newClientLimiter(ClientLimits{PerSecond: 10, Burst: 20}, clock.Now) // full again after 2 s
	for i := range 3 * maxClients {
		_, ok := lim.allow(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&0xff, i&0xff))
		require.True(t, ok)
		require.LessOrEqual(t, lim.size(), maxClients)
	}
	// The most recent address keeps its bucket through the flood.
	for range 20 {
		lim.allow("192.0.2.9")
	}
	_, ok := lim.allow("192.0.2.9")
	require.False(t, ok, "the burst is used up")

	clock.Advance(2 * time.Second)
	_, ok = lim.allow("192.0.2.10")
	require.True(t, ok)
	require.Equal(t, 1, lim.size(), "every idle bucket is dropped, a new one kept")
	_, ok = lim.allow("192.0.2.9")
	require.True(t, ok, "a dropped bucket was full: nothing changes for its address")
}

// TestClientKey: the address a request counts against.
func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:5000":             "192.0.2.1",
		"[2001:db8::1]:443":          "2001:db8::/64",
		"[fe80::1%eth0]:443":         "fe80::/64",
		"[::ffff:198.51.100.7]:8080": "198.51.100.7",
		"not an address":             "not an address",
		"":                           "",
	} {
		require.Equal(t, want, clientKey(in), in)
	}
}
