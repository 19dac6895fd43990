// Package config loads Rollin's configuration with viper, in increasing precedence:
// built-in defaults, a YAML file (--config), ROLLIN_* environment variables, then flags.
// Every value is checked once at start-up, and a bad one is reported by its key, so that an
// operator can fix a deployment from the message alone.
package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Config is the whole configuration of a Rollin process.
type Config struct {
	HTTP       HTTP       `mapstructure:"http"`
	DataDir    string     `mapstructure:"data_dir"`
	Database   Database   `mapstructure:"database"`
	Temporal   Temporal   `mapstructure:"temporal"`
	Auth       Auth       `mapstructure:"auth"`
	Process    Process    `mapstructure:"process"`
	Systems    Systems    `mapstructure:"systems"`
	FitConnect FitConnect `mapstructure:"fitconnect"`
	Notify     Notify     `mapstructure:"notify"`
	Web        Web        `mapstructure:"web"`
	Simulators Simulators `mapstructure:"simulators"`
	Log        Log        `mapstructure:"log"`
	Tracing    Tracing    `mapstructure:"tracing"`
}

// HTTP configures the HTTP server of `rollin serve` and `rollin-dev` (the API) and of
// `rollin worker` (health only).
type HTTP struct {
	Addr string `mapstructure:"addr"`
	// ShutdownDelay is how long a stopping process keeps serving with /readyz answering
	// 503 before it stops accepting connections, so that a load balancer or Kubernetes
	// takes it out of rotation first and no request meets a closed port.
	ShutdownDelay time.Duration `mapstructure:"shutdown_delay"`
	// ShutdownTimeout bounds how long requests in flight may take to finish after that.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	// RateLimit is how many requests per second one API token may make on average, so
	// that a runaway script or a leaked token cannot starve the other callers; 0 turns
	// the limit off. RateBurst is how many it may make at once.
	RateLimit float64 `mapstructure:"rate_limit"`
	RateBurst int     `mapstructure:"rate_burst"`
	// ClientRateLimit is how many requests per second one client address may make on
	// average, counted before authentication (sign-in attempts, wrong tokens, page
	// loads); 0 turns it off. The address is the connection's: behind a proxy, the
	// proxy's. ClientRateBurst is how many it may make at once.
	ClientRateLimit float64 `mapstructure:"client_rate_limit"`
	ClientRateBurst int     `mapstructure:"client_rate_burst"`
	// TLSCertFile and TLSKeyFile, both or neither, make the server speak HTTPS itself,
	// for installations without a TLS-terminating proxy in front: tokens must not cross
	// the network in the clear.
	TLSCertFile string `mapstructure:"tls_cert_file"`
	TLSKeyFile  string `mapstructure:"tls_key_file"`
}

// Database locates the PostgreSQL database of the read model, catalogue and audit log.
type Database struct {
	URL string `mapstructure:"url"`
}

// Temporal locates the Temporal frontend. An empty Address in `rollin-dev` means: run the
// embedded server, listening on EmbeddedPort.
type Temporal struct {
	Address      string `mapstructure:"address"`
	Namespace    string `mapstructure:"namespace"`
	TaskQueue    string `mapstructure:"task_queue"`
	EmbeddedPort int    `mapstructure:"embedded_port"`
	// EmbeddedDatabaseURL, if set, keeps the embedded server's state in this PostgreSQL
	// database instead of the SQLite file in the data dir, whose single connection caps the
	// server near a thousand busy workflows. The database is created and set up on first
	// use; give Temporal a database of its own, not the one of database.url.
	EmbeddedDatabaseURL string `mapstructure:"embedded_database_url"`
	// UIAddr, if set, is where `rollin-dev` also serves Temporal's own Web UI (host:port,
	// e.g. 127.0.0.1:8233), for operators who want the engine's view of a run: its event
	// history, pending activities and timers. Development only: it has no sign-in.
	UIAddr string `mapstructure:"ui_addr"`
	// WorkflowCacheSize bounds how many workflows a worker process keeps in memory between
	// their tasks (the SDK's sticky cache, 10,000 by default). Roll-ins wait on people for
	// weeks; a workflow that left the cache is rebuilt by replaying its history when it
	// wakes, which for a roll-in is a few dozen events. Measured in BENCHMARKS.md: 60–90
	// KiB per cached roll-in.
	WorkflowCacheSize int `mapstructure:"workflow_cache_size"`
	// WorkerIdentity names a worker process in Temporal's histories and in the audit log
	// (which worker recorded each event). Empty: "<pid>@<host>", the SDK's default, which
	// tells processes on one machine apart.
	WorkerIdentity string `mapstructure:"worker_identity"`
	// WorkerStopTimeout is how long a stopping worker lets running activities finish
	// before it gives them up (they are then retried elsewhere, with the same
	// idempotency keys).
	WorkerStopTimeout time.Duration `mapstructure:"worker_stop_timeout"`
	// APIKey authenticates to Temporal Cloud (or any frontend that takes API keys) as a
	// bearer credential; it implies TLS. Keep it in the environment
	// (ROLLIN_TEMPORAL_API_KEY), not in a file under version control.
	APIKey string `mapstructure:"api_key"`
	TLS    TLS    `mapstructure:"tls"`
}

// TLS secures the connection to the Temporal frontend: server verification against CAFile
// (the system roots when empty) and, with CertFile and KeyFile, a client certificate
// (mTLS, as self-hosted clusters and Temporal Cloud's certificate namespaces require).
type TLS struct {
	Enabled    bool   `mapstructure:"enabled"`
	CAFile     string `mapstructure:"ca_file"`
	CertFile   string `mapstructure:"cert_file"`
	KeyFile    string `mapstructure:"key_file"`
	ServerName string `mapstructure:"server_name"`
}

// Identity is the worker identity: WorkerIdentity, or "<pid>@<host>" like the SDK's default.
func (t Temporal) Identity() string {
	if t.WorkerIdentity != "" {
		return t.WorkerIdentity
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%d@%s", os.Getpid(), host)
}

// Token is one API token and whom it stands for: pm, operator or municipality (Role). It
// gives either the token itself or, so that the configuration does not hold it, its
// SHA-256 (TokenSHA256). The entries are checked where the token set is built (package
// auth), which knows the roles and the form of an ARS and an organisation.
type Token struct {
	Name  string `mapstructure:"name"`
	Role  string `mapstructure:"role"`
	Token string `mapstructure:"token"`
	// TokenSHA256 is the SHA-256 of the token in hex (printf %s "$TOKEN" | sha256sum).
	TokenSHA256 string `mapstructure:"token_sha256" yaml:"token_sha256,omitempty"`
	// ARS scopes a municipality token to its own municipality.
	ARS string `mapstructure:"ars"`
	// Organisation scopes a pm or operator token to its organisation's runs, campaigns
	// and services (e.g. d-nrw); empty is the installation's own.
	Organisation string `mapstructure:"organisation"`
}

// Auth lists who may use the API.
type Auth struct {
	Tokens []Token `mapstructure:"tokens"`
}

// Process tunes the roll-in workflow for new runs.
type Process struct {
	ReminderAfterDays   int           `mapstructure:"reminder_after_days"`
	EscalationAfterDays int           `mapstructure:"escalation_after_days"`
	CallAttempts        int           `mapstructure:"call_attempts"`
	RetryInitial        time.Duration `mapstructure:"retry_initial"`
	RetryMax            time.Duration `mapstructure:"retry_max"`
	RoutingPoll         time.Duration `mapstructure:"routing_poll"`
	RoutingDeadline     time.Duration `mapstructure:"routing_deadline"`
	TestPoll            time.Duration `mapstructure:"test_poll"`
	// ActionWait bounds how long an action's caller waits for the workflow to record the
	// accepted action; past it the caller gets 503 "accepted, not yet recorded" (the
	// action is applied, and a repeat with the same action ID answers its result) instead
	// of hanging while the database is away.
	ActionWait time.Duration `mapstructure:"action_wait"`
}

// MaxActionWait bounds process.action_wait, so that the answer comes well within the
// HTTP server's 90 s write timeout.
const MaxActionWait = time.Minute

// Systems locates the external systems. In `rollin-dev` empty URLs mean: use the
// simulators started in the same process.
type Systems struct {
	ProviderURL     string        `mapstructure:"provider_url"`
	StateURL        string        `mapstructure:"state_url"`
	MunicipalityURL string        `mapstructure:"municipality_url"`
	Timeout         time.Duration `mapstructure:"timeout"`
}

// Simulators shapes the behaviour of the simulated systems in `rollin-dev`.
type Simulators struct {
	// ProviderAddr, StateAddr and MunicipalityAddr are where the simulators listen
	// (host:port); empty means a free port on 127.0.0.1, which `rollin-dev` wires up
	// itself. `rollin-dev simulators` serves them for workers in other processes, which need
	// the addresses in their systems.*_url.
	ProviderAddr     string `mapstructure:"provider_addr"`
	StateAddr        string `mapstructure:"state_addr"`
	MunicipalityAddr string `mapstructure:"municipality_addr"`
	// FitConnectAddr is where the FIT-Connect simulator listens, used while
	// fitconnect.submission_url is empty; it knows the API clients of
	// fitconnect.subscribers.
	FitConnectAddr string `mapstructure:"fitconnect_addr"`
	// FitConnectReceiverKeys are PEM files of receiving systems' private keys: with the
	// key of a destination the simulated receiving system decrypts test submissions and
	// checks metadata and data, not only their JWE headers. For development only.
	FitConnectReceiverKeys []string      `mapstructure:"fitconnect_receiver_keys"`
	Latency                time.Duration `mapstructure:"latency"`
	ErrorRate              float64       `mapstructure:"error_rate"`
	RoutingLag             int           `mapstructure:"routing_lag"`
	Autopilot              Autopilot     `mapstructure:"autopilot"`
}

// Autopilot lets the municipality simulator play every human step (the municipality's, the
// countersignature and the operator's connection tasks) through the normal actions, so
// campaigns run to live unattended.
type Autopilot struct {
	Enabled         bool          `mapstructure:"enabled"`
	Delay           time.Duration `mapstructure:"delay"`
	TestFailureRate float64       `mapstructure:"test_failure_rate"`
}

// MaxTestPoll keeps the test submission's polling well inside its 30 s heartbeat timeout.
const MaxTestPoll = 20 * time.Second

// Log sets the log level (debug, info, warn, error) and format: json, one object per
// line for a log collector (the default), or console, for people reading a terminal
// (the default of `rollin-dev`).
type Log struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// Tracing configures OpenTelemetry tracing of workflows and activities. It is off unless
// an OTLP endpoint is set, so that an installation without a collector pays nothing.
type Tracing struct {
	// OTLPEndpoint is the OTLP/HTTP URL of the collector, e.g. http://otel-collector:4318;
	// empty turns tracing off.
	OTLPEndpoint string `mapstructure:"otlp_endpoint"`
}

// DevDefaults are the built-in values `rollin-dev` has in addition: a console log for the
// person at the terminal.
var DevDefaults = map[string]any{"log.format": "console"}

// defaults are the built-in values: a single-machine development set-up.
var defaults = map[string]any{
	"http.addr":                              "127.0.0.1:8080",
	"http.shutdown_delay":                    time.Duration(0),
	"http.shutdown_timeout":                  15 * time.Second,
	"http.rate_limit":                        50.0,
	"http.rate_burst":                        100,
	"http.client_rate_limit":                 100.0,
	"http.client_rate_burst":                 200,
	"http.tls_cert_file":                     "",
	"http.tls_key_file":                      "",
	"data_dir":                               ".rollin",
	"database.url":                           "postgres://postgres@localhost:5432/rollin?sslmode=disable",
	"temporal.address":                       "",
	"temporal.namespace":                     "default",
	"temporal.task_queue":                    "rollin",
	"temporal.embedded_port":                 7233,
	"temporal.embedded_database_url":         "",
	"temporal.ui_addr":                       "",
	"temporal.workflow_cache_size":           2000,
	"temporal.worker_identity":               "",
	"temporal.worker_stop_timeout":           30 * time.Second,
	"temporal.api_key":                       "",
	"temporal.tls.enabled":                   false,
	"temporal.tls.ca_file":                   "",
	"temporal.tls.cert_file":                 "",
	"temporal.tls.key_file":                  "",
	"temporal.tls.server_name":               "",
	"process.reminder_after_days":            7,
	"process.escalation_after_days":          14,
	"process.call_attempts":                  5,
	"process.retry_initial":                  time.Second,
	"process.retry_max":                      time.Minute,
	"process.routing_poll":                   10 * time.Minute,
	"process.routing_deadline":               72 * time.Hour,
	"process.test_poll":                      2 * time.Second,
	"process.action_wait":                    20 * time.Second,
	"systems.provider_url":                   "",
	"systems.state_url":                      "",
	"systems.municipality_url":               "",
	"systems.timeout":                        10 * time.Second,
	"fitconnect.submission_url":              "",
	"fitconnect.token_url":                   "",
	"fitconnect.metadata_versions":           []string{"1.2.0"},
	"fitconnect.sender.client_id":            "",
	"fitconnect.sender.client_secret":        "",
	"notify.smtp.addr":                       "",
	"notify.smtp.from":                       "",
	"notify.smtp.username":                   "",
	"notify.smtp.password":                   "",
	"notify.smtp.starttls":                   "",
	"notify.smtp.timeout":                    10 * time.Second,
	"notify.webhook.url":                     "",
	"notify.webhook.secret":                  "",
	"notify.email.pm":                        []string{},
	"notify.email.operator":                  []string{},
	"simulators.provider_addr":               "",
	"simulators.state_addr":                  "",
	"simulators.municipality_addr":           "",
	"simulators.fitconnect_addr":             "",
	"simulators.fitconnect_receiver_keys":    []string{},
	"simulators.latency":                     time.Duration(0),
	"simulators.error_rate":                  0.0,
	"simulators.routing_lag":                 0,
	"simulators.autopilot.enabled":           false,
	"simulators.autopilot.delay":             2 * time.Second,
	"simulators.autopilot.test_failure_rate": 0.0,
	"log.level":                              "info",
	"log.format":                             "json",
	"tracing.otlp_endpoint":                  "",
}

// Keys returns every configuration key, sorted, as written in the YAML file (dotted) —
// the ROLLIN_ environment variable of a key is its upper-cased form with _ for the dots.
func Keys() []string {
	// auth.tokens, fitconnect.subscribers, notify.email.municipalities and
	// notify.email.organisations are lists of entries and have no default.
	return slices.Sorted(slices.Values(append(slices.Collect(maps.Keys(defaults)), "auth.tokens", "fitconnect.subscribers",
		"notify.email.municipalities", "notify.email.organisations")))
}

// flagKeys maps command-line flags to configuration keys.
var flagKeys = map[string]string{
	"http-addr":          "http.addr",
	"data-dir":           "data_dir",
	"database-url":       "database.url",
	"temporal-address":   "temporal.address",
	"temporal-namespace": "temporal.namespace",
	"task-queue":         "temporal.task_queue",
	"log-level":          "log.level",
	"log-format":         "log.format",
	"autopilot":          "simulators.autopilot.enabled",
	"autopilot-delay":    "simulators.autopilot.delay",
	"temporal-ui":        "temporal.ui_addr",
}

// KeyError is a configuration value that cannot be used; Key names it as in the YAML file.
type KeyError struct {
	Key string
	Msg string
}

func (e *KeyError) Error() string { return fmt.Sprintf("config: %s: %s", e.Key, e.Msg) }

// AddFlags declares the flags that override configuration keys, plus --config.
func AddFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML configuration file")
	fs.String("http-addr", "", "address of the HTTP API (http.addr)")
	fs.String("data-dir", "", "directory for local state (data_dir)")
	fs.String("database-url", "", "PostgreSQL URL (database.url)")
	fs.String("temporal-address", "", "Temporal frontend host:port; empty in dev = embedded (temporal.address)")
	fs.String("temporal-namespace", "", "Temporal namespace (temporal.namespace)")
	fs.String("task-queue", "", "Temporal task queue (temporal.task_queue)")
	fs.String("log-level", "", "debug, info, warn or error (log.level)")
	fs.String("log-format", "", "json or console (log.format; json by default, console in rollin-dev)")
}

// AddDevFlags declares the flags only `rollin-dev` has: those of its simulators.
func AddDevFlags(fs *pflag.FlagSet) {
	fs.Bool("autopilot", false, "let the municipality simulator take every human step (simulators.autopilot.enabled)")
	fs.Duration("autopilot-delay", 2*time.Second, "the autopilot's wait before each step (simulators.autopilot.delay)")
}

// AddTemporalUIFlag declares the flag only `rollin-dev` has: where to serve Temporal's
// Web UI.
func AddTemporalUIFlag(fs *pflag.FlagSet) {
	fs.String("temporal-ui", "", "also serve Temporal's Web UI at this host:port, e.g. 127.0.0.1:8233 (temporal.ui_addr)")
}

// Load reads the configuration. fs may be nil (no flags); flags declared by AddFlags count
// only when set on the command line. The error is a *KeyError when a value is bad.
//
// commandDefaults, if given, replace built-in defaults for one command (`rollin-dev` logs
// to the console); the file, the environment and flags still override them.
func Load(fs *pflag.FlagSet, commandDefaults ...map[string]any) (Config, error) {
	v := viper.New()
	for k, val := range defaults {
		v.SetDefault(k, val)
	}
	for _, m := range commandDefaults {
		for k, val := range m {
			if _, known := defaults[k]; !known {
				return Config{}, &KeyError{Key: k, Msg: "a command's default for a key that does not exist"}
			}
			v.SetDefault(k, val)
		}
	}
	v.SetEnvPrefix("ROLLIN")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if fs != nil {
		for flag, key := range flagKeys {
			if f := fs.Lookup(flag); f != nil && f.Changed {
				v.Set(key, f.Value.String())
			}
		}
		if f := fs.Lookup("config"); f != nil && f.Value.String() != "" {
			v.SetConfigFile(f.Value.String())
			v.SetConfigType("yaml")
			if err := v.ReadInConfig(); err != nil {
				return Config{}, &KeyError{Key: "--config", Msg: fmt.Sprintf("cannot read %s: %v", f.Value.String(), err)}
			}
		}
	}
	var cfg Config
	err := v.UnmarshalExact(&cfg, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
	)))
	if err != nil {
		return Config{}, decodeError(err)
	}
	return cfg, cfg.Validate()
}

// decodeError turns mapstructure's message into a KeyError naming the offending key.
func decodeError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "has invalid keys: "); i >= 0 {
		keys := strings.TrimSpace(msg[i+len("has invalid keys: "):])
		return &KeyError{Key: keys, Msg: "unknown key (see the README for the configuration keys)"}
	}
	// mapstructure reports "'process.call_attempts' cannot parse value ..." style messages.
	var key string
	if i := strings.Index(msg, "'"); i >= 0 {
		if j := strings.Index(msg[i+1:], "'"); j >= 0 {
			key = msg[i+1 : i+1+j]
		}
	}
	if key == "" {
		key = "(file)"
	}
	return &KeyError{Key: key, Msg: msg}
}

// Validate checks every value and reports the first bad one by its key.
func (c Config) Validate() error {
	if err := c.HTTP.validate(); err != nil {
		return err
	}
	if err := c.Web.validate(); err != nil {
		return err
	}
	if c.DataDir == "" {
		return &KeyError{"data_dir", "must not be empty"}
	}
	if u, err := url.Parse(c.Database.URL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return &KeyError{"database.url", fmt.Sprintf("%q is not a postgres:// URL", c.Database.URL)}
	}
	if c.Temporal.Address != "" {
		if _, _, err := net.SplitHostPort(c.Temporal.Address); err != nil {
			return &KeyError{"temporal.address", fmt.Sprintf("%q is not host:port", c.Temporal.Address)}
		}
	}
	if c.Temporal.Namespace == "" {
		return &KeyError{"temporal.namespace", "must not be empty"}
	}
	if c.Temporal.TaskQueue == "" {
		return &KeyError{"temporal.task_queue", "must not be empty"}
	}
	if c.Temporal.WorkflowCacheSize < 1 {
		return &KeyError{"temporal.workflow_cache_size", fmt.Sprintf("%d: must be at least 1", c.Temporal.WorkflowCacheSize)}
	}
	if c.Temporal.WorkerStopTimeout < 0 {
		return &KeyError{"temporal.worker_stop_timeout", "must not be negative"}
	}
	if err := c.Temporal.TLS.validate(); err != nil {
		return err
	}
	for key, addr := range map[string]string{
		"simulators.provider_addr": c.Simulators.ProviderAddr, "simulators.state_addr": c.Simulators.StateAddr,
		"simulators.municipality_addr": c.Simulators.MunicipalityAddr, "simulators.fitconnect_addr": c.Simulators.FitConnectAddr,
	} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return &KeyError{key, fmt.Sprintf("%q is not host:port", addr)}
		}
	}
	if c.Temporal.EmbeddedPort < 1 || c.Temporal.EmbeddedPort > 65535 {
		return &KeyError{"temporal.embedded_port", fmt.Sprintf("%d is not a port", c.Temporal.EmbeddedPort)}
	}
	if a := c.Temporal.UIAddr; a != "" {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" || port == "0" {
			return &KeyError{"temporal.ui_addr", fmt.Sprintf("%q: want host:port with a fixed port, e.g. 127.0.0.1:8233", a)}
		}
	}
	if raw := c.Temporal.EmbeddedDatabaseURL; raw != "" {
		// The messages never quote raw: the URL may carry a password.
		u, err := url.Parse(raw)
		if err != nil {
			return &KeyError{"temporal.embedded_database_url", "is not a URL; want postgres://user@host/database"}
		}
		if (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" || strings.Trim(u.Path, "/") == "" {
			return &KeyError{"temporal.embedded_database_url", fmt.Sprintf("%q is not a postgres://user@host/database URL", u.Redacted())}
		}
	}
	if err := c.Process.validate(); err != nil {
		return err
	}
	for key, raw := range map[string]string{
		"systems.provider_url": c.Systems.ProviderURL, "systems.state_url": c.Systems.StateURL,
		"systems.municipality_url": c.Systems.MunicipalityURL,
	} {
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &KeyError{key, fmt.Sprintf("%q is not an http(s) URL", raw)}
		}
	}
	if c.Systems.Timeout <= 0 {
		return &KeyError{"systems.timeout", "must be positive"}
	}
	if err := c.FitConnect.validate(); err != nil {
		return err
	}
	if err := c.Notify.validate(); err != nil {
		return err
	}
	if c.Simulators.ErrorRate < 0 || c.Simulators.ErrorRate > 1 {
		return &KeyError{"simulators.error_rate", fmt.Sprintf("%v is not between 0 and 1", c.Simulators.ErrorRate)}
	}
	if r := c.Simulators.Autopilot.TestFailureRate; r < 0 || r > 1 {
		return &KeyError{"simulators.autopilot.test_failure_rate", fmt.Sprintf("%v is not between 0 and 1", r)}
	}
	if c.Simulators.Autopilot.Delay < 0 {
		return &KeyError{"simulators.autopilot.delay", "must not be negative"}
	}
	if c.Simulators.Latency < 0 || c.Simulators.RoutingLag < 0 {
		return &KeyError{"simulators", "latency and routing_lag must not be negative"}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return &KeyError{"log.level", fmt.Sprintf("%q is not debug, info, warn or error", c.Log.Level)}
	}
	if c.Log.Format != "json" && c.Log.Format != "console" {
		return &KeyError{"log.format", fmt.Sprintf("%q is not json or console", c.Log.Format)}
	}
	if e := c.Tracing.OTLPEndpoint; e != "" {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &KeyError{"tracing.otlp_endpoint", fmt.Sprintf("%q is not an http:// or https:// URL", e)}
		}
	}
	return nil
}

func (h HTTP) validate() error {
	switch {
	case !validHostPort(h.Addr):
		return &KeyError{"http.addr", fmt.Sprintf("%q is not host:port", h.Addr)}
	case h.ShutdownDelay < 0 || h.ShutdownTimeout <= 0:
		return &KeyError{"http.shutdown_timeout", "shutdown_delay must not be negative and shutdown_timeout must be positive"}
	case !(h.RateLimit >= 0) || math.IsInf(h.RateLimit, 0):
		return &KeyError{"http.rate_limit", fmt.Sprintf("%v: want requests per second per token, 0 for no limit", h.RateLimit)}
	case h.RateBurst < 0 || (h.RateLimit > 0 && h.RateBurst < 1):
		return &KeyError{"http.rate_burst", fmt.Sprintf("%d: must be at least 1 while http.rate_limit is on", h.RateBurst)}
	case !(h.ClientRateLimit >= 0) || math.IsInf(h.ClientRateLimit, 0):
		return &KeyError{"http.client_rate_limit", fmt.Sprintf("%v: want requests per second per client address, 0 for no limit", h.ClientRateLimit)}
	case h.ClientRateBurst < 0 || (h.ClientRateLimit > 0 && h.ClientRateBurst < 1):
		return &KeyError{"http.client_rate_burst", fmt.Sprintf("%d: must be at least 1 while http.client_rate_limit is on", h.ClientRateBurst)}
	case (h.TLSCertFile == "") != (h.TLSKeyFile == ""):
		return &KeyError{"http.tls_cert_file", "tls_cert_file and tls_key_file go together (a server certificate needs its key)"}
	}
	for _, f := range []struct{ key, path string }{{"http.tls_cert_file", h.TLSCertFile}, {"http.tls_key_file", h.TLSKeyFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return &KeyError{f.key, fmt.Sprintf("cannot read %s: %v", f.path, err)}
		}
	}
	return nil
}

func validHostPort(addr string) bool {
	_, _, err := net.SplitHostPort(addr)
	return err == nil
}

// TLSConfig is the server side of http.tls_cert_file and http.tls_key_file (TLS 1.2 at
// least), or nil when the server speaks plain HTTP. A certificate that does not load or
// match its key is a *KeyError, so the process stops at start-up.
func (h HTTP) TLSConfig() (*tls.Config, error) {
	if h.TLSCertFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(h.TLSCertFile, h.TLSKeyFile)
	if err != nil {
		return nil, &KeyError{"http.tls_cert_file", fmt.Sprintf("server certificate and key: %v", err)}
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

func (p Process) validate() error {
	switch {
	case p.ReminderAfterDays < 1:
		return &KeyError{"process.reminder_after_days", "must be at least 1"}
	case p.EscalationAfterDays <= p.ReminderAfterDays:
		return &KeyError{"process.escalation_after_days", "must be greater than process.reminder_after_days"}
	case p.CallAttempts < 1 || p.CallAttempts > 100:
		return &KeyError{"process.call_attempts", "must be between 1 and 100"}
	case p.RetryInitial <= 0 || p.RetryMax < p.RetryInitial:
		return &KeyError{"process.retry_max", "retry_initial must be positive and retry_max at least retry_initial"}
	case p.RoutingPoll <= 0 || p.RoutingDeadline < p.RoutingPoll:
		return &KeyError{"process.routing_deadline", "routing_poll must be positive and routing_deadline at least routing_poll"}
	case p.TestPoll <= 0 || p.TestPoll > MaxTestPoll:
		return &KeyError{"process.test_poll", fmt.Sprintf("must be positive and at most %s (the test submission's heartbeat timeout is 30s)", MaxTestPoll)}
	case p.ActionWait < time.Second || p.ActionWait > MaxActionWait:
		return &KeyError{"process.action_wait", fmt.Sprintf("must be between 1s and %s (the HTTP server's write timeout is 90s)", MaxActionWait)}
	}
	return nil
}

// IsKeyError reports whether err is a bad configuration value (exit code 2).
func IsKeyError(err error) bool {
	var k *KeyError
	return errors.As(err, &k)
}
