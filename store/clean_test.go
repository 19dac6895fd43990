package store_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
)

// TestApplySnapshotCleansText writes a transition whose free text PostgreSQL would refuse
// (NUL, invalid UTF-8) or a page would garble (control characters): it must be written,
// cleaned, never refused, or the workflow retrying the write would wait on it for ever.
func TestApplySnapshotCleansText(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const ars = domain.ARS("055150000000")
	dirty := "a\x00b\xffc\x1bd"
	const clean = "ab\uFFFDcd"
	snap := snapshot(ars, gewerbe, 1, domain.RunIncident, domain.StageAnbindung)
	snap.Status.Reason = dirty
	snap.Status.WaitingFor = &domain.WaitingFor{Action: "retry-step", Role: domain.RoleOperator, Step: "tenant", Note: dirty}
	snap.Status.Steps[0].LastError = "HTTP 500: " + dirty + strings.Repeat("x", 40000)
	e := &snap.Events[0]
	e.Actor, e.Reason, e.Detail, e.Worker = dirty, dirty, dirty, dirty
	require.NoError(t, b.store.ApplySnapshot(b.ctx, snap))
	require.Equal(t, "a\x00b\xffc\x1bd", dirty, "the caller's snapshot is not changed")

	st, err := b.store.Run(b.ctx, snap.Status.ID)
	require.NoError(t, err)
	require.Equal(t, clean, st.Reason)
	require.Equal(t, clean, st.WaitingFor.Note)
	require.True(t, strings.HasPrefix(st.Steps[0].LastError, "HTTP 500: "+clean))
	require.Less(t, len([]rune(st.Steps[0].LastError)), 20000, "an error body is cut")
	audit, err := b.store.Audit(b.ctx, snap.Status.ID)
	require.NoError(t, err)
	require.Len(t, audit, 1)
	require.Equal(t, []string{clean, clean, clean, clean}, []string{audit[0].Actor, audit[0].Reason, audit[0].Detail, audit[0].Worker})
}

// TestApplyCampaignCleansText: a campaign's reason and creator are cleaned likewise.
func TestApplyCampaignCleansText(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := domain.Campaign{ID: "99107023037000-land-05", Service: wohngeld, Selector: "land 05", State: domain.CampaignCancelled,
		Total: 1, CreatedBy: "pm\x00", Reason: "weil\x00\xff", CreatedAt: ts(0), UpdatedAt: ts(0), Seq: 1}
	require.NoError(t, b.store.ApplyCampaign(b.ctx, c))
	p, err := b.store.Campaign(b.ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, "weil\uFFFD", p.Reason)
	require.Equal(t, "pm", p.CreatedBy)
}
