package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadinessFollowsDependenciesAndDrain(t *testing.T) {
	var down error
	c := New(func(context.Context) error { return down })
	mux := http.NewServeMux()
	c.Register(mux)
	get := func(path string) (int, map[string]string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var body map[string]string
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		return rec.Code, body
	}

	code, body := get("/readyz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ready", body["status"])

	down = errors.New("database: connection refused")
	code, body = get("/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "database: connection refused", body["error"], "the probe says which dependency failed")

	down = nil
	c.Drain()
	code, body = get("/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code, "draining is not ready, though the dependencies are")
	require.Equal(t, "draining", body["status"])
	code, _ = get("/healthz")
	require.Equal(t, http.StatusOK, code, "a draining process is still alive")
}
