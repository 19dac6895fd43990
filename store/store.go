// Package store is Rollin's PostgreSQL layer: the service catalogue (EfA-Steckbriefe), the
// municipality register with each municipality's profile, and the read model of roll-in
// runs with its append-only audit log. Workflow activities write the read model; the API
// and the CLI read it, so status reads never touch Temporal.
//
// All SQL lives in queries.go; the schema lives in migrations/ and is applied by Open.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"go.uber.org/zap"
)

// ErrNotFound is wrapped in errors of lookups whose key is unknown, so that callers (the API
// answering 404, an activity deciding whether to retry) can tell absence from failure with
// errors.Is.
var ErrNotFound = errors.New("not found")

// ErrInvalid is wrapped in errors caused by the caller's input (a bad limit, an invalid
// Steckbrief, a malformed ARS), so that the API can answer 400 instead of 500 and activities
// can treat the error as permanent.
var ErrInvalid = errors.New("invalid input")

// PostgreSQL error codes the store reacts to.
const (
	codeInvalidCatalogName = "3D000" // database does not exist
	codeDuplicateDatabase  = "42P04" // CREATE DATABASE found the name taken
	codeUniqueViolation    = "23505" // concurrent CREATE DATABASE racing on pg_database
	codeForeignKey         = "23503" // referenced row missing
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store holds the connection pool. It is safe for concurrent use; create one per process.
type Store struct {
	pool *pgxpool.Pool
	log  *zap.Logger
}

// Open connects to the database named in url, creating it first if it is missing, and
// brings its schema up to date, so that a fresh machine needs nothing but a running
// PostgreSQL server. Several processes may call Open at once: database creation tolerates
// losing the race and migrations run under an advisory lock.
func Open(ctx context.Context, url string, log *zap.Logger) (*Store, error) {
	if log == nil {
		log = zap.NewNop()
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: parse database url: %w", err)
	}
	dbName := cfg.ConnConfig.Database
	if dbName == "" {
		return nil, fmt.Errorf("store: database url names no database: %w", ErrInvalid)
	}
	if err := ensureDatabase(ctx, cfg.ConnConfig, log); err != nil {
		return nil, err
	}
	if err := migrate(ctx, cfg.ConnConfig, log); err != nil {
		return nil, err
	}
	boundWaits(cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect to %s: %w", dbName, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: ping %s: %w", dbName, err)
	}
	return &Store{pool: pool, log: log}, nil
}

// DefaultStatementTimeout ends a statement that waits longer, on a lock or on a database
// that stopped answering without closing the connection (a failover, a partition), where
// database.url sets no `statement_timeout`: without it such a statement, and every request
// queued behind it for one of the pool's connections, waits for as long as TCP keeps the
// connection open. No statement of Rollin's takes this long when the database is well.
const DefaultStatementTimeout = "30s"

// boundWaits applies DefaultStatementTimeout where the URL sets no statement timeout.
func boundWaits(cfg *pgxpool.Config) {
	if _, ok := cfg.ConnConfig.RuntimeParams["statement_timeout"]; !ok {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = DefaultStatementTimeout
	}
}

// EnsureDatabase creates the database named in url if it does not exist, as Open does
// for Rollin's own database; the embedded Temporal server uses it for its database too.
func EnsureDatabase(ctx context.Context, url string, log *zap.Logger) error {
	if log == nil {
		log = zap.NewNop()
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("store: parse database url: %w", err)
	}
	return ensureDatabase(ctx, cfg, log)
}

// ensureDatabase creates the target database when connecting to it fails because it does
// not exist. It connects to the target first so that a production user without access to
// the maintenance database or without CREATEDB never needs either.
func ensureDatabase(ctx context.Context, target *pgx.ConnConfig, log *zap.Logger) error {
	conn, err := pgx.ConnectConfig(ctx, target)
	if err == nil {
		return conn.Close(ctx)
	}
	if !hasCode(err, codeInvalidCatalogName) {
		return fmt.Errorf("store: connect to %s: %w", target.Database, err)
	}

	admin := target.Copy()
	admin.Database = "postgres"
	conn, err = pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("store: database %s is missing and the maintenance database to create it is unreachable: %w", target.Database, err)
	}
	defer conn.Close(ctx)

	_, err = conn.Exec(ctx, createDatabaseSQL(target.Database))
	switch {
	case err == nil:
		log.Info("created database", zap.String("database", target.Database))
		return nil
	case hasCode(err, codeDuplicateDatabase), hasCode(err, codeUniqueViolation):
		// Another process created it between our connect attempt and now. PostgreSQL
		// reports a race still in progress as a unique violation on pg_database.
		log.Debug("database created concurrently", zap.String("database", target.Database))
		return nil
	default:
		return fmt.Errorf("store: create database %s: %w", target.Database, err)
	}
}

// migrate applies the embedded migrations through goose's Provider, which keeps its state
// in the provider rather than in goose's package globals, so that tests and other packages
// using goose cannot interfere.
func migrate(ctx context.Context, cfg *pgx.ConnConfig, log *zap.Logger) error {
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	db := stdlib.OpenDB(*cfg.Copy())
	defer db.Close()

	// Poll the advisory lock every second for up to five minutes: a second process starting
	// at the same time waits for the first one's migrations instead of failing.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("store: migration lock: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	start := time.Now()
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate %s: %w", cfg.Database, err)
	}
	for _, r := range results {
		log.Info("applied migration", zap.String("database", cfg.Database),
			zap.String("migration", r.Source.Path), zap.Duration("took", r.Duration))
	}
	log.Debug("schema up to date", zap.String("database", cfg.Database),
		zap.Int("applied", len(results)), zap.Duration("took", time.Since(start)))
	return nil
}

// Close releases all connections; the store must not be used afterwards.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that the database answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Pool exposes the connection pool for benchmarks and tests that need raw access. Product
// code goes through the Store's methods so that all SQL stays in this package.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// hasCode reports whether err carries the PostgreSQL error code code.
func hasCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// checkLimit applies the paging rules shared by all list methods: 0 means the default,
// anything outside 1..maxLimit is the caller's mistake.
func checkLimit(limit int) (int, error) {
	const defaultLimit, maxLimit = 100, 1000
	if limit == 0 {
		return defaultLimit, nil
	}
	if limit < 1 || limit > maxLimit {
		return 0, fmt.Errorf("store: limit %d out of range 1..%d: %w", limit, maxLimit, ErrInvalid)
	}
	return limit, nil
}

// inTx runs fn in a transaction, committing when fn succeeds and rolling back otherwise.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}
