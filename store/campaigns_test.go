package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
)

func TestCampaignProgress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := domain.Campaign{ID: "99107023037000-land-05", Service: wohngeld, Selector: "land 05", State: domain.CampaignStarting,
		Total: 3, CreatedBy: "pm", CreatedAt: ts(0), UpdatedAt: ts(0), Seq: 1}
	require.NoError(t, b.store.ApplyCampaign(b.ctx, c))

	members := []domain.ARS{"055150000000", "053150000000", "051110000000"}
	var ids []string
	for _, a := range members {
		ids = append(ids, domain.RunID(a, wohngeld))
	}
	require.NoError(t, b.store.AddCampaignRuns(b.ctx, c.ID, ids))
	require.NoError(t, b.store.AddCampaignRuns(b.ctx, c.ID, ids[:1]), "adding a member twice keeps one")

	// Two runs have written their status; the third has not yet.
	require.NoError(t, b.store.ApplySnapshot(b.ctx, snapshot(members[0], wohngeld, 1, domain.RunLive, domain.StageGoLive)))
	require.NoError(t, b.store.ApplySnapshot(b.ctx, snapshot(members[1], wohngeld, 1, domain.RunWaiting, domain.StageVereinbarung)))

	newer := c
	newer.State, newer.Started, newer.Existing, newer.Seq, newer.UpdatedAt = domain.CampaignStarted, 2, 1, 3, ts(5)
	require.NoError(t, b.store.ApplyCampaign(b.ctx, newer))
	stale := c
	stale.Seq = 2
	require.NoError(t, b.store.ApplyCampaign(b.ctx, stale), "an older snapshot is ignored, not an error")

	p, err := b.store.Campaign(b.ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, domain.CampaignStarted, p.State)
	require.Equal(t, 2, p.Started)
	require.Equal(t, 1, p.Existing)
	require.Equal(t, int64(3), p.Seq)
	require.Equal(t, map[string]int{"live": 1, "waiting": 1, "pending": 1}, p.Runs)
	require.Equal(t, map[domain.Stage]int{domain.StageVereinbarung: 1}, p.Stages, "final runs are not counted by stage")

	_, err = b.store.Campaign(b.ctx, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)
}

// TestCampaignCountsOnlyItsOrganisationsRuns: a campaign of organisation B covering a
// municipality that organisation A rolls in already does not show A's run in its counts
// (its state and stage are A's business); B's own runs and members not yet written are
// counted as before.
func TestCampaignCountsOnlyItsOrganisationsRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := domain.Campaign{ID: "itvsh-99107023037000-kreis-05515", Service: wohngeld, Organisation: "itvsh", Selector: "kreis 05515",
		State: domain.CampaignStarted, Total: 3, Started: 2, Existing: 1, CreatedBy: "pm-b", CreatedAt: ts(0), UpdatedAt: ts(0), Seq: 1}
	require.NoError(t, b.store.ApplyCampaign(b.ctx, c))
	members := []domain.ARS{"055150000000", "053150000000", "051110000000"}
	var ids []string
	for _, a := range members {
		ids = append(ids, domain.RunID(a, wohngeld))
	}
	require.NoError(t, b.store.AddCampaignRuns(b.ctx, c.ID, ids))

	foreign := snapshot(members[0], wohngeld, 1, domain.RunLive, domain.StageGoLive) // organisation A's, started first
	foreign.Status.Organisation = "d-nrw"
	require.NoError(t, b.store.ApplySnapshot(b.ctx, foreign))
	own := snapshot(members[1], wohngeld, 1, domain.RunWaiting, domain.StageVereinbarung)
	own.Status.Organisation = "itvsh"
	require.NoError(t, b.store.ApplySnapshot(b.ctx, own))

	p, err := b.store.Campaign(b.ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"waiting": 1, "pending": 1}, p.Runs, "the other organisation's live run is not counted")
	require.Equal(t, map[domain.Stage]int{domain.StageVereinbarung: 1}, p.Stages)
}
