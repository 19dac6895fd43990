package main

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

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/activities"
	"github.com/rollin-efa/rollin/api"
	"github.com/rollin-efa/rollin/auth"
	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/logging"
	"github.com/rollin-efa/rollin/observability"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/web"
	"github.com/rollin-efa/rollin/worker"
)

// signalContext is cancelled by SIGINT or SIGTERM, which start a graceful shutdown.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// telemetry is one process's metrics registry (served on GET /metrics of its HTTP server)
// and, when tracing.otlp_endpoint is set, its tracing. A nil *telemetry records nothing.
type telemetry struct {
	metrics *observability.Metrics
	tracing *observability.Tracing
}

// startTelemetry sets up the metrics and tracing of the process named process (the
// service name of its spans).
func startTelemetry(ctx context.Context, cfg config.Config, process string) (*telemetry, error) {
	tr, err := observability.StartTracing(ctx, cfg.Tracing.OTLPEndpoint, "rollin-"+process, cfg.Temporal.Identity())
	if err != nil {
		return nil, &config.KeyError{Key: "tracing.otlp_endpoint", Msg: err.Error()}
	}
	return &telemetry{metrics: observability.NewMetrics(), tracing: tr}, nil
}

// stop sends the buffered spans (within 5 seconds); call it after the worker stopped.
func (t *telemetry) stop(log *zap.Logger) {
	if t == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.tracing.Shutdown(ctx); err != nil {
		log.Warn("tracing shutdown", zap.Error(err))
	}
}

func (t *telemetry) metricsOrNil() *observability.Metrics {
	if t == nil {
		return nil
	}
	return t.metrics
}

// withMetrics serves GET /metrics from t's registry and everything else from h.
func (t *telemetry) withMetrics(h http.Handler) http.Handler {
	if t == nil {
		return h
	}
	mux := http.NewServeMux()
	t.metrics.Mount(mux)
	mux.Handle("/", h)
	return mux
}

// dialTemporal connects to the frontend at address with the configured TLS (mTLS) and API
// key. An API key implies TLS: Temporal Cloud refuses it in the clear. The SDK logs
// through zap, reports its metrics to tel's registry and, with tracing on, traces through
// tel's interceptor (the workers built on the client inherit both).
func dialTemporal(cfg config.Config, address string, log *zap.Logger, tel *telemetry) (client.Client, error) {
	tlsCfg, err := cfg.Temporal.TLS.Config()
	if err != nil {
		return nil, err
	}
	opts := client.Options{
		HostPort: address, Namespace: cfg.Temporal.Namespace, Logger: logging.Temporal(log.Named("temporal")),
		Identity: cfg.Temporal.Identity(), MetricsHandler: tel.metricsOrNil().TemporalHandler(),
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

// connect opens the database and dials the Temporal cluster at temporal.address: what
// `rollin worker` and `rollin serve` share.
func connect(ctx context.Context, cfg config.Config, log *zap.Logger, tel *telemetry) (*store.Store, client.Client, error) {
	st, err := store.Open(ctx, cfg.Database.URL, log.Named("store"))
	if err != nil {
		return nil, nil, err
	}
	c, err := dialTemporal(cfg, cfg.Temporal.Address, log, tel)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, c, nil
}

// startWorker starts a worker with the activities wired to the store and the systems,
// metered by tel and logging to log.
func startWorker(cfg config.Config, c client.Client, st *store.Store, log *zap.Logger, tel *telemetry) (sdkworker.Worker, error) {
	acts, err := activities.New(cfg, st, activities.WithMetrics(tel.metricsOrNil()), activities.WithLogger(log.Named("activity")))
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

// httpServer serves h on cfg.HTTP.Addr, over HTTPS when http.tls_cert_file is set, with
// timeouts that keep slow clients from holding connections and with api.Protect's
// security headers, per-client-address and per-token rate limits. It returns once listening, with the address
// actually bound.
func httpServer(cfg config.Config, h http.Handler, log *zap.Logger) (*http.Server, string, error) {
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

// newStarter returns the service layer the API (and in dev the autopilot) acts through.
func newStarter(cfg config.Config, c client.Client, st *store.Store) *starter.Service {
	svc := starter.New(c, st, cfg.Temporal.TaskQueue, starter.ProcessOptions(cfg.Process))
	svc.SetActionWait(cfg.Process.ActionWait)
	return svc
}

// frontEnds are the JSON API and the pages for people on one HTTP server: /api/ and the
// health endpoints go to the API, everything else to the pages. Both act through the same
// starter.
type frontEnds struct {
	api     *api.Server
	handler http.Handler
}

func newFrontEnds(cfg config.Config, svc *starter.Service, c client.Client, st *store.Store, tokens []config.Token, log *zap.Logger) (*frontEnds, error) {
	a := api.New(svc, tokens, readiness(st, c), log.Named("api"))
	a.EndSessionsIn(st)
	day := 24 * time.Hour
	opts := web.Options{
		Sessions: st, SessionKey: []byte(cfg.Web.SessionSecret), SessionTTL: cfg.Web.SessionTTL, SecureCookies: cfg.Web.SecureCookies,
		ReminderAfter:   time.Duration(cfg.Process.ReminderAfterDays) * day,
		EscalationAfter: time.Duration(cfg.Process.EscalationAfterDays) * day,
		Log:             log.Named("web"),
	}
	if cfg.Web.TokenSignIn {
		opts.Tokens, _ = auth.NewTokens(tokens) // the API logs the entries it skips
	}
	if cfg.Web.OIDC.Issuer != "" {
		opts.OIDC = auth.NewOIDC(cfg.Web.OIDC, nil)
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
	return &frontEnds{api: a, handler: mux}, nil
}

// readiness is what every process that talks to both needs: the database and the
// Temporal frontend answer.
func readiness(st *store.Store, c client.Client) func(context.Context) error {
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

// baseURL is how clients reach the HTTP server at addr: https when it serves TLS itself.
func baseURL(cfg config.Config, addr string) string {
	if cfg.HTTP.TLSCertFile != "" {
		return "https://" + addr
	}
	return "http://" + addr
}

// shutdownHTTP keeps serving for delay (readiness already off, so probes and load
// balancers notice), then stops accepting connections and lets requests in flight finish
// within http.shutdown_timeout.
func shutdownHTTP(cfg config.Config, srv *http.Server, delay time.Duration) error {
	time.Sleep(delay)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("http server shutdown: %w", err)
	}
	return nil
}
