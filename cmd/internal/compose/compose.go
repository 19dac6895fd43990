// Package compose is Rollin's composition root: it turns the loaded configuration into the
// parts of a process — the Temporal client, the store, the systems' clients and the activities
// built on them, the worker, the starter and the HTTP front ends — so that every program
// (rollin, rollin-dev, rollin-bench) wires them alike and the parts themselves receive
// ready clients instead of reading configuration.
package compose

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/api"
	"github.com/rollin-efa/rollin/auth"
	"github.com/rollin-efa/rollin/cli"
	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/logging"
	"github.com/rollin-efa/rollin/observability"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/web"
	"github.com/rollin-efa/rollin/worker"
	"github.com/rollin-efa/rollin/workflows"
)

// SignalContext is cancelled by SIGINT or SIGTERM, which start a graceful shutdown.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// Telemetry is one process's metrics registry (served on GET /metrics of its HTTP server)
// and, when tracing.otlp_endpoint is set, its tracing. A nil *Telemetry records nothing.
type Telemetry struct {
	metrics *observability.Metrics
	tracing *observability.Tracing
}

// StartTelemetry sets up the metrics and tracing of the process named process (the
// service name of its spans).
func StartTelemetry(ctx context.Context, cfg config.Config, process string) (*Telemetry, error) {
	tr, err := observability.StartTracing(ctx, cfg.Tracing.OTLPEndpoint, "rollin-"+process, cfg.Temporal.Identity())
	if err != nil {
		return nil, &config.KeyError{Key: "tracing.otlp_endpoint", Msg: err.Error()}
	}
	return &Telemetry{metrics: observability.NewMetrics(), tracing: tr}, nil
}

// Stop sends the buffered spans (within 5 seconds); call it after the worker stopped.
func (t *Telemetry) Stop(log *zap.Logger) {
	if t == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.tracing.Shutdown(ctx); err != nil {
		log.Warn("tracing shutdown", zap.Error(err))
	}
}

// Metrics is the registry the process's parts record into; nil on a nil *Telemetry, which
// the parts take as "record nothing".
func (t *Telemetry) Metrics() *observability.Metrics {
	if t == nil {
		return nil
	}
	return t.metrics
}

// WithMetrics serves GET /metrics from t's registry and everything else from h.
func (t *Telemetry) WithMetrics(h http.Handler) http.Handler {
	if t == nil {
		return h
	}
	mux := http.NewServeMux()
	t.metrics.Mount(mux)
	mux.Handle("/", h)
	return mux
}

// DialTemporal connects to the frontend at address with the configured TLS (mTLS) and API
// key. An API key implies TLS: Temporal Cloud refuses it in the clear. The SDK logs
// through zap, reports its metrics to tel's registry and, with tracing on, traces through
// tel's interceptor (the workers built on the client inherit both).
func DialTemporal(cfg config.Config, address string, log *zap.Logger, tel *Telemetry) (client.Client, error) {
	tlsCfg, err := cfg.Temporal.TLS.Config()
	if err != nil {
		return nil, err
	}
	opts := client.Options{
		HostPort: address, Namespace: cfg.Temporal.Namespace, Logger: logging.Temporal(log.Named("temporal")),
		Identity: cfg.Temporal.Identity(), MetricsHandler: tel.Metrics().TemporalHandler(),
	}
	if tel != nil {
		opts.Interceptors = tel.tracing.Interceptors()
	}
	if cfg.Temporal.APIKey != "" {
		if tlsCfg == nil {
			tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		opts.Credentials = client.NewAPIKeyStaticCredentials(cfg.Temporal.APIKey)
	}
	opts.ConnectionOptions.TLS = tlsCfg
	c, err := client.Dial(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", address, err)
	}
	return c, nil
}

// Connect opens the database and dials the Temporal cluster at temporal.address: what
// `rollin worker` and `rollin serve` share.
func Connect(ctx context.Context, cfg config.Config, log *zap.Logger, tel *Telemetry) (*store.Store, client.Client, error) {
	st, err := store.Open(ctx, cfg.Database.URL, log.Named("store"))
	if err != nil {
		return nil, nil, err
	}
	c, err := DialTemporal(cfg, cfg.Temporal.Address, log, tel)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, c, nil
}

// StartWorker starts a worker with the activities wired to the store and the systems,
// metered by tel and logging to log.
func StartWorker(cfg config.Config, c client.Client, st *store.Store, log *zap.Logger, tel *Telemetry) (sdkworker.Worker, error) {
	acts, err := Activities(cfg, st, tel.Metrics(), log.Named("activity"))
	if err != nil {
		return nil, err
	}
	worker.SetCacheSize(cfg.Temporal.WorkflowCacheSize)
	w := worker.New(c, cfg.Temporal.TaskQueue, acts, worker.Options{
		Identity: cfg.Temporal.Identity(), StopTimeout: cfg.Temporal.WorkerStopTimeout,
	})
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	return w, nil
}

// HTTPServer serves h on cfg.HTTP.Addr, over HTTPS when http.tls_cert_file is set, with
// timeouts that keep slow clients from holding connections and with api.Protect's
// security headers, per-client-address and per-token rate limits. It returns once
// listening, with the address actually bound.
func HTTPServer(cfg config.Config, h http.Handler, log *zap.Logger) (*http.Server, string, error) {
	tlsCfg, err := cfg.HTTP.TLSConfig()
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return nil, "", fmt.Errorf("listen on http.addr %s: %w", cfg.HTTP.Addr, err)
	}
	srv := &http.Server{
		Handler: api.Protect(h, api.Limits{PerSecond: cfg.HTTP.RateLimit, Burst: cfg.HTTP.RateBurst},
			api.ClientLimits{PerSecond: cfg.HTTP.ClientRateLimit, Burst: cfg.HTTP.ClientRateBurst}),
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	serve := srv.Serve
	if tlsCfg != nil {
		serve = func(ln net.Listener) error { return srv.ServeTLS(ln, "", "") } // the certificate is in TLSConfig
	}
	go func() {
		if err := serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", zap.Error(err))
		}
	}()
	return srv, ln.Addr().String(), nil
}

// Starter returns the service layer the API (and in dev the autopilot) acts through.
func Starter(cfg config.Config, c client.Client, st *store.Store) *starter.Service {
	svc := starter.New(c, st, cfg.Temporal.TaskQueue, WorkflowOptions(cfg.Process))
	svc.SetActionWait(cfg.Process.ActionWait)
	return svc
}

// WorkflowOptions turns process.* into the timings new runs start with. Runs carry them in
// their input, so a changed configuration applies to runs started afterwards and never
// changes a running roll-in's deadlines under it.
func WorkflowOptions(p config.Process) workflows.Options {
	day := 24 * time.Hour
	return workflows.Options{
		ReminderAfter:   time.Duration(p.ReminderAfterDays) * day,
		EscalationAfter: time.Duration(p.EscalationAfterDays) * day,
		CallAttempts:    p.CallAttempts,
		RetryInitial:    p.RetryInitial,
		RetryMax:        p.RetryMax,
		RoutingPoll:     p.RoutingPoll,
		RoutingDeadline: p.RoutingDeadline,
	}
}

// FrontEnds are the JSON API and the pages for people on one HTTP server on http.addr:
// /api/ and the health endpoints go to the API, /metrics to the process's registry,
// everything else to the pages. Both act through the same starter.
type FrontEnds struct {
	api *api.Server
	srv *http.Server
	// Addr is the address the server bound (http.addr may ask for a free port).
	Addr string
}

// ServeFrontEnds builds the API and the pages over svc, signing people in with tokens
// (the API, and the pages under web.token_sign_in) and web.oidc, registers the runs-by-state
// gauge in tel, and serves them: what rollin serve and rollin-dev share. It returns once
// listening.
func ServeFrontEnds(cfg config.Config, svc *starter.Service, c client.Client, st *store.Store, tokens *auth.Tokens, tel *Telemetry, log *zap.Logger) (*FrontEnds, error) {
	a := api.New(svc, tokens, Readiness(st, c), log.Named("api"))
	a.EndSessionsIn(st)
	day := 24 * time.Hour
	opts := web.Options{
		Sessions: st, SessionKey: []byte(cfg.Web.SessionSecret), SessionTTL: cfg.Web.SessionTTL, SecureCookies: cfg.Web.SecureCookies,
		ReminderAfter:   time.Duration(cfg.Process.ReminderAfterDays) * day,
		EscalationAfter: time.Duration(cfg.Process.EscalationAfterDays) * day,
		Log:             log.Named("web"),
	}
	if cfg.Web.TokenSignIn {
		opts.Tokens = tokens
	}
	if cfg.Web.OIDC.Issuer != "" {
		opts.OIDC = oidc(cfg.Web.OIDC)
	}
	pages, err := web.New(svc, opts)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	for _, p := range []string{"/api/", "/healthz", "/readyz"} {
		mux.Handle(p, a)
	}
	mux.Handle("/", pages)
	if err := tel.Metrics().RunsByState(st.CountRunsByState); err != nil {
		return nil, fmt.Errorf("register runs metric: %w", err)
	}
	srv, addr, err := HTTPServer(cfg, tel.WithMetrics(mux), log)
	if err != nil {
		return nil, err
	}
	return &FrontEnds{api: a, srv: srv, Addr: addr}, nil
}

// Stop drains: /readyz answers 503 at once, requests are served for http.shutdown_delay
// more (so that probes and load balancers notice), then the server stops as ShutdownHTTP
// does.
func (f *FrontEnds) Stop(cfg config.Config, log *zap.Logger) error {
	f.api.Drain()
	log.Info("draining: /readyz answers 503", zap.Duration("shutdown_delay", cfg.HTTP.ShutdownDelay))
	return ShutdownHTTP(cfg, f.srv, cfg.HTTP.ShutdownDelay)
}

// Readiness is what every process that talks to both needs: the database and the
// Temporal frontend answer.
func Readiness(st *store.Store, c client.Client) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := st.Ping(ctx); err != nil {
			return fmt.Errorf("database: %w", err)
		}
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			return fmt.Errorf("temporal: %w", err)
		}
		return nil
	}
}

// BaseURL is how clients reach the HTTP server at addr: https when it serves TLS itself.
func BaseURL(cfg config.Config, addr string) string {
	if cfg.HTTP.TLSCertFile != "" {
		return "https://" + addr
	}
	return "http://" + addr
}

// ShutdownHTTP keeps serving for delay (Readiness already off, so probes and load
// balancers notice), then stops accepting connections and lets requests in flight finish
// within http.shutdown_timeout.
func ShutdownHTTP(cfg config.Config, srv *http.Server, delay time.Duration) error {
	time.Sleep(delay)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("http server shutdown: %w", err)
	}
	return nil
}

// ProcessCommand is a command of a Rollin process: it takes no arguments, the
// configuration flags of config.AddFlags, and runs with the configuration (defaults, file,
// environment, flags) and its logger loaded, syncing the logger when run returns.
func ProcessCommand(use, short string, run func(cmd *cobra.Command, cfg config.Config, log *zap.Logger) error) *cobra.Command {
	return ProcessCommandWith(use, short, nil, run)
}

// ProcessCommandWith is ProcessCommand with the command's own defaults over the built-in
// ones (config.DevDefaults for rollin-dev).
func ProcessCommandWith(use, short string, commandDefaults map[string]any, run func(cmd *cobra.Command, cfg config.Config, log *zap.Logger) error) *cobra.Command {
	cmd := &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := cli.LoadConfig(cmd, commandDefaults)
			if err != nil {
				return err
			}
			if err := Check(cfg); err != nil {
				_ = log.Sync()
				return err
			}
			defer func() { _ = log.Sync() }()
			return run(cmd, cfg, log)
		},
	}
	config.AddFlags(cmd.Flags())
	return cmd
}

// RequireTemporalAddress refuses to start a process that joins an existing Temporal
// cluster without temporal.address.
func RequireTemporalAddress(cfg config.Config, what string) error {
	if cfg.Temporal.Address == "" {
		return &config.KeyError{Key: "temporal.address", Msg: "required for " + what + " (only rollin-dev embeds a server)"}
	}
	return nil
}
