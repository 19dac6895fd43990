package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSecurityHeadersOnEveryResponse checks the headers on answers of every kind — a
// route, a refusal, the API's and the mux's 404s, health — over HTTP and HTTPS, where
// HSTS joins them.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	limited := func() http.Handler { // a bucket of one request per token, and a clock that stands still
		h, _ := newTestAPI(t, newLimiter(Limits{PerSecond: 1, Burst: 1}, fixedClock()))
		return h
	}
	plain := httptest.NewServer(limited())
	defer plain.Close()
	tlsSrv := httptest.NewTLSServer(limited())
	defer tlsSrv.Close()

	requests := []struct {
		name, method, path, token string
		status                    int
	}{
		{"route", "GET", "/api/v1/services", pmToken, http.StatusOK},
		{"rate limited", "GET", "/api/v1/services", pmToken, http.StatusTooManyRequests},
		{"no token", "GET", "/api/v1/services", "", http.StatusUnauthorized},
		{"unknown API route", "GET", "/api/v1/nothing", pmToken, http.StatusNotFound},
		{"outside the API", "GET", "/index.html", "", http.StatusNotFound},
		{"wrong method", "DELETE", "/healthz", "", http.StatusMethodNotAllowed},
		{"health", "GET", "/healthz", "", http.StatusOK},
		{"readiness", "GET", "/readyz", "", http.StatusOK},
	}
	for _, srv := range []struct {
		name string
		ts   *httptest.Server
		hsts string
	}{{"http", plain, ""}, {"https", tlsSrv, hsts}} {
		for _, rq := range requests {
			t.Run(srv.name+"/"+rq.name, func(t *testing.T) {
				req, err := http.NewRequest(rq.method, srv.ts.URL+rq.path, nil)
				require.NoError(t, err)
				if rq.token != "" {
					req.Header.Set("Authorization", "Bearer "+rq.token)
				}
				resp, err := srv.ts.Client().Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				require.Equal(t, rq.status, resp.StatusCode)
				for k, v := range securityHeaders {
					require.Equal(t, v, resp.Header.Get(k), k)
				}
				require.Equal(t, srv.hsts, resp.Header.Get("Strict-Transport-Security"), "HSTS over TLS only")
			})
		}
	}
}
