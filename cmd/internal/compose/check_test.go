package compose

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/config"
)

// load reads yaml as a configuration file, as a process does before Check.
func load(t *testing.T, yaml string) config.Config {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	config.AddFlags(fs)
	path := filepath.Join(t.TempDir(), "rollin.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	require.NoError(t, fs.Parse([]string{"--config", path}))
	cfg, err := config.Load(fs)
	require.NoError(t, err, "config's own checks pass: what follows is Check's")
	return cfg
}

func sha256Hex(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

// TestCheckNamesTheKey: the values config leaves to the packages that own their rules are
// refused by Check before a process starts, with the configuration key named, as config
// names its own.
func TestCheckNamesTheKey(t *testing.T) {
	smtp := func(fields string) string { return "notify: {smtp: {" + fields + "}}" }
	tests := map[string]struct {
		yaml, key string
	}{
		"bad role":                  {`auth: {tokens: [{name: a, role: admin, token: "0123456789abcdef"}]}`, "auth.tokens[0].role"},
		"short token":               {`auth: {tokens: [{name: a, role: pm, token: "short"}]}`, "auth.tokens[0].token"},
		"municipality no ARS":       {`auth: {tokens: [{name: a, role: municipality, token: "0123456789abcdef"}]}`, "auth.tokens[0].ars"},
		"pm with ARS":               {`auth: {tokens: [{name: a, role: pm, token: "0123456789abcdef", ars: "055150000000"}]}`, "auth.tokens[0].ars"},
		"unquoted ARS":              {`auth: {tokens: [{name: a, role: municipality, token: "0123456789abcdef", ars: 055150000000}]}`, "auth.tokens[0].ars"},
		"bad organisation":          {`auth: {tokens: [{name: a, role: pm, token: "0123456789abcdef", organisation: "D NRW"}]}`, "auth.tokens[0].organisation"},
		"municipality org":          {`auth: {tokens: [{name: a, role: municipality, token: "0123456789abcdef", ars: "055150000000", organisation: d-nrw}]}`, "auth.tokens[0].organisation"},
		"token and hash":            {`auth: {tokens: [{name: a, role: pm, token: "0123456789abcdef", token_sha256: "` + sha256Hex("0123456789abcdef") + `"}]}`, "auth.tokens[0].token_sha256"},
		"neither token":             {`auth: {tokens: [{name: a, role: pm}]}`, "auth.tokens[0].token"},
		"hash too short":            {`auth: {tokens: [{name: a, role: pm, token_sha256: "abcdef"}]}`, "auth.tokens[0].token_sha256"},
		"hash not hex":              {`auth: {tokens: [{name: a, role: pm, token_sha256: "` + strings.Repeat("zz", 32) + `"}]}`, "auth.tokens[0].token_sha256"},
		"hash of used token":        {`auth: {tokens: [{name: a, role: pm, token: "0123456789abcdef"}, {name: b, role: pm, token_sha256: "` + sha256Hex("0123456789abcdef") + `"}]}`, "auth.tokens[1].token_sha256"},
		"token used twice":          {`auth: {tokens: [{name: a, role: pm, token: "0123456789abcdef"}, {name: b, role: pm, token: "0123456789abcdef"}]}`, "auth.tokens[1].token"},
		"subscriber short callback": {`fitconnect: {subscribers: [{client_id: c, client_secret: s, encryption_cert_file: c.pem, callback_url: "https://fv.example/cb", callback_secret: short}]}`, "fitconnect.subscribers[0].callback_secret"},
		"starttls unknown":          {smtp("addr: 'mail.example.org:587', from: rollin@example.org, starttls: sometimes"), "notify.smtp.starttls"},
		"credentials in the clear":  {smtp("addr: 'localhost:25', from: rollin@example.org, username: u, password: p, starttls: 'off'"), "notify.smtp.starttls"},
		"webhook secret too short":  {"notify: {webhook: {url: 'https://hooks.example.org/x', secret: 0123456789abcdef}}", "notify.webhook.secret"},
		"organisation malformed":    {"notify: {email: {organisations: [{organisation: 'D NRW', pm: [a@b.example]}]}}", "notify.email.organisations[0].organisation"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := Check(load(t, tc.yaml))
			var ke *config.KeyError
			require.ErrorAs(t, err, &ke)
			require.Equal(t, tc.key, ke.Key, "%v", err)
			require.True(t, config.IsKeyError(err), "exit code 2")
		})
	}
	require.NoError(t, Check(load(t, `auth: {tokens: [{name: a, role: pm, token: "0123456789abcdef"}]}`)))
}

// TestTokensFromHashes loads tokens given by their hash (upper-case hex as sha256sum
// does not print it, to show it is read as hex): each finds the principal its plain
// token finds, and the configuration holds no plain token for it.
func TestTokensFromHashes(t *testing.T) {
	const token = "a-long-random-token-0123456789"
	cfg := load(t, `
auth:
  tokens:
    - {name: plain, role: pm, token: "`+token+`"}
    - {name: hashed, role: operator, token_sha256: "`+strings.ToUpper(sha256Hex("other-token-0123456789"))+`"}
`)
	require.Empty(t, cfg.Auth.Tokens[1].Token)
	set, err := Tokens(cfg.Auth.Tokens)
	require.NoError(t, err)
	for plain, name := range map[string]string{token: "plain", "other-token-0123456789": "hashed"} {
		p, ok := set.Lookup(plain)
		require.True(t, ok, name)
		require.Equal(t, name, p.Name)
	}
}
