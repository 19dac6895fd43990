package auth_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/auth"
	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/domain"
)

// TestTokensLookup: a token configured plainly or by its hash finds its principal; the
// hash itself, blanks and unknown tokens find nobody.
func TestTokensLookup(t *testing.T) {
	sum := sha256.Sum256([]byte("hashed-token-0123456789"))
	set, skipped := auth.NewTokens([]config.Token{
		{Name: "pl", Role: domain.RolePM, Token: "plain-token-0123456789", Organisation: "d-nrw"},
		{Name: "kommune", Role: domain.RoleMunicipality, TokenSHA256: hex.EncodeToString(sum[:]), ARS: " 055150000000 "},
		{Name: "broken", Role: domain.RolePM, TokenSHA256: "not-hex"},
	})
	require.Len(t, skipped, 1)
	for _, tc := range []struct {
		token, name string
	}{
		{"plain-token-0123456789", "pl"},
		{"  hashed-token-0123456789 ", "kommune"},
		{hex.EncodeToString(sum[:]), ""},
		{"   ", ""},
		{"", ""},
		{"unknown", ""},
	} {
		p, ok := set.Lookup(tc.token)
		require.Equal(t, tc.name != "", ok, "token %q", tc.token)
		require.Equal(t, tc.name, p.Name)
	}
	p, _ := set.Lookup("hashed-token-0123456789")
	require.Equal(t, domain.ARS("055150000000"), p.ARS)
	still, ok := set.Still(auth.Fingerprint("plain-token-0123456789"))
	require.True(t, ok)
	require.Equal(t, "pl", still.Name)
	_, ok = set.Still(auth.Fingerprint("unknown"))
	require.False(t, ok)

	// The same name with a new secret (a leaked token replaced) or another role: the old
	// session's fingerprint finds nobody, or the principal as configured now.
	set, _ = auth.NewTokens([]config.Token{{Name: "pl", Role: domain.RoleMunicipality, Token: "new-secret-0123456789", ARS: "055150000000"}})
	_, ok = set.Still(auth.Fingerprint("plain-token-0123456789"))
	require.False(t, ok, "a replaced token ends its sessions")
}
