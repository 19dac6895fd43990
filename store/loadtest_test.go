package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
)

func TestFillSyntheticRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.store.FillSyntheticRuns(b.ctx, 7, 12)
	require.ErrorContains(t, err, "register is empty")

	ms := []domain.Municipality{
		municipality("055150000000", "Münster, Stadt", 320000),
		municipality("051110000000", "Düsseldorf, Stadt", 620000),
		municipality("053150000000", "Köln, Stadt", 1080000),
	}
	_, err = b.store.UpsertMunicipalities(b.ctx, ms)
	require.NoError(t, err)

	n, err := b.store.FillSyntheticRuns(b.ctx, 7, 12)
	require.NoError(t, err)
	require.EqualValues(t, 7, n, "7 runs over 3 municipalities take three synthetic services")

	st, err := b.store.Run(b.ctx, domain.RunID("051110000000", "99999000000003"))
	require.NoError(t, err, "the third service reaches the first municipality in ARS order")
	require.Equal(t, domain.RunWaiting, st.State)
	require.Len(t, st.Steps, 12)
	require.NoError(t, b.store.LookupRunRow(b.ctx, st.ID))
	_, err = b.store.Run(b.ctx, domain.RunID("055150000000", "99999000000003"))
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, b.store.LookupRunRow(b.ctx, "rollin/x/y"), store.ErrNotFound)

	n, err = b.store.FillSyntheticRuns(b.ctx, 7, 12)
	require.NoError(t, err)
	require.Zero(t, n, "filling again adds nothing")
	_, err = b.store.FillSyntheticRuns(b.ctx, 0, 12)
	require.ErrorIs(t, err, store.ErrInvalid)
}

func TestDropDatabase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, store.DropDatabase(b.ctx, b.url))
	require.Error(t, b.store.Ping(b.ctx), "the database is gone")
	require.NoError(t, store.DropDatabase(b.ctx, b.url), "dropping a missing database is no error")
}
