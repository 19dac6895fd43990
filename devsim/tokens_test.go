package devsim

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/config"
)

func TestDevTokensAreGeneratedOnceAndPrivate(t *testing.T) {
	t.Parallel()
	cfg := config.Config{DataDir: filepath.Join(t.TempDir(), "data")}
	first, generated, err := Tokens(cfg, "055150000000")
	require.NoError(t, err)
	require.True(t, generated)
	require.Len(t, first, 3)
	roles := map[string]config.Token{}
	for _, tk := range first {
		roles[string(tk.Role)] = tk
		require.GreaterOrEqual(t, len(tk.Token), 32)
	}
	require.Equal(t, "055150000000", roles["municipality"].ARS)
	require.NotEqual(t, roles["pm"].Token, roles["operator"].Token)

	info, err := os.Stat(filepath.Join(cfg.DataDir, TokensFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	again, generated, err := Tokens(cfg, "055150000000")
	require.NoError(t, err)
	require.True(t, generated)
	require.Equal(t, first, again, "a restart keeps the tokens")

	cfg.Auth.Tokens = []config.Token{{Name: "x", Role: "pm", Token: "0123456789abcdef"}}
	configured, generated, err := Tokens(cfg, "055150000000")
	require.NoError(t, err)
	require.False(t, generated)
	require.Equal(t, cfg.Auth.Tokens, configured)
}

// TestTokensFileIsReadStrictly: a tokens file with a misspelt key or no entries stops
// rollin-dev with the file named, rather than starting with a token scoped otherwise than
// written or with nobody able to sign in.
func TestTokensFileIsReadStrictly(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"misspelt key": "- {name: pl, role: pm, token: 0123456789abcdef0123, organization: d-nrw}\n",
		"empty":        "",
		"empty list":   "[]\n",
	} {
		t.Run(name, func(t *testing.T) {
			cfg := config.Config{DataDir: t.TempDir()}
			require.NoError(t, os.WriteFile(filepath.Join(cfg.DataDir, TokensFile), []byte(body), 0o600))
			_, _, err := Tokens(cfg, "055150000000")
			require.ErrorContains(t, err, TokensFile)
			require.ErrorContains(t, err, "delete it")
		})
	}
}
