// Package workflows holds Rollin's deterministic process code: the RollIn workflow (one
// municipality joining one EfA service), its step plan, and the names and types of its
// Updates and activities. It does no I/O and imports neither the store nor the system
// clients: activities are called by name, so the worker decides what implements them.
package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rollin-efa/rollin/domain"
)

var (
	errCancelled = errors.New("run cancelled")
	errSkipped   = errors.New("step skipped by an operator")
	errLoopBack  = errors.New("test failed: back to Anbindung")
	errBlocked   = errors.New("municipality cannot join the service")
)

// RollIn runs one municipality through one EfA service from pre-check to go-live. It ends
// live, blocked or cancelled; failures of external calls do not fail it, they open an
// incident and wait for an operator.
func RollIn(ctx workflow.Context, in Input) (domain.RunStatus, error) {
	r := newRollIn(ctx, in)
	if err := r.setup(); err != nil {
		return domain.RunStatus{}, err
	}
	return r.run()
}

// step is one planned step and its current status.
type step struct {
	def    StepDef
	status domain.StepStatus
	// retries counts the operator's retries of the step's incidents.
	retries int
}

// appliedAction is what an action ID was first used for: the same ID again is a repeat
// only for the same action by the same actor with the same content (digest: UpdateID).
type appliedAction struct {
	name   string
	actor  string
	digest string
}

// pendingAction is an accepted Update waiting for the main loop to apply it.
type pendingAction struct {
	name   string
	in     ActionInput
	ticket int
	// refusal, when set, is why the action was not applied after all: the run ended
	// between the validator accepting it and the main loop reaching it.
	refusal string
}

// rollIn is the state of one run. Every field is changed only by the workflow's own
// coroutines, so no locking is needed and replay reproduces it exactly.
type rollIn struct {
	ctx    workflow.Context
	in     Input
	opts   Options
	id     string
	logger log.Logger

	state   domain.RunState
	stage   domain.Stage
	reason  string
	waiting *domain.WaitingFor
	note    string // shown to the municipality when a failed test sent the run back
	steps   []*step
	round   int

	rc   RunContext
	conn *ConnectionData
	sigs Signatures
	refs Refs

	seq      int64
	eventSeq int64
	events   []domain.AuditEvent

	// Update bookkeeping: applied holds every action ID seen, with the action and actor it
	// was used for (rebuilt on replay by the handlers, so it is not in the history); inbox
	// the accepted action the main loop has not applied yet; an Update returns once its
	// ticket is persisted.
	applied    map[string]appliedAction
	inbox      *pendingAction
	ticket     int
	consumed   int
	persisted  int
	cancelCall workflow.CancelFunc

	// localCalls is set for runs started since short external calls became local
	// activities (see ChangeLocalCalls); older runs keep regular activities on replay.
	localCalls bool
	// connectionTasks is set for runs started since the XTA and e-mail connections became
	// tasks for people (see ChangeConnectionTasks).
	connectionTasks bool
}

// ChangeLocalCalls names the change that turned the short external calls (every call step
// not marked Durable, and the notices) into local activities: they run inside the workflow
// task that needs them, which saves each call two round trips through the server and
// about four history events. What that trades away:
//   - tries a local activity makes within one workflow task are not recorded, so after a
//     worker crash a call starts counting its attempts again (it may be tried more than
//     process.call_attempts times); every mutating call carries its idempotency key, so
//     the repetition is harmless;
//   - while a call is retried the workflow task stays open and is renewed every few
//     seconds, so an outage adds history events and an operator's cancel takes effect at
//     the next renewal rather than at once.
//
// Runs that started before the change replay with regular activities, as they were
// recorded. Workers of both versions must not serve the same task queue (an old worker
// cannot replay a new run's local-activity markers): roll workers over all at once.
const ChangeLocalCalls = "local-calls"

// ChangeConnectionTasks names the change that made the connection of an XTA/OSCI route
// (the DVDV entry) and of an e-mail route tasks for people instead of calls: neither has
// an API Rollin could call, so an operator does what the task shows and confirms it with
// confirm-connection. Runs that started before the change keep the dvdv call to the
// Land's system and have no e-mail step.
const ChangeConnectionTasks = "connection-tasks"

func newRollIn(ctx workflow.Context, in Input) *rollIn {
	r := &rollIn{
		in:      in,
		opts:    in.Options.withDefaults(),
		id:      workflow.GetInfo(ctx).WorkflowExecution.ID,
		state:   domain.RunRunning,
		stage:   domain.StagePruefung,
		applied: map[string]appliedAction{},
	}
	r.logger = log.With(workflow.GetLogger(ctx), "ars", in.ARS, "service", in.Service)
	r.ctx = ctx
	return r
}

func (r *rollIn) setup() error {
	r.localCalls = workflow.GetVersion(r.ctx, ChangeLocalCalls, workflow.DefaultVersion, 1) == 1
	r.connectionTasks = workflow.GetVersion(r.ctx, ChangeConnectionTasks, workflow.DefaultVersion, 1) == 1
	for _, name := range Actions {
		err := workflow.SetUpdateHandlerWithOptions(r.ctx, name, r.handler(name),
			workflow.UpdateHandlerOptions{Validator: r.validator(name)})
		if err != nil {
			return fmt.Errorf("register update %s: %w", name, err)
		}
	}
	if err := workflow.SetQueryHandler(r.ctx, QueryStatus, func() (domain.RunStatus, error) {
		return r.status(), nil
	}); err != nil {
		return fmt.Errorf("register query %s: %w", QueryStatus, err)
	}
	return nil
}

func (r *rollIn) run() (domain.RunStatus, error) {
	precheck, _ := StepByName(StepPrecheck)
	r.steps = []*step{r.newStep(precheck)}
	r.event(r.in.StartedBy, r.in.Role, "start", "", "", fmt.Sprintf("roll-in of %s into %s", r.in.Service, r.in.ARS))

	err := r.precheck(r.steps[0])
	for i := 1; err == nil && i < len(r.steps); i++ {
		s := r.steps[i]
		if s.status.State == domain.StepDone || s.status.State == domain.StepSkipped {
			continue
		}
		r.stage = s.def.Stage
		err = r.runStep(s)
		if errors.Is(err, errLoopBack) {
			i = r.loopBack() - 1
			err = nil
		}
	}
	switch {
	case errors.Is(err, errCancelled):
		r.finish(domain.RunCancelled, r.inbox.in.Reason, r.inbox)
	case errors.Is(err, errBlocked):
		r.refuseLateAction(domain.RunBlocked)
		r.finish(domain.RunBlocked, r.reason, nil)
	case r.ctx.Err() != nil:
		// Cancelled through Temporal itself (not the cancel action): record it in the read
		// model on a context that is not cancelled, then end as cancelled.
		ctx, _ := workflow.NewDisconnectedContext(r.ctx)
		r.ctx = ctx
		r.finish(domain.RunCancelled, "cancelled through Temporal", nil)
		return r.status(), err
	case err != nil:
		return r.status(), err
	default:
		r.refuseLateAction(domain.RunLive)
		r.finish(domain.RunLive, "", nil)
	}
	// Let Update handlers that wait for the final write return before the run closes.
	if err := workflow.Await(r.ctx, func() bool { return workflow.AllHandlersFinished(r.ctx) }); err != nil {
		return r.status(), err
	}
	return r.status(), nil
}

func (r *rollIn) precheck(s *step) error {
	var rc RunContext
	err := r.call(s, ActivityLoadContext, func() any { return LoadInput{ARS: r.in.ARS, Service: r.in.Service} }, &rc)
	if err != nil {
		return err
	}
	r.rc = rc
	plan, reason := Plan(rc.Service, rc.Municipality)
	if !r.connectionTasks {
		plan = withoutConnectionTasks(plan)
	}
	if reason != "" {
		r.reason = reason
		r.event("rollin", domain.RoleSystem, "blocked", s.def.Name, reason, "")
		return errBlocked
	}
	for _, def := range plan[1:] { // plan[0] is the pre-check itself
		r.steps = append(r.steps, r.newStep(def))
	}
	r.event("rollin", domain.RoleSystem, "planned", s.def.Name, "", fmt.Sprintf("%d steps", len(plan)))
	r.persist()
	return nil
}

func (r *rollIn) runStep(s *step) error {
	if r.cancelRequested() {
		return errCancelled
	}
	if s.def.Transport != "" && r.conn != nil && r.conn.Transport != s.def.Transport {
		r.setStep(s, domain.StepSkipped, "")
		r.event("rollin", domain.RoleSystem, "step-not-needed", s.def.Name, "",
			fmt.Sprintf("only for transport %s; the municipality chose %s", s.def.Transport, r.conn.Transport))
		r.persist()
		return nil
	}
	switch s.def.Kind {
	case KindHuman:
		return r.runHuman(s)
	case KindTimer:
		return r.runActivationDate(s)
	}
	var res CallResult
	err := r.call(s, s.def.Activity, func() any { return r.callInput(s, "") }, &res)
	if errors.Is(err, errSkipped) {
		return nil
	}
	if err != nil {
		return err
	}
	switch s.def.Name {
	case StepDestination:
		r.refs.DestinationID = res.Ref
	case StepPortalLink:
		r.refs.PortalLinkID = res.Ref
	case StepTenant:
		r.refs.TenantID = res.Ref
	case StepTestSubmission:
		if res.Rejected {
			r.note = "Die Testeinreichung wurde abgelehnt: " + res.Problem
			r.event("rollin", domain.RoleSystem, "test-rejected", s.def.Name, res.Problem, "")
			return errLoopBack
		}
	}
	return nil
}

// call runs one activity for step s with the argument arg returns. When its retries are
// spent the step becomes an incident and call waits for an operator to retry it, skip it
// or cancel the run.
func (r *rollIn) call(s *step, activity string, arg func() any, result any) error {
	for {
		if r.cancelRequested() {
			return errCancelled
		}
		r.state, r.waiting = domain.RunRunning, nil
		r.setStep(s, domain.StepRunning, s.status.LastError)
		r.persist()
		if r.cancelRequested() { // a cancel accepted while the write above was in flight
			return errCancelled
		}

		ctx, cancel := workflow.WithCancel(r.ctx)
		r.cancelCall = cancel
		err := r.execute(ctx, s.def, activity, arg()).Get(ctx, result)
		r.cancelCall = nil
		cancel()
		if err == nil {
			attempt := 1
			if res, ok := result.(*CallResult); ok && res.Attempt > 0 {
				attempt = res.Attempt
			}
			s.status.Attempts += attempt
			r.setStep(s, domain.StepDone, "")
			r.event("rollin", domain.RoleSystem, "step-done", s.def.Name, "", "")
			r.persist()
			return nil
		}
		if r.cancelRequested() {
			return errCancelled
		}
		if r.ctx.Err() != nil {
			return err // the workflow itself is being cancelled
		}
		s.status.Attempts += r.attemptsOf(err)
		msg := errMessage(err)
		r.state = domain.RunIncident
		r.waiting = &domain.WaitingFor{Action: ActionRetryStep, Role: domain.RoleOperator, Step: s.def.Name, Note: msg}
		r.setStep(s, domain.StepFailed, msg)
		r.event("rollin", domain.RoleSystem, "incident", s.def.Name, "", msg)
		r.persist()

		a, err := r.awaitAction()
		if err != nil {
			return err
		}
		switch a.name {
		case ActionCancel:
			return errCancelled
		case ActionSkipStep:
			r.consume(a)
			r.state, r.waiting = domain.RunRunning, nil
			r.setStep(s, domain.StepSkipped, msg)
			r.event(a.in.Actor, a.in.Role, a.name, s.def.Name, a.in.Reason, "")
			r.persist()
			return errSkipped
		default: // retry
			r.consume(a)
			s.retries++
			r.event(a.in.Actor, a.in.Role, a.name, s.def.Name, a.in.Reason, "")
		}
	}
}

func (r *rollIn) runHuman(s *step) error {
	note := r.note
	if s.def.Action == ActionConfirmConnection {
		note = r.connectionTask(s)
	}
	r.state = domain.RunWaiting
	r.waiting = &domain.WaitingFor{Action: s.def.Action, Role: s.def.Role, Step: s.def.Name, Note: note}
	r.setStep(s, domain.StepWaiting, s.status.LastError)
	r.event("rollin", domain.RoleSystem, "waiting", s.def.Name, "", fmt.Sprintf("waiting for %s: %s", s.def.Role, s.def.Action))
	r.persist()
	if r.inbox == nil { // tell the person, unless they acted already
		r.notify(s, "waiting", s.def.Role)
	}

	a, err := r.awaitPerson(s)
	if err != nil {
		return err
	}
	if a.name == ActionCancel {
		return errCancelled
	}
	r.consume(a)
	detail := ""
	loopBack := false
	switch s.def.Name {
	case StepFrameworkAgreement:
		r.sigs.Framework = a.in.Actor
	case StepCallOff:
		r.sigs.CallOff = a.in.Actor
	case StepDPA:
		r.sigs.DPA = a.in.Actor
	case StepCountersign:
		r.sigs.Countersigned = a.in.Actor
	case StepConnectionData:
		// The validator checked the data when it arrived. Here it is only decoded, so that
		// a stricter check in a later version cannot break the replay of accepted data.
		var c ConnectionData
		if err := json.Unmarshal(a.in.Data, &c); err != nil {
			return fmt.Errorf("decode accepted connection data: %w", err)
		}
		r.conn, r.note = &c, ""
		detail = fmt.Sprintf("Fachverfahren %s, transport %s", c.Fachverfahren, c.Transport)
	case StepTestConfirmation:
		var c TestConfirmation
		if err := json.Unmarshal(a.in.Data, &c); err != nil || c.Received == nil {
			return fmt.Errorf("decode accepted test confirmation: %v", err)
		}
		if !*c.Received {
			r.note = "Die Testeinreichung kam nicht an: " + c.Note
			loopBack = true
		}
		detail = fmt.Sprintf("received: %t %s", *c.Received, c.Note)
	}
	r.state, r.waiting = domain.RunRunning, nil
	r.setStep(s, domain.StepDone, "")
	r.event(a.in.Actor, a.in.Role, a.name, s.def.Name, a.in.Reason, detail)
	if loopBack {
		return errLoopBack
	}
	r.persist()
	return nil
}

// connectionTask is what the people of a connection task must do, with the data they
// need: it is the waiting note the front ends show and the body of the notice.
func (r *rollIn) connectionTask(s *step) string {
	m, svc := r.rc.Municipality, r.rc.Service
	var c ConnectionData
	if r.conn != nil {
		c = *r.conn
	}
	if s.def.Name == StepEmailRoute {
		return fmt.Sprintf("E-Mail-Zustellung einrichten: Anträge auf %s (Leistungsschlüssel %s) für %s (ARS %s) gehen an %s. Danach %s bestätigen.",
			svc.Name, svc.Key, m.Name, m.ARS, c.ContactEmail, ActionConfirmConnection)
	}
	return fmt.Sprintf("DVDV-Eintrag für XTA/OSCI anlegen: %s (ARS %s), Organisationsschlüssel %s, Leistung %s (Leistungsschlüssel %s), Fachverfahren %s. Danach %s bestätigen.",
		m.Name, m.ARS, c.DVDVKey, svc.Name, svc.Key, c.Fachverfahren, ActionConfirmConnection)
}

// awaitPerson waits for the action a human step needs, reminding the person after
// ReminderAfter and telling the project manager after EscalationAfter.
func (r *rollIn) awaitPerson(s *step) (*pendingAction, error) {
	arrived := func() bool { return r.inbox != nil }
	ok, err := workflow.AwaitWithTimeout(r.ctx, r.opts.ReminderAfter, arrived)
	if err != nil || ok {
		return r.inbox, err
	}
	r.notify(s, "reminder", s.def.Role)
	ok, err = workflow.AwaitWithTimeout(r.ctx, r.opts.EscalationAfter-r.opts.ReminderAfter, arrived)
	if err != nil || ok {
		return r.inbox, err
	}
	r.notify(s, "escalation", domain.RolePM)
	return r.awaitAction()
}

func (r *rollIn) notify(s *step, kind string, to domain.Role) {
	notice := &Notice{
		Recipient: to,
		Kind:      kind,
		Action:    s.def.Action,
		Step:      s.def.Name,
		Subject:   fmt.Sprintf("Roll-in %s: %s wartet seit %s", r.id, s.def.Name, s.status.UpdatedAt.Format("02.01.2006")),
		Body:      fmt.Sprintf("Der Schritt %s wartet auf %s (%s).", s.def.Name, s.def.Role, s.def.Action),
	}
	if s.def.Action == ActionConfirmConnection && r.waiting != nil {
		notice.Body += " " + r.waiting.Note
	}
	in := r.callInput(s, kind)
	in.Notice = notice
	detail := "sent to " + string(to)
	if err := r.execute(r.ctx, StepDef{}, ActivityNotify, in).Get(r.ctx, nil); err != nil {
		// A lost reminder must not stop the run; the audit log shows it.
		detail = "not sent: " + errMessage(err)
	}
	r.event("rollin", domain.RoleSystem, "notice-"+kind, s.def.Name, "", detail)
	if kind != "waiting" { // the waiting notice's entry rides along with the next transition
		r.persist()
	}
}

func (r *rollIn) runActivationDate(s *step) error {
	now := workflow.Now(r.ctx)
	dates := slices.Clone(r.rc.Service.ActivationDates)
	slices.SortFunc(dates, func(a, b time.Time) int { return a.Compare(b) })
	i := slices.IndexFunc(dates, func(d time.Time) bool { return d.After(now) })
	if i < 0 {
		detail := "no activation date set: go-live follows the test at once"
		if len(dates) > 0 {
			detail = "no upcoming activation date: go-live follows the test at once"
		}
		r.setStep(s, domain.StepSkipped, "")
		r.event("rollin", domain.RoleSystem, "step-not-needed", s.def.Name, "", detail)
		r.persist()
		return nil
	}
	next := dates[i]
	r.setStep(s, domain.StepWaiting, "")
	r.event("rollin", domain.RoleSystem, "waiting", s.def.Name, "", "activation date "+next.Format("2006-01-02"))
	r.persist()
	cancelled, err := workflow.AwaitWithTimeout(r.ctx, next.Sub(now), r.cancelRequested)
	if err != nil {
		return err
	}
	if cancelled {
		return errCancelled
	}
	r.setStep(s, domain.StepDone, "")
	r.event("rollin", domain.RoleSystem, "step-done", s.def.Name, "", "")
	r.persist()
	return nil
}

// loopBack sends the run back to the connection questionnaire after a failed test and
// returns the index of the step to resume at. Idempotency keys carry the round, so the
// calls of the new round are new effects, not replays of the old ones.
func (r *rollIn) loopBack() int {
	r.round++
	r.conn = nil
	r.refs = Refs{} // round 2 connects afresh, perhaps by another route
	from := slices.IndexFunc(r.steps, func(s *step) bool { return s.def.Name == StepConnectionData })
	to := slices.IndexFunc(r.steps, func(s *step) bool { return s.def.Name == StepTestConfirmation })
	for _, s := range r.steps[from : to+1] {
		s.status.State = domain.StepPending
		s.status.LastError = ""
		s.status.UpdatedAt = workflow.Now(r.ctx)
	}
	r.stage = domain.StageAnbindung
	r.event("rollin", domain.RoleSystem, "loop-back", StepConnectionData, r.note, fmt.Sprintf("round %d", r.round+1))
	r.persist()
	return from
}

func (r *rollIn) finish(state domain.RunState, reason string, a *pendingAction) {
	r.state, r.reason, r.waiting = state, reason, nil
	if a != nil {
		r.consume(a)
		r.event(a.in.Actor, a.in.Role, a.name, "", a.in.Reason, "")
	}
	r.event("rollin", domain.RoleSystem, string(state), "", reason, "")
	r.persist()
}

// refuseLateAction answers an action accepted just before the run ended: it is not
// applied, and its Update returns an error saying why.
func (r *rollIn) refuseLateAction(state domain.RunState) {
	if r.inbox == nil {
		return
	}
	a := r.inbox
	a.refusal = fmt.Sprintf("the run became %s before %s could be applied", state, a.name)
	r.consume(a)
	r.event(a.in.Actor, a.in.Role, a.name+"-refused", "", a.in.Reason, a.refusal)
}

// awaitAction blocks until an accepted Update is in the inbox.
func (r *rollIn) awaitAction() (*pendingAction, error) {
	if err := workflow.Await(r.ctx, func() bool { return r.inbox != nil }); err != nil {
		return nil, err
	}
	return r.inbox, nil
}

// consume takes the action out of the inbox; its Update returns after the next persist.
func (r *rollIn) consume(a *pendingAction) {
	r.inbox = nil
	r.consumed = a.ticket
}

func (r *rollIn) cancelRequested() bool {
	return r.inbox != nil && r.inbox.name == ActionCancel
}

func (r *rollIn) newStep(def StepDef) *step {
	return &step{def: def, status: domain.StepStatus{
		Name: def.Name, Stage: def.Stage, State: domain.StepPending, UpdatedAt: workflow.Now(r.ctx),
	}}
}

func (r *rollIn) setStep(s *step, state domain.StepState, lastError string) {
	s.status.State = state
	s.status.LastError = lastError
	s.status.UpdatedAt = workflow.Now(r.ctx)
}

func (r *rollIn) event(actor string, role domain.Role, action, stepName, reason, detail string) {
	r.eventSeq++
	r.events = append(r.events, domain.AuditEvent{
		RunID: r.id, Seq: r.eventSeq, At: workflow.Now(r.ctx),
		Actor: actor, Role: role, Action: action, Step: stepName, Reason: reason, Detail: detail,
	})
}

// persist writes the run's status and new audit events to the read model. It retries
// until the database answers (see persistDurably): the read model must not miss a
// transition, and the Updates waiting for this write return once it is done.
func (r *rollIn) persist() {
	r.seq++
	snap := domain.RunSnapshot{Status: r.status(), Events: r.events}
	if err := persistDurably(r.ctx, r.logger, ActivityPersistRun, snap); err != nil {
		// Only when the workflow itself is being torn down (run then writes its end on a
		// disconnected context), or in a history recorded before ChangePersistForever.
		r.logger.Error("persist run", "error", err)
		return
	}
	r.events = nil
	r.persisted = r.consumed
}

func (r *rollIn) status() domain.RunStatus {
	steps := make([]domain.StepStatus, len(r.steps))
	for i, s := range r.steps {
		steps[i] = s.status
	}
	var waiting *domain.WaitingFor
	if r.waiting != nil {
		w := *r.waiting
		waiting = &w
	}
	return domain.RunStatus{
		ID: r.id, ARS: r.in.ARS, Service: r.in.Service, Organisation: r.in.Organisation,
		State: r.state, Stage: r.stage, WaitingFor: waiting, Reason: r.reason, Steps: steps,
		CreatedAt: workflow.GetInfo(r.ctx).WorkflowStartTime, UpdatedAt: workflow.Now(r.ctx), Seq: r.seq,
	}
}

func (r *rollIn) callInput(s *step, purpose string) CallInput {
	key := fmt.Sprintf("%s/%s/%d", r.id, s.def.Name, r.round)
	if s.def.Name == StepTestSubmission && s.retries > 0 {
		// An operator retries a test that never got a verdict: send a new submission
		// rather than following the old one again. Other steps keep their key, so a call
		// whose answer was lost is not applied twice.
		key += fmt.Sprintf("/retry-%d", s.retries)
	}
	if purpose != "" {
		key += "/" + purpose
	}
	return CallInput{
		RunID: r.id, Step: s.def.Name, Round: r.round, IdempotencyKey: key,
		Context: r.rc, Connection: r.conn, Signatures: r.sigs, Refs: r.refs, Organisation: r.in.Organisation,
	}
}

// execute runs the activity of an external call for the step def: a local activity where
// the step is not Durable and the run started after ChangeLocalCalls, a regular one
// otherwise. Both have the same retry policy.
func (r *rollIn) execute(ctx workflow.Context, def StepDef, activity string, arg any) workflow.Future {
	opts := r.activityOptions(def)
	if r.localCalls && !def.Durable {
		ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: opts.StartToCloseTimeout, RetryPolicy: opts.RetryPolicy,
			// Without it the SDK ends a local activity's retries after one StartToClose
			// timeout (30 s), however many attempts the policy allows: an outage of a
			// minute would become an incident long before process.call_attempts are spent.
			ScheduleToCloseTimeout: retryBudget(opts),
		})
		return workflow.ExecuteLocalActivity(ctx, activity, arg)
	}
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), activity, arg)
}

// retryBudget is how long a call may take with every try the policy allows: each try up to
// its StartToClose timeout, and the backoff between them.
func retryBudget(opts workflow.ActivityOptions) time.Duration {
	p := opts.RetryPolicy
	budget := time.Duration(p.MaximumAttempts) * opts.StartToCloseTimeout
	wait := p.InitialInterval
	for range p.MaximumAttempts - 1 {
		budget += wait
		wait = min(time.Duration(float64(wait)*p.BackoffCoefficient), p.MaximumInterval)
	}
	return budget
}

func (r *rollIn) activityOptions(def StepDef) workflow.ActivityOptions {
	retry := &temporal.RetryPolicy{
		InitialInterval:        r.opts.RetryInitial,
		BackoffCoefficient:     2,
		MaximumInterval:        r.opts.RetryMax,
		MaximumAttempts:        int32(max(min(r.opts.CallAttempts, math.MaxInt32), 1)), // already >= 1 by withDefaults
		NonRetryableErrorTypes: []string{ErrTypePermanent},
	}
	opts := workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, RetryPolicy: retry}
	switch def.Name {
	case StepRouting:
		// The portal directory can take up to 72 hours to show a new route: poll durably.
		retry.InitialInterval = r.opts.RoutingPoll
		retry.MaximumInterval = 6 * r.opts.RoutingPoll
		retry.MaximumAttempts = 0
		opts.ScheduleToCloseTimeout = r.opts.RoutingDeadline
	case StepTestSubmission:
		opts.StartToCloseTimeout = 15 * time.Minute
		opts.HeartbeatTimeout = 30 * time.Second
	}
	return opts
}

// attemptsOf reads how many tries a failed activity made; activities attach the attempt
// to their errors. A timeout carries none: then every allowed try was spent.
func (r *rollIn) attemptsOf(err error) int {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.HasDetails() {
		var attempt int
		if app.Details(&attempt) == nil && attempt > 0 {
			return attempt
		}
	}
	return r.opts.CallAttempts
}

// errMessage is the message of the last failed try, without the activity wrapper's noise.
func errMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		return "timed out (" + timeout.TimeoutType().String() + ")"
	}
	return err.Error()
}

func (r *rollIn) handler(name string) func(workflow.Context, ActionInput) (domain.RunStatus, error) {
	return func(ctx workflow.Context, in ActionInput) (domain.RunStatus, error) {
		if _, ok := r.applied[in.ActionID]; ok {
			return r.status(), nil // the same action ID again: applied once already
		}
		r.applied[in.ActionID] = appliedAction{name: name, actor: in.Actor, digest: UpdateID(name, in)}
		r.ticket++
		t := r.ticket
		a := &pendingAction{name: name, in: in, ticket: t}
		r.inbox = a
		if name == ActionCancel && r.cancelCall != nil {
			r.cancelCall()
		}
		if err := workflow.Await(ctx, func() bool { return r.persisted >= t }); err != nil {
			return domain.RunStatus{}, err
		}
		if a.refusal != "" {
			return domain.RunStatus{}, reject(ErrTypeNotAllowed, "%s", a.refusal)
		}
		return r.status(), nil
	}
}

// validator rejects an action that is wrong now, before anything reaches history.
func (r *rollIn) validator(name string) func(workflow.Context, ActionInput) error {
	return func(_ workflow.Context, in ActionInput) error {
		if in.ActionID == "" {
			return reject(ErrTypeInvalidData, "action_id: required (it makes the action idempotent)")
		}
		if prev, ok := r.applied[in.ActionID]; ok {
			// A repeat of the same action by the same actor with the same content changes
			// nothing (the handler answers the current status); anything else under a used
			// ID would silently do nothing, so it is refused. Another actor's action is not
			// described: the ID's first use is none of this caller's business.
			switch {
			case prev.actor != in.Actor:
				return reject(ErrTypeNotAllowed, "action_id %s is already used by someone else; choose a new action_id", in.ActionID)
			case prev.name != name:
				return reject(ErrTypeNotAllowed, "action_id %s was already used for %s; choose a new action_id", in.ActionID, prev.name)
			case prev.digest != UpdateID(name, in):
				return reject(ErrTypeNotAllowed, "action_id %s was already used for %s with other content; choose a new action_id", in.ActionID, prev.name)
			}
			return nil
		}
		if !slices.Contains(AllowedRoles(name), in.Role) {
			return reject(ErrTypeForbidden, "role %q may not %s", in.Role, name)
		}
		if r.state.Final() {
			return reject(ErrTypeNotAllowed, "the run is %s: no further actions", r.state)
		}
		if r.inbox != nil {
			return reject(ErrTypeNotAllowed, "another action (%s) is being applied; try again", r.inbox.name)
		}
		switch name {
		case ActionCancel:
			if in.Reason == "" {
				return reject(ErrTypeInvalidData, "reason: required to cancel a run")
			}
			return nil
		case ActionRetryStep, ActionSkipStep:
			if r.state != domain.RunIncident {
				return reject(ErrTypeNotAllowed, "no incident is open (the run is %s)", r.state)
			}
			if in.Step != "" && in.Step != r.waiting.Step {
				return reject(ErrTypeNotAllowed, "step %q has no incident; the incident is on %q", in.Step, r.waiting.Step)
			}
			if name == ActionSkipStep && in.Reason == "" {
				return reject(ErrTypeInvalidData, "reason: required to skip a step")
			}
			if name == ActionSkipStep && r.waiting.Step == StepPrecheck {
				return reject(ErrTypeNotAllowed, "the pre-check cannot be skipped: the step plan depends on it")
			}
			return nil
		}
		if r.waiting == nil || r.waiting.Action != name {
			current := "nothing from a person"
			if r.waiting != nil {
				current = r.waiting.Action + " on step " + r.waiting.Step
			}
			return reject(ErrTypeNotAllowed, "the run is not waiting for %s (state %s, waiting for %s)", name, r.state, current)
		}
		if in.Step != "" && in.Step != r.waiting.Step {
			return reject(ErrTypeNotAllowed, "step %q is not waiting; %q is", in.Step, r.waiting.Step)
		}
		switch name {
		case ActionSubmitConnectionData:
			if _, err := ParseConnectionData(in.Data, r.rc); err != nil {
				return reject(ErrTypeInvalidData, "%s", err)
			}
		case ActionConfirmTest:
			if _, err := ParseTestConfirmation(in.Data); err != nil {
				return reject(ErrTypeInvalidData, "%s", err)
			}
		}
		return nil
	}
}

func reject(errType, format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), errType)
}
