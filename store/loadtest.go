package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The methods in this file serve load tests (package bench): they fill the read model at
// a scale no test would reach through workflows, and give the bare query the status
// endpoint is measured against. They are not used by Rollin itself.

// FillSyntheticRuns writes n synthetic runs with steps each into the read model, in
// one statement, so a million rows take seconds instead of a million workflows. The runs
// belong to synthetic service keys (99999…) that are not in the catalogue, so they never
// mix with real roll-ins; filling again adds nothing that is there already. It returns the
// number of runs written.
func (s *Store) FillSyntheticRuns(ctx context.Context, n, steps int) (int64, error) {
	if n <= 0 || steps <= 0 {
		return 0, fmt.Errorf("store: fill synthetic runs: n=%d and steps=%d must be positive: %w", n, steps, ErrInvalid)
	}
	ms, _, err := s.Municipalities(ctx, MunicipalityFilter{Limit: 1})
	if err != nil {
		return 0, fmt.Errorf("store: fill synthetic runs: %w", err)
	}
	if len(ms) == 0 { // the fill crosses the register with synthetic services
		return 0, fmt.Errorf("store: fill synthetic runs: the register is empty; load municipalities first: %w", ErrInvalid)
	}
	tag, err := s.pool.Exec(ctx, fillSyntheticRunsSQL, n, steps)
	if err != nil {
		return 0, fmt.Errorf("store: fill synthetic runs: %w", err)
	}
	if _, err := s.pool.Exec(ctx, analyzeRunsSQL); err != nil {
		return tag.RowsAffected(), fmt.Errorf("store: analyze after fill: %w", err)
	}
	return tag.RowsAffected(), nil
}

// LookupRunRow is a bare primary-key read of one run's row with pgx: what the status
// endpoint is compared with. It returns ErrNotFound for an unknown id.
func (s *Store) LookupRunRow(ctx context.Context, id string) error {
	var state, stage string
	var seq int64
	err := s.pool.QueryRow(ctx, lookupRunRowSQL, id).Scan(&state, &stage, &seq)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("store: run %s: %w", id, ErrNotFound)
	case err != nil:
		return fmt.Errorf("store: look up run %s: %w", id, err)
	}
	return nil
}

// DropDatabase drops the database named in url (connected users are cut off), through
// the server's maintenance database. Load tests use it to start from nothing.
func DropDatabase(ctx context.Context, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("store: parse database url: %w", err)
	}
	name := cfg.Database
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("store: connect to the maintenance database: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, dropDatabaseSQL(name)); err != nil {
		return fmt.Errorf("store: drop database %s: %w", name, err)
	}
	return nil
}
