package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rollin-efa/rollin/domain"
)

// UpsertServices stores the Steckbriefe, replacing earlier versions with the same key. It
// validates every service before writing any and writes all of them in one transaction,
// so a catalogue load either succeeds completely or leaves the catalogue as it was.
// ImportServices does the same and also reports what changed.
func (s *Store) UpsertServices(ctx context.Context, svcs []domain.Service) error {
	_, err := s.ImportServices(ctx, svcs)
	return err
}

// Service returns the Steckbrief with key, or an error wrapping ErrNotFound.
func (s *Store) Service(ctx context.Context, key domain.ServiceKey) (domain.Service, error) {
	svc, err := scanService(s.pool.QueryRow(ctx, serviceSQL, string(key)))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Service{}, fmt.Errorf("store: load service %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return domain.Service{}, fmt.Errorf("store: load service %s: %w", key, err)
	}
	return svc, nil
}

// Services returns the whole catalogue ordered by key; it is small (hundreds of services
// at most), so it is not paged.
func (s *Store) Services(ctx context.Context) ([]domain.Service, error) {
	rows, err := s.pool.Query(ctx, servicesSQL)
	if err != nil {
		return nil, fmt.Errorf("store: list services: %w", err)
	}
	svcs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Service, error) {
		return scanService(row)
	})
	if err != nil {
		return nil, fmt.Errorf("store: list services: %w", err)
	}
	return svcs, nil
}

func scanService(row pgx.Row) (domain.Service, error) {
	var (
		svc        domain.Service
		key        string
		transports []string
		dates      []time.Time
	)
	err := row.Scan(&key, &svc.Name, &svc.Provider, &svc.Fachverfahren, &transports,
		&svc.PaymentRequired, &svc.UserAccountRequired, &svc.DPARequired, &svc.Lands,
		&dates, &svc.Costs, &svc.Contacts, &svc.Organisation, &svc.SubmissionSchemas)
	if err != nil {
		return domain.Service{}, err
	}
	svc.Key = domain.ServiceKey(key)
	svc.Transports = toTransports(transports)
	if len(svc.SubmissionSchemas) == 0 {
		svc.SubmissionSchemas = nil // none, as the Steckbrief without the field decodes
	}
	for _, d := range dates {
		svc.ActivationDates = append(svc.ActivationDates, d.UTC())
	}
	return svc, nil
}

// transportStrings converts transports for a text[] parameter.
func transportStrings(ts []domain.Transport) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}

// toTransports converts a scanned text[]; nil stays nil so an absent profile stays absent.
func toTransports(ss []string) []domain.Transport {
	if ss == nil {
		return nil
	}
	out := make([]domain.Transport, len(ss))
	for i, s := range ss {
		out[i] = domain.Transport(s)
	}
	return out
}

// nonNil turns a nil slice into an empty one: the columns are NOT NULL arrays.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
