package activities

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/observability"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/store/storetest"
	"github.com/rollin-efa/rollin/workflows"
)

// TestPersistRunObservesSteps writes the snapshots of a step that runs and ends and of one
// that becomes an incident, and reads the step duration, the incident and its log entry.
func TestPersistRunObservesSteps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.NewDatabase(t), zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(st.Close)
	core, logs := observer.New(zapcore.InfoLevel)
	m := observability.NewMetrics()
	a := &Activities{Store: st, Metrics: m, Log: zap.New(core)}

	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	snap := func(seq int64, tenant, dpa domain.StepState, at time.Time, events ...domain.AuditEvent) domain.RunSnapshot {
		return domain.RunSnapshot{Status: domain.RunStatus{
			ID: "rollin/055150000000/99107023037000", ARS: "055150000000", Service: "99107023037000",
			State: domain.RunRunning, Stage: domain.StageAnbindung, Seq: seq, CreatedAt: t0, UpdatedAt: at,
			Steps: []domain.StepStatus{
				{Name: "tenant", Stage: domain.StageAnbindung, State: tenant, UpdatedAt: at},
				{Name: "payment", Stage: domain.StageAnbindung, State: dpa, UpdatedAt: at, LastError: "state: 503"},
			},
		}, Events: events}
	}
	ev := func(seq int64, action, step string) domain.AuditEvent {
		return domain.AuditEvent{Seq: seq, At: t0, Actor: "rollin", Role: domain.RoleSystem, Action: action, Step: step}
	}
	require.NoError(t, a.PersistRun(ctx, snap(1, domain.StepRunning, domain.StepPending, t0, ev(1, "start", ""))))
	require.NoError(t, a.PersistRun(ctx, snap(2, domain.StepDone, domain.StepPending, t0.Add(3*time.Second), ev(2, "step-done", "tenant"))))
	require.NoError(t, a.PersistRun(ctx, snap(3, domain.StepDone, domain.StepRunning, t0.Add(4*time.Second))))
	require.NoError(t, a.PersistRun(ctx, snap(4, domain.StepDone, domain.StepFailed, t0.Add(9*time.Second), ev(3, "incident", "payment"))))

	counts, err := st.CountRunsByState(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"running": 1}, counts)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	out := rec.Body.String()
	require.Contains(t, out, `rollin_step_duration_seconds_count{outcome="done",step="tenant"} 1`)
	require.Contains(t, out, `rollin_step_duration_seconds_sum{outcome="done",step="tenant"} 3`)
	require.Contains(t, out, `rollin_incidents_total{step="payment"} 1`)

	incidents := logs.FilterMessage("incident").All()
	require.Len(t, incidents, 1)
	fields := incidents[0].ContextMap()
	require.Equal(t, "055150000000", fields["ars"])
	require.Equal(t, "99107023037000", fields["service"])
	require.Equal(t, "payment", fields["step"])
}

// TestLoggedCallCarriesRunFields runs a failing external-call activity in the SDK's test
// environment and reads the fields of its log entry.
func TestLoggedCallCarriesRunFields(t *testing.T) {
	t.Parallel()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	core, logs := observer.New(zapcore.InfoLevel)
	a := &Activities{Log: zap.New(core)}
	env.RegisterActivityWithOptions(a.logged(func(context.Context, workflows.CallInput) (workflows.CallResult, error) {
		return workflows.CallResult{}, errors.New("provider: 503")
	}), activity.RegisterOptions{Name: workflows.ActivityCreateTenant})
	in := workflows.CallInput{Step: "tenant", Context: workflows.RunContext{
		Service: domain.Service{Key: "99107023037000"}, Municipality: domain.Municipality{ARS: "055150000000"},
	}}
	_, err := env.ExecuteActivity(workflows.ActivityCreateTenant, in)
	require.Error(t, err)
	entries := logs.FilterMessage("external call failed").All()
	require.Len(t, entries, 1)
	f := entries[0].ContextMap()
	for _, k := range []string{"workflow_id", "run_id"} {
		require.NotEmpty(t, f[k], k)
	}
	require.Equal(t, workflows.ActivityCreateTenant, f["activity"])
	require.Equal(t, "055150000000", f["ars"])
	require.Equal(t, "99107023037000", f["service"])
	require.Equal(t, "tenant", f["step"])
	require.Equal(t, "provider: 503", f["error"])
}
