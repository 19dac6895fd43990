package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/rollin-efa/rollin/domain"
)

// MunicipalityNames returns the names of the municipalities ars, for list views whose
// runs carry only the key. Unknown keys are missing from the map.
func (s *Store) MunicipalityNames(ctx context.Context, ars []domain.ARS) (map[domain.ARS]string, error) {
	keys := make([]string, len(ars))
	for i, a := range ars {
		keys[i] = string(a)
	}
	rows, err := s.pool.Query(ctx, municipalityNamesSQL, keys)
	if err != nil {
		return nil, fmt.Errorf("store: municipality names: %w", err)
	}
	names := make(map[domain.ARS]string, len(ars))
	var key, name string
	if _, err := pgx.ForEachRow(rows, []any{&key, &name}, func() error {
		names[domain.ARS(key)] = name
		return nil
	}); err != nil {
		return nil, fmt.Errorf("store: municipality names: %w", err)
	}
	return names, nil
}

// Coverage counts how far the roll-in of service has come in each Land (land empty) or in
// each Kreis of land: the municipalities of the register and their runs by state. org, when
// not nil, counts the runs of that organisation only.
func (s *Store) Coverage(ctx context.Context, service domain.ServiceKey, land string, org *domain.Organisation) ([]domain.CoverageGroup, error) {
	var orgArg *string
	if org != nil {
		o := string(*org)
		orgArg = &o
	}
	rows, err := s.pool.Query(ctx, coverageSQL, string(service), land, orgArg)
	if err != nil {
		return nil, fmt.Errorf("store: coverage of %s: %w", service, err)
	}
	var (
		groups      []domain.CoverageGroup
		key, name   string
		state       string
		total, runs int
	)
	if _, err := pgx.ForEachRow(rows, []any{&key, &name, &total, &state, &runs}, func() error {
		if len(groups) == 0 || groups[len(groups)-1].Key != key {
			groups = append(groups, domain.CoverageGroup{Key: key, Name: name, Municipalities: total, ByState: map[domain.RunState]int{}})
		}
		if state != "" {
			groups[len(groups)-1].ByState[domain.RunState(state)] = runs
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("store: coverage of %s: %w", service, err)
	}
	return groups, nil
}
