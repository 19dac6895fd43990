package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAuthenticateHashedAndPlainTokens: an entry with token_sha256 lets its token in, and
// knowing the hash (what the configuration shows) is not enough.
func TestAuthenticateHashedAndPlainTokens(t *testing.T) {
	h, _ := newTestAPI(t, nil)
	for _, tc := range []struct {
		name, header string
		status       int
	}{
		{"plain token", "Bearer " + pmToken, http.StatusOK},
		{"token configured by its hash", "Bearer " + hashedToken, http.StatusOK},
		{"surrounding blanks", "Bearer  " + hashedToken + " ", http.StatusOK},
		{"the hash itself", "Bearer " + hashedTokenSHA256, http.StatusUnauthorized},
		{"blanks only", "Bearer    ", http.StatusUnauthorized},
		{"empty", "Bearer ", http.StatusUnauthorized},
		{"other scheme", "Basic " + pmToken, http.StatusUnauthorized},
		{"none", "", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", "/api/v1/services", nil)
			require.NoError(t, err)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tc.status, rec.Code)
		})
	}
}
