package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/rollin-efa/rollin/domain"
)

// ApplyCampaign writes a campaign's snapshot; a snapshot not newer than the stored one
// (by Seq) changes nothing, so the campaign workflow may repeat the write. Its free text
// is cleaned as ApplySnapshot's is.
func (s *Store) ApplyCampaign(ctx context.Context, c domain.Campaign) error {
	if c.ID == "" {
		return fmt.Errorf("store: apply campaign: ID is empty: %w", ErrInvalid)
	}
	c = cleanCampaign(c)
	_, err := s.pool.Exec(ctx, upsertCampaignSQL, c.ID, string(c.Service), c.Selector, string(c.State),
		c.Total, c.Started, c.Existing, c.Failed, c.Reason, c.CreatedBy, c.CreatedAt, c.UpdatedAt, c.Seq, string(c.Organisation))
	if err != nil {
		return fmt.Errorf("store: apply campaign %s seq %d: %w", c.ID, c.Seq, err)
	}
	return nil
}

// AddCampaignRuns records which runs a campaign covers, before it starts them, so that
// its progress counts them from the first moment. Adding a run twice stores it once.
func (s *Store) AddCampaignRuns(ctx context.Context, campaignID string, runIDs []string) error {
	if _, err := s.pool.Exec(ctx, addCampaignRunsSQL, campaignID, runIDs); err != nil {
		return fmt.Errorf("store: add %d runs to campaign %s: %w", len(runIDs), campaignID, err)
	}
	return nil
}

// Campaign returns a campaign with its roll-ins counted by state and stage.
func (s *Store) Campaign(ctx context.Context, id string) (domain.CampaignProgress, error) {
	var (
		p              domain.CampaignProgress
		service, state string
	)
	err := s.pool.QueryRow(ctx, campaignSQL, id).Scan(&p.ID, &service, &p.Selector, &state, &p.Total,
		&p.Started, &p.Existing, &p.Failed, &p.Reason, &p.CreatedBy, &p.CreatedAt, &p.UpdatedAt, &p.Seq, &p.Organisation)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.CampaignProgress{}, fmt.Errorf("store: campaign %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return domain.CampaignProgress{}, fmt.Errorf("store: campaign %s: %w", id, err)
	}
	p.Service, p.State = domain.ServiceKey(service), domain.CampaignState(state)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	p.Runs, p.Stages = map[string]int{}, map[domain.Stage]int{}
	rows, err := s.pool.Query(ctx, campaignRunCountsSQL, id)
	if err != nil {
		return domain.CampaignProgress{}, fmt.Errorf("store: count runs of campaign %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var runState, stage string
		var n int
		if err := rows.Scan(&runState, &stage, &n); err != nil {
			return domain.CampaignProgress{}, fmt.Errorf("store: count runs of campaign %s: %w", id, err)
		}
		p.Runs[runState] += n
		if stage != "" && !domain.RunState(runState).Final() {
			p.Stages[domain.Stage(stage)] += n
		}
	}
	if err := rows.Err(); err != nil {
		return domain.CampaignProgress{}, fmt.Errorf("store: count runs of campaign %s: %w", id, err)
	}
	return p, nil
}
