package storetest_test

import (
	"context"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/store/storetest"
)

func TestNewDatabase(t *testing.T) {
	t.Parallel()
	var (
		name  string
		other *pgx.Conn
	)
	t.Run("create", func(t *testing.T) {
		dbURL := storetest.NewDatabase(t)
		u, err := url.Parse(dbURL)
		require.NoError(t, err)
		name = strings.TrimPrefix(u.Path, "/")
		require.Regexp(t, `^rollin_test_[0-9a-f]{16}$`, name)

		conn, err := pgx.Connect(t.Context(), dbURL)
		require.NoError(t, err)
		defer conn.Close(context.Background())
		var current string
		require.NoError(t, conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&current))
		require.Equal(t, name, current)
		// Left open until the drop on purpose: open connections must not block it.
		other, err = pgx.Connect(context.Background(), dbURL)
		require.NoError(t, err)
	})
	if other != nil {
		defer other.Close(context.Background()) // already terminated by the drop
	}

	// After the subtest's cleanup the database is gone.
	conn, err := pgx.Connect(t.Context(), storetest.AdminURL())
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var exists bool
	require.NoError(t, conn.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists))
	require.False(t, exists, "database %s was not dropped", name)
}

func TestNewDatabaseUniqueNames(t *testing.T) {
	t.Parallel()
	a, b := storetest.NewDatabase(t), storetest.NewDatabase(t)
	require.NotEqual(t, a, b)
}

// TestUnreachableServerFails checks that a missing PostgreSQL fails the test with a clear
// message instead of skipping it.
func TestUnreachableServerFails(t *testing.T) {
	t.Setenv(storetest.EnvURL, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2")
	fake := &recordingTB{TB: t}
	var wg sync.WaitGroup
	wg.Go(func() { storetest.NewDatabase(fake) }) // Fatalf ends the goroutine like a test
	wg.Wait()
	require.True(t, fake.failed)
	require.False(t, fake.skipped)
	require.Contains(t, fake.msg, "PostgreSQL is unreachable at postgres://postgres@127.0.0.1:1/postgres")
	require.Contains(t, fake.msg, storetest.EnvURL)
}

// recordingTB records Fatalf and Skip instead of acting on the real test.
type recordingTB struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (r *recordingTB) Helper()        {}
func (r *recordingTB) Cleanup(func()) {}
func (r *recordingTB) Skip(...any)    { r.skipped = true; runtime.Goexit() }
func (r *recordingTB) SkipNow()       { r.skipped = true; runtime.Goexit() }
func (r *recordingTB) Skipf(string, ...any) {
	r.skipped = true
	runtime.Goexit()
}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
