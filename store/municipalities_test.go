package store_test

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/register"
	"github.com/rollin-efa/rollin/store"
)

// registerBundle is a store loaded with the full Destatis register, shared by the
// read-only subtests of TestMunicipalitiesRegister.
func registerBundle(t *testing.T) (*bundle, []domain.Municipality) {
	t.Helper()
	b := setup(t)
	reg, err := register.Embedded()
	require.NoError(t, err)
	start := time.Now()
	counts, err := b.store.UpsertMunicipalities(b.ctx, reg.Municipalities)
	require.NoError(t, err)
	t.Logf("imported %d municipalities in %v", len(reg.Municipalities), time.Since(start))
	require.Equal(t, store.ImportCounts{New: 11004}, counts)
	return b, reg.Municipalities
}

func TestMunicipalitiesRegister(t *testing.T) {
	t.Parallel()
	b, all := registerBundle(t)

	t.Run("Flensburg", func(t *testing.T) {
		got, err := b.store.Municipality(b.ctx, "010010000000")
		require.NoError(t, err)
		require.Equal(t, domain.Municipality{
			ARS: "010010000000", Name: "Flensburg, Stadt", Land: "01", Kreis: "01001",
			KreisName: "Flensburg, Stadt", Population: 90164,
		}, got)
	})

	t.Run("filters", func(t *testing.T) {
		tests := []struct {
			name    string
			filter  store.MunicipalityFilter
			want    int
			contain domain.ARS
		}{
			{"Land NRW", store.MunicipalityFilter{Land: "05"}, 396, "053150000000"},
			{"Land Bayern", store.MunicipalityFilter{Land: "09"}, 2230, "091620000000"},
			{"Kreis Flensburg", store.MunicipalityFilter{Kreis: "01001"}, 1, "010010000000"},
			{"name, any case", store.MunicipalityFilter{Query: "FLENSBURG"}, 1, "010010000000"},
			{"name with umlaut, lower case", store.MunicipalityFilter{Query: "köln", Land: "05"}, 1, "053150000000"},
			{"name substring", store.MunicipalityFilter{Query: "hansestadt", Land: "01"}, 1, "010030000000"},
			{"ARS prefix", store.MunicipalityFilter{Query: "01001"}, 1, "010010000000"},
			{"ARS prefix of a Kreis", store.MunicipalityFilter{Query: "05315"}, 1, "053150000000"},
			{"LIKE wildcards are literal", store.MunicipalityFilter{Query: "%"}, 0, ""},
			{"underscore is literal", store.MunicipalityFilter{Query: "_"}, 0, ""},
			{"no match", store.MunicipalityFilter{Query: "Atlantis"}, 0, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got := collectMunicipalities(t, b, tt.filter, 1000)
				require.Equal(t, tt.want, len(got))
				if tt.contain != "" {
					require.True(t, slices.ContainsFunc(got, func(m domain.Municipality) bool { return m.ARS == tt.contain }))
				}
				for _, m := range got {
					if tt.filter.Land != "" {
						require.Equal(t, tt.filter.Land, m.Land)
					}
					if tt.filter.Kreis != "" {
						require.Equal(t, tt.filter.Kreis, m.Kreis)
					}
				}
			})
		}
	})

	t.Run("keyset paging", func(t *testing.T) {
		tests := []struct {
			name   string
			filter store.MunicipalityFilter
			limit  int
			want   int
		}{
			{"NRW by 100", store.MunicipalityFilter{Land: "05"}, 100, 396},
			{"NRW by 7", store.MunicipalityFilter{Land: "05"}, 7, 396},
			{"exact multiple", store.MunicipalityFilter{Land: "05"}, 396, 396},
			{"all by 1000", store.MunicipalityFilter{}, 1000, 11004},
			{"Stadt by 50", store.MunicipalityFilter{Query: "stadt"}, 50, 0}, // 0: just check consistency
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				paged := collectMunicipalities(t, b, tt.filter, tt.limit)
				if tt.want > 0 {
					require.Equal(t, tt.want, len(paged))
				}
				// No duplicates, no gaps: the pages concatenate to the single-query answer.
				require.True(t, slices.IsSortedFunc(paged, func(a, b domain.Municipality) int {
					return cmp.Compare(a.ARS, b.ARS)
				}))
				whole := collectMunicipalities(t, b, tt.filter, 1000)
				require.Equal(t, arsOf(whole), arsOf(paged))
			})
		}
	})

	t.Run("default limit", func(t *testing.T) {
		items, next, err := b.store.Municipalities(b.ctx, store.MunicipalityFilter{})
		require.NoError(t, err)
		require.Len(t, items, 100)
		require.Equal(t, string(items[99].ARS), next)
	})

	t.Run("bad limit", func(t *testing.T) {
		for _, limit := range []int{-1, 1001} {
			_, _, err := b.store.Municipalities(b.ctx, store.MunicipalityFilter{Limit: limit})
			require.ErrorIs(t, err, store.ErrInvalid)
			require.ErrorContains(t, err, "limit")
		}
	})

	// Last, because it leaves an extra municipality behind.
	t.Run("reimport counts", func(t *testing.T) {
		// Same file again: nothing changes.
		counts, err := b.store.UpsertMunicipalities(b.ctx, all)
		require.NoError(t, err)
		require.Equal(t, store.ImportCounts{Unchanged: 11004}, counts)

		// Work on a copy with two changes and one addition; then restore.
		edited := slices.Clone(all)
		edited[0].Population++                     // Flensburg grew
		edited[1].Name = edited[1].Name + " (neu)" // Kiel renamed
		extra := municipality("010019999001", "Neue Gemeinde", 10)
		counts, err = b.store.UpsertMunicipalities(b.ctx, append(edited, extra))
		require.NoError(t, err)
		require.Equal(t, store.ImportCounts{New: 1, Changed: 2, Unchanged: 11002}, counts)

		got, err := b.store.Municipality(b.ctx, all[0].ARS)
		require.NoError(t, err)
		require.Equal(t, all[0].Population+1, got.Population)

		counts, err = b.store.UpsertMunicipalities(b.ctx, all)
		require.NoError(t, err)
		require.Equal(t, store.ImportCounts{Changed: 2, Unchanged: 11002}, counts, "the extra row is left alone, not deleted")
	})
}

func TestMunicipalityProfileAndAgreement(t *testing.T) {
	t.Parallel()
	b := setup(t)
	flensburg := municipality("010010000000", "Flensburg, Stadt", 90164)
	kiel := municipality("010020000000", "Kiel, Landeshauptstadt", 246794)
	_, err := b.store.UpsertMunicipalities(b.ctx, []domain.Municipality{flensburg, kiel})
	require.NoError(t, err)

	// Without a profile the fields are empty.
	got, err := b.store.Municipality(b.ctx, flensburg.ARS)
	require.NoError(t, err)
	require.Equal(t, flensburg, got)

	transports := []domain.Transport{domain.TransportFITConnect, domain.TransportEmail}
	require.NoError(t, b.store.SetProfile(b.ctx, flensburg.ARS, []string{"OK.GEWERBE"}, transports))
	require.NoError(t, b.store.RecordFrameworkAgreement(b.ctx, flensburg.ARS, "Bürgermeisterin", ts(0)))
	// Idempotent: a second record (a retried activity, a second signature) changes nothing.
	require.NoError(t, b.store.RecordFrameworkAgreement(b.ctx, flensburg.ARS, "Jemand anderes", ts(60)))

	want := flensburg
	want.Fachverfahren, want.Transports, want.FrameworkAgreement = []string{"OK.GEWERBE"}, transports, true
	got, err = b.store.Municipality(b.ctx, flensburg.ARS)
	require.NoError(t, err)
	require.Equal(t, want, got)

	var signedBy string
	var signedAt time.Time
	err = b.store.Pool().QueryRow(b.ctx, "SELECT signed_by, signed_at FROM framework_agreements WHERE ars = $1",
		string(flensburg.ARS)).Scan(&signedBy, &signedAt)
	require.NoError(t, err)
	require.Equal(t, "Bürgermeisterin", signedBy)
	require.True(t, ts(0).Equal(signedAt))

	// A register re-import with changed data keeps profile and agreement.
	flensburg.Population = 91000
	counts, err := b.store.UpsertMunicipalities(b.ctx, []domain.Municipality{flensburg, kiel})
	require.NoError(t, err)
	require.Equal(t, store.ImportCounts{Changed: 1, Unchanged: 1}, counts)
	want.Population = 91000
	got, err = b.store.Municipality(b.ctx, flensburg.ARS)
	require.NoError(t, err)
	require.Equal(t, want, got)

	// The list carries the profile too.
	items, next, err := b.store.Municipalities(b.ctx, store.MunicipalityFilter{Kreis: "01001"})
	require.NoError(t, err)
	require.Empty(t, next)
	require.Equal(t, []domain.Municipality{want}, items)

	// Replacing the profile replaces it.
	require.NoError(t, b.store.SetProfile(b.ctx, flensburg.ARS, nil, []domain.Transport{domain.TransportXTA}))
	got, err = b.store.Municipality(b.ctx, flensburg.ARS)
	require.NoError(t, err)
	require.Empty(t, got.Fachverfahren)
	require.Equal(t, []domain.Transport{domain.TransportXTA}, got.Transports)
}

func TestMunicipalityErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	unknown := domain.ARS("099999999999")

	_, err := b.store.Municipality(b.ctx, unknown)
	require.ErrorIs(t, err, store.ErrNotFound)

	err = b.store.SetProfile(b.ctx, unknown, []string{"X"}, nil)
	require.ErrorIs(t, err, store.ErrNotFound)

	err = b.store.RecordFrameworkAgreement(b.ctx, unknown, "Bürgermeister", ts(0))
	require.ErrorIs(t, err, store.ErrNotFound)

	_, err = b.store.UpsertMunicipalities(b.ctx, []domain.Municipality{municipality("010010000000", "A", 1)})
	require.NoError(t, err)
	err = b.store.SetProfile(b.ctx, "010010000000", nil, []domain.Transport{"fax"})
	require.ErrorIs(t, err, store.ErrInvalid)
	err = b.store.RecordFrameworkAgreement(b.ctx, "010010000000", "", ts(0))
	require.ErrorIs(t, err, store.ErrInvalid)

	tests := []struct {
		name string
		ms   []domain.Municipality
		want string
	}{
		{"bad ARS", []domain.Municipality{{ARS: "0100", Name: "X"}}, "12 digits"},
		{"no name", []domain.Municipality{{ARS: "010010000001"}}, "has no name"},
		{"duplicate", []domain.Municipality{municipality("010010000001", "A", 1), municipality("010010000001", "B", 2)}, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.store.UpsertMunicipalities(b.ctx, tt.ms)
			require.ErrorIs(t, err, store.ErrInvalid)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// collectMunicipalities follows next until the last page and fails on a page that is
// empty or larger than limit.
func collectMunicipalities(t *testing.T, b *bundle, f store.MunicipalityFilter, limit int) []domain.Municipality {
	t.Helper()
	var all []domain.Municipality
	f.Limit = limit
	for page := 0; ; page++ {
		require.Less(t, page, 20000, "paging does not end")
		items, next, err := b.store.Municipalities(b.ctx, f)
		require.NoError(t, err)
		require.LessOrEqual(t, len(items), limit)
		if next != "" {
			require.Len(t, items, limit, "only the last page may be short")
		}
		all = append(all, items...)
		if next == "" {
			return all
		}
		f.Cursor = next
	}
}

func arsOf(ms []domain.Municipality) []domain.ARS {
	out := make([]domain.ARS, len(ms))
	for i, m := range ms {
		out[i] = m.ARS
	}
	return out
}
