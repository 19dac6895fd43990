package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/store/storetest"
)

// bundle is what most store tests need: a store on a database of their own.
type bundle struct {
	ctx   context.Context
	store *store.Store
	url   string
}

// setup opens a store on a fresh database; both are closed and dropped when t ends.
func setup(t *testing.T) *bundle {
	t.Helper()
	url := storetest.NewDatabase(t)
	ctx := t.Context()
	s, err := store.Open(ctx, url, zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return &bundle{ctx: ctx, store: s, url: url}
}

// ts returns a fixed UTC time at microsecond precision (what PostgreSQL keeps), offset by
// minutes, so that round trips compare equal.
func ts(minutes int) time.Time {
	return time.Date(2026, 3, 2, 9, 0, 0, 123456000, time.UTC).Add(time.Duration(minutes) * time.Minute)
}

// service returns a valid Steckbrief with key.
func service(key domain.ServiceKey) domain.Service {
	return domain.Service{
		Key:                 key,
		Name:                "Dienst " + string(key),
		Provider:            "Land Testland (Betrieb: Test-IT)",
		Fachverfahren:       []string{"OK.GEWERBE", "VOIS|GEWERBE"},
		Transports:          []domain.Transport{domain.TransportFITConnect, domain.TransportXTA},
		PaymentRequired:     true,
		UserAccountRequired: true,
		DPARequired:         false,
		Lands:               []string{"05", "09"},
		ActivationDates:     []time.Time{ts(0), ts(60 * 24 * 90)},
		Costs:               "1.500 EUR einmalig",
		SubmissionSchemas:   []domain.SubmissionSchema{{SchemaURI: "urn:test:schema:" + string(key), MimeType: "application/json"}},
		Contacts:            []domain.Contact{{Role: "Projektleitung", Name: "Projektbüro", Email: "pb@example.org"}},
	}
}

// municipality returns a register entry for ars as the register package would.
func municipality(ars domain.ARS, name string, population int) domain.Municipality {
	return domain.Municipality{
		ARS: ars, Name: name, Land: ars.Land(), Kreis: ars.Kreis(), KreisName: "Kreis " + ars.Kreis(),
		Population: population,
	}
}
