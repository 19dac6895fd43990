package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/catalog"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
)

func TestServicesRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)

	a, c := service("99000000000002"), service("99000000000001")
	c.Transports = []domain.Transport{domain.TransportEmail}
	c.PaymentRequired, c.DPARequired = false, true
	c.ActivationDates = nil
	c.Lands = nil
	require.NoError(t, b.store.UpsertServices(b.ctx, []domain.Service{a, c}))

	got, err := b.store.Service(b.ctx, a.Key)
	require.NoError(t, err)
	require.Equal(t, a, got)

	all, err := b.store.Services(b.ctx)
	require.NoError(t, err)
	c.Lands = []string{} // stored as an empty array, returned as one
	require.Equal(t, []domain.Service{c, a}, all, "ordered by key")

	// Upserting again replaces the Steckbrief.
	a.Name, a.Fachverfahren, a.Contacts = "Neuer Name", []string{"MIGEWA"}, nil
	require.NoError(t, b.store.UpsertServices(b.ctx, []domain.Service{a}))
	got, err = b.store.Service(b.ctx, a.Key)
	require.NoError(t, err)
	a.Contacts = []domain.Contact{}
	require.Equal(t, a, got)
}

func TestServicesDemoCatalogue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	demo := catalog.Demo()
	require.NoError(t, b.store.UpsertServices(b.ctx, demo))
	for _, want := range demo {
		got, err := b.store.Service(b.ctx, want.Key)
		require.NoError(t, err)
		require.Equal(t, want.Name, got.Name)
		require.Equal(t, want.Transports, got.Transports)
		require.Equal(t, want.Contacts, got.Contacts)
		require.Len(t, got.ActivationDates, len(want.ActivationDates))
		for i := range want.ActivationDates {
			require.True(t, want.ActivationDates[i].Equal(got.ActivationDates[i]))
		}
	}
}

func TestUpsertServicesAllOrNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)

	bad := service("99000000000009")
	bad.Transports = []domain.Transport{"fax"}
	noKey := service("12")
	tests := []struct {
		name string
		svcs []domain.Service
		want string
	}{
		{"unknown transport", []domain.Service{service("99000000000001"), bad}, `unknown transport "fax"`},
		{"bad key", []domain.Service{service("99000000000001"), noKey}, "Leistungsschlüssel"},
		{"duplicate", []domain.Service{service("99000000000001"), service("99000000000001")}, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := b.store.UpsertServices(b.ctx, tt.svcs)
			require.ErrorIs(t, err, store.ErrInvalid)
			require.ErrorContains(t, err, tt.want)
		})
	}
	all, err := b.store.Services(b.ctx)
	require.NoError(t, err)
	require.Empty(t, all, "nothing written when one service is invalid")
}

func TestServiceNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.store.Service(b.ctx, "99999999999999")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorContains(t, err, "store: load service 99999999999999")
}
