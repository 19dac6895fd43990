package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/rollin-efa/rollin/domain"
)

var (
	testARS     = domain.ARS("055150000000") // Münster
	testService = domain.Service{
		Key: "99050012104000", Name: "Gewerbeanmeldung", Provider: "d-NRW",
		Fachverfahren: []string{"OK.GEWERBE", "VOIS|GESO"}, Transports: []domain.Transport{domain.TransportFITConnect, domain.TransportXTA},
		PaymentRequired: true, Lands: []string{"05", "09"},
	}
	goodConnection = ConnectionData{
		ContactEmail: "gewerbe@stadt-muenster.example", ContactAddress: "Klemensstraße 10, 48143 Münster",
		Fachverfahren: "OK.GEWERBE", OrgUnitID: "OE-4711",
		Transport: domain.TransportFITConnect, PaymentAccount: "DE89 3704 0044 0532 0130 00",
	}
)

// fakes stands in for the activities: it records every call and fails the calls it is told to.
type fakes struct {
	mu       sync.Mutex
	rc       RunContext
	calls    map[string][]CallInput
	failures map[string][]error // activity → errors to return on its next calls
	reject   bool               // the test submission ends rejected once
	last     domain.RunSnapshot
	events   []domain.AuditEvent
	// down makes every read-model write fail, as during a database outage; refused
	// counts the writes refused so.
	down    bool
	refused int
}

// setDown starts or ends the simulated database outage.
func (f *fakes) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakes) loadContext(_ context.Context, in LoadInput) (RunContext, error) {
	return f.rc, nil
}

func (f *fakes) persist(_ context.Context, snap domain.RunSnapshot) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		f.refused++
		return errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	}
	// As the store does: a snapshot only when newer, each audit event once (a write
	// repeated after a try that timed out brings the same events again).
	if snap.Status.Seq > f.last.Status.Seq {
		f.last = snap
	}
	for _, e := range snap.Events {
		if n := len(f.events); n == 0 || e.Seq > f.events[n-1].Seq {
			f.events = append(f.events, e)
		}
	}
	return nil
}

func (f *fakes) call(name string) func(context.Context, CallInput) (CallResult, error) {
	return func(ctx context.Context, in CallInput) (CallResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls[name] = append(f.calls[name], in)
		if errs := f.failures[name]; len(errs) > 0 {
			f.failures[name] = errs[1:]
			return CallResult{}, errs[0]
		}
		res := CallResult{Ref: fmt.Sprintf("%s-%d", strings.ToLower(name), len(f.calls[name])), Attempt: int(activity.GetInfo(ctx).Attempt)}
		if name == ActivityRunTestSubmission && f.reject {
			f.reject = false
			res.Rejected, res.Problem = true, "decryption failed"
		}
		return res, nil
	}
}

func (f *fakes) callCount(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls[name])
}

// notices returns the Notify calls of one kind (waiting, reminder, escalation).
func (f *fakes) notices(kind string) []CallInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []CallInput
	for _, c := range f.calls[ActivityNotify] {
		if c.Notice.Kind == kind {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakes) audit(action string) []domain.AuditEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []domain.AuditEvent
	for _, e := range f.events {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// notice returns the notice of the given kind sent about step.
func (f *fakes) notice(step, kind string) Notice {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls[ActivityNotify] {
		if c.Notice != nil && c.Notice.Step == step && c.Notice.Kind == kind {
			return *c.Notice
		}
	}
	return Notice{}
}

// bundle is one workflow test: the environment, the fakes and the actions to send.
type bundle struct {
	t     *testing.T
	env   *testsuite.TestWorkflowEnvironment
	fakes *fakes
	seq   int
}

func newBundle(t *testing.T, m domain.Municipality) *bundle {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	f := &fakes{rc: RunContext{Service: testService, Municipality: m}, calls: map[string][]CallInput{}, failures: map[string][]error{}}
	env.RegisterWorkflowWithOptions(RollIn, workflow.RegisterOptions{Name: WorkflowRollIn})
	env.RegisterActivityWithOptions(f.loadContext, activity.RegisterOptions{Name: ActivityLoadContext})
	env.RegisterActivityWithOptions(f.persist, activity.RegisterOptions{Name: ActivityPersistRun})
	for _, name := range []string{
		ActivityFileAgreement, ActivityEnsureDestination, ActivityCreatePortalLink, ActivityVerifyRouting,
		ActivityConfirmDVDV, ActivityConfigurePayment, ActivityCreateTenant, ActivityRunTestSubmission,
		ActivitySwitchToProduction, ActivityActivatePortalLink, ActivityAnnounce, ActivityNotify,
	} {
		env.RegisterActivityWithOptions(f.call(name), activity.RegisterOptions{Name: name})
	}
	return &bundle{t: t, env: env, fakes: f}
}

func municipality() domain.Municipality {
	return domain.Municipality{ARS: testARS, Name: "Münster, Stadt", Land: "05", Kreis: "05515"}
}

type outcome struct {
	rejected error
	status   domain.RunStatus
	// done is the workflow time the Update returned at (zero while it has not).
	done time.Time
}

// act sends an action at the given offset of workflow time and records what came back.
func (b *bundle) act(at time.Duration, action string, in ActionInput) *outcome {
	b.seq++
	if in.ActionID == "" {
		in.ActionID = fmt.Sprintf("a%d", b.seq)
	}
	if in.Actor == "" {
		in.Actor = string(in.Role) + "-user"
	}
	out := &outcome{}
	b.env.RegisterDelayedCallback(func() {
		b.env.UpdateWorkflow(action, UpdateID(action, in), &testsuite.TestUpdateCallback{
			OnReject: func(err error) { out.rejected = err },
			OnAccept: func() {},
			OnComplete: func(v any, err error) {
				out.done = b.env.Now()
				if err == nil {
					out.status = v.(domain.RunStatus)
				}
			},
		}, in)
	}, at)
	return out
}

func data(t *testing.T, v any) json.RawMessage {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return raw
}

// happyActions sends, an hour apart from start, every human action a run needs.
func (b *bundle) happyActions(start time.Duration) time.Duration {
	muni := ActionInput{Role: domain.RoleMunicipality}
	at := start
	next := func() time.Duration { at += time.Hour; return at }
	b.act(next(), ActionSignAgreement, muni) // framework agreement
	b.act(next(), ActionSignAgreement, muni) // call-off
	b.act(next(), ActionCountersignAgreement, ActionInput{Role: domain.RolePM})
	b.act(next(), ActionSubmitConnectionData, ActionInput{Role: domain.RoleMunicipality, Data: data(b.t, goodConnection)})
	b.act(next(), ActionConfirmTest, ActionInput{Role: domain.RoleMunicipality, Data: json.RawMessage(`{"received":true}`)})
	return at
}

func (b *bundle) run() domain.RunStatus {
	b.t.Helper()
	b.env.ExecuteWorkflow(RollIn, Input{ARS: testARS, Service: testService.Key, StartedBy: "pm-user", Role: domain.RolePM,
		Options: Options{CallAttempts: 2, RetryInitial: time.Second, RetryMax: time.Second}})
	require.True(b.t, b.env.IsWorkflowCompleted())
	require.NoError(b.t, b.env.GetWorkflowError())
	var st domain.RunStatus
	require.NoError(b.t, b.env.GetWorkflowResult(&st))
	return st
}

func stepStates(st domain.RunStatus) map[string]domain.StepState {
	m := map[string]domain.StepState{}
	for _, s := range st.Steps {
		m[s.Name] = s.State
	}
	return m
}

func TestRollInHappyPath(t *testing.T) {
	t.Parallel()
	b := newBundle(t, municipality())
	b.happyActions(0)
	st := b.run()

	require.Equal(t, domain.RunLive, st.State)
	require.Equal(t, domain.StageGoLive, st.Stage)
	require.Nil(t, st.WaitingFor)
	states := stepStates(st)
	for _, name := range []string{StepPrecheck, StepFrameworkAgreement, StepCallOff, StepCountersign, StepFileAgreement,
		StepConnectionData, StepDestination, StepPortalLink, StepRouting, StepPayment, StepTenant,
		StepTestSubmission, StepTestConfirmation, StepProductionSwitch, StepPortalLive, StepAnnouncement} {
		require.Equal(t, domain.StepDone, states[name], name)
	}
	require.Equal(t, domain.StepSkipped, states[StepDVDV], "XTA step is not needed for a FIT-Connect connection")
	require.Equal(t, domain.StepSkipped, states[StepActivationDate], "no Stichtag set")
	require.NotContains(t, states, StepDPA, "the Steckbrief asks for no DPA")

	// Every external call ran once, each with its own idempotency key.
	keys := map[string]bool{}
	for _, name := range []string{ActivityFileAgreement, ActivityEnsureDestination, ActivityCreatePortalLink, ActivityVerifyRouting,
		ActivityConfigurePayment, ActivityCreateTenant, ActivityRunTestSubmission, ActivitySwitchToProduction, ActivityActivatePortalLink, ActivityAnnounce} {
		require.Equal(t, 1, b.fakes.callCount(name), name)
		key := b.fakes.calls[name][0].IdempotencyKey
		require.False(t, keys[key], "idempotency key %s used twice", key)
		keys[key] = true
	}
	require.Empty(t, b.fakes.notices("reminder"), "nobody waited long enough to be reminded")
	waiting := b.fakes.notices("waiting")
	require.Len(t, waiting, 5, "each human step told its person once")
	require.Equal(t, domain.RolePM, waiting[2].Notice.Recipient)
	require.Equal(t, ActionCountersignAgreement, waiting[2].Notice.Action)
	require.Equal(t, StepCountersign, waiting[2].Notice.Step)

	// Later calls see what earlier ones created.
	tenantCall := b.fakes.calls[ActivityRunTestSubmission][0]
	require.Equal(t, "createtenant-1", tenantCall.Refs.TenantID)
	require.Equal(t, "ensuredestination-1", tenantCall.Refs.DestinationID)
	require.Equal(t, "municipality-user", b.fakes.calls[ActivityFileAgreement][0].Signatures.CallOff)
	require.Equal(t, "pm-user", b.fakes.calls[ActivityFileAgreement][0].Signatures.Countersigned)

	// The read model received the final state and a gap-free audit log.
	require.Equal(t, domain.RunLive, b.fakes.last.Status.State)
	for i, e := range b.fakes.events {
		require.Equal(t, int64(i+1), e.Seq)
	}
}

func TestRollInFrameworkAgreementOnFileIsNotSignedAgain(t *testing.T) {
	t.Parallel()
	m := municipality()
	m.FrameworkAgreement = true
	b := newBundle(t, m)
	muni := ActionInput{Role: domain.RoleMunicipality}
	b.act(time.Hour, ActionSignAgreement, muni)
	b.act(2*time.Hour, ActionCountersignAgreement, ActionInput{Role: domain.RolePM})
	b.act(3*time.Hour, ActionSubmitConnectionData, ActionInput{Role: domain.RoleMunicipality, Data: data(t, goodConnection)})
	b.act(4*time.Hour, ActionConfirmTest, ActionInput{Role: domain.RoleMunicipality, Data: json.RawMessage(`{"received":true}`)})
	st := b.run()
	require.Equal(t, domain.RunLive, st.State)
	require.NotContains(t, stepStates(st), StepFrameworkAgreement)
}

func TestRollInBlocked(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		m    domain.Municipality
		want string
	}{
		"not offered in the Land": {
			m:    domain.Municipality{ARS: "010010000000", Name: "Flensburg, Stadt", Land: "01"},
			want: "not offered in Land 01",
		},
		"incompatible Fachverfahren": {
			m:    domain.Municipality{ARS: testARS, Land: "05", Fachverfahren: []string{"Anderes Verfahren"}},
			want: "none of the municipality's Fachverfahren",
		},
		"no common transport": {
			m:    domain.Municipality{ARS: testARS, Land: "05", Transports: []domain.Transport{domain.TransportEmail}},
			want: "delivers only by fit-connect, xta",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t, tc.m)
			st := b.run()
			require.Equal(t, domain.RunBlocked, st.State)
			require.Contains(t, st.Reason, tc.want)
			require.Len(t, st.Steps, 1, "a blocked run plans nothing beyond the pre-check")
			require.Zero(t, b.fakes.callCount(ActivityFileAgreement))
		})
	}
}

func TestRollInIncidentThenRetry(t *testing.T) {
	t.Parallel()
	b := newBundle(t, municipality())
	down := temporal.NewApplicationErrorWithOptions("provider: create tenant: HTTP 503", "Retryable", temporal.ApplicationErrorOptions{Details: []any{2}})
	b.fakes.failures[ActivityCreateTenant] = []error{down, down}
	at := b.happyActions(0)
	// The tenant call fails at 4h (after the connection data); the test confirmation at 5h
	// is refused because the run is in an incident. The operator retries at 6h.
	retry := b.act(at+time.Hour, ActionRetryStep, ActionInput{Role: domain.RoleOperator, Step: StepTenant})
	b.act(at+2*time.Hour, ActionConfirmTest, ActionInput{Role: domain.RoleMunicipality, Data: json.RawMessage(`{"received":true}`)})
	st := b.run()

	require.NoError(t, retry.rejected)
	require.Equal(t, domain.RunRunning, retry.status.State, "the Update returns once the retried step is running again")
	require.Equal(t, domain.RunLive, st.State)
	for _, s := range st.Steps {
		if s.Name == StepTenant {
			require.Equal(t, domain.StepDone, s.State)
			require.Equal(t, 3, s.Attempts, "two tries failed, the retried call succeeded at once")
		}
	}
	require.Len(t, b.fakes.audit("incident"), 1)
	require.Equal(t, "provider: create tenant: HTTP 503", b.fakes.audit("incident")[0].Detail)
	require.Len(t, b.fakes.audit(ActionRetryStep), 1)
	require.Equal(t, 3, b.fakes.callCount(ActivityCreateTenant))
	tenantCalls := b.fakes.calls[ActivityCreateTenant]
	require.Equal(t, tenantCalls[0].IdempotencyKey, tenantCalls[2].IdempotencyKey,
		"an operator retry keeps the key: a tenant created by a try whose answer was lost is not created twice")
}

func TestRollInIncidentThenSkip(t *testing.T) {
	t.Parallel()
	b := newBundle(t, municipality())
	b.fakes.failures[ActivityConfigurePayment] = []error{
		temporal.NewApplicationErrorWithOptions("state: configure payment: HTTP 422: unknown account", ErrTypePermanent,
			temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{1}}),
	}
	at := b.happyActions(0)
	noReason := b.act(at+time.Hour, ActionSkipStep, ActionInput{Role: domain.RoleOperator, Step: StepPayment})
	skip := b.act(at+2*time.Hour, ActionSkipStep, ActionInput{Role: domain.RoleOperator, Step: StepPayment, Reason: "ePayBL set up by hand"})
	b.act(at+3*time.Hour, ActionConfirmTest, ActionInput{Role: domain.RoleMunicipality, Data: json.RawMessage(`{"received":true}`)})
	st := b.run()

	require.ErrorContains(t, noReason.rejected, "reason: required")
	require.NoError(t, skip.rejected)
	require.Equal(t, domain.RunLive, st.State)
	require.Equal(t, domain.StepSkipped, stepStates(st)[StepPayment])
	require.Equal(t, 1, b.fakes.callCount(ActivityConfigurePayment), "a permanent error is not retried")
	skips := b.fakes.audit(ActionSkipStep)
	require.Len(t, skips, 1)
	require.Equal(t, "ePayBL set up by hand", skips[0].Reason)
	require.Equal(t, domain.RoleOperator, skips[0].Role)
}

func TestRollInCancel(t *testing.T) {
	t.Parallel()
	b := newBundle(t, municipality())
	noReason := b.act(time.Hour, ActionCancel, ActionInput{Role: domain.RolePM})
	byMunicipality := b.act(2*time.Hour, ActionCancel, ActionInput{Role: domain.RoleMunicipality, Reason: "no"})
	cancel := b.act(3*time.Hour, ActionCancel, ActionInput{Role: domain.RolePM, Reason: "Kommune tritt nicht bei"})
	after := b.act(4*time.Hour, ActionSignAgreement, ActionInput{Role: domain.RoleMunicipality})
	st := b.run()

	require.ErrorContains(t, noReason.rejected, "reason: required")
	require.ErrorContains(t, byMunicipality.rejected, `role "municipality" may not cancel`)
	require.NoError(t, cancel.rejected)
	require.Equal(t, domain.RunCancelled, cancel.status.State, "the Update returns the status after the cancel")
	require.Equal(t, domain.RunCancelled, st.State)
	require.Equal(t, "Kommune tritt nicht bei", st.Reason)
	require.Nil(t, after.rejected, "the run had ended before the late action arrived; nothing was sent")
	require.Zero(t, b.fakes.callCount(ActivityFileAgreement))
	require.Equal(t, domain.RunCancelled, b.fakes.last.Status.State)
}

// TestRollInBeforeConnectionTasks: a run that started before ChangeConnectionTasks keeps
// the process it started with: the DVDV entry is a call to the Land's system.
func TestRollInBeforeConnectionTasks(t *testing.T) {
	t.Parallel()
	b := newBundle(t, municipality())
	b.env.OnGetVersion(ChangeConnectionTasks, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	muni := ActionInput{Role: domain.RoleMunicipality}
	b.act(time.Hour, ActionSignAgreement, muni)
	b.act(2*time.Hour, ActionSignAgreement, muni)
	b.act(3*time.Hour, ActionCountersignAgreement, ActionInput{Role: domain.RolePM})
	xta := goodConnection
	xta.Transport, xta.DVDVKey = domain.TransportXTA, "dvd:055150000000"
	b.act(4*time.Hour, ActionSubmitConnectionData, ActionInput{Role: domain.RoleMunicipality, Data: data(t, xta)})
	b.act(5*time.Hour, ActionConfirmTest, ActionInput{Role: domain.RoleMunicipality, Data: json.RawMessage(`{"received":true}`)})
	st := b.run()

	require.Equal(t, domain.RunLive, st.State)
	require.Equal(t, 1, b.fakes.callCount(ActivityConfirmDVDV))
	require.Equal(t, domain.StepDone, stepStates(st)[StepDVDV])
	require.Empty(t, b.fakes.audit(ActionConfirmConnection))
}

func TestRollInFailedTestLoopsBack(t *testing.T) {
	t.Parallel()
	for _, rejectedByReceiver := range []bool{false, true} {
		t.Run(fmt.Sprintf("rejected by receiver=%t", rejectedByReceiver), func(t *testing.T) {
			t.Parallel()
			b := newBundle(t, municipality())
			muni := ActionInput{Role: domain.RoleMunicipality}
			b.act(time.Hour, ActionSignAgreement, muni)
			b.act(2*time.Hour, ActionSignAgreement, muni)
			b.act(3*time.Hour, ActionCountersignAgreement, ActionInput{Role: domain.RolePM})
			b.act(4*time.Hour, ActionSubmitConnectionData, ActionInput{Role: domain.RoleMunicipality, Data: data(t, goodConnection)})
			at := 4 * time.Hour
			if rejectedByReceiver {
				b.fakes.reject = true // the test submission itself ends rejected
			} else {
				at += time.Hour
				b.act(at, ActionConfirmTest, ActionInput{Role: domain.RoleMunicipality, Data: json.RawMessage(`{"received":false,"note":"Antrag fehlt im Postfach"}`)})
			}
			// The run is back at the questionnaire; the municipality corrects and resubmits.
			fixed := goodConnection
			fixed.Transport = domain.TransportXTA
			fixed.DVDVKey = "dvd:055150000000"
			resubmit := b.act(at+time.Hour, ActionSubmitConnectionData, ActionInput{Role: domain.RoleMunicipality, Data: data(t, fixed)})
			dvdv := b.act(at+90*time.Minute, ActionConfirmConnection, ActionInput{Role: domain.RoleOperator, Reason: "DVDV-Eintrag angelegt"})
			b.act(at+2*time.Hour, ActionConfirmTest, ActionInput{Role: domain.RoleMunicipality, Data: json.RawMessage(`{"received":true}`)})
			st := b.run()

			require.NoError(t, resubmit.rejected)
			require.NoError(t, dvdv.rejected)
			require.Equal(t, domain.RunLive, st.State)
			loops := b.fakes.audit("loop-back")
			require.Len(t, loops, 1)
			if rejectedByReceiver {
				require.Contains(t, loops[0].Reason, "decryption failed")
			} else {
				require.Contains(t, loops[0].Reason, "Antrag fehlt im Postfach")
			}
			require.Equal(t, 2, b.fakes.callCount(ActivityCreateTenant), "the connection is redone in round 2")
			k1, k2 := b.fakes.calls[ActivityCreateTenant][0].IdempotencyKey, b.fakes.calls[ActivityCreateTenant][1].IdempotencyKey
			require.NotEqual(t, k1, k2, "round 2 is a new effect, not a replay")
			require.Zero(t, b.fakes.callCount(ActivityConfirmDVDV), "the DVDV entry is a task for people, not a call")
			require.Equal(t, domain.StepDone, stepStates(st)[StepDVDV], "round 2 chose XTA")
			confirmed := b.fakes.audit(ActionConfirmConnection)
			require.Len(t, confirmed, 1)
			require.Equal(t, StepDVDV, confirmed[0].Step)
			require.Equal(t, domain.RoleOperator, confirmed[0].Role)
			task := b.fakes.notice(StepDVDV, "waiting")
			require.Equal(t, domain.RoleOperator, task.Recipient)
			require.Contains(t, task.Body, "dvd:055150000000", "the task shows what to enter")
			require.Contains(t, task.Body, string(testService.Key))
		})
	}
}

func TestRollInRemindsAndEscalates(t *testing.T) {
	t.Parallel()
	b := newBundle(t, municipality())
	// Nobody signs for 15 days: reminded after 7, escalated after 14 (the defaults).
	b.happyActions(15 * 24 * time.Hour)
	st := b.run()

	require.Equal(t, domain.RunLive, st.State)
	require.Len(t, b.fakes.notices("reminder"), 1)
	require.Len(t, b.fakes.notices("escalation"), 1)
	reminder, escalation := b.fakes.notices("reminder")[0], b.fakes.notices("escalation")[0]
	require.Equal(t, "reminder", reminder.Notice.Kind)
	require.Equal(t, domain.RoleMunicipality, reminder.Notice.Recipient)
	require.Equal(t, "escalation", escalation.Notice.Kind)
	require.Equal(t, domain.RolePM, escalation.Notice.Recipient)
	require.NotEqual(t, reminder.IdempotencyKey, escalation.IdempotencyKey)

	r := b.fakes.audit("notice-reminder")
	e := b.fakes.audit("notice-escalation")
	require.Len(t, r, 1)
	require.Len(t, e, 1)
	require.Equal(t, 7*24*time.Hour, e[0].At.Sub(r[0].At), "escalation follows the reminder by a week")
}

func TestRollInRejectsWrongActions(t *testing.T) {
	t.Parallel()
	b := newBundle(t, municipality())
	pmSigns := b.act(30*time.Minute, ActionSignAgreement, ActionInput{Role: domain.RolePM})
	tooEarly := b.act(40*time.Minute, ActionCountersignAgreement, ActionInput{Role: domain.RolePM})
	noIncident := b.act(50*time.Minute, ActionRetryStep, ActionInput{Role: domain.RoleOperator})
	wrongStep := b.act(55*time.Minute, ActionSignAgreement, ActionInput{Role: domain.RoleMunicipality, Step: StepCallOff})
	b.happyActions(time.Hour) // framework 2h, call-off 3h, countersign 4h, connection 5h, confirm 6h
	badMail := goodConnection
	badMail.ContactEmail = "not-an-address"
	badFV := goodConnection
	badFV.Fachverfahren = "Excel"
	noIBAN := goodConnection
	noIBAN.PaymentAccount = "DE00 1234"
	r1 := b.act(4*time.Hour+30*time.Minute, ActionSubmitConnectionData, ActionInput{Role: domain.RoleMunicipality, Data: data(t, badMail)})
	r2 := b.act(4*time.Hour+31*time.Minute, ActionSubmitConnectionData, ActionInput{Role: domain.RoleMunicipality, Data: data(t, badFV)})
	r3 := b.act(4*time.Hour+32*time.Minute, ActionSubmitConnectionData, ActionInput{Role: domain.RoleMunicipality, Data: data(t, noIBAN)})
	r4 := b.act(4*time.Hour+33*time.Minute, ActionSubmitConnectionData, ActionInput{Role: domain.RoleMunicipality, Data: json.RawMessage(`{"contact_email":"a@b.example","extra":1}`)})
	noOE := goodConnection
	noOE.OrgUnitID = ""
	r6 := b.act(4*time.Hour+34*time.Minute, ActionSubmitConnectionData, ActionInput{Role: domain.RoleMunicipality, Data: data(t, noOE)})
	noAddress := goodConnection
	noAddress.ContactAddress = " "
	r7 := b.act(4*time.Hour+35*time.Minute, ActionSubmitConnectionData, ActionInput{Role: domain.RoleMunicipality, Data: data(t, noAddress)})
	r5 := b.act(5*time.Hour+30*time.Minute, ActionConfirmTest, ActionInput{Role: domain.RoleMunicipality, Data: json.RawMessage(`{"received":false}`)})
	st := b.run()

	require.Equal(t, domain.RunLive, st.State, "no rejected action changed the run")
	for name, tc := range map[string]struct {
		out      *outcome
		errType  string
		contains string
	}{
		"wrong role":         {pmSigns, ErrTypeForbidden, `role "pm" may not sign-agreement`},
		"not waiting for it": {tooEarly, ErrTypeNotAllowed, "not waiting for countersign-agreement"},
		"no incident":        {noIncident, ErrTypeNotAllowed, "no incident is open"},
		"wrong step":         {wrongStep, ErrTypeNotAllowed, `step "call-off" is not waiting`},
		"bad e-mail":         {r1, ErrTypeInvalidData, "data.contact_email"},
		"incompatible FV":    {r2, ErrTypeInvalidData, "data.fachverfahren \"Excel\""},
		"bad IBAN":           {r3, ErrTypeInvalidData, "data.payment_account"},
		"unknown field":      {r4, ErrTypeInvalidData, "unknown field"},
		"note missing":       {r5, ErrTypeInvalidData, "data.note: required"},
		"no org unit":        {r6, ErrTypeInvalidData, "data.org_unit_id: required"},
		"no address":         {r7, ErrTypeInvalidData, "data.contact_address: required for fit-connect"},
	} {
		require.Error(t, tc.out.rejected, name)
		var app *temporal.ApplicationError
		require.True(t, errors.As(tc.out.rejected, &app), name)
		require.Equal(t, tc.errType, app.Type(), name)
		require.Contains(t, app.Message(), tc.contains, name)
	}
}

func TestRollInDuplicateActionIDAppliedOnce(t *testing.T) {
	t.Parallel()
	b := newBundle(t, municipality())
	first := b.act(time.Hour, ActionSignAgreement, ActionInput{Role: domain.RoleMunicipality, ActionID: "sig-1", Actor: "buergermeisterin"})
	again := b.act(2*time.Hour, ActionSignAgreement, ActionInput{Role: domain.RoleMunicipality, ActionID: "sig-1", Actor: "buergermeisterin"})
	b.act(3*time.Hour, ActionSignAgreement, ActionInput{Role: domain.RoleMunicipality, ActionID: "sig-2", Actor: "amtsleiter"})
	b.act(4*time.Hour, ActionCountersignAgreement, ActionInput{Role: domain.RolePM})
	b.act(5*time.Hour, ActionSubmitConnectionData, ActionInput{Role: domain.RoleMunicipality, Data: data(t, goodConnection)})
	b.act(6*time.Hour, ActionConfirmTest, ActionInput{Role: domain.RoleMunicipality, Data: json.RawMessage(`{"received":true}`)})
	st := b.run()

	require.NoError(t, first.rejected)
	require.NoError(t, again.rejected, "a repeated action ID is accepted, not an error")
	require.Equal(t, domain.RunLive, st.State)
	signs := b.fakes.audit(ActionSignAgreement)
	require.Len(t, signs, 2, "framework agreement and call-off: the repeated ID did not sign the call-off")
	require.Equal(t, "buergermeisterin", signs[0].Actor)
	require.Equal(t, StepFrameworkAgreement, signs[0].Step)
	require.Equal(t, "amtsleiter", signs[1].Actor)
	require.Equal(t, StepCallOff, signs[1].Step)
}

func TestRollInWaitsForTheNextActivationDate(t *testing.T) {
	t.Parallel()
	b := newBundle(t, municipality())
	start := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	b.env.SetStartTime(start)
	stichtag := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	b.fakes.rc.Service.ActivationDates = []time.Time{time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), stichtag}
	b.happyActions(0)
	cancelTooLate := b.act(60*24*time.Hour, ActionCancel, ActionInput{Role: domain.RolePM, Reason: "after go-live"})
	st := b.run()

	require.Equal(t, domain.RunLive, st.State)
	require.Equal(t, domain.StepDone, stepStates(st)[StepActivationDate])
	switched := b.fakes.audit("step-done")
	var at time.Time
	for _, e := range switched {
		if e.Step == StepProductionSwitch {
			at = e.At
		}
	}
	require.False(t, at.Before(stichtag), "production switch at %s, before the Stichtag %s", at, stichtag)
	require.Less(t, at.Sub(stichtag), time.Hour)
	require.Nil(t, cancelTooLate.rejected, "the run had ended; the late callback found nothing to update")
}

func TestRollInCancelledThroughTemporal(t *testing.T) {
	t.Parallel()
	b := newBundle(t, municipality())
	b.env.RegisterDelayedCallback(b.env.CancelWorkflow, 2*time.Hour)
	b.env.ExecuteWorkflow(RollIn, Input{ARS: testARS, Service: testService.Key, StartedBy: "pm-user", Role: domain.RolePM})
	require.True(t, b.env.IsWorkflowCompleted())
	require.True(t, temporal.IsCanceledError(b.env.GetWorkflowError()))
	require.Equal(t, domain.RunCancelled, b.fakes.last.Status.State, "the read model learns of the cancellation")
	require.Equal(t, "cancelled through Temporal", b.fakes.last.Status.Reason)
}

func TestRollInRetriedTestSubmissionIsANewSubmission(t *testing.T) {
	t.Parallel()
	b := newBundle(t, municipality())
	b.fakes.failures[ActivityRunTestSubmission] = []error{
		temporal.NewApplicationErrorWithOptions("timed out waiting for a verdict", ErrTypePermanent, temporal.ApplicationErrorOptions{NonRetryable: true}),
	}
	at := b.happyActions(0) // the confirmation at 5h is refused: the run is in an incident
	b.act(at+time.Hour, ActionRetryStep, ActionInput{Role: domain.RoleOperator, Step: StepTestSubmission})
	b.act(at+2*time.Hour, ActionConfirmTest, ActionInput{Role: domain.RoleMunicipality, Data: json.RawMessage(`{"received":true}`)})
	st := b.run()

	require.Equal(t, domain.RunLive, st.State)
	calls := b.fakes.calls[ActivityRunTestSubmission]
	require.Len(t, calls, 2)
	require.Equal(t, calls[0].IdempotencyKey+"/retry-1", calls[1].IdempotencyKey)
	// Other steps keep their key on an operator retry (see TestRollInIncidentThenRetry).
}
