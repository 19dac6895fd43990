package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

func load(t *testing.T, yaml string, args ...string) (Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	AddFlags(fs)
	AddDevFlags(fs)
	if yaml != "" {
		path := filepath.Join(t.TempDir(), "rollin.yaml")
		require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
		args = append(args, "--config", path)
	}
	require.NoError(t, fs.Parse(args))
	return Load(fs)
}

func TestDefaults(t *testing.T) {
	cfg, err := load(t, "")
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8080", cfg.HTTP.Addr)
	require.Equal(t, ".rollin", cfg.DataDir)
	require.Equal(t, "", cfg.Temporal.Address, "empty: dev runs the embedded server")
	require.Equal(t, 7, cfg.Process.ReminderAfterDays)
	require.Equal(t, 72*time.Hour, cfg.Process.RoutingDeadline)
	require.False(t, cfg.Simulators.Autopilot.Enabled)
}

func TestAutopilotFromEnv(t *testing.T) {
	t.Setenv("ROLLIN_SIMULATORS_AUTOPILOT_ENABLED", "true")
	t.Setenv("ROLLIN_SIMULATORS_AUTOPILOT_DELAY", "0s")
	cfg, err := load(t, "simulators: {autopilot: {test_failure_rate: 0.1}}")
	require.NoError(t, err)
	require.True(t, cfg.Simulators.Autopilot.Enabled)
	require.Zero(t, cfg.Simulators.Autopilot.Delay)
	require.Equal(t, 0.1, cfg.Simulators.Autopilot.TestFailureRate)
}

func TestAutopilotFlags(t *testing.T) {
	cfg, err := load(t, "simulators: {autopilot: {delay: 5s}}", "--autopilot", "--autopilot-delay", "150ms")
	require.NoError(t, err)
	require.True(t, cfg.Simulators.Autopilot.Enabled)
	require.Equal(t, 150*time.Millisecond, cfg.Simulators.Autopilot.Delay, "the flag beats the file")

	cfg, err = load(t, "")
	require.NoError(t, err)
	require.False(t, cfg.Simulators.Autopilot.Enabled, "off unless asked for")
}

func TestPrecedenceFileEnvFlag(t *testing.T) {
	yaml := `
http:
  addr: 127.0.0.1:9000
data_dir: /srv/rollin
process:
  retry_max: 2m
auth:
  tokens:
    - {name: muenster, role: municipality, token: "0123456789abcdef", ars: "055150000000"}
    - {name: pm, role: pm, token: "fedcba9876543210"}
`
	t.Setenv("ROLLIN_DATA_DIR", "/from/env")
	t.Setenv("ROLLIN_HTTP_ADDR", "127.0.0.1:9100")
	cfg, err := load(t, yaml, "--http-addr", "127.0.0.1:9200")
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9200", cfg.HTTP.Addr, "flag beats env and file")
	require.Equal(t, "/from/env", cfg.DataDir, "env beats file")
	require.Equal(t, 2*time.Minute, cfg.Process.RetryMax, "file beats default")
	require.Len(t, cfg.Auth.Tokens, 2)
	require.Equal(t, "055150000000", cfg.Auth.Tokens[0].ARS)
}

func TestBadValuesNameTheKey(t *testing.T) {
	tests := map[string]struct {
		yaml, key string
	}{
		"bad addr":            {"http: {addr: nonsense}", "http.addr"},
		"bad db url":          {"database: {url: 'mysql://x'}", "database.url"},
		"unknown key":         {"htpp: {addr: x}", "htpp"},
		"bad role":            {`auth: {tokens: [{name: a, role: admin, token: "0123456789abcdef"}]}`, "auth.tokens[0].role"},
		"short token":         {`auth: {tokens: [{name: a, role: pm, token: "short"}]}`, "auth.tokens[0].token"},
		"municipality no ARS": {`auth: {tokens: [{name: a, role: municipality, token: "0123456789abcdef"}]}`, "auth.tokens[0].ars"},
		"pm with ARS":         {`auth: {tokens: [{name: a, role: pm, token: "0123456789abcdef", ars: "055150000000"}]}`, "auth.tokens[0].ars"},
		"escalation early":    {"process: {reminder_after_days: 7, escalation_after_days: 3}", "process.escalation_after_days"},
		"error rate":          {"simulators: {error_rate: 1.5}", "simulators.error_rate"},
		"bad duration":        {"process: {retry_max: soon}", "process.retry_max"},
		"log level":           {"log: {level: loud}", "log.level"},
		"test poll too long":  {"process: {test_poll: 45s}", "process.test_poll"},
		"autopilot failures":  {"simulators: {autopilot: {test_failure_rate: 2}}", "simulators.autopilot.test_failure_rate"},
		"unquoted ARS":        {`auth: {tokens: [{name: a, role: municipality, token: "0123456789abcdef", ars: 055150000000}]}`, "auth.tokens[0].ars"},
		"bad organisation":    {`auth: {tokens: [{name: a, role: pm, token: "0123456789abcdef", organisation: "D NRW"}]}`, "auth.tokens[0].organisation"},
		"municipality org":    {`auth: {tokens: [{name: a, role: municipality, token: "0123456789abcdef", ars: "055150000000", organisation: d-nrw}]}`, "auth.tokens[0].organisation"},
		"cache size zero":     {"temporal: {workflow_cache_size: 0}", "temporal.workflow_cache_size"},
		"embedded db scheme":  {"temporal: {embedded_database_url: 'mysql://u@localhost/temporal'}", "temporal.embedded_database_url"},
		"embedded db no name": {"temporal: {embedded_database_url: 'postgres://u@localhost'}", "temporal.embedded_database_url"},
		"embedded db garbage": {"temporal: {embedded_database_url: 'postgres://u@localhost:port/t'}", "temporal.embedded_database_url"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, tc.yaml)
			require.Error(t, err)
			var ke *KeyError
			require.ErrorAs(t, err, &ke)
			require.Contains(t, ke.Key, tc.key)
			require.True(t, IsKeyError(err))
		})
	}
}

func TestEmbeddedDatabaseURL(t *testing.T) {
	cfg, err := load(t, "")
	require.NoError(t, err)
	require.Empty(t, cfg.Temporal.EmbeddedDatabaseURL, "empty: the embedded server keeps SQLite")

	_, err = load(t, "temporal: {embedded_database_url: 'mysql://u:s3cret@localhost/temporal'}")
	require.ErrorContains(t, err, "temporal.embedded_database_url")
	require.NotContains(t, err.Error(), "s3cret", "the message must not show the password")

	t.Setenv("ROLLIN_TEMPORAL_EMBEDDED_DATABASE_URL", "postgresql://postgres@localhost:5432/rollin_temporal?sslmode=disable")
	cfg, err = load(t, "")
	require.NoError(t, err)
	require.Equal(t, "postgresql://postgres@localhost:5432/rollin_temporal?sslmode=disable", cfg.Temporal.EmbeddedDatabaseURL)
}

func TestMissingConfigFile(t *testing.T) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	AddFlags(fs)
	require.NoError(t, fs.Parse([]string{"--config", filepath.Join(t.TempDir(), "nope.yaml")}))
	_, err := Load(fs)
	require.ErrorContains(t, err, "--config")
}

func TestDevTokensAreGeneratedOnceAndPrivate(t *testing.T) {
	t.Parallel()
	cfg := Config{DataDir: filepath.Join(t.TempDir(), "data")}
	first, generated, err := DevTokens(cfg, "055150000000")
	require.NoError(t, err)
	require.True(t, generated)
	require.Len(t, first, 3)
	roles := map[string]Token{}
	for _, tk := range first {
		roles[string(tk.Role)] = tk
		require.GreaterOrEqual(t, len(tk.Token), 32)
	}
	require.Equal(t, "055150000000", roles["municipality"].ARS)
	require.NotEqual(t, roles["pm"].Token, roles["operator"].Token)

	info, err := os.Stat(filepath.Join(cfg.DataDir, DevTokensFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	again, generated, err := DevTokens(cfg, "055150000000")
	require.NoError(t, err)
	require.True(t, generated)
	require.Equal(t, first, again, "a restart keeps the tokens")

	cfg.Auth.Tokens = []Token{{Name: "x", Role: "pm", Token: "0123456789abcdef"}}
	configured, generated, err := DevTokens(cfg, "055150000000")
	require.NoError(t, err)
	require.False(t, generated)
	require.Equal(t, cfg.Auth.Tokens, configured)
}
