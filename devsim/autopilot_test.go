package devsim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rollin-efa/rollin/devsim"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/systems/municipality"
	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/systems/state"
	"github.com/rollin-efa/rollin/workflows"
)

const ars = "055150000000"

// The Steckbriefe the fake starter knows.
var (
	wohngeld = domain.Service{Key: "99107023037000", Name: "Wohngeld", Provider: "NRW",
		Fachverfahren: []string{"OK.SOZIUS", "LÄMMkom"}, Transports: []domain.Transport{domain.TransportFITConnect}}
	gewerbe = domain.Service{Key: "99050012104000", Name: "Gewerbeanmeldung", Provider: "HE",
		Fachverfahren: []string{"OK.GEWERBE"}, Transports: []domain.Transport{domain.TransportXTA, domain.TransportFITConnect},
		PaymentRequired: true}
	hundesteuer = domain.Service{Key: "99017013000000", Name: "Hundesteuer", Provider: "SH",
		Fachverfahren: []string{"AB-Data"}, Transports: []domain.Transport{domain.TransportXTA, domain.TransportEmail},
		PaymentRequired: true}
	// every has every step a plan can have.
	every = domain.Service{Key: "99999100000009", Name: "Alles", Lands: []string{"05"}, Fachverfahren: []string{"X"},
		Transports:  []domain.Transport{domain.TransportFITConnect, domain.TransportXTA, domain.TransportEmail},
		DPARequired: true, PaymentRequired: true}
	catalogue = map[string]domain.Service{
		string(wohngeld.Key): wohngeld, string(gewerbe.Key): gewerbe, string(hundesteuer.Key): hundesteuer,
		string(every.Key): every,
	}
)

// actCall is one action the fake starter received.
type actCall struct {
	p            starter.Principal
	ars, service string
	a            starter.Action
	at           time.Time
}

// fakeStarter stands in for Rollin's service layer. Act applies the real role matrix
// (starter.May) and records every call; respond, if set, decides the answer (it may
// block). Status answers state (waiting when nil). List pages through runs, the read
// model, by the filter's state and step.
type fakeStarter struct {
	respond  func(ctx context.Context, c actCall, n int) error
	state    func(ars, service string) domain.RunState
	pageSize int // List's page size; 0 means the filter's limit

	mu    sync.Mutex
	calls []actCall
	runs  []domain.RunStatus
	lists []store.RunFilter
}

func (f *fakeStarter) Act(ctx context.Context, p starter.Principal, ars, service string, a starter.Action) (domain.RunStatus, error) {
	c := actCall{p: p, ars: ars, service: service, a: a, at: time.Now()}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	n := len(f.calls)
	f.mu.Unlock()
	if !starter.May(p, a.Name) || (p.Role == domain.RoleMunicipality && string(p.ARS) != ars) {
		return domain.RunStatus{}, &starter.Error{Kind: starter.KindForbidden, Msg: fmt.Sprintf("role %q may not %s", p.Role, a.Name)}
	}
	if f.respond != nil {
		if err := f.respond(ctx, c, n); err != nil {
			return domain.RunStatus{}, err
		}
	}
	return domain.RunStatus{ID: domain.RunID(domain.ARS(ars), domain.ServiceKey(service)), State: domain.RunRunning}, nil
}

func (f *fakeStarter) Status(_ context.Context, _ starter.Principal, ars, service string) (domain.RunStatus, error) {
	st := domain.RunWaiting
	if f.state != nil {
		st = f.state(ars, service)
	}
	return domain.RunStatus{ID: domain.RunID(domain.ARS(ars), domain.ServiceKey(service)), State: st}, nil
}

func (f *fakeStarter) List(_ context.Context, _ starter.Principal, filter store.RunFilter) ([]domain.RunStatus, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists = append(f.lists, filter)
	var match []domain.RunStatus
	for _, r := range f.runs {
		if filter.State != "" && string(r.State) != filter.State {
			continue
		}
		if filter.Step != "" && (r.WaitingFor == nil || r.WaitingFor.Step != filter.Step) {
			continue
		}
		match = append(match, r)
	}
	start := 0
	if filter.Cursor != "" {
		start, _ = strconv.Atoi(filter.Cursor)
	}
	size := filter.Limit
	if f.pageSize > 0 {
		size = f.pageSize
	}
	end, next := min(start+size, len(match)), ""
	if end < len(match) {
		next = strconv.Itoa(end)
	}
	return slices.Clone(match[start:end]), next, nil
}

func (f *fakeStarter) Service(_ context.Context, _ starter.Principal, key string) (domain.Service, error) {
	svc, ok := catalogue[key]
	if !ok {
		return domain.Service{}, &starter.Error{Kind: starter.KindNotFound, Msg: "service " + key + " is not in the catalogue"}
	}
	return svc, nil
}

func (f *fakeStarter) Calls() []actCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// waitCalls waits until the starter has at least n calls and returns them.
func (f *fakeStarter) waitCalls(t *testing.T, n int) []actCall {
	t.Helper()
	require.Eventually(t, func() bool { return len(f.Calls()) >= n }, 10*time.Second, 5*time.Millisecond,
		"want %d calls", n)
	return f.Calls()
}

// setRuns replaces the read model's runs.
func (f *fakeStarter) setRuns(runs ...domain.RunStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs = runs
}

// moveOn takes the run of ars and service off the waiting list, as the workflow does once
// it has recorded an action (the real starter answers after that).
func (f *fakeStarter) moveOn(ars, service string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs = slices.DeleteFunc(f.runs, func(r domain.RunStatus) bool {
		return string(r.ARS) == ars && string(r.Service) == service
	})
}

// listed returns the filters List was called with.
func (f *fakeStarter) listed() []store.RunFilter {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.lists)
}

// waitingRun is a run of the read model waiting at a human step of the workflow.
func waitingRun(a string, svc domain.Service, step string, seq int64) domain.RunStatus {
	role, action := domain.RoleOperator, workflows.ActionConfirmConnection
	switch step {
	case workflows.StepFrameworkAgreement, workflows.StepCallOff, workflows.StepDPA:
		role, action = domain.RoleMunicipality, workflows.ActionSignAgreement
	case workflows.StepCountersign:
		role, action = domain.RolePM, workflows.ActionCountersignAgreement
	case workflows.StepConnectionData:
		role, action = domain.RoleMunicipality, workflows.ActionSubmitConnectionData
	case workflows.StepTestConfirmation:
		role, action = domain.RoleMunicipality, workflows.ActionConfirmTest
	}
	return domain.RunStatus{
		ID: domain.RunID(domain.ARS(a), svc.Key), ARS: domain.ARS(a), Service: svc.Key, State: domain.RunWaiting, Seq: seq,
		WaitingFor: &domain.WaitingFor{Action: action, Role: role, Step: step},
	}
}

// pilot serves a municipality simulator with an autopilot listening and returns its
// client.
func pilot(t *testing.T, cfg devsim.AutopilotConfig, st devsim.Starter) (*municipality.Client, *simulator.Server, *devsim.Autopilot) {
	t.Helper()
	srv, err := simulator.Start(simulator.Municipality, simulator.Config{}, "")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	ap := devsim.NewAutopilot(cfg, st, zaptest.NewLogger(t))
	t.Cleanup(ap.Stop) // runs before the server's Close
	srv.Sim.SetListener(ap)
	c, err := municipality.New(srv.URL, nil)
	require.NoError(t, err)
	return c, srv, ap
}

// waitingAt is waiting for the i-th of many municipalities: the autopilot answers one wait
// (municipality, service, step) once at a time, so tests that need many actions at once
// spread them over municipalities.
func waitingAt(i int, svc domain.Service, recipient, action, step string) municipality.Notification {
	n := waiting(svc, recipient, action, step)
	n.ARS = fmt.Sprintf("05515%07d", i)
	return n
}

func waiting(svc domain.Service, recipient, action, step string) municipality.Notification {
	return municipality.Notification{ARS: ars, ServiceKey: string(svc.Key), Recipient: recipient,
		Kind: municipality.NoticeWaiting, Action: action, Step: step,
		Subject: "Roll-in wartet: " + step, Body: "Der Schritt " + step + " wartet auf " + recipient + "."}
}

// requireConnectionData checks raw with the workflow's own validator of the
// questionnaire and returns it.
func requireConnectionData(t *testing.T, raw json.RawMessage, svc domain.Service) workflows.ConnectionData {
	t.Helper()
	c, err := workflows.ParseConnectionData(raw, workflows.RunContext{Service: svc})
	require.NoError(t, err, "%s: %s", svc.Name, raw)
	return c
}

// requireTestConfirmation checks raw with the workflow's own validator and returns it.
func requireTestConfirmation(t *testing.T, raw json.RawMessage) workflows.TestConfirmation {
	t.Helper()
	c, err := workflows.ParseTestConfirmation(raw)
	require.NoError(t, err, "%s", raw)
	return c
}

func TestAutopilotPlaysEveryHumanStep(t *testing.T) {
	t.Parallel()
	const delay = 150 * time.Millisecond
	st := &fakeStarter{}
	c, srv, ap := pilot(t, devsim.AutopilotConfig{Enabled: true, Delay: delay}, st)

	notices := []struct {
		key      string
		n        municipality.Notification
		wantRole domain.Role
	}{
		{"rollin/055150000000/99107023037000/framework-agreement/0/waiting",
			waiting(wohngeld, municipality.RecipientMunicipality, workflows.ActionSignAgreement, workflows.StepFrameworkAgreement), domain.RoleMunicipality},
		{"rollin/055150000000/99107023037000/call-off/0/waiting",
			waiting(wohngeld, municipality.RecipientMunicipality, workflows.ActionSignAgreement, workflows.StepCallOff), domain.RoleMunicipality},
		{"rollin/055150000000/99107023037000/countersign/0/waiting",
			waiting(wohngeld, municipality.RecipientPM, workflows.ActionCountersignAgreement, workflows.StepCountersign), domain.RolePM},
		{"rollin/055150000000/99107023037000/connection-data/0/waiting",
			waiting(wohngeld, municipality.RecipientMunicipality, workflows.ActionSubmitConnectionData, workflows.StepConnectionData), domain.RoleMunicipality},
		{"rollin/055150000000/99107023037000/test-confirmation/0/waiting",
			waiting(wohngeld, municipality.RecipientMunicipality, workflows.ActionConfirmTest, workflows.StepTestConfirmation), domain.RoleMunicipality},
	}
	sent := map[string]time.Time{}
	for _, n := range notices {
		began := time.Now()
		sent[n.key] = began
		require.NoError(t, c.Notify(t.Context(), n.key, n.n))
		require.Less(t, time.Since(began), delay, "the answer does not wait for the delay")
	}

	calls := st.waitCalls(t, len(notices))
	for _, n := range notices {
		i := slices.IndexFunc(calls, func(c actCall) bool { return c.a.Step == n.n.Step })
		require.GreaterOrEqual(t, i, 0, "no action for %s", n.n.Step)
		got := calls[i]
		require.GreaterOrEqual(t, got.at.Sub(sent[n.key]), delay, "%s acted before the delay", n.n.Step)
		require.Equal(t, ars, got.ars)
		require.Equal(t, string(wohngeld.Key), got.service)
		require.Equal(t, devsim.Principal, got.p.Name, "the audit log shows the autopilot")
		require.Equal(t, n.wantRole, got.p.Role)
		if n.wantRole == domain.RoleMunicipality {
			require.Equal(t, domain.ARS(ars), got.p.ARS, "a municipality acts for its own ARS")
		}
		require.Equal(t, n.n.Action, got.a.Name)
		require.Equal(t, "autopilot/"+n.key, got.a.ID)
		switch n.n.Action {
		case workflows.ActionSignAgreement, workflows.ActionCountersignAgreement:
			require.Nil(t, got.a.Data)
		case workflows.ActionConfirmTest:
			require.True(t, *requireTestConfirmation(t, got.a.Data).Received)
		case workflows.ActionSubmitConnectionData:
			requireConnectionData(t, got.a.Data, wohngeld)
		}
	}

	// The workflow's activity retried: the same key replays, no new effect, no new action.
	for _, n := range notices {
		require.NoError(t, c.Notify(t.Context(), n.key, n.n))
	}
	time.Sleep(3 * delay)
	require.Len(t, st.Calls(), len(notices))

	effects := srv.Sim.Counters().Effects
	for _, n := range notices {
		require.Equal(t, 1, effects["notify "+n.n.Recipient+" waiting "+n.n.Step+" "+ars+"/"+string(wohngeld.Key)])
	}
	stats := ap.Stats()
	require.Equal(t, len(notices), stats.Noticed)
	require.Equal(t, len(notices), stats.Acted)
	require.Zero(t, stats.Failed+stats.Dropped+stats.Pending+stats.Ignored+stats.Retries)
	require.Equal(t, map[string]devsim.ActionStats{
		workflows.ActionSignAgreement:        {Acted: 2},
		workflows.ActionCountersignAgreement: {Acted: 1},
		workflows.ActionSubmitConnectionData: {Acted: 1},
		workflows.ActionConfirmTest:          {Acted: 1},
	}, stats.ByAction)
}

// TestAutopilotConfirmsOperatorTasks: a Hundesteuer roll-in connected by XTA waits for an
// operator to confirm the DVDV entry, one connected by e-mail for the mailbox. No notice
// announces either — the municipality's system takes none for operators — so the
// autopilot finds them in the read model and confirms them as operator: once each,
// however often it looks, and again in a later round of the same task.
func TestAutopilotConfirmsOperatorTasks(t *testing.T) {
	t.Parallel()
	const bielefeld, aachen, dortmund = "057110000000", "053340002002", "059130000000"
	dvdv := waitingRun(bielefeld, hundesteuer, workflows.StepDVDV, 7)
	mailbox := waitingRun(aachen, hundesteuer, workflows.StepEmailRoute, 9)
	refused := waitingRun(dortmund, hundesteuer, workflows.StepDVDV, 4)
	signing := waitingRun(ars, hundesteuer, workflows.StepCallOff, 3) // its notice reaches the simulator
	st := &fakeStarter{state: func(string, string) domain.RunState { return domain.RunCancelled }}
	st.setRuns(dvdv, mailbox, refused, signing)
	st.respond = func(_ context.Context, c actCall, _ int) error {
		if c.ars == dortmund {
			return &starter.Error{Kind: starter.KindConflict, Msg: "the run is cancelled: no further actions"}
		}
		st.moveOn(c.ars, c.service)
		return nil
	}
	c, _, ap := pilot(t, devsim.AutopilotConfig{Enabled: true, Poll: 5 * time.Millisecond}, st)

	// The municipality simulator refuses a notice to an operator, as the real system
	// would: the read model is the only way to hear of these waits.
	op := waiting(hundesteuer, string(domain.RoleOperator), workflows.ActionConfirmConnection, workflows.StepDVDV)
	require.ErrorContains(t, c.Notify(t.Context(), "operator", op), "recipient")

	calls := st.waitCalls(t, 3)
	looked := len(st.listed())
	require.Eventually(t, func() bool { return len(st.listed()) >= looked+20 }, 10*time.Second, time.Millisecond)
	require.Len(t, st.Calls(), 3, "each wait is acted on once, however often the autopilot looks")
	for _, run := range []domain.RunStatus{dvdv, mailbox, refused} {
		i := slices.IndexFunc(calls, func(c actCall) bool { return c.ars == string(run.ARS) })
		require.GreaterOrEqual(t, i, 0, "no action for %s", run.ARS)
		got := calls[i]
		require.Equal(t, starter.Principal{Name: devsim.Principal, Role: domain.RoleOperator, AllOrganisations: true}, got.p)
		require.Equal(t, string(hundesteuer.Key), got.service)
		require.Equal(t, starter.Action{Name: workflows.ActionConfirmConnection, Step: run.WaitingFor.Step,
			ID: "autopilot/waiting/" + run.ID + "/" + strconv.FormatInt(run.Seq, 10)}, got.a)
	}
	for _, f := range st.listed() {
		require.Equal(t, string(domain.RunWaiting), f.State)
		require.Contains(t, []string{workflows.StepDVDV, workflows.StepEmailRoute}, f.Step,
			"the waits notices announce are left to the notices")
	}
	stats := ap.Stats()
	require.Equal(t, devsim.ActionStats{Acted: 2, Failed: 1}, stats.ByAction[workflows.ActionConfirmConnection])
	require.Equal(t, 3, stats.Noticed)

	// The test submission did not arrive, the run went back to the connection stage and
	// waits for the DVDV entry again: a new wait, a new action.
	again := dvdv
	again.Seq = 15
	st.setRuns(again)
	calls = st.waitCalls(t, 4)
	require.Equal(t, "autopilot/waiting/"+dvdv.ID+"/15", calls[3].a.ID)
}

// TestAutopilotResume takes on every run already waiting on a person, page by page, as
// `rollin-dev` does when it starts; a second pass at the same state takes on nothing new.
func TestAutopilotResume(t *testing.T) {
	t.Parallel()
	st := &fakeStarter{pageSize: 2}
	runs := []domain.RunStatus{
		waitingRun("055150000000", wohngeld, workflows.StepFrameworkAgreement, 2),
		waitingRun("055150000000", gewerbe, workflows.StepCountersign, 5),
		waitingRun("055150000000", hundesteuer, workflows.StepConnectionData, 8),
		waitingRun("057110000000", hundesteuer, workflows.StepDVDV, 11),
		waitingRun("057110000000", wohngeld, workflows.StepTestConfirmation, 14),
	}
	running := waitingRun("059130000000", wohngeld, workflows.StepCallOff, 3)
	running.State, running.WaitingFor = domain.RunRunning, nil
	st.setRuns(append(slices.Clone(runs), running)...)
	ap := devsim.NewAutopilot(devsim.AutopilotConfig{Enabled: true, Delay: time.Hour, Poll: time.Hour}, st, zaptest.NewLogger(t))
	t.Cleanup(ap.Stop)

	n, err := ap.Resume(t.Context())
	require.NoError(t, err)
	require.Equal(t, len(runs), n)
	require.Len(t, st.listed(), 3, "five waiting runs in pages of two")
	n, err = ap.Resume(t.Context())
	require.NoError(t, err)
	require.Zero(t, n, "the same waits are queued already")
	stats := ap.Stats()
	require.Equal(t, len(runs), stats.Pending)
	require.Equal(t, len(runs), stats.Ignored)
}

func TestAutopilotLostAnswerActsOnce(t *testing.T) {
	t.Parallel()
	st := &fakeStarter{}
	c, srv, ap := pilot(t, devsim.AutopilotConfig{Enabled: true}, st)
	n := waiting(wohngeld, municipality.RecipientMunicipality, workflows.ActionSignAgreement, workflows.StepCallOff)

	// The notice was applied but the answer got lost; the retry with the same key replays.
	srv.Sim.AddFault(simulator.Fault{PathPrefix: "/v1/notifications", Status: 502, Times: 1, AfterApply: true})
	require.Error(t, c.Notify(t.Context(), "lost", n))
	require.NoError(t, c.Notify(t.Context(), "lost", n))
	// An outage before the effect: nothing is handed over until the retry gets through.
	srv.Sim.AddFault(simulator.Fault{PathPrefix: "/v1/notifications", Status: 503, Times: 1})
	n2 := waiting(gewerbe, municipality.RecipientMunicipality, workflows.ActionSignAgreement, workflows.StepCallOff)
	require.Error(t, c.Notify(t.Context(), "outage", n2))
	require.NoError(t, c.Notify(t.Context(), "outage", n2))

	calls := st.waitCalls(t, 2)
	time.Sleep(100 * time.Millisecond)
	require.Len(t, st.Calls(), 2)
	ids := []string{calls[0].a.ID, calls[1].a.ID}
	require.ElementsMatch(t, []string{"autopilot/lost", "autopilot/outage"}, ids)
	require.Equal(t, 2, ap.Stats().Acted)
}

func TestAutopilotConnectionData(t *testing.T) {
	t.Parallel()
	tests := []struct {
		svc           domain.Service
		wantTransport domain.Transport
	}{
		{wohngeld, domain.TransportFITConnect},
		{gewerbe, domain.TransportFITConnect}, // preferred although xta is listed first
		{hundesteuer, domain.TransportXTA},
	}
	st := &fakeStarter{}
	c, _, _ := pilot(t, devsim.AutopilotConfig{Enabled: true}, st)
	for _, tt := range tests {
		require.NoError(t, c.Notify(t.Context(), "cd-"+string(tt.svc.Key),
			waiting(tt.svc, municipality.RecipientMunicipality, workflows.ActionSubmitConnectionData, workflows.StepConnectionData)))
	}
	calls := st.waitCalls(t, len(tests))
	for _, tt := range tests {
		name := tt.svc.Name
		i := slices.IndexFunc(calls, func(c actCall) bool { return c.service == string(tt.svc.Key) })
		require.GreaterOrEqual(t, i, 0, name)
		raw := calls[i].a.Data
		cd := requireConnectionData(t, raw, tt.svc)

		addr, err := mail.ParseAddress(cd.ContactEmail)
		require.NoError(t, err, name)
		require.Equal(t, "autopilot@"+ars+".example", addr.Address, name)
		require.Equal(t, "OE-"+ars, cd.OrgUnitID, name)
		require.Equal(t, tt.svc.Fachverfahren[0], cd.Fachverfahren, name)
		require.Equal(t, tt.wantTransport, cd.Transport, name)
		if cd.Transport != domain.TransportFITConnect {
			require.NotContains(t, string(raw), "contact_address", name)
		}
		if cd.Transport != domain.TransportXTA {
			require.NotContains(t, string(raw), "dvdv_key", name)
		}
		if !tt.svc.PaymentRequired {
			require.NotContains(t, string(raw), "payment_account", name)
		}
	}
}

func TestAutopilotIBANForManyMunicipalities(t *testing.T) {
	t.Parallel()
	st := &fakeStarter{}
	c, _, _ := pilot(t, devsim.AutopilotConfig{Enabled: true}, st)
	arsList := []string{"010010000000", "055150000000", "091620000000", "160770041041", "000000000000", "999999999999"}
	for _, a := range arsList {
		n := waiting(gewerbe, municipality.RecipientMunicipality, workflows.ActionSubmitConnectionData, workflows.StepConnectionData)
		n.ARS = a
		require.NoError(t, c.Notify(t.Context(), "iban-"+a, n))
	}
	accounts := map[string]bool{}
	for _, call := range st.waitCalls(t, len(arsList)) {
		cd := requireConnectionData(t, call.a.Data, gewerbe) // the workflow checks the IBAN's digits
		require.Regexp(t, `^DE[0-9]{20}$`, cd.PaymentAccount, call.ars)
		accounts[cd.PaymentAccount] = true
	}
	require.Len(t, accounts, len(arsList), "one account per municipality")
}

// TestAutopilotDVDVKeyAcceptedByState: the DVDV key the autopilot enters (the form Rollin's
// questionnaire accepts) reaches the state's DVDV endpoint as is.
func TestAutopilotDVDVKeyAcceptedByState(t *testing.T) {
	t.Parallel()
	st := &fakeStarter{}
	c, _, _ := pilot(t, devsim.AutopilotConfig{Enabled: true}, st)
	require.NoError(t, c.Notify(t.Context(), "dvdv",
		waiting(hundesteuer, municipality.RecipientMunicipality, workflows.ActionSubmitConnectionData, workflows.StepConnectionData)))
	cd := requireConnectionData(t, st.waitCalls(t, 1)[0].a.Data, hundesteuer)
	require.NotEmpty(t, cd.DVDVKey)

	srv, err := simulator.Start(simulator.State, simulator.Config{}, "")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	sc, err := state.New(srv.URL, nil)
	require.NoError(t, err)
	require.NoError(t, sc.ConfirmDVDV(t.Context(), "dvdv", state.DVDVRequest{ARS: ars, ServiceKey: string(hundesteuer.Key), OrgKey: cd.DVDVKey}))
}

// confirmations sends n confirm-test notices and returns the answers by action ID.
func confirmations(t *testing.T, cfg devsim.AutopilotConfig, n int) map[string]workflows.TestConfirmation {
	t.Helper()
	st := &fakeStarter{}
	c, _, ap := pilot(t, cfg, st)
	for i := range n {
		require.NoError(t, c.Notify(t.Context(), fmt.Sprintf("test-%d", i),
			waitingAt(i, wohngeld, municipality.RecipientMunicipality, workflows.ActionConfirmTest, workflows.StepTestConfirmation)))
	}
	out := map[string]workflows.TestConfirmation{}
	for _, call := range st.waitCalls(t, n) {
		out[call.a.ID] = requireTestConfirmation(t, call.a.Data)
	}
	require.Eventually(t, func() bool { return ap.Stats().Acted == n }, 5*time.Second, 5*time.Millisecond)
	notReceived := 0
	for _, c := range out {
		if !*c.Received {
			notReceived++
		}
	}
	require.Equal(t, notReceived, ap.Stats().TestNotReceived)
	return out
}

func TestAutopilotTestFailureRate(t *testing.T) {
	t.Parallel()
	for _, c := range confirmations(t, devsim.AutopilotConfig{Enabled: true, TestFailureRate: 1}, 10) {
		require.False(t, *c.Received)
		require.Equal(t, devsim.AutopilotTestNote, c.Note)
	}
	for _, c := range confirmations(t, devsim.AutopilotConfig{Enabled: true, TestFailureRate: 0}, 10) {
		require.True(t, *c.Received)
		require.Empty(t, c.Note)
	}

	// A share in between: both answers occur, and the same seed gives the same answers
	// however the notices interleave.
	half := devsim.AutopilotConfig{Enabled: true, TestFailureRate: 0.5, Seed: 7, Concurrency: 3}
	first, again := confirmations(t, half, 40), confirmations(t, half, 40)
	require.Equal(t, first, again)
	failed := 0
	for _, c := range first {
		if !*c.Received {
			failed++
		}
	}
	require.Greater(t, failed, 5)
	require.Less(t, failed, 35)
}

func TestAutopilotIgnoresOtherNotices(t *testing.T) {
	t.Parallel()
	const delay = 20 * time.Millisecond
	st := &fakeStarter{}
	c, _, ap := pilot(t, devsim.AutopilotConfig{Enabled: true, Delay: delay}, st)
	n := waiting(wohngeld, municipality.RecipientMunicipality, workflows.ActionSignAgreement, workflows.StepCallOff)
	for i, kind := range []string{municipality.NoticeReminder, municipality.NoticeEscalation, municipality.NoticeAnnouncement} {
		other := n
		other.Kind = kind
		if kind == municipality.NoticeEscalation {
			other.Recipient = municipality.RecipientPM
		}
		if kind == municipality.NoticeAnnouncement {
			other.Action, other.Step = "", ""
		}
		require.NoError(t, c.Notify(t.Context(), fmt.Sprintf("other-%d", i), other))
	}
	time.Sleep(10 * delay)
	require.Empty(t, st.Calls())
	stats := ap.Stats()
	require.Equal(t, 3, stats.Ignored)
	require.Zero(t, stats.Noticed)
}

func TestAutopilotDisabled(t *testing.T) {
	t.Parallel()
	st := &fakeStarter{}
	st.setRuns(waitingRun(ars, hundesteuer, workflows.StepDVDV, 1))
	c, _, ap := pilot(t, devsim.AutopilotConfig{Enabled: false, Poll: time.Millisecond}, st)
	require.NoError(t, c.Notify(t.Context(), "w", waiting(wohngeld, municipality.RecipientMunicipality, workflows.ActionSignAgreement, workflows.StepCallOff)))
	time.Sleep(50 * time.Millisecond)
	require.Empty(t, st.Calls())
	require.Empty(t, st.listed(), "a disabled autopilot does not look into the read model")
	require.Equal(t, 1, ap.Stats().Ignored)
}

func TestAutopilotStopWaitsForInFlight(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var finished sync.WaitGroup
	finished.Add(1)
	st := &fakeStarter{respond: func(context.Context, actCall, int) error {
		defer finished.Done()
		close(entered)
		<-release
		return nil
	}}
	c, _, ap := pilot(t, devsim.AutopilotConfig{Enabled: true}, st)
	require.NoError(t, c.Notify(t.Context(), "w", waiting(wohngeld, municipality.RecipientMunicipality, workflows.ActionSignAgreement, workflows.StepCallOff)))
	<-entered

	stopped := make(chan struct{})
	go func() {
		ap.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Fatal("Stop returned while an action was in flight")
	case <-time.After(150 * time.Millisecond):
	}
	close(release)
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return after the action finished")
	}
	finished.Wait()
	require.Equal(t, 1, ap.Stats().Acted)

	// After Stop, notices are ignored (and the answer is still a success).
	require.NoError(t, c.Notify(t.Context(), "late", waiting(wohngeld, municipality.RecipientMunicipality, workflows.ActionSignAgreement, workflows.StepFrameworkAgreement)))
	require.Equal(t, 1, ap.Stats().Ignored)
	require.Len(t, st.Calls(), 1)
	ap.Stop() // twice is fine
}

func TestAutopilotStopDropsWhatWaitsForTheDelay(t *testing.T) {
	t.Parallel()
	st := &fakeStarter{}
	c, _, ap := pilot(t, devsim.AutopilotConfig{Enabled: true, Delay: time.Hour}, st)
	for i := range 3 {
		began := time.Now()
		require.NoError(t, c.Notify(t.Context(), fmt.Sprintf("w-%d", i), waitingAt(i, wohngeld, municipality.RecipientMunicipality, workflows.ActionSignAgreement, workflows.StepCallOff)))
		require.Less(t, time.Since(began), time.Second)
	}
	require.Equal(t, 3, ap.Stats().Pending)
	began := time.Now()
	ap.Stop()
	require.Less(t, time.Since(began), time.Second)
	stats := ap.Stats()
	require.Equal(t, 3, stats.Dropped)
	require.Zero(t, stats.Pending)
	require.Empty(t, st.Calls())
}

func TestAutopilotConcurrencyBound(t *testing.T) {
	t.Parallel()
	const limit, total = 2, 7
	var (
		mu            sync.Mutex
		now, maxSoFar int
	)
	release := make(chan struct{})
	st := &fakeStarter{respond: func(context.Context, actCall, int) error {
		mu.Lock()
		now++
		maxSoFar = max(maxSoFar, now)
		mu.Unlock()
		<-release
		mu.Lock()
		now--
		mu.Unlock()
		return nil
	}}
	c, _, ap := pilot(t, devsim.AutopilotConfig{Enabled: true, Concurrency: limit}, st)
	for i := range total {
		require.NoError(t, c.Notify(t.Context(), fmt.Sprintf("w-%d", i), waitingAt(i, wohngeld, municipality.RecipientMunicipality, workflows.ActionSignAgreement, workflows.StepCallOff)))
	}
	st.waitCalls(t, limit)
	time.Sleep(100 * time.Millisecond)
	require.Len(t, st.Calls(), limit, "no more than Concurrency in flight")
	require.Equal(t, total, ap.Stats().Pending)
	close(release)
	require.Eventually(t, func() bool { return ap.Stats().Acted == total }, 5*time.Second, 5*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, limit, maxSoFar)
}

func TestAutopilotRetries(t *testing.T) {
	t.Parallel()
	cfg := devsim.AutopilotConfig{Enabled: true, Attempts: 3, Backoff: time.Millisecond}
	n := waiting(wohngeld, municipality.RecipientMunicipality, workflows.ActionSignAgreement, workflows.StepCallOff)
	unavailable := &starter.Error{Kind: starter.KindUnavailable, Msg: "temporal unavailable"}
	notNow := &starter.Error{Kind: starter.KindConflict, Msg: "the run does not wait for sign-agreement"}

	t.Run("unavailable then accepted", func(t *testing.T) {
		t.Parallel()
		st := &fakeStarter{respond: func(_ context.Context, _ actCall, call int) error {
			if call < 3 {
				return fmt.Errorf("starter: %w", unavailable)
			}
			return nil
		}}
		c, _, ap := pilot(t, cfg, st)
		require.NoError(t, c.Notify(t.Context(), "w", n))
		require.Eventually(t, func() bool { return ap.Stats().Acted == 1 }, 5*time.Second, 5*time.Millisecond)
		calls := st.Calls()
		require.Len(t, calls, 3)
		for _, c := range calls {
			require.Equal(t, "autopilot/w", c.a.ID, "every try carries the same action ID")
		}
		stats := ap.Stats()
		require.Equal(t, 2, stats.Retries)
		require.Zero(t, stats.Failed)
	})
	t.Run("not now while the run goes on is tried again", func(t *testing.T) {
		t.Parallel()
		// The notice came a moment before the workflow recorded the wait.
		st := &fakeStarter{respond: func(_ context.Context, _ actCall, call int) error {
			if call == 1 {
				return notNow
			}
			return nil
		}}
		c, _, ap := pilot(t, cfg, st)
		require.NoError(t, c.Notify(t.Context(), "w", n))
		require.Eventually(t, func() bool { return ap.Stats().Acted == 1 }, 5*time.Second, 5*time.Millisecond)
		require.Len(t, st.Calls(), 2)
		require.Equal(t, 1, ap.Stats().Retries)
	})
	t.Run("not now on a finished run is not retried", func(t *testing.T) {
		t.Parallel()
		st := &fakeStarter{
			respond: func(context.Context, actCall, int) error { return notNow },
			state:   func(string, string) domain.RunState { return domain.RunLive },
		}
		c, _, ap := pilot(t, cfg, st)
		require.NoError(t, c.Notify(t.Context(), "w", n))
		require.Eventually(t, func() bool { return ap.Stats().Failed == 1 }, 5*time.Second, 5*time.Millisecond)
		time.Sleep(20 * time.Millisecond)
		require.Len(t, st.Calls(), 1)
		stats := ap.Stats()
		require.Zero(t, stats.Retries+stats.Acted)
		require.Equal(t, devsim.ActionStats{Failed: 1}, stats.ByAction[workflows.ActionSignAgreement])
	})
	t.Run("refused data is not retried", func(t *testing.T) {
		t.Parallel()
		st := &fakeStarter{respond: func(context.Context, actCall, int) error {
			return &starter.Error{Kind: starter.KindInvalid, Msg: "data.fachverfahren: not compatible"}
		}}
		c, _, ap := pilot(t, cfg, st)
		require.NoError(t, c.Notify(t.Context(), "w", n))
		require.Eventually(t, func() bool { return ap.Stats().Failed == 1 }, 5*time.Second, 5*time.Millisecond)
		time.Sleep(20 * time.Millisecond)
		require.Len(t, st.Calls(), 1)
	})
	t.Run("tries run out", func(t *testing.T) {
		t.Parallel()
		st := &fakeStarter{respond: func(context.Context, actCall, int) error { return unavailable }}
		c, _, ap := pilot(t, cfg, st)
		require.NoError(t, c.Notify(t.Context(), "w", n))
		require.Eventually(t, func() bool { return ap.Stats().Failed == 1 }, 5*time.Second, 5*time.Millisecond)
		require.Len(t, st.Calls(), 3)
		require.Equal(t, 2, ap.Stats().Retries)
	})
	t.Run("unknown service fails the questionnaire", func(t *testing.T) {
		t.Parallel()
		st := &fakeStarter{}
		c, _, ap := pilot(t, cfg, st)
		unknown := waiting(wohngeld, municipality.RecipientMunicipality, workflows.ActionSubmitConnectionData, workflows.StepConnectionData)
		unknown.ServiceKey = "99999999999000"
		require.NoError(t, c.Notify(t.Context(), "w", unknown))
		require.Eventually(t, func() bool { return ap.Stats().Failed == 1 }, 5*time.Second, 5*time.Millisecond)
		require.Empty(t, st.Calls())
		require.Zero(t, ap.Stats().Retries)
	})
}

func TestAutopilotHeard(t *testing.T) {
	t.Parallel()
	st := &fakeStarter{}
	ap := devsim.NewAutopilot(devsim.AutopilotConfig{Enabled: true}, st, nil)
	t.Cleanup(ap.Stop)
	base := simulator.Notice{Key: "k", ARS: ars, Service: string(wohngeld.Key),
		Recipient: municipality.RecipientPM, Kind: municipality.NoticeWaiting,
		Action: workflows.ActionCountersignAgreement, Step: workflows.StepCountersign}
	done := make(chan struct{})
	require.True(t, ap.Heard(base, func() { close(done) }))
	wrongRole := base
	wrongRole.Recipient = municipality.RecipientMunicipality
	noKey := base
	noKey.Key = ""
	cancel := base
	cancel.Action = workflows.ActionCancel // an operator's or pm's command is left to people
	for _, n := range []simulator.Notice{wrongRole, noKey, cancel} {
		require.False(t, ap.Heard(n, func() { t.Error("done called for a notice not taken on") }))
	}
	calls := st.waitCalls(t, 1)
	require.Equal(t, starter.Principal{Name: devsim.Principal, Role: domain.RolePM, AllOrganisations: true}, calls[0].p)
	require.Equal(t, starter.Action{Name: workflows.ActionCountersignAgreement, Step: workflows.StepCountersign, ID: "autopilot/k"}, calls[0].a)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("done not called once the action was taken")
	}
	require.Equal(t, 3, ap.Stats().Ignored)
}

// TestAutopilotPlaysTheWorkflowsHumanSteps holds the autopilot and the municipality's
// system to the workflow's plan: every human step's notice is one the municipality
// system accepts, addressed to the role that takes the action, and the autopilot acts on
// it as that role; the operator's steps, which no notice announces, are the ones it looks
// for in the read model.
func TestAutopilotPlaysTheWorkflowsHumanSteps(t *testing.T) {
	t.Parallel()
	svc := every
	steps, blocked := workflows.Plan(svc, domain.Municipality{ARS: ars, Land: "05"})
	require.Empty(t, blocked)

	st := &fakeStarter{}
	ap := devsim.NewAutopilot(devsim.AutopilotConfig{Enabled: true, Poll: time.Millisecond}, st, nil)
	t.Cleanup(ap.Stop)
	require.Eventually(t, func() bool { return len(st.listed()) >= 2 }, 5*time.Second, time.Millisecond)
	var watched []string
	for _, f := range st.listed() {
		watched = append(watched, f.Step)
	}

	var human []workflows.StepDef
	for _, def := range steps {
		if def.Kind == workflows.KindHuman {
			human = append(human, def)
		}
	}
	require.Len(t, human, 8)
	for i, def := range human {
		if def.Role == domain.RoleOperator {
			require.Contains(t, watched, def.Name)
		} else {
			require.Equal(t, string(def.Role), municipality.TakenBy(def.Action), "%s: the municipality's system accepts its notice", def.Name)
		}
		n := simulator.Notice{Key: def.Name, ARS: fmt.Sprintf("05515%07d", i), Service: string(svc.Key),
			Recipient: string(def.Role), Kind: municipality.NoticeWaiting, Action: def.Action, Step: def.Name}
		require.True(t, ap.Heard(n, nil), def.Name)
	}
	calls := st.waitCalls(t, len(human))
	for _, def := range human {
		i := slices.IndexFunc(calls, func(c actCall) bool { return c.a.Step == def.Name })
		require.GreaterOrEqual(t, i, 0, def.Name)
		require.Equal(t, def.Role, calls[i].p.Role, def.Name)
		require.Equal(t, def.Action, calls[i].a.Name, def.Name)
	}
	require.Eventually(t, func() bool { return ap.Stats().Pending == 0 }, 5*time.Second, 5*time.Millisecond)
	require.Zero(t, ap.Stats().Failed, "the fake starter's role matrix is the real one")
}

// TestAutopilotOneActionPerWait: a second notice of the same wait (a resumed run whose live
// notice also arrives, with another key) is ignored while the first action is queued or in
// flight; once it has finished, the same wait in a later round is answered again.
func TestAutopilotOneActionPerWait(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	st := &fakeStarter{respond: func(_ context.Context, _ actCall, n int) error {
		if n == 1 {
			<-release
		}
		return nil
	}}
	ap := devsim.NewAutopilot(devsim.AutopilotConfig{Enabled: true}, st, nil)
	t.Cleanup(ap.Stop)
	live := simulator.Notice{Key: "run/call-off/0/waiting", ARS: ars, Service: string(wohngeld.Key),
		Recipient: municipality.RecipientMunicipality, Kind: municipality.NoticeWaiting,
		Action: workflows.ActionSignAgreement, Step: workflows.StepCallOff}
	resumed := live
	resumed.Key = "waiting/run/7"
	require.True(t, ap.Heard(resumed, nil))
	st.waitCalls(t, 1) // in flight now
	require.False(t, ap.Heard(live, nil), "the same wait is being answered")
	otherStep := live
	otherStep.Step = workflows.StepFrameworkAgreement
	require.True(t, ap.Heard(otherStep, nil), "another wait of the same run is not a duplicate")
	close(release)
	st.waitCalls(t, 2)
	require.Eventually(t, func() bool { return ap.Stats().Pending == 0 }, 5*time.Second, 5*time.Millisecond)

	again := live
	again.Key = "run/call-off/1/waiting"
	require.True(t, ap.Heard(again, nil), "a later round of the same wait is answered")
	calls := st.waitCalls(t, 3)
	require.Equal(t, "autopilot/waiting/run/7", calls[0].a.ID)
	require.Equal(t, "autopilot/run/call-off/1/waiting", calls[2].a.ID)
	require.Equal(t, 1, ap.Stats().Ignored)
}

// crashImage is dir's municipality journal as the kernel holds it while the process still
// runs, with a record torn at the end, as a kill -9 during a write leaves it.
func crashImage(t *testing.T, dir string) string {
	t.Helper()
	file := simulator.JournalFile(simulator.Municipality)
	raw, err := os.ReadFile(filepath.Join(dir, file))
	require.NoError(t, err)
	copyDir := t.TempDir()
	torn := append(raw, 0, 0, 1, 0, 0xde, 0xad, 0xbe, 0xef, '[', '{')
	require.NoError(t, os.WriteFile(filepath.Join(copyDir, file), torn, 0o600))
	return copyDir
}

// TestAutopilotKeepsOpenActionsAcrossRestart crashes a municipality simulator with a
// state directory while two actions of its autopilot are in flight (the starter does not
// answer, as when the process dies mid-Update) and starts it again on the crash image
// with a new autopilot: both actions are taken, under their first action IDs, and once
// taken they are not handed over by a third start.
func TestAutopilotKeepsOpenActionsAcrossRestart(t *testing.T) {
	t.Parallel()
	startWith := func(dir string, st devsim.Starter) (*simulator.Server, *devsim.Autopilot, *municipality.Client) {
		srv, err := simulator.Start(simulator.Municipality, simulator.Config{StateDir: dir}, "")
		require.NoError(t, err)
		ap := devsim.NewAutopilot(devsim.AutopilotConfig{Enabled: true}, st, zaptest.NewLogger(t))
		srv.Sim.SetListener(ap)
		c, err := municipality.New(srv.URL, nil)
		require.NoError(t, err)
		return srv, ap, c
	}
	stop := func(srv *simulator.Server, ap *devsim.Autopilot) {
		srv.Sim.SetListener(nil)
		ap.Stop()
		require.NoError(t, srv.Close())
	}

	unblock := make(chan struct{})
	stuck := &fakeStarter{respond: func(ctx context.Context, _ actCall, _ int) error {
		select {
		case <-unblock:
			return errors.New("refused")
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	dir := t.TempDir()
	srv, ap, c := startWith(dir, stuck)
	require.NoError(t, c.Notify(t.Context(), "first", waiting(wohngeld, municipality.RecipientMunicipality, workflows.ActionSignAgreement, workflows.StepCallOff)))
	require.NoError(t, c.Notify(t.Context(), "second", waiting(gewerbe, municipality.RecipientMunicipality, workflows.ActionSignAgreement, workflows.StepCallOff)))
	stuck.waitCalls(t, 2)
	crashed := crashImage(t, dir)

	st := &fakeStarter{}
	srv2, ap2, _ := startWith(crashed, st)
	calls := st.waitCalls(t, 2)
	require.ElementsMatch(t, []string{"autopilot/first", "autopilot/second"}, []string{calls[0].a.ID, calls[1].a.ID})
	require.Eventually(t, func() bool { return ap2.Stats().Acted == 2 }, 10*time.Second, 5*time.Millisecond)
	stop(srv2, ap2)

	again := &fakeStarter{}
	srv3, ap3, _ := startWith(crashed, again)
	time.Sleep(100 * time.Millisecond)
	require.Empty(t, again.Calls(), "an action taken is not handed over again")
	stop(srv3, ap3)

	close(unblock) // the crashed process's actions end; it goes away
	stop(srv, ap)
}
