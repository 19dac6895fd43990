package workflows

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rollin-efa/rollin/domain"
)

// oldBudget is how long a read-model write was retried before ChangePersistForever: one
// StartToClose timeout of the local activity.
const oldBudget = 10 * time.Second

// TestRollInPersistOutlastsADatabaseOutage: the read model is down for minutes (far longer
// than the old budget) while the run has something to write. The write waits it out: the
// Update that caused it returns soon after the database is back, the read model then
// shows where the run stands, and the audit log has every event once, without gaps.
func TestRollInPersistOutlastsADatabaseOutage(t *testing.T) {
	t.Parallel()
	const outage = 5 * time.Minute
	tests := map[string]struct {
		// down is when the outage starts; the action sent during it is at 1h (the
		// framework agreement) or at 5h (the test confirmation, after which the run goes
		// live: the outage covers its last write).
		down   time.Duration
		action func(b *bundle) *outcome
		// check, at 30 minutes after the action, that the read model is current.
		wantStep string
	}{
		"during a human action": {
			down: time.Hour - time.Minute,
			action: func(b *bundle) *outcome {
				return b.act(time.Hour, ActionSignAgreement, ActionInput{Role: domain.RoleMunicipality})
			},
			wantStep: StepCallOff,
		},
		"over the final write": {
			down: 5*time.Hour - time.Minute,
			action: func(b *bundle) *outcome {
				return b.act(5*time.Hour, ActionConfirmTest, ActionInput{Role: domain.RoleMunicipality, Data: json.RawMessage(`{"received":true}`)})
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t, municipality())
			start := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
			b.env.SetStartTime(start)
			b.env.RegisterDelayedCallback(func() { b.fakes.setDown(true) }, tc.down)
			b.env.RegisterDelayedCallback(func() { b.fakes.setDown(false) }, tc.down+outage)
			muni := ActionInput{Role: domain.RoleMunicipality}
			var during *outcome
			if tc.down < 2*time.Hour {
				during = tc.action(b)
			} else {
				b.act(time.Hour, ActionSignAgreement, muni)
			}
			b.act(2*time.Hour, ActionSignAgreement, muni)
			b.act(3*time.Hour, ActionCountersignAgreement, ActionInput{Role: domain.RolePM})
			b.act(4*time.Hour, ActionSubmitConnectionData, ActionInput{Role: domain.RoleMunicipality, Data: data(t, goodConnection)})
			if during == nil {
				during = tc.action(b)
			} else {
				b.act(5*time.Hour, ActionConfirmTest, ActionInput{Role: domain.RoleMunicipality, Data: json.RawMessage(`{"received":true}`)})
			}
			var midway domain.RunSnapshot
			b.env.RegisterDelayedCallback(func() {
				b.fakes.mu.Lock()
				defer b.fakes.mu.Unlock()
				midway = b.fakes.last
			}, tc.down+time.Minute+30*time.Minute)
			st := b.run()

			require.Equal(t, domain.RunLive, st.State)
			require.Positive(t, b.fakes.refused, "writes were refused during the outage")
			require.NoError(t, during.rejected)
			require.False(t, during.done.IsZero(), "the Update sent during the outage returned")
			returnedAfter := during.done.Sub(start)
			up := tc.down + outage
			require.GreaterOrEqual(t, returnedAfter, up, "the Update returned once its write was done, after the outage")
			require.Less(t, returnedAfter, up+persistPauseMax+persistRound, "and within one capped pause of the database's return")
			require.Greater(t, outage, oldBudget)
			if tc.wantStep != "" {
				require.NotNil(t, midway.Status.WaitingFor, "the read model shows the wait after the outage: %+v", midway.Status)
				require.Equal(t, tc.wantStep, midway.Status.WaitingFor.Step)
			}
			require.Equal(t, domain.RunLive, b.fakes.last.Status.State, "the final write reached the read model")
			require.Equal(t, st.Seq, b.fakes.last.Status.Seq)
			for i, e := range b.fakes.events {
				require.Equal(t, int64(i+1), e.Seq, "every audit event once, without gaps")
			}
		})
	}
}

// TestCampaignOutlastsADatabaseOutage: the read model is down from the campaign's first
// second for six minutes. The campaign waits with its members' record and its snapshots,
// never fails, and starts every roll-in once the database is back.
func TestCampaignOutlastsADatabaseOutage(t *testing.T) {
	t.Parallel()
	b := newCampaignBundle(t)
	b.setDown(true)
	b.env.RegisterDelayedCallback(func() { b.setDown(false) }, 6*time.Minute)
	b.env.ExecuteWorkflow(Campaign, CampaignInput{ID: "c-outage", Service: testService.Key, ARS: arsList(120), Rate: 10, Window: 50, StartedBy: "pm", Role: domain.RolePM})
	require.NoError(t, b.env.GetWorkflowError(), "a database outage does not fail a campaign")
	var out domain.Campaign
	require.NoError(t, b.env.GetWorkflowResult(&out))

	require.Positive(t, b.refused)
	require.Equal(t, domain.CampaignStarted, out.State)
	require.Equal(t, 120, out.Started)
	require.Len(t, b.members, 120)
	require.Len(t, b.started, 120)
	require.Equal(t, domain.CampaignStarted, b.last.State, "the read model has the final state")
	require.Equal(t, out.Seq, b.last.Seq)
}

// TestCampaignRecordedBeforePersistForeverGivesUp: a campaign whose history was recorded
// before ChangePersistForever replays as it ran: a failed write of its members ended it.
func TestCampaignRecordedBeforePersistForeverGivesUp(t *testing.T) {
	t.Parallel()
	b := newCampaignBundle(t)
	b.env.OnGetVersion(ChangePersistForever, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	b.setDown(true)
	b.env.ExecuteWorkflow(Campaign, CampaignInput{ID: "c-old", Service: testService.Key, ARS: arsList(10), StartedBy: "pm", Role: domain.RolePM})
	require.ErrorContains(t, b.env.GetWorkflowError(), "record campaign members")
}

// TestRollInActionIDBoundToActionAndActor: an action ID is used once, for one action by
// one actor with one content. The same ID for another action, by another actor or with
// other content is refused (another actor's use not described); only an identical repeat
// is accepted, and changes nothing.
func TestRollInActionIDBoundToActionAndActor(t *testing.T) {
	t.Parallel()
	b := newBundle(t, municipality())
	muni := func(actor string) ActionInput {
		return ActionInput{Role: domain.RoleMunicipality, ActionID: "x", Actor: actor}
	}
	first := b.act(time.Hour, ActionSignAgreement, muni("buergermeisterin"))
	otherAction := b.act(90*time.Minute, ActionCancel, ActionInput{Role: domain.RolePM, ActionID: "x", Actor: "buergermeisterin", Reason: "stop"})
	otherActor := b.act(100*time.Minute, ActionSignAgreement, muni("amtsleiter"))
	otherBoth := b.act(110*time.Minute, ActionCancel, ActionInput{Role: domain.RolePM, ActionID: "x", Actor: "pm-user", Reason: "stop"})
	otherContent := b.act(112*time.Minute, ActionSignAgreement, ActionInput{Role: domain.RoleMunicipality, ActionID: "x", Actor: "buergermeisterin", Reason: "changed"})
	repeat := b.act(115*time.Minute, ActionSignAgreement, muni("buergermeisterin"))
	b.act(2*time.Hour, ActionSignAgreement, ActionInput{Role: domain.RoleMunicipality, ActionID: "y", Actor: "amtsleiter"})
	b.act(3*time.Hour, ActionCountersignAgreement, ActionInput{Role: domain.RolePM})
	b.act(4*time.Hour, ActionSubmitConnectionData, ActionInput{Role: domain.RoleMunicipality, Data: data(t, goodConnection)})
	b.act(5*time.Hour, ActionConfirmTest, ActionInput{Role: domain.RoleMunicipality, Data: json.RawMessage(`{"received":true}`)})
	st := b.run()

	require.NoError(t, first.rejected)
	require.NoError(t, repeat.rejected, "an identical repeat is accepted")
	for name, tc := range map[string]struct {
		out  *outcome
		want string
	}{
		"another action":           {otherAction, "action_id x was already used for sign-agreement; choose a new action_id"},
		"another actor":            {otherActor, "action_id x is already used by someone else; choose a new action_id"},
		"another action and actor": {otherBoth, "action_id x is already used by someone else; choose a new action_id"},
		"other content":            {otherContent, "action_id x was already used for sign-agreement with other content; choose a new action_id"},
	} {
		var app *temporal.ApplicationError
		require.True(t, errors.As(tc.out.rejected, &app), "%s: %v", name, tc.out.rejected)
		require.Equal(t, ErrTypeNotAllowed, app.Type(), name)
		require.Equal(t, tc.want, app.Message(), name)
	}
	require.Equal(t, domain.RunLive, st.State, "the refused cancel did not cancel")
	signs := b.fakes.audit(ActionSignAgreement)
	require.Len(t, signs, 2, "framework agreement and call-off, each once")
	require.Equal(t, "buergermeisterin", signs[0].Actor)
	require.Equal(t, "amtsleiter", signs[1].Actor)
	require.Empty(t, b.fakes.audit(ActionCancel))
}

// TestUpdateIDBindsActionAndInput: the Update ID differs when the action or any part of
// its input does, and is stable for the same action and input (data compared as JSON).
func TestUpdateIDBindsActionAndInput(t *testing.T) {
	t.Parallel()
	in := ActionInput{ActionID: "x", Actor: "buergermeisterin", Role: domain.RoleMunicipality, Data: json.RawMessage(`{"received": true}`)}
	with := func(change func(*ActionInput)) ActionInput {
		c := in
		change(&c)
		return c
	}
	base := UpdateID(ActionConfirmTest, in)
	require.Equal(t, base, UpdateID(ActionConfirmTest, with(func(c *ActionInput) { c.Data = json.RawMessage(`{"received":true}`) })),
		"the same data with other white space")
	for name, other := range map[string]string{
		"action":    UpdateID(ActionCancel, in),
		"actor":     UpdateID(ActionConfirmTest, with(func(c *ActionInput) { c.Actor = "amtsleiter" })),
		"action ID": UpdateID(ActionConfirmTest, with(func(c *ActionInput) { c.ActionID = "y" })),
		"reason":    UpdateID(ActionConfirmTest, with(func(c *ActionInput) { c.Reason = "r" })),
		"step":      UpdateID(ActionConfirmTest, with(func(c *ActionInput) { c.Step = StepTestConfirmation })),
		"data":      UpdateID(ActionConfirmTest, with(func(c *ActionInput) { c.Data = json.RawMessage(`{"received":false}`) })),
		"shifted":   UpdateID(ActionConfirmTest, with(func(c *ActionInput) { c.Actor, c.ActionID = "buergermeisterin\x00x", "" })),
	} {
		require.NotEqual(t, base, other, name)
	}
}
