package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/rollin-efa/rollin/auth"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/store/storetest"
)

// TestOperatorEndsSessions: an operator ends every web session of a token, on the
// database all replicas share; an operator of an organisation only that organisation's;
// a project manager none. The answer matches openapi.json.
func TestOperatorEndsSessions(t *testing.T) {
	st, err := store.Open(t.Context(), storetest.NewDatabase(t), zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(st.Close)
	tokens := mustTokens(append(testTokenList(), auth.Token{Name: "op-nrw", Role: domain.RoleOperator, Organisation: "d-nrw", Token: "op-nrw-token-0123456789"})...)
	srv := New(&fakeStarter{}, tokens, func(context.Context) error { return nil }, zap.NewNop())
	srv.EndSessionsIn(st)
	h := protectWith(srv, nil)
	check := newOpenAPIChecker(t)

	now := time.Now()
	signIn := func(id, name, org string) {
		require.NoError(t, st.CreateSession(t.Context(), store.Session{ID: id, Name: name, Role: domain.RolePM, Organisation: org,
			Via: "token", Token: "fp", CSRF: "c", Created: now, Expires: now.Add(time.Hour)}))
	}
	alive := func(id string) bool {
		_, err := st.Session(t.Context(), id)
		return err == nil
	}
	signIn("pm-session-one-0123456789", "pm", "")
	signIn("pm-session-two-0123456789", "pm", "")
	signIn("pm-session-nrw-0123456789", "pm", "d-nrw")
	signIn("other-session-0123456789", "hashed", "")

	ended := func(token string, status int, want int64) {
		t.Helper()
		rec := call(t, h, http.MethodDelete, "/api/v1/sessions/pm", token, "")
		require.Equal(t, status, rec.Code, rec.Body.String())
		req := httptest.NewRequest(http.MethodDelete, "/api/v1/sessions/pm", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		require.NoError(t, check.check(t, req, nil, rec.Result()))
		if status == http.StatusOK {
			var body endedSessions
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			require.Equal(t, endedSessions{Name: "pm", Ended: want}, body)
		}
	}
	ended(pmToken, http.StatusForbidden, 0)
	require.True(t, alive("pm-session-one-0123456789"), "a project manager ends nothing")
	ended("op-nrw-token-0123456789", http.StatusOK, 1)
	require.False(t, alive("pm-session-nrw-0123456789"))
	require.True(t, alive("pm-session-one-0123456789"), "another organisation's stays")
	ended(opToken, http.StatusOK, 2)
	require.False(t, alive("pm-session-one-0123456789"))
	require.False(t, alive("pm-session-two-0123456789"))
	require.True(t, alive("other-session-0123456789"), "another token's stays")
	ended(opToken, http.StatusOK, 0)

	for _, name := range []string{"%00", "%FF", "a%0Ab", "a%E2%80%AEb", strings.Repeat("x", 201)} {
		rec := call(t, h, http.MethodDelete, "/api/v1/sessions/"+name, opToken, "")
		require.Equal(t, http.StatusBadRequest, rec.Code, "name %q: %s", name, rec.Body.String())
		require.Contains(t, rec.Body.String(), "name: ")
	}

	rec := call(t, protectWith(New(&fakeStarter{}, tokens, func(context.Context) error { return nil }, zap.NewNop()), nil),
		http.MethodDelete, "/api/v1/sessions/pm", opToken, "")
	require.Equal(t, http.StatusServiceUnavailable, rec.Code, "no session store")
}
