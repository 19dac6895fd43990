package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/domain"
)

// The human actions the autopilot plays, with the names of Rollin's actions (package
// workflows, which this low layer must not import).
const (
	autopilotSign        = "sign-agreement"
	autopilotCountersign = "countersign-agreement"
	autopilotConnection  = "submit-connection-data"
	autopilotConfirmTest = "confirm-test"
	autopilotConfirmConn = "confirm-connection"
)

// autopilotRoles maps each human action to the only recipient (role) who takes it.
var autopilotRoles = map[string]string{
	autopilotSign:        "municipality",
	autopilotCountersign: "pm",
	autopilotConnection:  "municipality",
	autopilotConfirmTest: "municipality",
	autopilotConfirmConn: "operator",
}

// AutopilotTestNote is the note of a confirm-test answered "not received".
const AutopilotTestNote = "Autopilot: Testantrag nicht angekommen"

// Defaults of AutopilotConfig.
const (
	DefaultAutopilotConcurrency = 16
	DefaultAutopilotAttempts    = 10
	DefaultAutopilotBackoff     = 250 * time.Millisecond
)

// autopilotMaxBackoff caps the doubling wait between tries; autopilotActTimeout bounds
// one Actor.Act call (its context's deadline).
const (
	autopilotMaxBackoff = 10 * time.Second
	autopilotActTimeout = time.Minute
)

// Actor takes an action on a run for the autopilot. Rollin's dev command implements it
// with its starter (the same Updates people send).
type Actor interface {
	Act(ctx context.Context, a AutopilotAction) error
}

// AutopilotAction is one action the autopilot takes.
type AutopilotAction struct {
	ARS, Service string
	Role         string // "municipality" or "pm"
	Action       string // sign-agreement, countersign-agreement, submit-connection-data, confirm-test, confirm-connection
	Step         string // the step the notice was about; an Actor should pass it on so a stale action cannot hit a later step
	// ActionID is "autopilot/" + the notification's idempotency key: deterministic, so a
	// repeated notification (or a retried Act) does not act twice.
	ActionID string
	Data     json.RawMessage // connection data / test confirmation, nil otherwise
}

// autopilotIDPrefix starts every action ID; the notice's key follows.
const autopilotIDPrefix = "autopilot/"

// RetryableError is implemented by errors an Actor (or a ServiceLookup) returns for a
// transient failure; the autopilot tries again when Retryable reports true. Any other
// error — a conflict because the run moved on, a refused action — is logged and counted
// as failed.
type RetryableError interface {
	Retryable() bool
}

// MarkRetryable wraps err so that the autopilot retries it; nil stays nil.
func MarkRetryable(err error) error {
	if err == nil {
		return nil
	}
	return retryableError{err}
}

type retryableError struct{ err error }

func (e retryableError) Error() string   { return e.err.Error() }
func (e retryableError) Unwrap() error   { return e.err }
func (e retryableError) Retryable() bool { return true }

func isRetryable(err error) bool {
	var r RetryableError
	return errors.As(err, &r) && r.Retryable()
}

// AutopilotConfig tunes the autopilot. The zero value is disabled.
type AutopilotConfig struct {
	Enabled bool
	// Delay is the wait after the notice before acting.
	Delay time.Duration
	// TestFailureRate is the share (0..1) of confirm-test answered {"received": false}.
	// The draw is a function of Seed and the notice's idempotency key, so it does not
	// depend on the order or concurrency in which notices arrive.
	TestFailureRate float64
	Seed            int64
	// Concurrency is the most actions in flight at once (default 16).
	Concurrency int
	// Attempts bounds the tries of one action on retryable errors (default 10: about 45 s,
	// longer than a dead worker's workflow tasks take to move to another); Backoff is the
	// first wait between tries, doubling up to 10s (default 250ms).
	Attempts int
	Backoff  time.Duration
}

// ServiceLookup gives the autopilot the Steckbrief it needs to fill the questionnaire.
type ServiceLookup func(ctx context.Context, key string) (domain.Service, error)

// AutopilotNotice is a notification as the autopilot sees it. The municipality simulator
// hands over every new notification; Handle also lets a caller feed runs that were
// already waiting (e.g. after a restart, from the read model) with a key of its own.
type AutopilotNotice struct {
	// Key is the notification's idempotency key; the action's ID derives from it.
	Key             string
	ARS, Service    string
	Recipient, Kind string
	Action, Step    string
}

// AutopilotStats counts what the autopilot did. Every handled notice ends in exactly one
// of Ignored, Acted, Failed, Dropped, or is still Pending.
type AutopilotStats struct {
	// Noticed counts the waiting notices taken on; Ignored the others (not waiting, no
	// action, no key, disabled or stopped).
	Noticed int `json:"noticed"`
	Ignored int `json:"ignored"`
	// Acted counts actions the Actor accepted; Failed those refused or whose tries ran
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

// Autopilot plays the human steps of roll-ins: for every waiting notice it takes the
// action the step waits for, through an Actor, after AutopilotConfig.Delay. It is safe
// for concurrent use. Notices wait in a FIFO queue (the delay is the same for all, so
// arrival order is due order) served by one dispatcher and Concurrency workers, so a
// campaign of thousands of runs costs a queue entry per waiting run, not a goroutine.
type Autopilot struct {
	cfg      AutopilotConfig
	actor    Actor
	services ServiceLookup
	log      *zap.Logger

	wake     chan struct{} // a notice was queued; capacity 1
	work     chan queuedAction
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu       sync.Mutex
	queue    []queuedAction // due times non-decreasing
	stopped  bool
	inFlight int // taken off the queue, not yet finished
	// pending holds the wait (run and step) of every action queued or in flight, so a
	// second notice of the same wait — a resumed run whose live notice also arrives —
	// does not act twice.
	pending map[string]bool
	stats   AutopilotStats
	// done, if set, hears of every notice whose action finished (acted or failed, not
	// dropped by Stop): the municipality simulator forgets it then (see SetAutopilot).
	done func(noticeKey string)
}

// waitKey identifies the wait an action answers.
func (act AutopilotAction) waitKey() string {
	return act.ARS + "/" + act.Service + "/" + act.Step + "/" + act.Action
}

type queuedAction struct {
	act AutopilotAction
	due time.Time
}

// NewAutopilot returns an autopilot that acts through actor; with cfg.Enabled false it
// ignores every notice. A nil log discards the log. Call Stop when done.
func NewAutopilot(cfg AutopilotConfig, actor Actor, services ServiceLookup, log *zap.Logger) *Autopilot {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultAutopilotConcurrency
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAutopilotAttempts
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultAutopilotBackoff
	}
	cfg.Delay = max(cfg.Delay, 0)
	cfg.TestFailureRate = min(max(cfg.TestFailureRate, 0), 1)
	if log == nil {
		log = zap.NewNop()
	}
	a := &Autopilot{
		cfg:      cfg,
		actor:    actor,
		services: services,
		log:      log.Named("autopilot"),
		wake:     make(chan struct{}, 1),
		work:     make(chan queuedAction),
		stop:     make(chan struct{}),
		pending:  map[string]bool{},
		stats:    AutopilotStats{ByAction: map[string]ActionStats{}},
	}
	if !cfg.Enabled || actor == nil {
		a.cfg.Enabled = false
		return a
	}
	a.wg.Add(1 + cfg.Concurrency)
	go a.dispatch()
	for range cfg.Concurrency {
		go a.worker()
	}
	return a
}

// Handle takes a notice on: a waiting notice with an action is queued to be acted on
// after the delay, anything else is ignored. It never blocks on the delay or the Actor
// and reports whether the notice was queued.
func (a *Autopilot) Handle(n AutopilotNotice) bool {
	role, known := autopilotRoles[n.Action]
	act := AutopilotAction{
		ARS: n.ARS, Service: n.Service, Role: role, Action: n.Action, Step: n.Step,
		ActionID: autopilotIDPrefix + n.Key,
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var why string
	switch {
	case a.stopped:
		why = "stopped"
	case !a.cfg.Enabled:
		why = "disabled"
	case n.Kind != "waiting":
		why = "not a waiting notice"
	case !known:
		why = "no human action the autopilot plays"
	case role != n.Recipient:
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

// setDone sets the done hook; see Autopilot.done.
func (a *Autopilot) setDone(f func(noticeKey string)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.done = f
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
func (a *Autopilot) run(act AutopilotAction) {
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
		a.log.Debug("action failed, trying again", zap.String("action", act.Action), zap.String("action_id", act.ActionID),
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

// attempt fills in the action's data and calls the Actor once. A call that ran out of
// its own deadline is retryable: the action ID makes the repetition harmless.
func (a *Autopilot) attempt(act AutopilotAction) error {
	ctx, cancel := context.WithTimeout(context.Background(), autopilotActTimeout)
	defer cancel()
	data, err := a.data(ctx, act)
	if err != nil {
		return err
	}
	act.Data = data
	err = a.actor.Act(ctx, act)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && !isRetryable(err) {
		err = MarkRetryable(err)
	}
	return err
}

// data is the action's payload: the questionnaire or the test confirmation.
func (a *Autopilot) data(ctx context.Context, act AutopilotAction) (json.RawMessage, error) {
	switch act.Action {
	case autopilotConnection:
		if a.services == nil {
			return nil, errors.New("no service lookup to fill the questionnaire")
		}
		svc, err := a.services(ctx, act.Service)
		if err != nil {
			return nil, fmt.Errorf("look up service %s: %w", act.Service, err)
		}
		c, err := autopilotConnectionData(act.ARS, svc)
		if err != nil {
			return nil, err
		}
		return json.Marshal(c)
	case autopilotConfirmTest:
		c := autopilotTestConfirmation{Received: true}
		if a.testFails(act.ActionID) {
			c = autopilotTestConfirmation{Received: false, Note: AutopilotTestNote}
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

func (a *Autopilot) finish(act AutopilotAction, o outcome, err error) {
	a.mu.Lock()
	a.inFlight--
	delete(a.pending, act.waitKey())
	by := a.stats.ByAction[act.Action]
	switch o {
	case outcomeActed:
		a.stats.Acted++
		by.Acted++
		if act.Action == autopilotConfirmTest && a.testFails(act.ActionID) {
			a.stats.TestNotReceived++
		}
	case outcomeFailed:
		a.stats.Failed++
		by.Failed++
	case outcomeDropped:
		a.stats.Dropped++
	}
	if o != outcomeDropped {
		a.stats.ByAction[act.Action] = by
	}
	done := a.done
	a.mu.Unlock()
	if done != nil && o != outcomeDropped {
		done(strings.TrimPrefix(act.ActionID, autopilotIDPrefix))
	}

	fields := []zap.Field{zap.String("action", act.Action), zap.String("role", act.Role), zap.String("step", act.Step),
		zap.String("ars", act.ARS), zap.String("service", act.Service), zap.String("action_id", act.ActionID)}
	switch o {
	case outcomeActed:
		a.log.Debug("acted", fields...)
	case outcomeFailed:
		a.log.Warn("action failed", append(fields, zap.Error(err))...)
	case outcomeDropped:
		a.log.Debug("action dropped: autopilot stopped", fields...)
	}
}

// autopilotQuestionnaire is the questionnaire the autopilot submits, with the field names of
// Rollin's connection data.
type autopilotQuestionnaire struct {
	ContactEmail   string           `json:"contact_email"`
	ContactAddress string           `json:"contact_address,omitempty"`
	Fachverfahren  string           `json:"fachverfahren"`
	Transport      domain.Transport `json:"transport"`
	OrgUnitID      string           `json:"org_unit_id"`
	DVDVKey        string           `json:"dvdv_key,omitempty"`
	PaymentAccount string           `json:"payment_account,omitempty"`
}

type autopilotTestConfirmation struct {
	Received bool   `json:"received"`
	Note     string `json:"note,omitempty"`
}

// autopilotConnectionData fills the questionnaire for municipality ars and service svc:
// the first compatible Fachverfahren, FIT-Connect where the service offers it (else its
// first route), a DVDV key for XTA and an IBAN where the service charges fees.
func autopilotConnectionData(ars string, svc domain.Service) (autopilotQuestionnaire, error) {
	if len(svc.Fachverfahren) == 0 || len(svc.Transports) == 0 {
		return autopilotQuestionnaire{}, fmt.Errorf("service %s lists no Fachverfahren or no transport", svc.Key)
	}
	c := autopilotQuestionnaire{
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
