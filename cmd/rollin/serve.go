package main

import (
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/cli"
	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/devsim"
	"github.com/rollin-efa/rollin/devtemporal"
	"github.com/rollin-efa/rollin/health"
	"github.com/rollin-efa/rollin/store"
)

// workerCommand runs only the Temporal worker, against an existing Temporal frontend. It
// serves /healthz and /readyz on http.addr for probes.
func workerCommand() *cobra.Command {
	return processCommand("worker", "Run a worker (workflows and activities) against temporal.address",
		func(cmd *cobra.Command, cfg config.Config, log *zap.Logger) error {
			if err := requireTemporalAddress(cfg, "rollin worker"); err != nil {
				return err
			}
			for _, sys := range []struct{ key, url string }{
				{"systems.provider_url", cfg.Systems.ProviderURL},
				{"systems.state_url", cfg.Systems.StateURL},
				{"systems.municipality_url", cfg.Systems.MunicipalityURL},
			} {
				if sys.url == "" {
					return &config.KeyError{Key: sys.key, Msg: "required for rollin worker"}
				}
			}
			ctx, stop := signalContext()
			defer stop()
			tel, err := startTelemetry(ctx, cfg, "worker")
			if err != nil {
				return err
			}
			defer tel.stop(log)
			st, c, err := connect(ctx, cfg, log, tel)
			if err != nil {
				return err
			}
			defer st.Close()
			defer c.Close()
			checker := health.New(readiness(st, c))
			mux := http.NewServeMux()
			checker.Register(mux)
			tel.metrics.Mount(mux)
			srv, addr, err := httpServer(cfg, mux, log)
			if err != nil {
				return err
			}
			w, err := startWorker(cfg, c, st, log, tel)
			if err != nil {
				return err
			}
			log.Info("worker running", zap.String("identity", cfg.Temporal.Identity()),
				zap.String("task_queue", cfg.Temporal.TaskQueue), zap.String("health", baseURL(cfg, addr)+"/readyz"))
			<-ctx.Done()
			// Not ready first, then let running activities finish (up to
			// temporal.worker_stop_timeout); what does not finish is retried elsewhere.
			checker.Drain()
			log.Info("worker stopping", zap.Duration("stop_timeout", cfg.Temporal.WorkerStopTimeout))
			w.Stop()
			log.Info("worker stopped")
			return shutdownHTTP(cfg, srv, 0)
		})
}

// serveCommand runs only the HTTP API.
func serveCommand() *cobra.Command {
	return processCommand("serve", "Serve the HTTP API against temporal.address and database.url",
		func(cmd *cobra.Command, cfg config.Config, log *zap.Logger) error {
			if err := requireTemporalAddress(cfg, "rollin serve"); err != nil {
				return err
			}
			if len(cfg.Auth.Tokens) == 0 && cfg.Web.OIDC.Issuer == "" {
				return &config.KeyError{Key: "auth.tokens", Msg: "required for rollin serve without web.oidc.issuer: nobody could sign in"}
			}
			ctx, stop := signalContext()
			defer stop()
			tel, err := startTelemetry(ctx, cfg, "serve")
			if err != nil {
				return err
			}
			defer tel.stop(log)
			st, c, err := connect(ctx, cfg, log, tel)
			if err != nil {
				return err
			}
			defer st.Close()
			defer c.Close()
			fe, err := newFrontEnds(cfg, newStarter(cfg, c, st), c, st, cfg.Auth.Tokens, log)
			if err != nil {
				return err
			}
			if err := tel.metrics.RunsByState(st.CountRunsByState); err != nil {
				return fmt.Errorf("register runs metric: %w", err)
			}
			srv, addr, err := httpServer(cfg, tel.withMetrics(fe.handler), log)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Rollin API on %s/api/v1, pages on %s/\n", baseURL(cfg, addr), baseURL(cfg, addr))
			<-ctx.Done()
			fe.api.Drain()
			log.Info("draining: /readyz answers 503", zap.Duration("shutdown_delay", cfg.HTTP.ShutdownDelay))
			return shutdownHTTP(cfg, srv, cfg.HTTP.ShutdownDelay)
		})
}

// temporalCommand runs the embedded Temporal server alone, so that workers and API servers
// in other processes can be tried on one machine without a Temporal installation. It is
// the server of `rollin dev`: not for production.
func temporalCommand() *cobra.Command {
	return processCommand("temporal", "Run only the embedded Temporal server of rollin dev (SQLite under data_dir, or temporal.embedded_database_url)",
		func(cmd *cobra.Command, cfg config.Config, log *zap.Logger) error {
			ctx, stop := signalContext()
			defer stop()
			dbDir, err := filepath.Abs(cfg.DataDir)
			if err != nil {
				return fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
			}
			srv, err := devtemporal.Start(ctx, devtemporal.Config{
				DataDir: dbDir, Namespace: cfg.Temporal.Namespace, Port: cfg.Temporal.EmbeddedPort,
				Logger: log.Named("temporal-server"), PostgresURL: cfg.Temporal.EmbeddedDatabaseURL,
			})
			if err != nil {
				return fmt.Errorf("start embedded Temporal: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Temporal on %s, namespace %s (set temporal.address to it)\n", srv.Address(), cfg.Temporal.Namespace)
			<-ctx.Done()
			return srv.Stop()
		})
}

// simulatorsCommand serves the simulated systems (provider, state, municipality and
// FIT-Connect) for workers in other processes, and with --autopilot plays every human step
// through the starter, for which it needs temporal.address and database.url like rollin
// serve.
func simulatorsCommand() *cobra.Command {
	cmd := processCommand("simulators", "Serve the provider, state, municipality and FIT-Connect simulators (at simulators.*_addr), optionally on autopilot",
		func(cmd *cobra.Command, cfg config.Config, log *zap.Logger) error {
			ctx, stop := signalContext()
			defer stop()
			// Serve them all here: systems.*_url and fitconnect.*_url are for the workers,
			// not for this process. The FIT-Connect simulator admits fitconnect.subscribers
			// and fitconnect.sender.
			cfg.Systems = config.Systems{Timeout: cfg.Systems.Timeout}
			cfg.FitConnect.SubmissionURL, cfg.FitConnect.TokenURL = "", ""
			sims, err := devsim.Start(&cfg, devsim.StateDir(cfg))
			if err != nil {
				return err
			}
			defer sims.Close()
			if cfg.Simulators.Autopilot.Enabled {
				if cfg.Temporal.Address == "" {
					return &config.KeyError{Key: "temporal.address", Msg: "required for rollin simulators --autopilot: the autopilot acts through Temporal like the API"}
				}
				st, c, err := connect(ctx, cfg, log, nil)
				if err != nil {
					return err
				}
				defer st.Close()
				defer c.Close()
				pilot, err := sims.StartAutopilot(ctx, cfg.Simulators.Autopilot, newStarter(cfg, c, st), log)
				if pilot != nil {
					defer pilot.Stop()
				}
				if err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Simulators running (autopilot: %t). Point the workers at them:\n", cfg.Simulators.Autopilot.Enabled)
			fmt.Fprintf(out, "  systems.provider_url:      %s\n  systems.state_url:         %s\n  systems.municipality_url:  %s\n",
				cfg.Systems.ProviderURL, cfg.Systems.StateURL, cfg.Systems.MunicipalityURL)
			if len(cfg.FitConnect.Subscribers) == 0 {
				fmt.Fprintln(out, "  (no fitconnect.subscribers configured: no subscriber can sign in to the FIT-Connect simulator)")
			}
			if cfg.FitConnect.Sender.ClientID == "" {
				fmt.Fprintln(out, "  (no fitconnect.sender configured: no test submission can be sent to the FIT-Connect simulator)")
			}
			fmt.Fprintf(out, "  fitconnect.submission_url: %s\n  fitconnect.token_url:      %s\n", cfg.FitConnect.SubmissionURL, cfg.FitConnect.TokenURL)
			fmt.Fprintf(out, "State kept in %s (data_dir): a restart continues where it was.\n", devsim.StateDir(cfg))
			<-ctx.Done()
			return nil
		})
	config.AddDevFlags(cmd.Flags())
	return cmd
}

// migrateCommand brings the database schema up to date and exits: the step before a new
// version's processes start (they migrate on start too, but one process doing it before
// the others keeps a rolling upgrade from racing on it).
func migrateCommand() *cobra.Command {
	return processCommand("migrate", "Create the database if needed and apply the schema migrations, then exit",
		func(cmd *cobra.Command, cfg config.Config, log *zap.Logger) error {
			st, err := store.Open(cmd.Context(), cfg.Database.URL, log.Named("store"))
			if err != nil {
				return err
			}
			st.Close()
			fmt.Fprintln(cmd.OutOrStdout(), "database schema is up to date")
			return nil
		})
}

// processCommand is a command of a Rollin process: it takes no arguments, the
// configuration flags of config.AddFlags, and runs with the configuration (defaults, file,
// environment, flags) and its logger loaded, syncing the logger when run returns.
func processCommand(use, short string, run func(cmd *cobra.Command, cfg config.Config, log *zap.Logger) error) *cobra.Command {
	return processCommandWith(use, short, nil, run)
}

// processCommandWith is processCommand with the command's own defaults over the built-in
// ones (config.DevDefaults for `rollin dev`).
func processCommandWith(use, short string, commandDefaults map[string]any, run func(cmd *cobra.Command, cfg config.Config, log *zap.Logger) error) *cobra.Command {
	cmd := &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := cli.LoadConfig(cmd, commandDefaults)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			return run(cmd, cfg, log)
		},
	}
	config.AddFlags(cmd.Flags())
	return cmd
}

// requireTemporalAddress refuses to start a process that joins an existing Temporal
// cluster without temporal.address.
func requireTemporalAddress(cfg config.Config, what string) error {
	if cfg.Temporal.Address == "" {
		return &config.KeyError{Key: "temporal.address", Msg: "required for " + what + " (only rollin dev embeds a server)"}
	}
	return nil
}
