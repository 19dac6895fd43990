package starter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/textrule"
	"github.com/rollin-efa/rollin/workflows"
)

// Service implements API on Temporal (to start and act) and the read model (to read).
type Service struct {
	temporal  client.Client
	store     *store.Store
	taskQueue string
	options   workflows.Options
	// appearWait bounds how long Start waits for a new run's first write to the read model.
	appearWait time.Duration
	// actionWait bounds how long Act waits for an accepted action to be recorded.
	actionWait time.Duration
}

// DefaultActionWait is process.action_wait's default: how long an action's caller waits
// for the workflow to record the accepted action before it gets ErrNotYetRecorded's 503.
const DefaultActionWait = 20 * time.Second

var _ API = (*Service)(nil)

// New returns the service layer. options are the timings new runs start with.
func New(c client.Client, st *store.Store, taskQueue string, options workflows.Options) *Service {
	return &Service{temporal: c, store: st, taskQueue: taskQueue, options: options, appearWait: 10 * time.Second, actionWait: DefaultActionWait}
}

// SetActionWait sets how long Act waits for an accepted action to be recorded
// (process.action_wait); zero or less keeps DefaultActionWait. Call it before serving.
func (s *Service) SetActionWait(d time.Duration) {
	if d > 0 {
		s.actionWait = d
	}
}

// Start starts the roll-in of service into the municipality ars. Starting a roll-in that
// exists already returns it with created false: the workflow ID is deterministic, and
// Temporal refuses a second run with it.
func (s *Service) Start(ctx context.Context, p Principal, ars, service string) (domain.RunStatus, bool, error) {
	if !MayStart(p) {
		return domain.RunStatus{}, false, refuse(KindForbidden, "role %q may not start roll-ins (project managers do)", p.Role)
	}
	if err := checkRunKeyText(ars, service); err != nil {
		return domain.RunStatus{}, false, err
	}
	a, key, err := parseRunKey(ars, service)
	if err != nil {
		return domain.RunStatus{}, false, err
	}
	if _, err := s.store.Municipality(ctx, a); err != nil {
		return domain.RunStatus{}, false, s.lookupError(err, "municipality %s is not in the register", a)
	}
	if err := s.requireService(ctx, p, key); err != nil {
		return domain.RunStatus{}, false, err
	}
	id := domain.RunID(a, key)
	// The read model answers for runs Temporal may have forgotten (closed runs leave its
	// history after the namespace's retention): starting those again must not create a
	// second run under the same ID.
	if st, err := s.store.Run(ctx, id); err == nil {
		if !p.sees(st.Organisation) {
			return domain.RunStatus{}, false, foreignRun(id)
		}
		return st, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return domain.RunStatus{}, false, &Error{Kind: KindUnavailable, Msg: "read roll-in " + id, Err: err}
	}
	_, err = s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                s.taskQueue,
		WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.WorkflowRollIn, workflows.Input{
		ARS: a, Service: key, StartedBy: p.Name, Role: p.Role, Options: s.options, Organisation: p.Organisation,
	})
	created := true
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &started):
		created = false
	case err != nil:
		return domain.RunStatus{}, false, &Error{Kind: KindUnavailable, Msg: "start roll-in " + id, Err: err}
	}
	st, err := s.awaitRun(ctx, id)
	if err != nil {
		return domain.RunStatus{}, false, err
	}
	if st.ID == "" {
		// The worker has not written the run yet; report what is certain. (A run started
		// concurrently by someone else shows its organisation once it is written.)
		st = domain.RunStatus{ID: id, ARS: a, Service: key, State: domain.RunRunning, Stage: domain.StagePruefung, Steps: []domain.StepStatus{}}
		if created {
			st.Organisation = p.Organisation
		}
		return st, created, nil
	}
	if !p.sees(st.Organisation) {
		return domain.RunStatus{}, false, foreignRun(id)
	}
	return st, created, nil
}

// foreignRun refuses to start a roll-in another organisation runs: one municipality
// joins a service once, whoever drives it.
func foreignRun(id string) error {
	return refuse(KindConflict, "the roll-in %s exists and belongs to another organisation", id)
}

// requireService loads the Steckbrief and refuses it unless it is in p's catalogue; a
// service of another organisation does not exist for p.
func (s *Service) requireService(ctx context.Context, p Principal, key domain.ServiceKey) error {
	svc, err := s.store.Service(ctx, key)
	if err == nil && !p.seesService(svc) {
		err = store.ErrNotFound
	}
	if err != nil {
		return s.lookupError(err, "service %s is not in the catalogue", key)
	}
	return nil
}

// awaitRun reads a run from the read model, waiting briefly for a just-started run's first
// write. It returns a zero status when the run has not appeared in time.
func (s *Service) awaitRun(ctx context.Context, id string) (domain.RunStatus, error) {
	var st domain.RunStatus
	err := s.poll(ctx, func() (bool, error) {
		found, err := s.store.Run(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		st = found
		return err == nil, err
	})
	if err != nil {
		return domain.RunStatus{}, &Error{Kind: KindUnavailable, Msg: "read roll-in " + id, Err: err}
	}
	return st, nil
}

// poll calls done until it reports true or an error, or until appearWait has passed (then
// it returns nil: the caller reports what is certain). It serves Start, whose workflow
// writes the read model a moment after Temporal accepted it.
func (s *Service) poll(ctx context.Context, done func() (bool, error)) error {
	deadline := time.Now().Add(s.appearWait)
	for {
		ok, err := done()
		if ok || err != nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Status returns one run from the read model.
func (s *Service) Status(ctx context.Context, p Principal, ars, service string) (domain.RunStatus, error) {
	a, key, err := s.visibleRun(p, ars, service)
	if err != nil {
		return domain.RunStatus{}, err
	}
	st, err := s.store.Run(ctx, domain.RunID(a, key))
	if err == nil && !p.sees(st.Organisation) {
		err = store.ErrNotFound // another organisation's run does not exist for p
	}
	if err != nil {
		return domain.RunStatus{}, s.lookupError(err, "no roll-in of service %s into %s", key, a)
	}
	return st, nil
}

// List returns runs matching f, one page at a time. A municipality sees only its own.
func (s *Service) List(ctx context.Context, p Principal, f store.RunFilter) ([]domain.RunStatus, string, error) {
	if err := checkRole(p); err != nil {
		return nil, "", err
	}
	if err := checkRunFilterText(f); err != nil {
		return nil, "", err
	}
	if err := checkRunFilter(f); err != nil {
		return nil, "", err
	}
	switch {
	case p.Role == domain.RoleMunicipality:
		if f.ARS != "" && f.ARS != string(p.ARS) {
			return []domain.RunStatus{}, "", nil // another municipality's runs do not exist for it
		}
		f.ARS = string(p.ARS)
	case !p.AllOrganisations:
		f.Organisation = &p.Organisation
	}
	items, next, err := s.store.Runs(ctx, f)
	if err != nil {
		return nil, "", s.lookupError(err, "list roll-ins")
	}
	return items, next, nil
}

// Act sends an action to a run as a Temporal Update and returns the run's status after it.
// The workflow's validator decides whether the action fits the run's state; a refusal
// comes back as a KindConflict (not now, or an action ID used for another action or by
// another actor), KindInvalid (bad data) or KindForbidden error.
//
// Act waits at most actionWait, all told, to read the run (at most a quarter of it), for
// the workflow to accept the action and to record it (the workflow answers once the
// transition is in the read model), and then a quarter of it to read the run after. Past that, as while the
// database is away, the caller gets a KindUnavailable error saying the action was accepted
// (or sent) and not yet recorded; repeating it with the same action ID attaches to the
// same Update and answers the applied state once it is recorded.
func (s *Service) Act(ctx context.Context, p Principal, ars, service string, a Action) (domain.RunStatus, error) {
	if err := checkRunKeyText(ars, service); err != nil {
		return domain.RunStatus{}, err
	}
	if err := checkAction(a); err != nil {
		return domain.RunStatus{}, err
	}
	if !slices.Contains(workflows.Actions, a.Name) {
		return domain.RunStatus{}, refuse(KindInvalid, "action: %q is not one of %s", a.Name, strings.Join(workflows.Actions, ", "))
	}
	if !May(p, a.Name) {
		return domain.RunStatus{}, refuse(KindForbidden, "role %q may not %s", p.Role, a.Name)
	}
	if strings.TrimSpace(a.ID) == "" {
		return domain.RunStatus{}, refuse(KindInvalid, "action_id: required (a unique ID per action makes retries safe)")
	}
	// One bound for everything up to the answer: the read of the run, acceptance (quick
	// unless the run is busy retrying a write: a workflow task holding a local activity
	// sends the acceptance with its next renewal, up to 8 s later) and recording (as long
	// as the database needs).
	wait, cancel := context.WithTimeout(ctx, s.actionWait)
	defer cancel()
	current, err := s.boundedStatus(wait, p, ars, service)
	if KindOf(err) == KindUnavailable {
		// The read model is away: the workflow itself says whether the run exists for p,
		// so that the action is accepted now and recorded once the database is back.
		current, err = s.workflowStatus(wait, p, ars, service, err)
	}
	if err != nil {
		return domain.RunStatus{}, err
	}
	notYet := func(what string) error {
		return &Error{Kind: KindUnavailable, pending: true, Msg: fmt.Sprintf(
			"%s (action_id %s) %s: repeat with the same action_id to see its result", a.Name, a.ID, what)}
	}
	// A final run is asked too: Temporal answers a repeated Update ID of a closed run with
	// the first Update's outcome, so the repeat of an action that ended the run (a cancel
	// whose answer was lost) gets its result; anything else is refused below.
	in := workflows.ActionInput{ActionID: a.ID, Actor: p.Name, Role: p.Role, Step: a.Step, Reason: a.Reason, Data: a.Data}
	handle, err := s.temporal.UpdateWorkflow(wait, client.UpdateWorkflowOptions{
		WorkflowID:   current.ID,
		UpdateID:     workflows.UpdateID(a.Name, in),
		UpdateName:   a.Name,
		WaitForStage: client.WorkflowUpdateStageAccepted,
		Args:         []any{in},
	})
	if outOfTime(err, wait) && ctx.Err() == nil {
		return domain.RunStatus{}, notYet("sent, not yet accepted (it may still be applied)")
	}
	if err == nil {
		var ignored domain.RunStatus
		err = handle.Get(wait, &ignored)
		if outOfTime(err, wait) && ctx.Err() == nil {
			return domain.RunStatus{}, notYet("accepted, not yet recorded")
		}
	}
	if err != nil {
		var notFound *serviceerror.NotFound
		if current.State.Final() && errors.As(err, &notFound) {
			return domain.RunStatus{}, refuse(KindConflict, "the run is %s: no further actions", current.State)
		}
		return domain.RunStatus{}, updateError(err, current)
	}
	// The Update returns only after the workflow wrote the transition, so the read model
	// already shows the result.
	return s.boundedStatus(ctx, p, ars, service)
}

// outOfTime reports whether err ended an Update's wait because its bound passed: the
// client's own deadline error, or the context's, which the SDK may see a moment before
// wait itself is done.
func outOfTime(err error, wait context.Context) bool {
	if err == nil {
		return false
	}
	var timeout *client.WorkflowUpdateServiceTimeoutOrCanceledError
	return wait.Err() != nil || errors.As(err, &timeout) || errors.Is(err, context.DeadlineExceeded)
}

// boundedStatus is Status for Act, waiting at most a quarter of actionWait: a read model
// that answers neither yes nor no (a lock, a database that stopped answering) must not
// keep an action's caller from the answer Act promises within its bound.
func (s *Service) boundedStatus(ctx context.Context, p Principal, ars, service string) (domain.RunStatus, error) {
	rctx, cancel := context.WithTimeout(ctx, s.actionWait/4)
	defer cancel()
	st, err := s.Status(rctx, p, ars, service)
	if err != nil && rctx.Err() != nil && ctx.Err() == nil {
		return domain.RunStatus{}, &Error{Kind: KindUnavailable, Msg: "read model", Err: fmt.Errorf("status of %s/%s: no answer within %s: %w", ars, service, s.actionWait/4, err)}
	}
	return st, err
}

// workflowStatus asks the run's workflow for its status, for Act while the read model
// does not answer (within ctx's deadline: a busy workflow answers with its next task). Whatever keeps it from answering (no such workflow, another
// organisation's run, Temporal away) returns readErr, the read model's own failure, so
// that nothing is learnt of runs p may not see.
func (s *Service) workflowStatus(ctx context.Context, p Principal, ars, service string, readErr error) (domain.RunStatus, error) {
	a, key, err := s.visibleRun(p, ars, service)
	if err != nil {
		return domain.RunStatus{}, err
	}
	q, err := s.temporal.QueryWorkflow(ctx, domain.RunID(a, key), "", workflows.QueryStatus)
	if err != nil {
		return domain.RunStatus{}, readErr
	}
	var st domain.RunStatus
	if err := q.Get(&st); err != nil || st.ID == "" || !p.sees(st.Organisation) {
		return domain.RunStatus{}, readErr
	}
	return st, nil
}

// updateError maps a failed Update to a refusal the caller understands.
func updateError(err error, current domain.RunStatus) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		switch app.Type() {
		case workflows.ErrTypeInvalidData:
			return refuse(KindInvalid, "%s", app.Message())
		case workflows.ErrTypeNotAllowed:
			return refuse(KindConflict, "%s", app.Message())
		case workflows.ErrTypeForbidden:
			return refuse(KindForbidden, "%s", app.Message())
		}
	}
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return &Error{Kind: KindConflict, Msg: fmt.Sprintf("the run %s is %s in the read model, but Temporal has no open run with that ID", current.ID, current.State), Err: err}
	}
	return &Error{Kind: KindUnavailable, Msg: "send action to " + current.ID, Err: err}
}

// Audit returns the audit log of one run.
func (s *Service) Audit(ctx context.Context, p Principal, ars, service string) ([]domain.AuditEvent, error) {
	if _, err := s.Status(ctx, p, ars, service); err != nil {
		return nil, err
	}
	a, key, _ := parseRunKey(ars, service)
	events, err := s.store.Audit(ctx, domain.RunID(a, key))
	if err != nil {
		return nil, s.lookupError(err, "audit log of %s", domain.RunID(a, key))
	}
	return events, nil
}

// Services returns the catalogue; every role may read it.
func (s *Service) Services(ctx context.Context, p Principal) ([]domain.Service, error) {
	if err := checkRole(p); err != nil {
		return nil, err
	}
	all, err := s.store.Services(ctx)
	if err != nil {
		return nil, s.lookupError(err, "list services")
	}
	svcs := make([]domain.Service, 0, len(all))
	for _, svc := range all {
		if p.seesService(svc) {
			svcs = append(svcs, svc)
		}
	}
	return svcs, nil
}

// Service returns one Steckbrief.
func (s *Service) Service(ctx context.Context, p Principal, key string) (domain.Service, error) {
	if err := checkRole(p); err != nil {
		return domain.Service{}, err
	}
	if err := checkFields(field{name: "service", value: key, max: textrule.MaxID}); err != nil {
		return domain.Service{}, err
	}
	k, err := domain.ParseServiceKey(key)
	if err != nil {
		return domain.Service{}, refuse(KindInvalid, "service: %s", err)
	}
	svc, err := s.store.Service(ctx, k)
	if err == nil && !p.seesService(svc) {
		err = store.ErrNotFound
	}
	if err != nil {
		return domain.Service{}, s.lookupError(err, "service %s is not in the catalogue", k)
	}
	return svc, nil
}

// Municipalities searches the register. A municipality sees its own entry only.
func (s *Service) Municipalities(ctx context.Context, p Principal, f store.MunicipalityFilter) ([]domain.Municipality, string, error) {
	if err := checkRole(p); err != nil {
		return nil, "", err
	}
	if err := checkMunicipalityFilterText(f); err != nil {
		return nil, "", err
	}
	if f.Land != "" && !domain.Digits(f.Land, 2) {
		return nil, "", refuse(KindInvalid, "land: %q is not a 2-digit Land key", f.Land)
	}
	if f.Kreis != "" && !domain.Digits(f.Kreis, 5) {
		return nil, "", refuse(KindInvalid, "kreis: %q is not a 5-digit Kreis key", f.Kreis)
	}
	if p.Role == domain.RoleMunicipality {
		f.Query = string(p.ARS)
	}
	items, next, err := s.store.Municipalities(ctx, f)
	if err != nil {
		return nil, "", s.lookupError(err, "search municipalities")
	}
	return items, next, nil
}

// visibleRun parses a run's key and hides runs of other municipalities from a
// municipality principal: to it they do not exist (404, not 403, so nothing leaks).
func (s *Service) visibleRun(p Principal, ars, service string) (domain.ARS, domain.ServiceKey, error) {
	if err := checkRole(p); err != nil {
		return "", "", err
	}
	if err := checkRunKeyText(ars, service); err != nil {
		return "", "", err
	}
	a, key, err := parseRunKey(ars, service)
	if err != nil {
		return "", "", err
	}
	if p.Role == domain.RoleMunicipality && a != p.ARS {
		return "", "", refuse(KindNotFound, "no roll-in of service %s into %s", key, a)
	}
	return a, key, nil
}

// lookupError turns a store error into a refusal: not found, invalid input, or unavailable.
func (s *Service) lookupError(err error, format string, args ...any) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return refuse(KindNotFound, format, args...)
	case errors.Is(err, store.ErrInvalid):
		return &Error{Kind: KindInvalid, Msg: strings.TrimPrefix(err.Error(), "store: ")}
	}
	// The format describes the refusal ("no roll-in of ..."), not the failure: it goes to
	// the log with the database's error, and the caller reads that the read model failed.
	return &Error{Kind: KindUnavailable, Msg: "read model", Err: fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)}
}

// checkRunKeyText checks the two strings that name a run, from a path or a form.
func checkRunKeyText(ars, service string) error {
	return checkFields(field{name: "ars", value: ars, max: textrule.MaxID}, field{name: "service", value: service, max: textrule.MaxID})
}

func checkRole(p Principal) error {
	if !p.Role.Valid() {
		return refuse(KindForbidden, "unknown role %q", p.Role)
	}
	if p.Role == domain.RoleMunicipality && p.ARS == "" {
		return refuse(KindForbidden, "a municipality principal needs its ARS")
	}
	return nil
}

func parseRunKey(ars, service string) (domain.ARS, domain.ServiceKey, error) {
	a, err := domain.ParseARS(ars)
	if err != nil {
		return "", "", refuse(KindInvalid, "ars: %s", err)
	}
	key, err := domain.ParseServiceKey(service)
	if err != nil {
		return "", "", refuse(KindInvalid, "service: %s", err)
	}
	return a, key, nil
}

func checkRunFilter(f store.RunFilter) error {
	states := []domain.RunState{domain.RunRunning, domain.RunWaiting, domain.RunIncident, domain.RunBlocked, domain.RunLive, domain.RunCancelled}
	stages := []domain.Stage{domain.StagePruefung, domain.StageVereinbarung, domain.StageAnbindung, domain.StageTest, domain.StageGoLive}
	switch {
	case f.State != "" && !slices.Contains(states, domain.RunState(f.State)):
		return refuse(KindInvalid, "state: %q is not one of running, waiting, incident, blocked, live, cancelled", f.State)
	case f.Stage != "" && !slices.Contains(stages, domain.Stage(f.Stage)):
		return refuse(KindInvalid, "stage: %q is not one of pruefung, vereinbarung, anbindung, test, golive", f.Stage)
	case f.Service != "" && !domain.Digits(f.Service, 14):
		return refuse(KindInvalid, "service: %q is not a 14-digit Leistungsschlüssel", f.Service)
	case f.Land != "" && !domain.Digits(f.Land, 2):
		return refuse(KindInvalid, "land: %q is not a 2-digit Land key", f.Land)
	case f.Kreis != "" && !domain.Digits(f.Kreis, 5):
		return refuse(KindInvalid, "kreis: %q is not a 5-digit Kreis key", f.Kreis)
	case f.ARS != "" && !domain.Digits(f.ARS, 12):
		return refuse(KindInvalid, "ars: %q is not a 12-digit Amtlicher Regionalschlüssel", f.ARS)
	case f.Step != "" && !knownStep(f.Step):
		return refuse(KindInvalid, "step: %q is not a step of the roll-in process (e.g. file-agreement, tenant, test-submission)", f.Step)
	case f.Limit < 0 || f.Limit > 1000:
		return refuse(KindInvalid, "limit: %d is not between 1 and 1000", f.Limit)
	}
	return nil
}

// knownStep reports whether name is a step of the process, so that a misspelt step filter
// is refused instead of silently matching nothing.
func knownStep(name string) bool {
	_, ok := workflows.StepByName(name)
	return ok
}
