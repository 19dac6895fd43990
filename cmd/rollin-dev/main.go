// Command rollin-dev is Rollin's development system: in one process a Temporal server
// whose state is a SQLite file under data_dir (or a PostgreSQL database), a worker, the
// simulated systems with an optional autopilot, the API and the pages (`go tool task dev`
// runs it). To try an installation's split into processes on one machine, `rollin-dev
// temporal` runs the embedded server alone and `rollin-dev simulators` the simulated
// systems, for `rollin worker` and `rollin serve` to join.
//
// It is the only program that links the Temporal server and its Web UI; the rollin binary
// of an installation and of the CLI's users does not.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/catalog"
	"github.com/rollin-efa/rollin/cli"
	"github.com/rollin-efa/rollin/cmd/internal/compose"
	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/devsim"
	"github.com/rollin-efa/rollin/devtemporal"
	"github.com/rollin-efa/rollin/register"
	"github.com/rollin-efa/rollin/store"
)

func main() {
	err := rootCommand().Execute()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rollin-dev:", err)
	}
	os.Exit(cli.ExitCode(err))
}

// rootCommand runs the whole system; its subcommands run parts of it alone.
func rootCommand() *cobra.Command {
	root := devCommand()
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.Usagef("%v", err) })
	root.AddCommand(temporalCommand(), simulatorsCommand())
	return root
}

func devCommand() *cobra.Command {
	cmd := compose.ProcessCommandWith("rollin-dev", "Run the whole Rollin system in one process: Temporal (SQLite under data_dir), worker, simulators, API", config.DevDefaults,
		func(cmd *cobra.Command, cfg config.Config, log *zap.Logger) error {
			ctx, stop := compose.SignalContext()
			defer stop()
			return runDev(ctx, cfg, log, cmd)
		})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
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
	tel, err := compose.StartTelemetry(ctx, cfg, "dev")
	if err != nil {
		return err
	}
	defer tel.Stop(log)
	c, err := compose.DialTemporal(cfg, address, log, tel)
	if err != nil {
		return err
	}
	defer c.Close()

	w, err := compose.StartWorker(cfg, c, st, log, tel)
	if err != nil {
		return err
	}
	defer w.Stop()

	tokens, generated, err := devsim.Tokens(cfg, devMunicipality)
	if err != nil {
		return err
	}
	tokenSet, err := compose.Tokens(tokens)
	if err != nil {
		if generated {
			return fmt.Errorf("%s: %w (delete it to generate new tokens)", filepath.Join(cfg.DataDir, devsim.TokensFile), err)
		}
		return err
	}
	svc := compose.Starter(cfg, c, st)
	pilot, err := sims.StartAutopilot(ctx, cfg.Simulators.Autopilot, svc, log)
	if pilot != nil {
		defer pilot.Stop() // before the client it acts through closes
	}
	if err != nil {
		return err
	}
	fe, err := compose.ServeFrontEnds(cfg, svc, c, st, tokenSet, tel, log)
	if err != nil {
		return err
	}
	printBanner(cmd, fe.Addr, address, cfg, tokens, generated, pilot != nil)

	<-ctx.Done()
	fmt.Fprintln(cmd.ErrOrStderr(), "rollin-dev: shutting down")
	return fe.Stop(cfg, log)
}

// seedDemo loads the demo catalogue and the shipped Destatis register. Both are upserts,
// so restarting rollin-dev changes nothing that is already there.
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
	base := compose.BaseURL(cfg, addr)
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

// temporalCommand runs the embedded Temporal server alone, so that workers and API servers
// in other processes can be tried on one machine without a Temporal installation. It is
// the server of rollin-dev: not for production.
func temporalCommand() *cobra.Command {
	return compose.ProcessCommand("temporal", "Run only the embedded Temporal server of rollin-dev (SQLite under data_dir, or temporal.embedded_database_url)",
		func(cmd *cobra.Command, cfg config.Config, log *zap.Logger) error {
			ctx, stop := compose.SignalContext()
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
	cmd := compose.ProcessCommand("simulators", "Serve the provider, state, municipality and FIT-Connect simulators (at simulators.*_addr), optionally on autopilot",
		func(cmd *cobra.Command, cfg config.Config, log *zap.Logger) error {
			ctx, stop := compose.SignalContext()
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
					return &config.KeyError{Key: "temporal.address", Msg: "required for rollin-dev simulators --autopilot: the autopilot acts through Temporal like the API"}
				}
				st, c, err := compose.Connect(ctx, cfg, log, nil)
				if err != nil {
					return err
				}
				defer st.Close()
				defer c.Close()
				pilot, err := sims.StartAutopilot(ctx, cfg.Simulators.Autopilot, compose.Starter(cfg, c, st), log)
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
