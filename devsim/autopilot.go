package devsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/systems/municipality"
	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/workflows"
)

// Starter is what the autopilot needs of Rollin's service layer: to act as the people
// would, to read a run and the runs waiting on a person, and to read a Steckbrief for the
// questionnaire. *starter.Service implements it (it is part of starter.API), so the
// autopilot goes through the same role checks, validation and Updates as the API; tests
// give it a fake.
type Starter interface {
	Act(ctx context.Context, p starter.Principal, ars, service string, a starter.Action) (domain.RunStatus, error)
	Status(ctx context.Context, p starter.Principal, ars, service string) (domain.RunStatus, error)
	List(ctx context.Context, p starter.Principal, f store.RunFilter) (items []domain.RunStatus, next string, err error)
	Service(ctx context.Context, p starter.Principal, key string) (domain.Service, error)
}

var _ Starter = (*starter.Service)(nil)

// Principal is who the autopilot acts as in the audit log.
const Principal = "autopilot"

// reader is the principal the autopilot reads runs and Steckbriefe as: it stands in for
// the people of every organisation, so it sees all of them.
var reader = starter.Principal{Name: Principal, Role: domain.RoleOperator, AllOrganisations: true}

// played lists the actions the autopilot takes: those of the workflow's human steps, each
// taken by the one role workflows.AllowedRoles names. The operator's commands (retry,
// skip, cancel) are left to people.
var played = []string{
	workflows.ActionSignAgreement, workflows.ActionCountersignAgreement, workflows.ActionSubmitConnectionData,
	workflows.ActionConfirmTest, workflows.ActionConfirmConnection,
}

// takerOf returns the role that takes a played action; false for one the autopilot does
// not play.
func takerOf(action string) (domain.Role, bool) {
	roles := workflows.AllowedRoles(action)
	if !slices.Contains(played, action) || len(roles) != 1 {
		return "", false
	}
	return roles[0], true
}

// unannounced are the human steps whose wait no notice announces to the municipality
// simulator: the operator's connection tasks (operators are told by e-mail and webhook
// only, never through the municipality's system). The autopilot looks for runs waiting
// at them in the read model every AutopilotConfig.Poll.
var unannounced = []string{workflows.StepDVDV, workflows.StepEmailRoute}

// AutopilotTestNote is the note of a confirm-test answered "not received".
const AutopilotTestNote = "Autopilot: Testantrag nicht angekommen"

// Defaults of AutopilotConfig.
const (
	DefaultAutopilotConcurrency = 16
	DefaultAutopilotAttempts    = 10
	DefaultAutopilotBackoff     = 250 * time.Millisecond
	DefaultAutopilotPoll        = time.Second
)

// autopilotMaxBackoff caps the doubling wait between tries; autopilotActTimeout bounds
// one try of an action, and one look into the read model.
const (
	autopilotMaxBackoff = 10 * time.Second
	autopilotActTimeout = time.Minute
)

// autopilotIDPrefix starts every action ID; the notice's key follows.
const autopilotIDPrefix = "autopilot/"

// retryError marks a transient failure: the autopilot tries the action again, under the
// same action ID, so a try that got through after all is not applied twice. Any other
// error — a refused action, a finished run — is logged and counted as failed.
type retryError struct{ err error }

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// retryable marks err as transient; nil stays nil.
func retryable(err error) error {
	if err == nil {
		return nil
	}
	return &retryError{err}
}

func isRetryable(err error) bool {
	var r *retryError
	return errors.As(err, &r)
}

// AutopilotConfig tunes the autopilot. The zero value is disabled.
type AutopilotConfig struct {
	Enabled bool
	// Delay is the wait after the notice before acting.
	Delay time.Duration
	// TestFailureRate is the share (0..1) of confirm-test answered {"received": false}.
	// The draw is a function of Seed and the notice's key, so it does not depend on the
	// order or concurrency in which notices arrive.
	TestFailureRate float64
	Seed            int64
	// Concurrency is the most actions in flight at once (default 16).
	Concurrency int
	// Attempts bounds the tries of one action on retryable errors (default 10: about 45 s,
	// longer than a dead worker's workflow tasks take to move to another); Backoff is the
	// first wait between tries, doubling up to 10s (default 250ms).
	Attempts int
	Backoff  time.Duration
	// Poll is how often the autopilot looks in the read model for runs waiting at a step
	// no notice announces (the operator's connection tasks); default 1s.
	Poll time.Duration
}

// AutopilotStats counts what the autopilot did. Every notice handed over ends in exactly
// one of Ignored, Acted, Failed, Dropped, or is still Pending.
type AutopilotStats struct {
	// Noticed counts the waits taken on; Ignored the other notices (not waiting, no
	// action, no key, an action for the same wait already queued, disabled or stopped).
	Noticed int `json:"noticed"`
	Ignored int `json:"ignored"`
	// Acted counts actions the starter accepted; Failed those refused or whose tries ran
	// out; Dropped those not taken because Stop came first; Retries the extra tries.
	Acted   int `json:"acted"`
	Failed  int `json:"failed"`
	Dropped int `json:"dropped"`
	Retries int `json:"retries"`
	// Pending is waiting out the delay or in flight now.
	Pending int `json:"pending"`
	// TestNotReceived counts confirm-test actions answered "not received".
	TestNotReceived int `json:"test_not_received"`
	// ByAction splits Acted and Failed by action.
	ByAction map[string]ActionStats `json:"by_action"`
}

// ActionStats are the counts of one action.
type ActionStats struct {
	Acted  int `json:"acted"`
	Failed int `json:"failed"`
}

// Autopilot plays the human steps of roll-ins: for every run waiting on a person it takes
// the action the step waits for, through the starter, after AutopilotConfig.Delay. It
// hears of the waits from the municipality simulator's notices (it is its
// simulator.Listener) and, for the operator's tasks that no notice announces, from the
// read model. It is safe for concurrent use. Waits queue in FIFO order (the delay is the
// same for all, so arrival order is due order) for one dispatcher and Concurrency
// workers, so a campaign of thousands of runs costs a queue entry per waiting run, not a
// goroutine.
type Autopilot struct {
	cfg     AutopilotConfig
	starter Starter
	log     *zap.Logger

	wake     chan struct{} // an action was queued; capacity 1
	work     chan queuedAction
	stop     chan struct{}
	stopOnce sync.Once
	// looking bounds the watcher's reads of the read model; Stop cancels it. Actions in
	// flight have contexts of their own, so that Stop lets them finish.
	looking    context.Context
	stopLooker context.CancelFunc
	wg         sync.WaitGroup

	mu       sync.Mutex
	queue    []queuedAction // due times non-decreasing
	stopped  bool
	inFlight int // taken off the queue, not yet finished
	// pending holds the wait (run, step and action) of every action queued or in flight,
	// so that a second notice of the same wait — a resumed run whose live notice also
	// arrives — does not act twice.
	pending map[string]bool
	stats   AutopilotStats
}

// action is one action the autopilot takes.
type action struct {
	ars, service string
	role         domain.Role
	name         string
	// step is the step the notice was about; the starter passes it on, so that a stale
	// action cannot hit a later step.
	step string
	// id is "autopilot/" + the notice's key: deterministic, so a repeated notice (or a
	// retried try) does not act twice.
	id string
	// done, if set, tells the notice's sender that the action finished (acted or failed,
	// not dropped by Stop): the municipality simulator forgets the notice then.
	done func()
}

// waitKey identifies the wait an action answers.
func (act action) waitKey() string {
	return act.ars + "/" + act.service + "/" + act.step + "/" + act.name
}

type queuedAction struct {
	act action
	due time.Time
}

// NewAutopilot returns an autopilot that acts through st; with cfg.Enabled false (or no
// st) it ignores every notice. A nil log discards the log. Call Stop when done.
func NewAutopilot(cfg AutopilotConfig, st Starter, log *zap.Logger) *Autopilot {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultAutopilotConcurrency
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAutopilotAttempts
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultAutopilotBackoff
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultAutopilotPoll
	}
	cfg.Delay = max(cfg.Delay, 0)
	cfg.TestFailureRate = min(max(cfg.TestFailureRate, 0), 1)
	if log == nil {
		log = zap.NewNop()
	}
	a := &Autopilot{
		cfg:     cfg,
		starter: st,
		log:     log.Named("autopilot"),
		wake:    make(chan struct{}, 1),
		work:    make(chan queuedAction),
		stop:    make(chan struct{}),
		pending: map[string]bool{},
		stats:   AutopilotStats{ByAction: map[string]ActionStats{}},
	}
	a.looking, a.stopLooker = context.WithCancel(context.Background())
	if !cfg.Enabled || st == nil {
		a.cfg.Enabled = false
		return a
	}
	a.wg.Add(2 + cfg.Concurrency)
	go a.dispatch()
	go a.watch()
	for range cfg.Concurrency {
		go a.worker()
	}
	return a
}

// Heard takes on a notice of the municipality simulator (Autopilot is its
// simulator.Listener): a waiting notice for an action the autopilot plays is queued to be
// acted on after the delay, anything else is ignored. It never blocks on the delay or the
// starter, and reports whether the notice was queued; done is called once its action
// finished.
func (a *Autopilot) Heard(n simulator.Notice, done func()) bool {
	return a.handle(n, done)
}

var _ simulator.Listener = (*Autopilot)(nil)

func (a *Autopilot) handle(n simulator.Notice, done func()) bool {
	role, known := takerOf(n.Action)
	act := action{
		ars: n.ARS, service: n.Service, role: role, name: n.Action, step: n.Step,
		id: autopilotIDPrefix + n.Key, done: done,
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var why string
	switch {
	case a.stopped:
		why = "stopped"
	case !a.cfg.Enabled:
		why = "disabled"
	case n.Kind != municipality.NoticeWaiting:
		why = "not a waiting notice"
	case !known:
		why = "no human action the autopilot plays"
	case string(role) != n.Recipient:
		why = fmt.Sprintf("%s is taken by %s, the notice went to %s", n.Action, role, n.Recipient)
	case n.Key == "":
		why = "no idempotency key"
	case a.pending[act.waitKey()]:
		why = "an action for this wait is already queued"
	}
	if why != "" {
		a.stats.Ignored++
		a.log.Debug("notice ignored", zap.String("reason", why), zap.String("kind", n.Kind),
			zap.String("action", n.Action), zap.String("ars", n.ARS), zap.String("service", n.Service))
		return false
	}
	a.stats.Noticed++
	a.pending[act.waitKey()] = true
	a.queue = append(a.queue, queuedAction{act: act, due: time.Now().Add(a.cfg.Delay)})
	select {
	case a.wake <- struct{}{}:
	default:
	}
	return true
}

// Resume takes on every run that waits on a person, as the notice it would have received,
// and returns how many it took on: the runs whose notices went out before the autopilot
// started. The notice's key is the run's ID and seq, so resuming twice at the same state
// acts once.
func (a *Autopilot) Resume(ctx context.Context) (int, error) {
	waits, err := a.waits(ctx, store.RunFilter{})
	n := 0
	for _, w := range waits {
		if a.handle(w, nil) {
			n++
		}
	}
	if err != nil {
		return n, fmt.Errorf("autopilot: %w", err)
	}
	return n, nil
}

// waits lists the runs of f that wait on a person, as the notices they would have sent,
// with the run's ID and seq as the key. On error it returns what it listed so far.
func (a *Autopilot) waits(ctx context.Context, f store.RunFilter) ([]simulator.Notice, error) {
	f.State, f.Limit = string(domain.RunWaiting), 1000
	var out []simulator.Notice
	for {
		runs, next, err := a.starter.List(ctx, reader, f)
		if err != nil {
			return out, fmt.Errorf("list waiting runs: %w", err)
		}
		for _, r := range runs {
			if r.WaitingFor == nil {
				continue
			}
			out = append(out, simulator.Notice{
				Key: "waiting/" + r.ID + "/" + strconv.FormatInt(r.Seq, 10), ARS: string(r.ARS), Service: string(r.Service),
				Recipient: string(r.WaitingFor.Role), Kind: municipality.NoticeWaiting,
				Action: r.WaitingFor.Action, Step: r.WaitingFor.Step,
			})
		}
		if next == "" {
			return out, nil
		}
		f.Cursor = next
	}
}

// watch takes on, every Poll, the runs waiting at a step no notice announces. A wait is
// taken on once per run and seq: the one found again in the next look — its action
// failed, or the read model has not caught up — is left alone.
func (a *Autopilot) watch() {
	defer a.wg.Done()
	ticker := time.NewTicker(a.cfg.Poll)
	defer ticker.Stop()
	seen := map[string]bool{}
	for {
		select {
		case <-ticker.C:
		case <-a.stop:
			return
		}
		ctx, cancel := context.WithTimeout(a.looking, autopilotActTimeout)
		now := map[string]bool{}
		complete := true
		for _, step := range unannounced {
			waits, err := a.waits(ctx, store.RunFilter{Step: step})
			if err != nil {
				complete = false
				level := zap.WarnLevel
				if starter.KindOf(err) == starter.KindUnavailable || a.looking.Err() != nil {
					level = zap.DebugLevel
				}
				a.log.Log(level, "could not look for runs waiting on an operator", zap.String("step", step), zap.Error(err))
			}
			for _, w := range waits {
				now[w.Key] = true
				if !seen[w.Key] {
					a.handle(w, nil)
				}
			}
		}
		cancel()
		if complete {
			seen = now // forget the waits that are over
		} else {
			for k := range now {
				seen[k] = true
			}
		}
	}
}

// Stop stops taking notices: those still waiting out the delay are dropped, actions in
// flight are finished (their retries are not), and Stop returns when they are. Notices
// handed over later are ignored. It is safe to call more than once.
func (a *Autopilot) Stop() {
	a.stopOnce.Do(func() {
		a.mu.Lock()
		a.stopped = true
		a.stats.Dropped += len(a.queue)
		for _, q := range a.queue {
			delete(a.pending, q.act.waitKey())
		}
		a.queue = nil
		a.mu.Unlock()
		close(a.stop)
		a.stopLooker()
	})
	a.wg.Wait()
}

// Stats returns a copy of the counters.
func (a *Autopilot) Stats() AutopilotStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.stats
	s.Pending = len(a.queue) + a.inFlight
	s.ByAction = make(map[string]ActionStats, len(a.stats.ByAction))
	for k, v := range a.stats.ByAction {
		s.ByAction[k] = v
	}
	return s
}

// dispatch hands queued actions to the workers when they are due.
func (a *Autopilot) dispatch() {
	defer a.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		a.mu.Lock()
		if a.stopped {
			a.mu.Unlock()
			return
		}
		if len(a.queue) == 0 {
			a.mu.Unlock()
			select {
			case <-a.wake:
				continue
			case <-a.stop:
				return
			}
		}
		due := a.queue[0].due
		a.mu.Unlock()

		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-a.stop:
				timer.Stop()
				return
			}
		}

		// Only the dispatcher takes from the queue, so the head is still the same entry
		// unless Stop emptied the queue meanwhile.
		a.mu.Lock()
		if a.stopped {
			a.mu.Unlock()
			return
		}
		next := a.queue[0]
		a.queue[0] = queuedAction{}
		a.queue = a.queue[1:]
		a.inFlight++
		a.mu.Unlock()

		select {
		case a.work <- next:
		case <-a.stop:
			a.finish(next.act, outcomeDropped, nil)
			return
		}
	}
}

func (a *Autopilot) worker() {
	defer a.wg.Done()
	for {
		select {
		case q := <-a.work:
			a.run(q.act)
		case <-a.stop:
			return
		}
	}
}

type outcome int

const (
	outcomeActed outcome = iota
	outcomeFailed
	outcomeDropped
)

// run takes one action, trying again with backoff while the error is retryable.
func (a *Autopilot) run(act action) {
	if a.stopping() {
		a.finish(act, outcomeDropped, nil)
		return
	}
	backoff := a.cfg.Backoff
	for attempt := 1; ; attempt++ {
		err := a.attempt(act)
		if err == nil {
			a.finish(act, outcomeActed, nil)
			return
		}
		if !isRetryable(err) || attempt >= a.cfg.Attempts {
			a.finish(act, outcomeFailed, fmt.Errorf("attempt %d of %d: %w", attempt, a.cfg.Attempts, err))
			return
		}
		a.mu.Lock()
		a.stats.Retries++
		a.mu.Unlock()
		a.log.Debug("action failed, trying again", zap.String("action", act.name), zap.String("action_id", act.id),
			zap.Int("attempt", attempt), zap.Duration("backoff", backoff), zap.Error(err))
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-a.stop:
			t.Stop()
			a.finish(act, outcomeDropped, err)
			return
		}
		backoff = min(2*backoff, autopilotMaxBackoff)
	}
}

// attempt tries the action once. A try that ran out of its own deadline is retryable:
// the action ID makes the repetition harmless.
func (a *Autopilot) attempt(act action) error {
	ctx, cancel := context.WithTimeout(context.Background(), autopilotActTimeout)
	defer cancel()
	err := a.act(ctx, act)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && !isRetryable(err) {
		err = retryable(err)
	}
	return err
}

// act sends the action with its data as the role the step waits for. Errors the starter
// classifies as unavailable (Temporal or PostgreSQL did not answer) are retryable, and so
// is "not now" while the run is not final: a notice can arrive a moment before the
// workflow has recorded the wait it announces — notices go out from inside a workflow
// task, and when a worker dies before that task is recorded, the next worker records it
// seconds later without sending the notice again (same idempotency key). A person would
// try again, so the autopilot does. Other refusals (bad data, a finished run) are final.
func (a *Autopilot) act(ctx context.Context, act action) error {
	data, err := a.data(ctx, act)
	if err != nil {
		return err
	}
	// The autopilot stands in for the people of every organisation.
	p := starter.Principal{Name: Principal, Role: act.role, AllOrganisations: true}
	if p.Role == domain.RoleMunicipality {
		p.ARS = domain.ARS(act.ars)
	}
	_, err = a.starter.Act(ctx, p, act.ars, act.service, starter.Action{
		Name: act.name, ID: act.id, Step: act.step, Data: data,
	})
	switch starter.KindOf(err) {
	case starter.KindUnavailable:
		return retryable(err)
	case starter.KindConflict:
		if st, serr := a.starter.Status(ctx, reader, act.ars, act.service); serr == nil && !st.State.Final() {
			return retryable(err)
		}
	}
	return err
}

// data is the action's payload: the questionnaire or the test confirmation.
func (a *Autopilot) data(ctx context.Context, act action) (json.RawMessage, error) {
	switch act.name {
	case workflows.ActionSubmitConnectionData:
		svc, err := a.starter.Service(ctx, reader, act.service)
		if starter.KindOf(err) == starter.KindUnavailable {
			err = retryable(err)
		}
		if err != nil {
			return nil, fmt.Errorf("look up service %s: %w", act.service, err)
		}
		c, err := connectionData(act.ars, svc)
		if err != nil {
			return nil, err
		}
		return json.Marshal(c)
	case workflows.ActionConfirmTest:
		received := !a.testFails(act.id)
		c := workflows.TestConfirmation{Received: &received}
		if !received {
			c.Note = AutopilotTestNote
		}
		return json.Marshal(c)
	}
	return nil, nil
}

// testFails draws whether the test submission "did not arrive", from Seed and the action
// ID alone.
func (a *Autopilot) testFails(actionID string) bool {
	if a.cfg.TestFailureRate <= 0 {
		return false
	}
	h := fnv.New64a()
	h.Write([]byte(actionID)) // #nosec G104 -- a hash.Hash's Write never returns an error
	// #nosec G115 G404 -- the draw must be reproducible from Seed and the action ID, which
	// crypto/rand cannot be; it guards nothing. uint64(Seed) reinterprets the seed's bits.
	return rand.New(rand.NewPCG(uint64(a.cfg.Seed), h.Sum64())).Float64() < a.cfg.TestFailureRate
}

func (a *Autopilot) stopping() bool {
	select {
	case <-a.stop:
		return true
	default:
		return false
	}
}

func (a *Autopilot) finish(act action, o outcome, err error) {
	a.mu.Lock()
	a.inFlight--
	delete(a.pending, act.waitKey())
	by := a.stats.ByAction[act.name]
	switch o {
	case outcomeActed:
		a.stats.Acted++
		by.Acted++
		if act.name == workflows.ActionConfirmTest && a.testFails(act.id) {
			a.stats.TestNotReceived++
		}
	case outcomeFailed:
		a.stats.Failed++
		by.Failed++
	case outcomeDropped:
		a.stats.Dropped++
	}
	if o != outcomeDropped {
		a.stats.ByAction[act.name] = by
	}
	a.mu.Unlock()
	if act.done != nil && o != outcomeDropped {
		act.done()
	}

	fields := []zap.Field{zap.String("action", act.name), zap.String("role", string(act.role)), zap.String("step", act.step),
		zap.String("ars", act.ars), zap.String("service", act.service), zap.String("action_id", act.id)}
	switch o {
	case outcomeActed:
		a.log.Debug("acted", fields...)
	case outcomeFailed:
		a.log.Warn("action failed", append(fields, zap.Error(err))...)
	case outcomeDropped:
		a.log.Debug("action dropped: autopilot stopped", fields...)
	}
}

// connectionData fills the questionnaire for municipality ars and service svc: the first
// compatible Fachverfahren, FIT-Connect where the service offers it (else its first
// route), a DVDV key for XTA and an IBAN where the service charges fees.
func connectionData(ars string, svc domain.Service) (workflows.ConnectionData, error) {
	if len(svc.Fachverfahren) == 0 || len(svc.Transports) == 0 {
		return workflows.ConnectionData{}, fmt.Errorf("service %s lists no Fachverfahren or no transport", svc.Key)
	}
	c := workflows.ConnectionData{
		ContactEmail:  "autopilot@" + ars + ".example",
		Fachverfahren: svc.Fachverfahren[0],
		Transport:     svc.Transports[0],
		OrgUnitID:     "OE-" + ars,
	}
	if svc.Supports(domain.TransportFITConnect) {
		c.Transport = domain.TransportFITConnect
	}
	if c.Transport == domain.TransportFITConnect {
		c.ContactAddress = "Rathaus, Marktplatz 1, " + ars
	}
	if c.Transport == domain.TransportXTA {
		c.DVDVKey = "dvd:" + ars
	}
	if svc.PaymentRequired {
		c.PaymentAccount = autopilotIBAN(ars)
	}
	return c, nil
}

// autopilotBLZ is the Bankleitzahl of the autopilot's payment accounts.
const autopilotBLZ = "37050198"

// autopilotIBAN returns a German IBAN with valid ISO 7064 mod-97 check digits: a fixed
// Bankleitzahl and an account number made of the last 10 digits of ars.
func autopilotIBAN(ars string) string {
	var digits []byte
	for i := 0; i < len(ars); i++ {
		if ars[i] >= '0' && ars[i] <= '9' {
			digits = append(digits, ars[i])
		}
	}
	account := strings.Repeat("0", max(10-len(digits), 0)) + string(digits)
	account = account[len(account)-10:]
	bban := autopilotBLZ + account
	// Check digits: the BBAN followed by the country code as digits (D=13, E=14) and
	// "00", mod 97; the check number is 98 minus the remainder.
	rem := 0
	for _, d := range bban + "131400" {
		rem = (rem*10 + int(d-'0')) % 97
	}
	return fmt.Sprintf("DE%02d%s", 98-rem, bban)
}
