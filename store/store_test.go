package store_test

import (
	"context"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rollin-efa/rollin/store"
)

func TestOpenCreatesMissingDatabase(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// A database that does not exist yet, on the same server.
	u, err := url.Parse(b.url)
	require.NoError(t, err)
	missing := u.Path[1:] + "_created"
	u.Path = "/" + missing
	t.Cleanup(func() {
		_, err := b.store.Pool().Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{missing}.Sanitize()+" WITH (FORCE)")
		require.NoError(t, err)
	})

	// Several processes starting at once: one creates, the others lose the race quietly,
	// and the migrations run once under the advisory lock.
	const n = 3
	stores := make([]*store.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			stores[i], errs[i] = store.Open(t.Context(), u.String(), zaptest.NewLogger(t))
		})
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.NoError(t, stores[i].Ping(t.Context()))
		stores[i].Close()
	}

	var exists bool
	err = b.store.Pool().QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", missing).Scan(&exists)
	require.NoError(t, err)
	require.True(t, exists)
}

func TestOpenIsRerunnable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, b.store.UpsertServices(b.ctx, nil))

	again, err := store.Open(b.ctx, b.url, zaptest.NewLogger(t))
	require.NoError(t, err)
	defer again.Close()

	// Each migration is recorded once; the second Open applied nothing.
	var applied, distinct int
	err = again.Pool().QueryRow(b.ctx,
		"SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0").Scan(&applied, &distinct)
	require.NoError(t, err)
	files, err := filepath.Glob("migrations/*.sql")
	require.NoError(t, err)
	require.Equal(t, len(files), applied)
	require.Equal(t, distinct, applied)
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url, want string
	}{
		{"not a url", "postgres://%zz", "parse database url"},
		{"unreachable server", "postgres://postgres@127.0.0.1:1/rollin?sslmode=disable&connect_timeout=2", "connect to rollin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := store.Open(t.Context(), tt.url, nil)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// TestStatementsEndWhenTheDatabaseHangs: a statement that waits on a lock (as on a
// database that stopped answering) ends at the statement timeout with an error instead of
// holding its request and a pool connection for as long as the lock is held.
func TestStatementsEndWhenTheDatabaseHangs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var timeout string
	require.NoError(t, b.store.Pool().QueryRow(b.ctx, "SHOW statement_timeout").Scan(&timeout))
	require.Equal(t, store.DefaultStatementTimeout, timeout)

	short, err := store.Open(b.ctx, b.url+"&statement_timeout=1000", zaptest.NewLogger(t))
	require.NoError(t, err)
	defer short.Close()

	locker, err := b.store.Pool().Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = locker.Rollback(context.Background()) }()
	_, err = locker.Exec(b.ctx, "LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		_, err := short.Run(context.Background(), "rollin/055150000000/99107023037000")
		done <- err
	}()
	select {
	case err := <-done:
		require.Error(t, err)
		require.Contains(t, err.Error(), "statement timeout")
	case <-time.After(20 * time.Second):
		t.Fatal("the read still waits on the lock after 20 s")
	}
}
