package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/domain"
)

// ImportCounts tells the project manager what a register import changed, so that a
// repeated import of the same file visibly does nothing.
type ImportCounts struct {
	New       int `json:"new"`
	Changed   int `json:"changed"`
	Unchanged int `json:"unchanged"`
}

// MunicipalityFilter selects a page of municipalities. Empty fields do not filter.
type MunicipalityFilter struct {
	// Land is the 2-digit Land key, e.g. "05".
	Land string
	// Kreis is the 5-digit Kreis key, e.g. "05315".
	Kreis string
	// Query matches a substring of the name (case-insensitive) or a prefix of the ARS.
	Query string
	// Limit is the page size: 0 means 100, at most 1000.
	Limit int
	// Cursor is the next value of the previous page; empty for the first page.
	Cursor string
}

// UpsertMunicipalities loads register entries in one transaction: new ones are inserted,
// changed ones updated, identical ones left alone (so their updated_at keeps meaning
// something). It stages the rows with COPY, which keeps a full import of about 11,000 rows
// well under a second. Land, Kreis and AGS are derived from the ARS; the profile
// (Fachverfahren, transports) and framework agreements are never touched.
func (s *Store) UpsertMunicipalities(ctx context.Context, ms []domain.Municipality) (ImportCounts, error) {
	rows := make([][]any, 0, len(ms))
	seen := make(map[domain.ARS]bool, len(ms))
	for _, m := range ms {
		ars, err := domain.ParseARS(string(m.ARS))
		if err != nil {
			return ImportCounts{}, fmt.Errorf("store: import municipalities: %w: %w", err, ErrInvalid)
		}
		if m.Name == "" {
			return ImportCounts{}, fmt.Errorf("store: import municipalities: %s has no name: %w", ars, ErrInvalid)
		}
		if m.Population < 0 {
			return ImportCounts{}, fmt.Errorf("store: import municipalities: %s has population %d: %w", ars, m.Population, ErrInvalid)
		}
		if seen[ars] {
			return ImportCounts{}, fmt.Errorf("store: import municipalities: %s listed twice: %w", ars, ErrInvalid)
		}
		seen[ars] = true
		rows = append(rows, []any{string(ars), ars.AGS(), m.Name, ars.Land(), ars.Kreis(), m.KreisName, m.Population})
	}

	var counts ImportCounts
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, createImportTableSQL); err != nil {
			return fmt.Errorf("create staging table: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{importTable}, importColumns, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		var inserted, updated int64
		if err := tx.QueryRow(ctx, mergeImportSQL).Scan(&inserted, &updated); err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		counts = ImportCounts{New: int(inserted), Changed: int(updated), Unchanged: len(rows) - int(inserted) - int(updated)}
		return nil
	})
	if err != nil {
		return ImportCounts{}, fmt.Errorf("store: import %d municipalities: %w", len(ms), err)
	}
	s.log.Info("imported municipalities",
		zap.Int("new", counts.New), zap.Int("changed", counts.Changed), zap.Int("unchanged", counts.Unchanged))
	return counts, nil
}

// Municipality returns the register entry for ars with its profile and whether a framework
// agreement is on file, or an error wrapping ErrNotFound.
func (s *Store) Municipality(ctx context.Context, ars domain.ARS) (domain.Municipality, error) {
	m, err := scanMunicipality(s.pool.QueryRow(ctx, municipalitySQL, string(ars)))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Municipality{}, fmt.Errorf("store: load municipality %s: %w", ars, ErrNotFound)
	}
	if err != nil {
		return domain.Municipality{}, fmt.Errorf("store: load municipality %s: %w", ars, err)
	}
	return m, nil
}

// Municipalities returns one page of municipalities in ARS order. Paging is by keyset
// (next is the last ARS of the page), so pages stay stable and cheap however deep the
// caller goes; next is "" on the last page.
func (s *Store) Municipalities(ctx context.Context, f MunicipalityFilter) ([]domain.Municipality, string, error) {
	limit, err := checkLimit(f.Limit)
	if err != nil {
		return nil, "", err
	}
	query, args := municipalitiesSQL(f, limit)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("store: list municipalities: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Municipality, error) {
		return scanMunicipality(row)
	})
	if err != nil {
		return nil, "", fmt.Errorf("store: list municipalities: %w", err)
	}
	var next string
	if len(items) > limit {
		items = items[:limit]
		next = string(items[limit-1].ARS)
	}
	return items, next, nil
}

// SetProfile records which Fachverfahren and transport routes the municipality runs,
// replacing what was known before; the pre-check of every later roll-in reads it.
func (s *Store) SetProfile(ctx context.Context, ars domain.ARS, fachverfahren []string, transports []domain.Transport) error {
	for _, t := range transports {
		if !t.Valid() {
			return fmt.Errorf("store: set profile of %s: unknown transport %q: %w", ars, t, ErrInvalid)
		}
	}
	_, err := s.pool.Exec(ctx, upsertProfileSQL, string(ars), nonNil(fachverfahren), transportStrings(transports))
	if hasCode(err, codeForeignKey) {
		return fmt.Errorf("store: set profile of %s: municipality %w", ars, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: set profile of %s: %w", ars, err)
	}
	return nil
}

// RecordFrameworkAgreement notes that the municipality signed its Rahmenvereinbarung, so
// that its later roll-ins skip that signature. It is idempotent: the first record stays,
// so a retried activity cannot change who signed or when.
func (s *Store) RecordFrameworkAgreement(ctx context.Context, ars domain.ARS, signedBy string, at time.Time) error {
	if signedBy == "" {
		return fmt.Errorf("store: record framework agreement of %s: signer is empty: %w", ars, ErrInvalid)
	}
	if at.IsZero() {
		return fmt.Errorf("store: record framework agreement of %s: signing time is zero: %w", ars, ErrInvalid)
	}
	_, err := s.pool.Exec(ctx, recordAgreementSQL, string(ars), signedBy, at)
	if hasCode(err, codeForeignKey) {
		return fmt.Errorf("store: record framework agreement of %s: municipality %w", ars, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: record framework agreement of %s: %w", ars, err)
	}
	return nil
}

func scanMunicipality(row pgx.Row) (domain.Municipality, error) {
	var (
		m          domain.Municipality
		ars        string
		transports []string
	)
	err := row.Scan(&ars, &m.Name, &m.Land, &m.Kreis, &m.KreisName, &m.Population,
		&m.Fachverfahren, &transports, &m.FrameworkAgreement)
	if err != nil {
		return domain.Municipality{}, err
	}
	m.ARS = domain.ARS(ars)
	m.Transports = toTransports(transports)
	return m, nil
}
