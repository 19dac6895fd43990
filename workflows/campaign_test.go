package workflows

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/rollin-efa/rollin/domain"
)

// campaignBundle runs the campaign workflow with a stand-in roll-in that ends at once.
type campaignBundle struct {
	t       *testing.T
	env     *testsuite.TestWorkflowEnvironment
	mu      sync.Mutex
	members map[string]bool
	last    domain.Campaign
	states  []domain.CampaignState
	started []time.Time
	// down makes every read-model write fail, as during a database outage; refused
	// counts the writes refused so.
	down    bool
	refused int
}

// setDown starts or ends the simulated database outage.
func (b *campaignBundle) setDown(down bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.down = down
}

// refuse reports whether the database is down, counting the refused write; b.mu is held.
func (b *campaignBundle) refuse() error {
	if !b.down {
		return nil
	}
	b.refused++
	return errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
}

func newCampaignBundle(t *testing.T) *campaignBundle {
	var suite testsuite.WorkflowTestSuite
	b := &campaignBundle{t: t, env: suite.NewTestWorkflowEnvironment(), members: map[string]bool{}}
	b.env.RegisterWorkflowWithOptions(Campaign, workflow.RegisterOptions{Name: WorkflowCampaign})
	b.env.RegisterWorkflowWithOptions(func(ctx workflow.Context, in Input) (domain.RunStatus, error) {
		b.mu.Lock()
		b.started = append(b.started, workflow.Now(ctx))
		b.mu.Unlock()
		return domain.RunStatus{State: domain.RunLive}, nil
	}, workflow.RegisterOptions{Name: WorkflowRollIn})
	b.env.RegisterActivityWithOptions(func(_ context.Context, c domain.Campaign) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		if err := b.refuse(); err != nil {
			return err
		}
		if c.Seq > b.last.Seq {
			b.last = c
		}
		b.states = append(b.states, c.State)
		return nil
	}, activity.RegisterOptions{Name: ActivityApplyCampaign})
	b.env.RegisterActivityWithOptions(func(_ context.Context, id string, runs []string) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		if err := b.refuse(); err != nil {
			return err
		}
		for _, r := range runs {
			b.members[r] = true
		}
		return nil
	}, activity.RegisterOptions{Name: ActivityAddCampaignRuns})
	return b
}

func arsList(n int) []domain.ARS {
	out := make([]domain.ARS, n)
	for i := range out {
		out[i] = domain.ARS(fmt.Sprintf("05%010d", i+1))
	}
	return out
}

func (b *campaignBundle) update(at time.Duration, name string, in CampaignActionInput) *error {
	var rejected error
	b.env.RegisterDelayedCallback(func() {
		b.env.UpdateWorkflow(name, name+at.String(), &testsuite.TestUpdateCallback{
			OnReject: func(err error) { rejected = err }, OnAccept: func() {}, OnComplete: func(any, error) {},
		}, in)
	}, at)
	return &rejected
}

func TestCampaignPacesItsStarts(t *testing.T) {
	t.Parallel()
	b := newCampaignBundle(t)
	start := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	b.env.SetStartTime(start)
	b.env.ExecuteWorkflow(Campaign, CampaignInput{ID: "c1", Service: testService.Key, ARS: arsList(120), Rate: 10, Window: 50, StartedBy: "pm", Role: domain.RolePM})
	require.NoError(t, b.env.GetWorkflowError())
	var out domain.Campaign
	require.NoError(t, b.env.GetWorkflowResult(&out))

	require.Equal(t, domain.CampaignStarted, out.State)
	require.Equal(t, 120, out.Total)
	require.Equal(t, 120, out.Started)
	require.Len(t, b.members, 120)
	require.Equal(t, domain.CampaignStarted, b.last.State, "the read model has the final state")
	// 120 starts at 10/s: the last batch (of 20) begins after the first two batches' 5 s each.
	require.GreaterOrEqual(t, b.started[len(b.started)-1].Sub(start), 10*time.Second)
	require.GreaterOrEqual(t, b.env.Now().Sub(start), 12*time.Second)
}

func TestCampaignPauseResumeCancel(t *testing.T) {
	t.Parallel()
	b := newCampaignBundle(t)
	in := CampaignActionInput{Actor: "pm", Role: domain.RolePM}
	resumeEarly := b.update(500*time.Millisecond, CampaignResume, in)
	byOperator := b.update(1500*time.Millisecond, CampaignPause, CampaignActionInput{Actor: "op", Role: domain.RoleOperator})
	pause := b.update(2500*time.Millisecond, CampaignPause, in)
	pauseAgain := b.update(time.Minute, CampaignPause, in)
	resume := b.update(2*time.Minute, CampaignResume, in)
	noReason := b.update(2*time.Minute+500*time.Millisecond, CampaignCancel, in)
	cancel := b.update(2*time.Minute+2500*time.Millisecond, CampaignCancel, CampaignActionInput{Actor: "pm", Role: domain.RolePM, Reason: "Land stoppt"})
	b.env.ExecuteWorkflow(Campaign, CampaignInput{ID: "c2", Service: testService.Key, ARS: arsList(100), Rate: 10, Window: 10, StartedBy: "pm", Role: domain.RolePM})
	require.NoError(t, b.env.GetWorkflowError())
	var out domain.Campaign
	require.NoError(t, b.env.GetWorkflowResult(&out))

	require.ErrorContains(t, *resumeEarly, "not paused")
	require.ErrorContains(t, *byOperator, `role "operator" may not pause`)
	require.NoError(t, *pause)
	require.ErrorContains(t, *pauseAgain, "paused already")
	require.NoError(t, *resume)
	require.ErrorContains(t, *noReason, "reason: required")
	require.NoError(t, *cancel)
	require.Equal(t, domain.CampaignCancelled, out.State)
	require.Equal(t, "Land stoppt", out.Reason)
	require.Contains(t, b.states, domain.CampaignPaused)
	// 3 batches before the pause, about 3 after the resume, then the cancel stops it.
	require.Greater(t, out.Started, 30)
	require.Less(t, out.Started, 100)
	require.Equal(t, out.Started, len(b.started))
}

func TestCampaignContinuesAsNew(t *testing.T) {
	t.Parallel()
	b := newCampaignBundle(t)
	b.env.ExecuteWorkflow(Campaign, CampaignInput{ID: "c3", Service: testService.Key, ARS: arsList(startsPerRun + 50), Window: 250, StartedBy: "pm", Role: domain.RolePM})
	err := b.env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(err, &can), "after %d starts the campaign continues as new: %v", startsPerRun, err)
	require.Equal(t, startsPerRun, b.last.Started, "progress so far is in the read model and carried on")
	require.Equal(t, domain.CampaignStarting, b.last.State)
}
