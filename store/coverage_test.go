package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
)

// TestCoverageCountsRunsPerLandAndKreis: a Land's or Kreis's bar counts the register's
// municipalities and, by state, the runs of the one service asked for, of the one
// organisation asked for; groups without runs are there with nothing started.
func TestCoverageCountsRunsPerLandAndKreis(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ms := []domain.Municipality{
		municipality("053700004004", "Erkelenz", 43000),
		municipality("053700012012", "Hückelhoven", 40000),
		municipality("053700016016", "Wassenberg", 18000),
		municipality("055150000000", "Münster", 315000),
		municipality("010010000000", "Flensburg", 90000),
	}
	_, err := b.store.UpsertMunicipalities(b.ctx, ms)
	require.NoError(t, err)
	_, err = b.store.UpsertKreise(b.ctx, []store.Kreis{{Key: "05370", Name: "Heinsberg", Land: "05"}})
	require.NoError(t, err)

	write := func(ars domain.ARS, svc domain.ServiceKey, state domain.RunState, org domain.Organisation) {
		snap := snapshot(ars, svc, 1, state, domain.StageVereinbarung)
		snap.Status.Organisation = org
		require.NoError(t, b.store.ApplySnapshot(b.ctx, snap))
	}
	write("053700004004", gewerbe, domain.RunLive, "d-nrw")
	write("053700012012", gewerbe, domain.RunWaiting, "d-nrw")
	write("055150000000", gewerbe, domain.RunWaiting, "itvsh")
	write("053700016016", wohngeld, domain.RunLive, "d-nrw") // another service: not counted

	lands, err := b.store.Coverage(b.ctx, gewerbe, "", nil)
	require.NoError(t, err)
	require.Equal(t, []domain.CoverageGroup{
		{Key: "01", Municipalities: 1, ByState: map[domain.RunState]int{}},
		{Key: "05", Municipalities: 4, ByState: map[domain.RunState]int{domain.RunLive: 1, domain.RunWaiting: 2}},
	}, lands)
	require.Equal(t, 1, lands[1].NotStarted())

	org := domain.Organisation("d-nrw")
	kreise, err := b.store.Coverage(b.ctx, gewerbe, "05", &org)
	require.NoError(t, err)
	require.Equal(t, []domain.CoverageGroup{
		{Key: "05370", Name: "Heinsberg", Municipalities: 3, ByState: map[domain.RunState]int{domain.RunLive: 1, domain.RunWaiting: 1}},
		{Key: "05515", Name: "Kreis 05515", Municipalities: 1, ByState: map[domain.RunState]int{}},
	}, kreise, "Münster's run belongs to another organisation; a Kreis missing from the Kreis list is named from the register")

	names, err := b.store.MunicipalityNames(b.ctx, []domain.ARS{"053700004004", "055150000000", "099999999999"})
	require.NoError(t, err)
	require.Equal(t, map[domain.ARS]string{"053700004004": "Erkelenz", "055150000000": "Münster"}, names)

	// UpdatedBefore keeps the runs whose last transition is older.
	old := snapshot("053700012012", wohngeld, 1, domain.RunWaiting, domain.StageVereinbarung)
	old.Status.UpdatedAt = ts(-60 * 24 * 30)
	require.NoError(t, b.store.ApplySnapshot(b.ctx, old))
	overdue, _, err := b.store.Runs(b.ctx, store.RunFilter{State: string(domain.RunWaiting), UpdatedBefore: ts(-60 * 24)})
	require.NoError(t, err)
	require.Len(t, overdue, 1)
	require.Equal(t, old.Status.ID, overdue[0].ID)
}
