package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/catalog"
	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/devsim"
	"github.com/rollin-efa/rollin/devtemporal"
	"github.com/rollin-efa/rollin/register"
	"github.com/rollin-efa/rollin/store"
)

func devCommand() *cobra.Command {
	cmd := processCommandWith("dev", "Run the whole system in one process: Temporal (SQLite under data_dir), worker, simulators, API", config.DevDefaults,
		func(cmd *cobra.Command, cfg config.Config, log *zap.Logger) error {
			ctx, stop := signalContext()
			defer stop()
			return runDev(ctx, cfg, log, cmd)
		})
	config.AddDevFlags(cmd.Flags())
	config.AddTemporalUIFlag(cmd.Flags())
	return cmd
}

// runDev starts every part, prints where to reach the API, and stops the parts in reverse
// order when ctx ends.
func runDev(ctx context.Context, cfg config.Config, log *zap.Logger, cmd *cobra.Command) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data_dir %s: %w", cfg.DataDir, err)
	}
	st, err := store.Open(ctx, cfg.Database.URL, log.Named("store"))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := seedDemo(ctx, st, log); err != nil {
		return err
	}

	if err := devsim.AddDevClients(&cfg); err != nil {
		return err
	}
	sims, err := devsim.Start(&cfg, devsim.StateDir(cfg))
	if err != nil {
		return err
	}
	defer sims.Close()

	address := cfg.Temporal.Address
	if address == "" {
		dbDir, _ := filepath.Abs(cfg.DataDir)
		srv, err := devtemporal.Start(ctx, devtemporal.Config{
			DataDir: dbDir, Namespace: cfg.Temporal.Namespace, Port: cfg.Temporal.EmbeddedPort, Logger: log.Named("temporal-server"), PostgresURL: cfg.Temporal.EmbeddedDatabaseURL,
		})
		if err != nil {
			return fmt.Errorf("start embedded Temporal: %w", err)
		}
		defer func() { _ = srv.Stop() }()
		address = srv.Address()
	}
	if cfg.Temporal.UIAddr != "" {
		ui, err := devtemporal.StartUI(ctx, devtemporal.UIConfig{Addr: cfg.Temporal.UIAddr, Frontend: address, Namespace: cfg.Temporal.Namespace})
		if err != nil {
			return err
		}
		defer ui.Stop()
	}
	tel, err := startTelemetry(ctx, cfg, "dev")
	if err != nil {
		return err
	}
	defer tel.stop(log)
	c, err := dialTemporal(cfg, address, log, tel)
	if err != nil {
		return err
	}
	defer c.Close()

	w, err := startWorker(cfg, c, st, log, tel)
	if err != nil {
		return err
	}
	defer w.Stop()

	tokens, generated, err := config.DevTokens(cfg, devMunicipality)
	if err != nil {
		return err
	}
	svc := newStarter(cfg, c, st)
	pilot, err := sims.StartAutopilot(ctx, cfg.Simulators.Autopilot, svc, log)
	if pilot != nil {
		defer pilot.Stop() // before the client it acts through closes
	}
	if err != nil {
		return err
	}
	fe, err := newFrontEnds(cfg, svc, c, st, tokens, log)
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
	printBanner(cmd, addr, address, cfg, tokens, generated, pilot != nil)

	<-ctx.Done()
	fmt.Fprintln(cmd.ErrOrStderr(), "rollin dev: shutting down")
	fe.api.Drain()
	return shutdownHTTP(cfg, srv, cfg.HTTP.ShutdownDelay)
}

// seedDemo loads the demo catalogue and the shipped Destatis register. Both are upserts,
// so restarting dev changes nothing that is already there.
func seedDemo(ctx context.Context, st *store.Store, log *zap.Logger) error {
	if err := st.UpsertServices(ctx, catalog.Demo()); err != nil {
		return fmt.Errorf("load demo catalogue: %w", err)
	}
	reg, err := register.Embedded()
	if err != nil {
		return fmt.Errorf("read shipped register: %w", err)
	}
	counts, err := st.UpsertMunicipalities(ctx, reg.Municipalities)
	if err != nil {
		return fmt.Errorf("load register: %w", err)
	}
	log.Info("register loaded (source: Statistisches Bundesamt (Destatis), dl-de/by-2-0)",
		zap.Int("new", counts.New), zap.Int("changed", counts.Changed), zap.Int("unchanged", counts.Unchanged),
		zap.Int("rejected", len(reg.Rejected)))
	return nil
}

// devMunicipality is the municipality the generated municipality token belongs to: Münster.
const devMunicipality = "055150000000"

func printBanner(cmd *cobra.Command, addr, temporalAddr string, cfg config.Config, tokens []config.Token, generated, autopilot bool) {
	out := cmd.OutOrStdout()
	base := baseURL(cfg, addr)
	fmt.Fprintf(out, "\nRollin dev is running.\n\n  Pages:      %s/  (sign in with a token below)\n", base)
	fmt.Fprintf(out, "  API:        %s/api/v1  (health: /healthz, /readyz; metrics: /metrics)\n", base)
	fmt.Fprintf(out, "  Temporal:   %s, namespace %s, task queue %s\n", temporalAddr, cfg.Temporal.Namespace, cfg.Temporal.TaskQueue)
	if cfg.Temporal.UIAddr != "" {
		fmt.Fprintf(out, "  Temporal UI: http://%s (the engine's view: histories, pending activities, timers)\n", cfg.Temporal.UIAddr)
	}
	fmt.Fprintf(out, "  Systems:    provider %s, state %s, municipality %s\n", cfg.Systems.ProviderURL, cfg.Systems.StateURL, cfg.Systems.MunicipalityURL)
	fmt.Fprintf(out, "  FIT-Connect: Submission API %s, %d subscriber(s), sender %s\n", cfg.FitConnect.SubmissionURL,
		len(cfg.FitConnect.Subscribers), cfg.FitConnect.Sender.ClientID)
	if ap := cfg.Simulators.Autopilot; autopilot {
		fmt.Fprintf(out, "  Autopilot:  on: the municipality simulator signs, answers and confirms after %s (test not received: %.0f%%)\n", ap.Delay, 100*ap.TestFailureRate)
	}
	fmt.Fprintf(out, "  Data dir:   %s\n\nAuthenticate with \"Authorization: Bearer <token>\"", cfg.DataDir)
	if generated {
		fmt.Fprintf(out, " (tokens generated for development, kept in %s):\n", filepath.Join(cfg.DataDir, "tokens.yaml"))
	} else {
		fmt.Fprintln(out, " (tokens from auth.tokens):")
	}
	for _, t := range tokens {
		scope := ""
		if t.ARS != "" {
			scope = " for ARS " + t.ARS
		}
		shown := t.Token
		if shown == "" {
			shown = "(configured as token_sha256)"
		}
		fmt.Fprintf(out, "  %-13s %-14s %s%s\n", t.Role, t.Name, shown, scope)
	}
	if len(tokens) > 0 && tokens[0].Token != "" {
		fmt.Fprintf(out, "\nTry:\n  curl -H 'Authorization: Bearer %s' %s/api/v1/services\n", tokens[0].Token, base)
		// The CLI's --api is named too, so that a token meant for this server is not sent to
		// whatever else listens on the CLI's default address.
		fmt.Fprintf(out, "  ROLLIN_API=%s ROLLIN_TOKEN=%s rollin start --service 99107023037000 --ars %s\n\n", base, tokens[0].Token, devMunicipality)
	}
}
