package main

import (
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/cmd/internal/compose"
	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/health"
	"github.com/rollin-efa/rollin/store"
)

// workerCommand runs only the Temporal worker, against an existing Temporal frontend. It
// serves /healthz and /readyz on http.addr for probes.
func workerCommand() *cobra.Command {
	return compose.ProcessCommand("worker", "Run a worker (workflows and activities) against temporal.address",
		func(cmd *cobra.Command, cfg config.Config, log *zap.Logger) error {
			if err := compose.RequireTemporalAddress(cfg, "rollin worker"); err != nil {
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
			ctx, stop := compose.SignalContext()
			defer stop()
			tel, err := compose.StartTelemetry(ctx, cfg, "worker")
			if err != nil {
				return err
			}
			defer tel.Stop(log)
			st, c, err := compose.Connect(ctx, cfg, log, tel)
			if err != nil {
				return err
			}
			defer st.Close()
			defer c.Close()
			checker := health.New(compose.Readiness(st, c))
			mux := http.NewServeMux()
			checker.Register(mux)
			tel.Metrics().Mount(mux)
			srv, addr, err := compose.HTTPServer(cfg, mux, log)
			if err != nil {
				return err
			}
			w, err := compose.StartWorker(cfg, c, st, log, tel)
			if err != nil {
				return err
			}
			log.Info("worker running", zap.String("identity", cfg.Temporal.Identity()),
				zap.String("task_queue", cfg.Temporal.TaskQueue), zap.String("health", compose.BaseURL(cfg, addr)+"/readyz"))
			<-ctx.Done()
			// Not ready first, then let running activities finish (up to
			// temporal.worker_stop_timeout); what does not finish is retried elsewhere.
			checker.Drain()
			log.Info("worker stopping", zap.Duration("stop_timeout", cfg.Temporal.WorkerStopTimeout))
			w.Stop()
			log.Info("worker stopped")
			return compose.ShutdownHTTP(cfg, srv, 0)
		})
}

// serveCommand runs only the HTTP API.
func serveCommand() *cobra.Command {
	return compose.ProcessCommand("serve", "Serve the HTTP API against temporal.address and database.url",
		func(cmd *cobra.Command, cfg config.Config, log *zap.Logger) error {
			if err := compose.RequireTemporalAddress(cfg, "rollin serve"); err != nil {
				return err
			}
			if len(cfg.Auth.Tokens) == 0 && cfg.Web.OIDC.Issuer == "" {
				return &config.KeyError{Key: "auth.tokens", Msg: "required for rollin serve without web.oidc.issuer: nobody could sign in"}
			}
			ctx, stop := compose.SignalContext()
			defer stop()
			tel, err := compose.StartTelemetry(ctx, cfg, "serve")
			if err != nil {
				return err
			}
			defer tel.Stop(log)
			st, c, err := compose.Connect(ctx, cfg, log, tel)
			if err != nil {
				return err
			}
			defer st.Close()
			defer c.Close()
			tokens, err := compose.Tokens(cfg.Auth.Tokens)
			if err != nil {
				return err
			}
			fe, err := compose.ServeFrontEnds(cfg, compose.Starter(cfg, c, st), c, st, tokens, tel, log)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Rollin API on %s/api/v1, pages on %s/\n", compose.BaseURL(cfg, fe.Addr), compose.BaseURL(cfg, fe.Addr))
			<-ctx.Done()
			return fe.Stop(cfg, log)
		})
}

// migrateCommand brings the database schema up to date and exits: the step before a new
// version's processes start (they migrate on start too, but one process doing it before
// the others keeps a rolling upgrade from racing on it).
func migrateCommand() *cobra.Command {
	return compose.ProcessCommand("migrate", "Create the database if needed and apply the schema migrations, then exit",
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
