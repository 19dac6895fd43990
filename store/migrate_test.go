package store

import (
	"io/fs"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store/storetest"
)

// TestStepsMoveIntoTheRun upgrades a database written before migration 4 (steps in their
// own table) and finds every run's steps, in plan order, in the run.
func TestStepsMoveIntoTheRun(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := storetest.NewDatabase(t)
	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	fsys, err := fs.Sub(migrationFiles, "migrations")
	require.NoError(t, err)
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithDisableGlobalRegistry(true))
	require.NoError(t, err)
	_, err = p.UpTo(ctx, 3)
	require.NoError(t, err)

	// Rows as version 3 wrote them, the steps out of order on purpose.
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	_, err = db.ExecContext(ctx, `INSERT INTO runs (id, ars, service, land, kreis, state, stage, reason, seq, created_at, updated_at)
		VALUES ('rollin/055150000000/99107023037000', '055150000000', '99107023037000', '05', '05515', 'incident', 'anbindung', '', 7, $1, $1),
		       ('rollin/051110000000/99107023037000', '051110000000', '99107023037000', '05', '05111', 'running', 'pruefung', '', 1, $1, $1)`, at)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO run_steps (run_id, position, name, stage, state, attempts, last_error, updated_at)
		VALUES ('rollin/055150000000/99107023037000', 1, 'tenant', 'anbindung', 'failed', 3, 'HTTP 503', $1),
		       ('rollin/055150000000/99107023037000', 0, 'pre-check', 'pruefung', 'done', 1, '', $1)`, at)
	require.NoError(t, err)

	st, err := Open(ctx, url, zaptest.NewLogger(t))
	require.NoError(t, err)
	defer st.Close()
	run, err := st.Run(ctx, "rollin/055150000000/99107023037000")
	require.NoError(t, err)
	require.Equal(t, []domain.StepStatus{
		{Name: "pre-check", Stage: domain.StagePruefung, State: "done", Attempts: 1, UpdatedAt: at},
		{Name: "tenant", Stage: domain.StageAnbindung, State: "failed", Attempts: 3, LastError: "HTTP 503", UpdatedAt: at},
	}, run.Steps)
	empty, err := st.Run(ctx, "rollin/051110000000/99107023037000")
	require.NoError(t, err)
	require.Nil(t, empty.Steps, "a run without steps keeps none")
	require.Equal(t, domain.RunRunning, empty.State)

	// And back down: the steps return to their table.
	_, err = p.DownTo(ctx, 3)
	require.NoError(t, err)
	var n int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM run_steps WHERE run_id = 'rollin/055150000000/99107023037000'`).Scan(&n))
	require.Equal(t, 2, n)
}
