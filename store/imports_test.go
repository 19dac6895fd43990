package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/catalog"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/register"
	"github.com/rollin-efa/rollin/store"
)

func TestUpsertKreiseIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	list, err := register.Kreise()
	require.NoError(t, err)
	ks := make([]store.Kreis, len(list))
	for i, k := range list {
		ks[i] = store.Kreis{Key: k.Key, Name: k.Name, Type: k.Type}
	}

	counts, err := b.store.UpsertKreise(b.ctx, ks)
	require.NoError(t, err)
	require.Equal(t, store.ImportCounts{New: 401}, counts)
	counts, err = b.store.UpsertKreise(b.ctx, ks)
	require.NoError(t, err)
	require.Equal(t, store.ImportCounts{Unchanged: 401}, counts)

	ks[0].Name = "Flensburg, Stadt (neu)"
	counts, err = b.store.UpsertKreise(b.ctx, ks[:2])
	require.NoError(t, err)
	require.Equal(t, store.ImportCounts{Changed: 1, Unchanged: 1}, counts)

	nrw, err := b.store.Kreise(b.ctx, "05")
	require.NoError(t, err)
	require.Len(t, nrw, 53, "NRW has 22 kreisfreie Städte, 30 Kreise and the StädteRegion Aachen")
	require.Equal(t, store.Kreis{Key: "05111", Name: "Düsseldorf, Stadt", Type: "Kreisfreie Stadt", Land: "05"}, nrw[0])
	all, err := b.store.Kreise(b.ctx, "")
	require.NoError(t, err)
	require.Len(t, all, 401)
	require.Equal(t, "Flensburg, Stadt (neu)", all[0].Name)
	require.Equal(t, "01", all[0].Land)

	_, err = b.store.Kreise(b.ctx, "5")
	require.ErrorIs(t, err, store.ErrInvalid)
}

func TestUpsertKreiseRefusesBadEntries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tt := range []struct {
		name string
		in   []store.Kreis
		want string
	}{
		{"short key", []store.Kreis{{Key: "0511", Name: "X"}}, `key "0511": want 5 digits`},
		{"no name", []store.Kreis{{Key: "05111"}}, "05111 has no name"},
		{"wrong Land", []store.Kreis{{Key: "05111", Name: "X", Land: "09"}}, "05111 is in Land 05, not 09"},
		{"twice", []store.Kreis{{Key: "05111", Name: "X"}, {Key: "05111", Name: "Y"}}, "05111 listed twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.store.UpsertKreise(b.ctx, append([]store.Kreis{{Key: "05112", Name: "Duisburg, Stadt"}}, tt.in...))
			require.ErrorIs(t, err, store.ErrInvalid)
			require.ErrorContains(t, err, tt.want)
		})
	}
	all, err := b.store.Kreise(b.ctx, "")
	require.NoError(t, err)
	require.Empty(t, all, "a refused import writes nothing")
}

func TestImportServicesCounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	demo := catalog.Demo()

	counts, err := b.store.ImportServices(b.ctx, demo)
	require.NoError(t, err)
	require.Equal(t, store.ImportCounts{New: 3}, counts)
	before, err := b.store.Service(b.ctx, demo[0].Key)
	require.NoError(t, err)

	// Activation dates given in another time zone are the same instants: unchanged.
	again := catalog.Demo()
	for i, d := range again[0].ActivationDates {
		again[0].ActivationDates[i] = d.In(time.UTC)
	}
	counts, err = b.store.ImportServices(b.ctx, again)
	require.NoError(t, err)
	require.Equal(t, store.ImportCounts{Unchanged: 3}, counts)

	changed := catalog.Demo()
	changed[1].Costs = "neu verhandelt"
	changed[2].Contacts = append(changed[2].Contacts, domain.Contact{Role: "Support", Name: "Hotline", Email: "hotline@example.org"})
	extra := service("99123456789000")
	counts, err = b.store.ImportServices(b.ctx, append(changed, extra))
	require.NoError(t, err)
	require.Equal(t, store.ImportCounts{New: 1, Changed: 2, Unchanged: 1}, counts)

	after, err := b.store.Service(b.ctx, demo[0].Key)
	require.NoError(t, err)
	require.Equal(t, before, after)
	got, err := b.store.Service(b.ctx, demo[1].Key)
	require.NoError(t, err)
	require.Equal(t, "neu verhandelt", got.Costs)

	// Validation comes first: one bad Steckbrief writes nothing.
	bad := catalog.Demo()
	bad[0].Costs = "would change"
	bad[2].Transports = nil
	_, err = b.store.ImportServices(b.ctx, bad)
	require.ErrorIs(t, err, store.ErrInvalid)
	require.ErrorContains(t, err, "service 3 of 3")
	got, err = b.store.Service(b.ctx, demo[0].Key)
	require.NoError(t, err)
	require.Equal(t, before.Costs, got.Costs)
}
