package config

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
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
	require.Equal(t, 20*time.Second, cfg.Process.ActionWait, "an action answers within 20 s, recorded or not")
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

// A FIT-Connect subscriber's fields after its ars, valid.
const (
	callbackSecret = "0123456789abcdef0123456789abcdef"
	subscriberRest = `client_id: c, client_secret: s, encryption_cert_file: c.pem, callback_url: "https://fv.example/cb", callback_secret: ` + callbackSecret
)

func TestBadValuesNameTheKey(t *testing.T) {
	tests := map[string]struct {
		yaml, key string
	}{
		"bad addr":                 {"http: {addr: nonsense}", "http.addr"},
		"bad db url":               {"database: {url: 'mysql://x'}", "database.url"},
		"unknown key":              {"htpp: {addr: x}", "htpp"},
		"escalation early":         {"process: {reminder_after_days: 7, escalation_after_days: 3}", "process.escalation_after_days"},
		"error rate":               {"simulators: {error_rate: 1.5}", "simulators.error_rate"},
		"bad duration":             {"process: {retry_max: soon}", "process.retry_max"},
		"log level":                {"log: {level: loud}", "log.level"},
		"log format":               {"log: {format: xml}", "log.format"},
		"client rate limit":        {"http: {client_rate_limit: -1}", "http.client_rate_limit"},
		"client rate limit +Inf":   {"http: {client_rate_limit: .inf}", "http.client_rate_limit"},
		"no client burst":          {"http: {client_rate_limit: 5, client_rate_burst: 0}", "http.client_rate_burst"},
		"otlp not a URL":           {"tracing: {otlp_endpoint: 'collector:4318'}", "tracing.otlp_endpoint"},
		"otlp no host":             {"tracing: {otlp_endpoint: 'http://'}", "tracing.otlp_endpoint"},
		"test poll too long":       {"process: {test_poll: 45s}", "process.test_poll"},
		"action wait too long":     {"process: {action_wait: 2m}", "process.action_wait"},
		"action wait too short":    {"process: {action_wait: 10ms}", "process.action_wait"},
		"autopilot failures":       {"simulators: {autopilot: {test_failure_rate: 2}}", "simulators.autopilot.test_failure_rate"},
		"cache size zero":          {"temporal: {workflow_cache_size: 0}", "temporal.workflow_cache_size"},
		"embedded db scheme":       {"temporal: {embedded_database_url: 'mysql://u@localhost/temporal'}", "temporal.embedded_database_url"},
		"embedded db no name":      {"temporal: {embedded_database_url: 'postgres://u@localhost'}", "temporal.embedded_database_url"},
		"embedded db garbage":      {"temporal: {embedded_database_url: 'postgres://u@localhost:port/t'}", "temporal.embedded_database_url"},
		"negative rate limit":      {"http: {rate_limit: -1}", "http.rate_limit"},
		"rate limit NaN":           {"http: {rate_limit: .nan}", "http.rate_limit"},
		"no burst":                 {"http: {rate_limit: 5, rate_burst: 0}", "http.rate_burst"},
		"negative burst":           {"http: {rate_limit: 0, rate_burst: -1}", "http.rate_burst"},
		"tls cert, no key":         {"http: {tls_cert_file: /etc/hosts}", "http.tls_cert_file"},
		"tls key, no cert":         {"http: {tls_key_file: /etc/hosts}", "http.tls_cert_file"},
		"tls cert missing":         {"http: {tls_cert_file: /nonexistent/cert.pem, tls_key_file: /etc/hosts}", "http.tls_cert_file"},
		"tls key missing":          {"http: {tls_cert_file: /etc/hosts, tls_key_file: /nonexistent/key.pem}", "http.tls_key_file"},
		"fit-connect no token URL": {"fitconnect: {submission_url: 'https://fc.example'}", "fitconnect.token_url"},
		"fit-connect bad URL":      {"fitconnect: {submission_url: 'fc.example', token_url: 'https://fc.example/token'}", "fitconnect.submission_url"},
		"no metadata versions":     {"fitconnect: {metadata_versions: []}", "fitconnect.metadata_versions"},
		"temporal UI without port": {"temporal: {ui_addr: '127.0.0.1'}", "temporal.ui_addr"},
		"temporal UI on port 0":    {"temporal: {ui_addr: '127.0.0.1:0'}", "temporal.ui_addr"},
		"sender without secret":    {"fitconnect: {submission_url: 'https://fc.example', token_url: 'https://fc.example/token', sender: {client_id: s}}", "fitconnect.sender.client_secret"},
		"subscriber ARS unquoted":  {"fitconnect: {subscribers: [{ars: 05370, " + subscriberRest + "}]}", "fitconnect.subscribers[0].ars"},
		"subscriber ARS one digit": {"fitconnect: {subscribers: [{ars: 05, " + subscriberRest + "}]}", "fitconnect.subscribers[0].ars"},
		"metadata version short":   {"fitconnect: {metadata_versions: ['1.2']}", "fitconnect.metadata_versions"},
		"client with two secrets":  {`fitconnect: {subscribers: [{ars: "05", ` + subscriberRest + `}, {ars: "01", client_id: c, client_secret: other, encryption_cert_file: c.pem, callback_url: "https://fv.example/cb", callback_secret: ` + callbackSecret + "}]}", "fitconnect.subscribers[1].client_secret"},
		"subscriber ARS twice":     {`fitconnect: {subscribers: [{ars: "05", ` + subscriberRest + `}, {ars: "05", ` + subscriberRest + "}]}", "fitconnect.subscribers[1].ars"},
		"subscriber no secret":     {`fitconnect: {subscribers: [{ars: "05", client_id: c, encryption_cert_file: c.pem, callback_url: "https://fv.example/cb", callback_secret: ` + callbackSecret + "}]}", "fitconnect.subscribers[0].client_secret"},
		"subscriber http callback": {`fitconnect: {subscribers: [{client_id: c, client_secret: s, encryption_cert_file: c.pem, callback_url: "http://fv.example/cb", callback_secret: ` + callbackSecret + "}]}", "fitconnect.subscribers[0].callback_url"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, tc.yaml)
			require.Error(t, err)
			var ke *KeyError
			require.ErrorAs(t, err, &ke)
			require.Equal(t, tc.key, ke.Key)
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

func TestHTTPProtectionDefaultsAndEnv(t *testing.T) {
	cfg, err := load(t, "")
	require.NoError(t, err)
	require.Equal(t, 50.0, cfg.HTTP.RateLimit)
	require.Equal(t, 100, cfg.HTTP.RateBurst)
	require.Equal(t, 100.0, cfg.HTTP.ClientRateLimit)
	require.Equal(t, 200, cfg.HTTP.ClientRateBurst)
	off, err := cfg.HTTP.TLSConfig()
	require.NoError(t, err)
	require.Nil(t, off, "plain HTTP unless certificate and key are configured")

	t.Setenv("ROLLIN_HTTP_RATE_LIMIT", "2.5")
	t.Setenv("ROLLIN_HTTP_RATE_BURST", "5")
	cfg, err = load(t, "")
	require.NoError(t, err)
	require.Equal(t, 2.5, cfg.HTTP.RateLimit)
	require.Equal(t, 5, cfg.HTTP.RateBurst)

	t.Setenv("ROLLIN_HTTP_RATE_LIMIT", "0")
	t.Setenv("ROLLIN_HTTP_RATE_BURST", "0")
	_, err = load(t, "")
	require.NoError(t, err, "0 turns the limit off, and then the burst does not matter")

	t.Setenv("ROLLIN_HTTP_CLIENT_RATE_LIMIT", "0")
	t.Setenv("ROLLIN_HTTP_CLIENT_RATE_BURST", "0")
	cfg, err = load(t, "")
	require.NoError(t, err, "the client limit turns off the same way")
	require.Zero(t, cfg.HTTP.ClientRateLimit)
}

// TestLogFormat: JSON by default, console where a command says so (rollin-dev), and the
// file, the environment and the flag override both.
func TestLogFormat(t *testing.T) {
	cfg, err := load(t, "")
	require.NoError(t, err)
	require.Equal(t, "json", cfg.Log.Format)

	fs := pflag.NewFlagSet("dev", pflag.ContinueOnError)
	AddFlags(fs)
	cfg, err = Load(fs, DevDefaults)
	require.NoError(t, err)
	require.Equal(t, "console", cfg.Log.Format, "rollin-dev")

	require.NoError(t, fs.Parse([]string{"--log-format", "json"}))
	cfg, err = Load(fs, DevDefaults)
	require.NoError(t, err)
	require.Equal(t, "json", cfg.Log.Format, "the flag wins")

	t.Setenv("ROLLIN_LOG_FORMAT", "console")
	cfg, err = load(t, "")
	require.NoError(t, err)
	require.Equal(t, "console", cfg.Log.Format)

	_, err = Load(nil, map[string]any{"log.formt": "json"})
	require.ErrorContains(t, err, "log.formt")
}

// TestHTTPSServer serves HTTPS the way httpServer does (TLSConfig into http.Server, then
// ServeTLS without files) and calls it: a client that trusts the CA gets an answer, one
// that offers TLS 1.1 at most does not; a key of another certificate stops start-up.
func TestHTTPSServer(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	certFile := writePEM(t, dir, "server.pem", "CERTIFICATE", p.server.Certificate[0])
	keyDER, err := x509.MarshalECPrivateKey(p.server.PrivateKey.(*ecdsa.PrivateKey))
	require.NoError(t, err)
	keyFile := writePEM(t, dir, "server-key.pem", "EC PRIVATE KEY", keyDER)

	t.Setenv("ROLLIN_HTTP_TLS_CERT_FILE", certFile)
	t.Setenv("ROLLIN_HTTP_TLS_KEY_FILE", keyFile)
	cfg, err := load(t, "")
	require.NoError(t, err)
	tlsCfg, err := cfg.HTTP.TLSConfig()
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS12), tlsCfg.MinVersion)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = fmt.Fprintf(w, "tls %x", r.TLS.Version)
		}),
		TLSConfig: tlsCfg,
		ErrorLog:  log.New(io.Discard, "", 0), // the refused handshake is expected
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })

	get := func(c *tls.Config) (string, error) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: c}, Timeout: 5 * time.Second}
		resp, err := hc.Get("https://" + ln.Addr().String())
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}
	body, err := get(&tls.Config{RootCAs: p.caPool, ServerName: "temporal.test"})
	require.NoError(t, err)
	require.Contains(t, []string{"tls 303", "tls 304"}, body)
	_, err = get(&tls.Config{RootCAs: p.caPool, ServerName: "temporal.test", MaxVersion: tls.VersionTLS11})
	require.Error(t, err, "TLS 1.2 at least")
	_, err = get(&tls.Config{ServerName: "temporal.test"})
	require.Error(t, err, "the client verifies the certificate")

	_, err = HTTP{TLSCertFile: certFile, TLSKeyFile: p.keyFile}.TLSConfig()
	var ke *KeyError
	require.ErrorAs(t, err, &ke)
	require.Equal(t, "http.tls_cert_file", ke.Key)
}

// webhookSecret is a valid notify.webhook.secret (32 bytes).
const webhookSecret = "0123456789abcdef0123456789abcdef"

func TestNotifyOffByDefault(t *testing.T) {
	cfg, err := load(t, "")
	require.NoError(t, err)
	require.Empty(t, cfg.Notify.SMTP.Addr, "no e-mail unless a relay is set")
	require.Empty(t, cfg.Notify.Webhook.URL, "no webhook unless a URL is set")
	require.Equal(t, 10*time.Second, cfg.Notify.SMTP.Timeout)
	require.Empty(t, cfg.Notify.SMTP.StartTLS, "empty: opportunistic on localhost, required elsewhere")
}

func TestNotifyFromFileAndEnv(t *testing.T) {
	yaml := `
notify:
  smtp: {addr: "mail.example.org:587", from: "Rollin d-NRW <rollin@d-nrw.example>", username: rollin, starttls: required}
  webhook: {url: "https://hooks.example.org/rollin"}
  email:
    pm: [pm@d-nrw.example]
    municipalities:
      - {ars_prefix: "05", address: rollin@d-nrw.example}
      - {ars_prefix: "05370", address: rollin@kreis-heinsberg.example}
`
	t.Setenv("ROLLIN_NOTIFY_SMTP_PASSWORD", "from-the-environment")
	t.Setenv("ROLLIN_NOTIFY_WEBHOOK_SECRET", webhookSecret)
	t.Setenv("ROLLIN_NOTIFY_EMAIL_OPERATOR", "ops@d-nrw.example,ops2@d-nrw.example")
	cfg, err := load(t, yaml)
	require.NoError(t, err)
	n := cfg.Notify
	require.Equal(t, "mail.example.org:587", n.SMTP.Addr)
	require.Equal(t, "from-the-environment", n.SMTP.Password)
	require.Equal(t, "required", n.SMTP.StartTLS)
	require.Equal(t, webhookSecret, n.Webhook.Secret)
	require.Equal(t, []string{"pm@d-nrw.example"}, n.Email.PM)
	require.Equal(t, []string{"ops@d-nrw.example", "ops2@d-nrw.example"}, n.Email.Operator, "a list from the environment, comma-separated")
	require.Equal(t, []MunicipalityEmail{{ARSPrefix: "05", Address: "rollin@d-nrw.example"}, {ARSPrefix: "05370", Address: "rollin@kreis-heinsberg.example"}}, n.Email.Municipalities)
	require.Contains(t, Keys(), "notify.email.municipalities")
	require.Contains(t, Keys(), "notify.email.organisations")
	require.Contains(t, Keys(), "notify.webhook.secret")
}

func TestNotifyBadValuesNameTheKey(t *testing.T) {
	smtp := func(fields string) string { return "notify: {smtp: {" + fields + "}}" }
	tests := map[string]struct {
		yaml, key string
	}{
		"smtp addr without port":     {smtp("addr: mail.example.org, from: rollin@example.org"), "notify.smtp.addr"},
		"smtp port not a number":     {smtp("addr: 'mail.example.org:smtp', from: rollin@example.org"), "notify.smtp.addr"},
		"smtp without from":          {smtp("addr: 'mail.example.org:587'"), "notify.smtp.from"},
		"from not an e-mail":         {smtp("addr: 'mail.example.org:587', from: rollin"), "notify.smtp.from"},
		"from with a line break":     {smtp(`addr: 'mail.example.org:587', from: "rollin@example.org\r\nBcc: x@example.org"`), "notify.smtp.from"},
		"password without username":  {smtp("addr: 'mail.example.org:587', from: rollin@example.org, password: p"), "notify.smtp.username"},
		"smtp timeout zero":          {smtp("timeout: 0s"), "notify.smtp.timeout"},
		"webhook not http":           {"notify: {webhook: {url: 'ftp://hooks.example.org/x', secret: " + webhookSecret + "}}", "notify.webhook.url"},
		"webhook without scheme":     {"notify: {webhook: {url: 'hooks.example.org/x', secret: " + webhookSecret + "}}", "notify.webhook.url"},
		"webhook with user info":     {"notify: {webhook: {url: 'https://u:p@hooks.example.org/x', secret: " + webhookSecret + "}}", "notify.webhook.url"},
		"webhook without secret":     {"notify: {webhook: {url: 'https://hooks.example.org/x'}}", "notify.webhook.secret"},
		"pm not an e-mail":           {"notify: {email: {pm: [pm@d-nrw.example, projektleitung]}}", "notify.email.pm[1]"},
		"operator with a name":       {"notify: {email: {operator: ['Ops <ops@d-nrw.example>']}}", "notify.email.operator[0]"},
		"ars prefix unquoted":        {"notify: {email: {municipalities: [{ars_prefix: 05370, address: a@b.example}]}}", "notify.email.municipalities[0].ars_prefix"},
		"ars prefix one digit":       {"notify: {email: {municipalities: [{ars_prefix: '5', address: a@b.example}]}}", "notify.email.municipalities[0].ars_prefix"},
		"ars prefix too long":        {"notify: {email: {municipalities: [{ars_prefix: '0553700040041', address: a@b.example}]}}", "notify.email.municipalities[0].ars_prefix"},
		"ars prefix no Land":         {"notify: {email: {municipalities: [{ars_prefix: '17', address: a@b.example}]}}", "notify.email.municipalities[0].ars_prefix"},
		"ars prefix empty":           {"notify: {email: {municipalities: [{address: a@b.example}]}}", "notify.email.municipalities[0].ars_prefix"},
		"ars prefix twice":           {"notify: {email: {municipalities: [{ars_prefix: '05', address: a@b.example}, {ars_prefix: '05', address: c@d.example}]}}", "notify.email.municipalities[1].ars_prefix"},
		"municipality address wrong": {"notify: {email: {municipalities: [{ars_prefix: '05', address: 'nobody'}]}}", "notify.email.municipalities[0].address"},
		"organisation missing":       {"notify: {email: {organisations: [{pm: [a@b.example]}]}}", "notify.email.organisations[0].organisation"},
		"organisation twice":         {"notify: {email: {organisations: [{organisation: d-nrw}, {organisation: d-nrw}]}}", "notify.email.organisations[1].organisation"},
		"organisation pm wrong":      {"notify: {email: {organisations: [{organisation: d-nrw, pm: [nobody]}]}}", "notify.email.organisations[0].pm[0]"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, tc.yaml)
			var ke *KeyError
			require.ErrorAs(t, err, &ke)
			require.Equal(t, tc.key, ke.Key, "%v", err)
		})
	}
}
