package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/domain"
)

// Kreis is one Kreis or kreisfreie Stadt of the Land/Kreis hierarchy, as the Destatis
// Kreis list names it. Its Land is part of its key.
type Kreis struct {
	Key  string `json:"key"`  // 5 digits: Land, Regierungsbezirk, Kreis; equals domain.ARS.Kreis()
	Name string `json:"name"` // e.g. "Münster, Stadt"
	Type string `json:"type"` // e.g. "Kreisfreie Stadt", "Kreis", "Landkreis"
	Land string `json:"land"` // 2 digits; derived from Key when written
}

// UpsertKreise loads the Kreis list in one statement: new Kreise are inserted, changed
// ones updated, identical ones left alone, so a repeated import reports everything
// unchanged. The Land is derived from the key (a non-empty Land that disagrees with it is
// refused). Every entry is checked before anything is written.
func (s *Store) UpsertKreise(ctx context.Context, ks []Kreis) (ImportCounts, error) {
	n := len(ks)
	keys, names, types := make([]string, n), make([]string, n), make([]string, n)
	seen := make(map[string]bool, n)
	for i, k := range ks {
		if !domain.Digits(k.Key, 5) {
			return ImportCounts{}, fmt.Errorf("store: import Kreise: key %q: want 5 digits: %w", k.Key, ErrInvalid)
		}
		if k.Name == "" {
			return ImportCounts{}, fmt.Errorf("store: import Kreise: %s has no name: %w", k.Key, ErrInvalid)
		}
		if k.Land != "" && k.Land != k.Key[:2] {
			return ImportCounts{}, fmt.Errorf("store: import Kreise: %s is in Land %s, not %s: %w", k.Key, k.Key[:2], k.Land, ErrInvalid)
		}
		if seen[k.Key] {
			return ImportCounts{}, fmt.Errorf("store: import Kreise: %s listed twice: %w", k.Key, ErrInvalid)
		}
		seen[k.Key] = true
		keys[i], names[i], types[i] = k.Key, k.Name, k.Type
	}
	var inserted, updated int64
	if err := s.pool.QueryRow(ctx, mergeKreiseSQL, keys, names, types).Scan(&inserted, &updated); err != nil {
		return ImportCounts{}, fmt.Errorf("store: import %d Kreise: %w", n, err)
	}
	counts := ImportCounts{New: int(inserted), Changed: int(updated), Unchanged: n - int(inserted) - int(updated)}
	s.log.Info("imported Kreise",
		zap.Int("new", counts.New), zap.Int("changed", counts.Changed), zap.Int("unchanged", counts.Unchanged))
	return counts, nil
}

// Kreise returns the Kreise of land (2 digits), or all of them when land is empty, in key
// order. The list is small (about 400), so it is not paged.
func (s *Store) Kreise(ctx context.Context, land string) ([]Kreis, error) {
	if land != "" && !domain.Digits(land, 2) {
		return nil, fmt.Errorf("store: list Kreise: Land %q: want 2 digits: %w", land, ErrInvalid)
	}
	rows, err := s.pool.Query(ctx, kreiseSQL, land)
	if err != nil {
		return nil, fmt.Errorf("store: list Kreise: %w", err)
	}
	ks, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Kreis])
	if err != nil {
		return nil, fmt.Errorf("store: list Kreise: %w", err)
	}
	return ks, nil
}

// ImportServices stores the Steckbriefe like UpsertServices (all validated first, all
// written in one transaction or none) and reports how many were new, changed or
// unchanged. An identical Steckbrief is not rewritten, so its updated_at keeps telling
// when it last changed.
func (s *Store) ImportServices(ctx context.Context, svcs []domain.Service) (ImportCounts, error) {
	seen := make(map[domain.ServiceKey]bool, len(svcs))
	for i, svc := range svcs {
		if err := svc.Validate(); err != nil {
			return ImportCounts{}, fmt.Errorf("store: service %d of %d: %w: %w", i+1, len(svcs), err, ErrInvalid)
		}
		if seen[svc.Key] {
			return ImportCounts{}, fmt.Errorf("store: service %s listed twice: %w", svc.Key, ErrInvalid)
		}
		seen[svc.Key] = true
	}
	var counts ImportCounts
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		batch := &pgx.Batch{}
		for _, svc := range svcs {
			batch.Queue(importServiceSQL,
				string(svc.Key), svc.Name, svc.Provider, nonNil(svc.Fachverfahren),
				transportStrings(svc.Transports), svc.PaymentRequired, svc.UserAccountRequired,
				svc.DPARequired, nonNil(svc.Lands), nonNil(svc.ActivationDates), svc.Costs,
				nonNil(svc.Contacts), string(svc.Organisation), nonNil(svc.SubmissionSchemas))
		}
		br := tx.SendBatch(ctx, batch)
		for _, svc := range svcs {
			var inserted bool
			err := br.QueryRow().Scan(&inserted)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				counts.Unchanged++
			case err != nil:
				_ = br.Close()
				return fmt.Errorf("service %s: %w", svc.Key, err)
			case inserted:
				counts.New++
			default:
				counts.Changed++
			}
		}
		return br.Close()
	})
	if err != nil {
		return ImportCounts{}, fmt.Errorf("store: upsert %d services: %w", len(svcs), err)
	}
	s.log.Debug("imported services",
		zap.Int("new", counts.New), zap.Int("changed", counts.Changed), zap.Int("unchanged", counts.Unchanged))
	return counts, nil
}
