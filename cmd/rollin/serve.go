package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/cli"
	"github.com/rollin-efa/rollin/config"
)

// workerCommand runs only the Temporal worker, against an existing Temporal frontend.
func workerCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker (workflows and activities) against temporal.address",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := loadClusterConfig(cmd, "rollin worker")
			if err != nil {
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
			st, c, err := connect(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer st.Close()
			defer c.Close()
			w, err := startWorker(cfg, c, st)
			if err != nil {
				return err
			}
			defer w.Stop()
			log.Info("worker running")
			<-ctx.Done()
			return nil
		},
	}
	config.AddFlags(cmd.Flags())
	return cmd
}

// serveCommand runs only the HTTP API.
func serveCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API against temporal.address and database.url",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := loadClusterConfig(cmd, "rollin serve")
			if err != nil {
				return err
			}
			if len(cfg.Auth.Tokens) == 0 {
				return &config.KeyError{Key: "auth.tokens", Msg: "required for rollin serve: nobody could sign in"}
			}
			ctx, stop := signalContext()
			defer stop()
			st, c, err := connect(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer st.Close()
			defer c.Close()
			srv, addr, err := httpServer(cfg, newAPI(newStarter(cfg, c, st), c, st, cfg.Auth.Tokens, log), log)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Rollin API on http://%s/api/v1\n", addr)
			<-ctx.Done()
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			return srv.Shutdown(shutdownCtx)
		},
	}
	config.AddFlags(cmd.Flags())
	return cmd
}

// loadClusterConfig loads the configuration of a process that joins an existing Temporal
// cluster, which therefore needs temporal.address.
func loadClusterConfig(cmd *cobra.Command, what string) (config.Config, *zap.Logger, error) {
	cfg, log, err := cli.LoadConfig(cmd)
	if err != nil {
		return config.Config{}, nil, err
	}
	if cfg.Temporal.Address == "" {
		return config.Config{}, nil, &config.KeyError{Key: "temporal.address", Msg: "required for " + what + " (only rollin dev embeds a server)"}
	}
	return cfg, log, nil
}
