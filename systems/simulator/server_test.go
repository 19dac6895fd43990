package simulator_test

import (
	"errors"
	"net/http"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/systems/simulator"
)

// TestDownRefusesConnectionsAndUpKeepsState takes a simulator down: clients get
// "connection refused" (not an HTTP error), and once it is up again on the same address it
// still knows the idempotency keys and effects from before, as a real system that restarts
// keeps its database.
func TestDownRefusesConnectionsAndUpKeepsState(t *testing.T) {
	srv := start(t, simulator.Provider, simulator.Config{})
	first := call(t, http.MethodPost, srv.URL+"/v1/tenants", "k1", tenantBody)
	require.Equal(t, http.StatusCreated, first.status, "%s", first.body)

	require.NoError(t, srv.Down())
	require.NoError(t, srv.Down(), "down twice is down")
	// A new connection is refused. (A client's pooled keep-alive connection sees the close
	// instead, as with a crashed server.)
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := fresh.Post(srv.URL+"/v1/tenants", "application/json", nil)
	if err == nil {
		_ = resp.Body.Close()
	}
	require.True(t, errors.Is(err, syscall.ECONNREFUSED), "want connection refused, got %v", err)

	require.NoError(t, srv.Up())
	again := call(t, http.MethodPost, srv.URL+"/v1/tenants", "k1", tenantBody)
	require.Equal(t, first.status, again.status, "the stored answer for the key: %s", again.body)
	require.Equal(t, 1, srv.Sim.Counters().Effects["create-tenant 055150000000/99050012104000"], "applied once across the outage")
}
