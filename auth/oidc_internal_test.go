package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
)

var roleNames = OIDCRoles{PM: "rollin-pm", Operator: "rollin-operator", Municipality: "rollin-municipality"}

// TestPickRoleIsDeterministic: a person with several Rollin roles always gets the same
// one, the narrowest (municipality, then operator, then pm), whatever the order of the
// claim; it used to depend on map iteration order.
func TestPickRoleIsDeterministic(t *testing.T) {
	for _, tc := range []struct {
		values []string
		want   domain.Role
	}{
		{[]string{"rollin-pm"}, domain.RolePM},
		{[]string{"offline_access", "rollin-operator"}, domain.RoleOperator},
		{[]string{"rollin-pm", "rollin-operator"}, domain.RoleOperator},
		{[]string{"rollin-operator", "rollin-pm"}, domain.RoleOperator},
		{[]string{"rollin-pm", "rollin-municipality", "rollin-operator"}, domain.RoleMunicipality},
		{[]string{"offline_access"}, ""},
		{[]string{""}, ""},
		{nil, ""},
	} {
		for range 200 { // map order changes from one iteration to the next
			require.Equal(t, tc.want, pickRole(tc.values, roleNames), "%v", tc.values)
		}
	}
	require.Equal(t, domain.Role(""), pickRole([]string{""}, OIDCRoles{PM: "rollin-pm"}), "an unset role name matches nothing")

	o := NewOIDC(OIDCConfig{RoleClaim: "roles", Roles: roleNames}, nil)
	for range 200 {
		p, err := o.principal(map[string]any{"sub": "u", "roles": []any{"rollin-pm", "rollin-operator"}})
		require.NoError(t, err)
		require.Equal(t, domain.RoleOperator, p.Role)
	}
}

// TestProviderClientHasTimeouts: without a client of the caller's, requests to the
// identity provider are bounded (http.DefaultClient's are not).
func TestProviderClientHasTimeouts(t *testing.T) {
	o := NewOIDC(OIDCConfig{}, nil)
	require.NotSame(t, http.DefaultClient, o.client)
	require.Equal(t, providerTimeout, o.client.Timeout)
	tr, ok := o.client.Transport.(*http.Transport)
	require.True(t, ok)
	require.Positive(t, tr.TLSHandshakeTimeout)
	require.Positive(t, tr.ResponseHeaderTimeout)
}

// TestDiscoveryHoldsNoLockDuringIO: while one sign-in waits for a provider that does not
// answer, another sign-in is not queued behind it: it fails by its own deadline.
func TestDiscoveryHoldsNoLockDuringIO(t *testing.T) {
	release := make(chan struct{})
	hung := make(chan struct{}, 1)
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case hung <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer idp.Close()
	defer close(release)
	o := NewOIDC(OIDCConfig{Issuer: idp.URL}, idp.Client())

	first := make(chan error, 1)
	go func() {
		_, err := o.AuthURL(context.Background(), NewLogin())
		first <- err
	}()
	<-hung // the first sign-in is in discovery, at the provider

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := o.AuthURL(ctx, NewLogin())
	require.Error(t, err)
	require.Less(t, time.Since(start), 2*time.Second, "the second sign-in was not held by the first one's discovery")
	select {
	case <-first:
		t.Fatal("the first sign-in should still wait for the provider")
	default:
	}
}
