package auth_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/auth"
	"github.com/rollin-efa/rollin/domain"
)

// TestTokensLookup: a token configured plainly or by its hash finds its principal; the
// hash itself, blanks and unknown tokens find nobody.
func TestTokensLookup(t *testing.T) {
	sum := sha256.Sum256([]byte("hashed-token-0123456789"))
	set, err := auth.NewTokens([]auth.Token{
		{Name: "pl", Role: domain.RolePM, Token: "plain-token-0123456789", Organisation: "d-nrw"},
		{Name: "kommune", Role: domain.RoleMunicipality, TokenSHA256: hex.EncodeToString(sum[:]), ARS: " 055150000000 "},
	})
	require.NoError(t, err)
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
	set, err = auth.NewTokens([]auth.Token{{Name: "pl", Role: domain.RoleMunicipality, Token: "new-secret-0123456789", ARS: "055150000000"}})
	require.NoError(t, err)
	_, ok = set.Still(auth.Fingerprint("plain-token-0123456789"))
	require.False(t, ok, "a replaced token ends its sessions")
}

// TestNewTokensRefusesBadEntries: a token list with one bad entry builds no set, and the
// error locates the entry and its field, so that the configuration's key can be named.
func TestNewTokensRefusesBadEntries(t *testing.T) {
	const tok = "0123456789abcdef"
	sum := sha256.Sum256([]byte(tok))
	digest := hex.EncodeToString(sum[:])
	pm := auth.Token{Name: "a", Role: domain.RolePM, Token: tok}
	tests := map[string]struct {
		entries []auth.Token
		index   int
		field   string
	}{
		"no name":             {[]auth.Token{{Role: domain.RolePM, Token: tok}}, 0, "name"},
		"name twice":          {[]auth.Token{pm, {Name: "a", Role: domain.RolePM, Token: tok + "x"}}, 1, "name"},
		"name with a NUL":     {[]auth.Token{{Name: "a\x00b", Role: domain.RolePM, Token: tok}}, 0, "name"},
		"name with a newline": {[]auth.Token{{Name: "a\nb", Role: domain.RolePM, Token: tok}}, 0, "name"},
		"name reversed":       {[]auth.Token{{Name: "a\u202eb", Role: domain.RolePM, Token: tok}}, 0, "name"},
		"bad role":            {[]auth.Token{{Name: "a", Role: "admin", Token: tok}}, 0, "role"},
		"short token":         {[]auth.Token{{Name: "a", Role: domain.RolePM, Token: "short"}}, 0, "token"},
		"municipality no ARS": {[]auth.Token{{Name: "a", Role: domain.RoleMunicipality, Token: tok}}, 0, "ars"},
		"ARS lost its zero":   {[]auth.Token{{Name: "a", Role: domain.RoleMunicipality, Token: tok, ARS: "55150000000"}}, 0, "ars"},
		"pm with ARS":         {[]auth.Token{{Name: "a", Role: domain.RolePM, Token: tok, ARS: "055150000000"}}, 0, "ars"},
		"bad organisation":    {[]auth.Token{{Name: "a", Role: domain.RolePM, Token: tok, Organisation: "D NRW"}}, 0, "organisation"},
		"municipality org":    {[]auth.Token{{Name: "a", Role: domain.RoleMunicipality, Token: tok, ARS: "055150000000", Organisation: "d-nrw"}}, 0, "organisation"},
		"token and hash":      {[]auth.Token{{Name: "a", Role: domain.RolePM, Token: tok, TokenSHA256: digest}}, 0, "token_sha256"},
		"neither token":       {[]auth.Token{{Name: "a", Role: domain.RolePM}}, 0, "token"},
		"hash too short":      {[]auth.Token{{Name: "a", Role: domain.RolePM, TokenSHA256: "abcdef"}}, 0, "token_sha256"},
		"hash not hex":        {[]auth.Token{{Name: "a", Role: domain.RolePM, TokenSHA256: strings.Repeat("zz", 32)}}, 0, "token_sha256"},
		"hash of used token":  {[]auth.Token{pm, {Name: "b", Role: domain.RolePM, TokenSHA256: digest}}, 1, "token_sha256"},
		"token used twice":    {[]auth.Token{pm, {Name: "b", Role: domain.RolePM, Token: tok}}, 1, "token"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			set, err := auth.NewTokens(tc.entries)
			require.Nil(t, set)
			var bad *auth.EntryError
			require.ErrorAs(t, err, &bad)
			require.Equal(t, tc.index, bad.Index, "%v", err)
			require.Equal(t, tc.field, bad.Field, "%v", err)
		})
	}
}
