package store_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
)

// TestSessions: a session is found by its ID until it is deleted, ended by name (within
// an organisation, or all), or cleaned up after expiry by a later sign-in; the table
// keeps only the ID's hash.
func TestSessions(t *testing.T) {
	b := setup(t)
	mk := func(id, name, org string, created, expires time.Time) store.Session {
		return store.Session{ID: id, Name: name, Role: domain.RoleOperator, Organisation: org, Via: "token",
			Token: "fp", CSRF: "csrf-" + id, Created: created, Expires: expires}
	}
	a := mk("aaaaaaaaaaaaaaaaaaaa", "ops", "d-nrw", ts(0), ts(60))
	require.NoError(t, b.store.CreateSession(b.ctx, a))
	got, err := b.store.Session(b.ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, a, got)

	_, err = b.store.Session(b.ctx, "bbbbbbbbbbbbbbbbbbbb")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, b.store.CreateSession(b.ctx, mk("short", "x", "", ts(0), ts(1))), store.ErrInvalid)
	require.ErrorIs(t, b.store.CreateSession(b.ctx, mk("cccccccccccccccccccc", "x", "", ts(1), ts(1))), store.ErrInvalid)

	require.NoError(t, b.store.DeleteSession(b.ctx, a.ID))
	_, err = b.store.Session(b.ctx, a.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "signed out")
	require.NoError(t, b.store.DeleteSession(b.ctx, a.ID), "twice is no error")

	for _, s := range []store.Session{
		mk("dddddddddddddddddddd", "ops", "d-nrw", ts(0), ts(60)),
		mk("eeeeeeeeeeeeeeeeeeee", "ops", "d-nrw", ts(0), ts(60)),
		mk("ffffffffffffffffffff", "ops", "itvsh", ts(0), ts(60)),
		mk("gggggggggggggggggggg", "andere", "d-nrw", ts(0), ts(60)),
	} {
		require.NoError(t, b.store.CreateSession(b.ctx, s))
	}
	org := domain.Organisation("itvsh")
	n, err := b.store.EndSessions(b.ctx, "ops", &org)
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "only the organisation's own")
	n, err = b.store.EndSessions(b.ctx, "ops", nil)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	_, err = b.store.Session(b.ctx, "gggggggggggggggggggg")
	require.NoError(t, err, "another name's session stays")

	conn, err := pgx.Connect(b.ctx, b.url)
	require.NoError(t, err)
	defer conn.Close(b.ctx)
	var plain int
	require.NoError(t, conn.QueryRow(b.ctx, "SELECT count(*) FROM sessions WHERE position(convert_to('gggggggggggggggggggg', 'UTF8') IN id_hash) > 0").Scan(&plain))
	require.Zero(t, plain, "the ID itself is not stored")

	// A sign-in after the others expired removes them.
	require.NoError(t, b.store.CreateSession(b.ctx, mk("hhhhhhhhhhhhhhhhhhhh", "pl", "", ts(61), ts(120))))
	_, err = b.store.Session(b.ctx, "gggggggggggggggggggg")
	require.ErrorIs(t, err, store.ErrNotFound, "expired and cleaned up")
}
