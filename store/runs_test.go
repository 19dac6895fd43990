package store_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
)

const (
	gewerbe  domain.ServiceKey = "99050012104000"
	wohngeld domain.ServiceKey = "99107023037000"
)

// planSteps is a step plan deliberately not in alphabetical order, so that a store
// ordering by name instead of position would fail.
func planSteps(minute int) []domain.StepStatus {
	steps := []struct {
		name  string
		stage domain.Stage
	}{
		{"precheck", domain.StagePruefung},
		{"framework_agreement", domain.StageVereinbarung},
		{"calloff", domain.StageVereinbarung},
		{"questionnaire", domain.StageAnbindung},
		{"destination", domain.StageAnbindung},
		{"test_submission", domain.StageTest},
		{"golive", domain.StageGoLive},
	}
	out := make([]domain.StepStatus, len(steps))
	for i, s := range steps {
		out[i] = domain.StepStatus{Name: s.name, Stage: s.stage, State: domain.StepPending, UpdatedAt: ts(minute)}
	}
	return out
}

// snapshot builds the snapshot a roll-in of service into ars writes at transition seq.
func snapshot(ars domain.ARS, service domain.ServiceKey, seq int64, state domain.RunState, stage domain.Stage) domain.RunSnapshot {
	id := domain.RunID(ars, service)
	st := domain.RunStatus{
		ID: id, ARS: ars, Service: service, State: state, Stage: stage,
		Steps: planSteps(int(seq)), CreatedAt: ts(0), UpdatedAt: ts(int(seq)), Seq: seq,
	}
	return domain.RunSnapshot{Status: st, Events: []domain.AuditEvent{{
		RunID: id, Seq: seq, At: ts(int(seq)), Actor: "rollin", Role: domain.RoleSystem,
		Action: fmt.Sprintf("transition-%d", seq), Step: "precheck",
	}}}
}

func TestApplySnapshotIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const ars = domain.ARS("055150000000")
	id := domain.RunID(ars, gewerbe)

	// seq 1: started, two events.
	s1 := snapshot(ars, gewerbe, 1, domain.RunRunning, domain.StagePruefung)
	s1.Events = append(s1.Events, domain.AuditEvent{RunID: id, Seq: 2, At: ts(1), Actor: "pm@example.org",
		Role: domain.RolePM, Action: "start", Detail: "Kampagne Münster"})
	s1.Status.Steps[0].State = domain.StepRunning
	require.NoError(t, b.store.ApplySnapshot(b.ctx, s1))
	// The same snapshot again (a retried activity): one set of audit rows.
	require.NoError(t, b.store.ApplySnapshot(b.ctx, s1))

	audit, err := b.store.Audit(b.ctx, id)
	require.NoError(t, err)
	require.Len(t, audit, 2)

	run, err := b.store.Run(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, s1.Status, run)
	require.Nil(t, run.WaitingFor)

	// seq 5: waiting on the municipality, steps advanced.
	s5 := snapshot(ars, gewerbe, 5, domain.RunWaiting, domain.StageVereinbarung)
	s5.Status.WaitingFor = &domain.WaitingFor{Action: "sign_framework_agreement", Role: domain.RoleMunicipality,
		Step: "framework_agreement", Note: "Rahmenvereinbarung fehlt"}
	s5.Status.Steps[0].State, s5.Status.Steps[0].Attempts = domain.StepDone, 1
	s5.Status.Steps[1].State = domain.StepWaiting
	s5.Status.Steps[1].LastError = "Erinnerung gesendet"
	s5.Status.Steps = s5.Status.Steps[:6] // the plan may shrink: no go-live step stored any more
	require.NoError(t, b.store.ApplySnapshot(b.ctx, s5))

	run, err = b.store.Run(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, s5.Status, run, "steps in plan order, WaitingFor set")

	// seq 3 arrives late: status and steps stay at seq 5, its event is still appended.
	s3 := snapshot(ars, gewerbe, 3, domain.RunIncident, domain.StageAnbindung)
	s3.Status.Steps = s3.Status.Steps[:2]
	require.NoError(t, b.store.ApplySnapshot(b.ctx, s3))
	// And seq 5 repeated with a different body changes nothing either.
	s5again := s5
	s5again.Status.State = domain.RunLive
	s5again.Events = nil
	require.NoError(t, b.store.ApplySnapshot(b.ctx, s5again))

	run, err = b.store.Run(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, s5.Status, run)

	audit, err = b.store.Audit(b.ctx, id)
	require.NoError(t, err)
	seqs := make([]int64, len(audit))
	for i, e := range audit {
		seqs[i] = e.Seq
	}
	require.Equal(t, []int64{1, 2, 3, 5}, seqs, "ordered by seq, each once")
	require.Equal(t, domain.AuditEvent{RunID: id, Seq: 2, At: ts(1), Actor: "pm@example.org",
		Role: domain.RolePM, Action: "start", Detail: "Kampagne Münster"}, audit[1])

	// Leaving the wait clears WaitingFor; a final state keeps its reason.
	s9 := snapshot(ars, gewerbe, 9, domain.RunCancelled, domain.StageVereinbarung)
	s9.Status.Reason = "Kommune hat abgesagt"
	s9.Status.Steps = nil
	require.NoError(t, b.store.ApplySnapshot(b.ctx, s9))
	run, err = b.store.Run(b.ctx, id)
	require.NoError(t, err)
	require.Nil(t, run.WaitingFor)
	require.Nil(t, run.Steps)
	require.Equal(t, "Kommune hat abgesagt", run.Reason)
	require.Equal(t, ts(0), run.CreatedAt, "created_at keeps its first value")
}

func TestAuditIsAppendOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	snap := snapshot("055150000000", gewerbe, 1, domain.RunRunning, domain.StagePruefung)
	require.NoError(t, b.store.ApplySnapshot(b.ctx, snap))

	for _, sql := range []string{
		"UPDATE audit_events SET actor = 'mallory'",
		"DELETE FROM audit_events",
		"TRUNCATE audit_events",
	} {
		_, err := b.store.Pool().Exec(b.ctx, sql)
		require.ErrorContains(t, err, "append-only", sql)
	}
	audit, err := b.store.Audit(b.ctx, snap.Status.ID)
	require.NoError(t, err)
	require.Equal(t, snap.Events, audit)
}

func TestApplySnapshotErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	valid := func() domain.RunSnapshot {
		return snapshot("055150000000", gewerbe, 1, domain.RunRunning, domain.StagePruefung)
	}
	tests := []struct {
		name   string
		mutate func(*domain.RunSnapshot)
		want   string
	}{
		{"no id", func(s *domain.RunSnapshot) { s.Status.ID = "" }, "run ID is empty"},
		{"bad ARS", func(s *domain.RunSnapshot) { s.Status.ARS = "05" }, "ARS"},
		{"bad service", func(s *domain.RunSnapshot) { s.Status.Service = "123" }, "Leistungsschlüssel"},
		{"foreign event", func(s *domain.RunSnapshot) { s.Events[0].RunID = "rollin/x/y" }, "belongs to run rollin/x/y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := valid()
			tt.mutate(&snap)
			err := b.store.ApplySnapshot(b.ctx, snap)
			require.ErrorIs(t, err, store.ErrInvalid)
			require.ErrorContains(t, err, tt.want)
		})
	}
	_, err := b.store.Run(b.ctx, valid().Status.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "nothing was written")

	audit, err := b.store.Audit(b.ctx, "rollin/unknown")
	require.NoError(t, err)
	require.Empty(t, audit)
}

func TestRunsFiltersAndPaging(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// 2 services × 6 municipalities in NRW (two Kreise) and Bavaria; every third waiting.
	arss := []domain.ARS{
		"055150000000", "055660008008", "055660004004", // Münster; Kreis Steinfurt
		"091620000000", "091840119119", "091840121121", // München; Landkreis München
	}
	var all []string
	n := 0
	for _, ars := range arss {
		for _, svc := range []domain.ServiceKey{gewerbe, wohngeld} {
			state, stage := domain.RunRunning, domain.StageAnbindung
			if n%3 == 0 {
				state, stage = domain.RunWaiting, domain.StageVereinbarung
			}
			n++
			snap := snapshot(ars, svc, 1, state, stage)
			if state == domain.RunWaiting {
				snap.Status.WaitingFor = &domain.WaitingFor{Action: "sign_calloff", Role: domain.RoleMunicipality, Step: "calloff"}
			}
			require.NoError(t, b.store.ApplySnapshot(b.ctx, snap))
			all = append(all, snap.Status.ID)
		}
	}
	slices.Sort(all)

	tests := []struct {
		name   string
		filter store.RunFilter
		want   func(id string, st domain.RunStatus) bool
		count  int
	}{
		{"all", store.RunFilter{}, func(string, domain.RunStatus) bool { return true }, 12},
		{"state", store.RunFilter{State: "waiting"}, func(_ string, st domain.RunStatus) bool { return st.State == domain.RunWaiting }, 4},
		{"stage", store.RunFilter{Stage: "anbindung"}, func(_ string, st domain.RunStatus) bool { return st.Stage == domain.StageAnbindung }, 8},
		{"service", store.RunFilter{Service: string(wohngeld)}, func(_ string, st domain.RunStatus) bool { return st.Service == wohngeld }, 6},
		{"land", store.RunFilter{Land: "09"}, func(_ string, st domain.RunStatus) bool { return st.ARS.Land() == "09" }, 6},
		{"kreis", store.RunFilter{Kreis: "05566"}, func(_ string, st domain.RunStatus) bool { return st.ARS.Kreis() == "05566" }, 4},
		{"ars", store.RunFilter{ARS: "091620000000"}, func(_ string, st domain.RunStatus) bool { return st.ARS == "091620000000" }, 2},
		{"combined", store.RunFilter{Land: "05", Service: string(gewerbe), State: "running"},
			func(_ string, st domain.RunStatus) bool {
				return st.ARS.Land() == "05" && st.Service == gewerbe && st.State == domain.RunRunning
			}, 2},
		{"step", store.RunFilter{Step: "calloff"}, func(_ string, st domain.RunStatus) bool {
			return st.WaitingFor != nil && st.WaitingFor.Step == "calloff"
		}, 4},
		{"step and service", store.RunFilter{Step: "calloff", Service: string(gewerbe)}, func(_ string, st domain.RunStatus) bool {
			return st.WaitingFor != nil && st.WaitingFor.Step == "calloff" && st.Service == gewerbe
		}, 2},
		{"nothing", store.RunFilter{State: "live"}, func(string, domain.RunStatus) bool { return false }, 0},
		{"no run on the step", store.RunFilter{Step: "tenant"}, func(string, domain.RunStatus) bool { return false }, 0},
	}
	for _, tt := range tests {
		for _, limit := range []int{1, 2, 5, 1000} {
			t.Run(fmt.Sprintf("%s/limit %d", tt.name, limit), func(t *testing.T) {
				f := tt.filter
				f.Limit = limit
				var got []string
				for page := 0; ; page++ {
					require.Less(t, page, 100, "paging does not end")
					items, next, err := b.store.Runs(b.ctx, f)
					require.NoError(t, err)
					require.LessOrEqual(t, len(items), limit)
					for _, it := range items {
						require.True(t, tt.want(it.ID, it), "%s does not match the filter", it.ID)
						require.Nil(t, it.Steps, "lists carry no steps")
						got = append(got, it.ID)
					}
					if next == "" {
						break
					}
					f.Cursor = next
				}
				require.Len(t, got, tt.count)
				var want []string
				for _, id := range all {
					if st, err := b.store.Run(b.ctx, id); err == nil && tt.want(id, st) {
						want = append(want, id)
					}
				}
				require.Equal(t, want, got, "in id order, no duplicates, no gaps")
			})
		}
	}

	// Lists show what a run waits on, and nothing for a run that does not wait.
	items, _, err := b.store.Runs(b.ctx, store.RunFilter{State: "waiting"})
	require.NoError(t, err)
	require.Len(t, items, 4)
	for _, it := range items {
		require.Equal(t, &domain.WaitingFor{Action: "sign_calloff", Role: domain.RoleMunicipality, Step: "calloff"}, it.WaitingFor)
	}
	items, _, err = b.store.Runs(b.ctx, store.RunFilter{State: "running"})
	require.NoError(t, err)
	require.Len(t, items, 8)
	for _, it := range items {
		require.Nil(t, it.WaitingFor)
	}

	for _, limit := range []int{-5, 1001} {
		_, _, err := b.store.Runs(b.ctx, store.RunFilter{Limit: limit})
		require.ErrorIs(t, err, store.ErrInvalid)
		require.ErrorContains(t, err, "limit")
	}
}

func TestRunNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.store.Run(b.ctx, "rollin/055150000000/99050012104000")
	require.ErrorIs(t, err, store.ErrNotFound)
}
