package simulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/systems/municipality"
	"github.com/rollin-efa/rollin/systems/simulator"
)

// The Steckbriefe the tests' ServiceLookup knows.
var (
	wohngeld = domain.Service{Key: "99107023037000", Name: "Wohngeld", Provider: "NRW",
		Fachverfahren: []string{"OK.SOZIUS", "LÄMMkom"}, Transports: []domain.Transport{domain.TransportFITConnect}}
	gewerbe = domain.Service{Key: "99050012104000", Name: "Gewerbeanmeldung", Provider: "HE",
		Fachverfahren: []string{"OK.GEWERBE"}, Transports: []domain.Transport{domain.TransportXTA, domain.TransportFITConnect},
		PaymentRequired: true}
	hundesteuer = domain.Service{Key: "99017013000000", Name: "Hundesteuer", Provider: "SH",
		Fachverfahren: []string{"AB-Data"}, Transports: []domain.Transport{domain.TransportXTA, domain.TransportEmail},
		PaymentRequired: true}
	catalogue = map[string]domain.Service{
		string(wohngeld.Key): wohngeld, string(gewerbe.Key): gewerbe, string(hundesteuer.Key): hundesteuer,
	}
)

func lookup(_ context.Context, key string) (domain.Service, error) {
	svc, ok := catalogue[key]
	if !ok {
		return domain.Service{}, fmt.Errorf("service %s: not in the catalogue", key)
	}
	return svc, nil
}

// actCall is one call the fake Actor received.
type actCall struct {
	act AutopilotAction
	at  time.Time
}

type AutopilotAction = simulator.AutopilotAction

// fakeActor records every call; respond, if set, decides the answer (it may block).
type fakeActor struct {
	respond func(ctx context.Context, a AutopilotAction, n int) error

	mu    sync.Mutex
	calls []actCall
}

func (f *fakeActor) Act(ctx context.Context, a AutopilotAction) error {
	f.mu.Lock()
	f.calls = append(f.calls, actCall{act: a, at: time.Now()})
	n := len(f.calls)
	f.mu.Unlock()
	if f.respond != nil {
		return f.respond(ctx, a, n)
	}
	return nil
}

func (f *fakeActor) Calls() []actCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// waitCalls waits until the actor has at least n calls and returns them.
func (f *fakeActor) waitCalls(t *testing.T, n int) []actCall {
	t.Helper()
	require.Eventually(t, func() bool { return len(f.Calls()) >= n }, 10*time.Second, 5*time.Millisecond,
		"want %d calls", n)
	return f.Calls()
}

// pilot serves a municipality simulator with an autopilot and returns its client.
func pilot(t *testing.T, cfg simulator.AutopilotConfig, actor simulator.Actor) (*municipality.Client, *simulator.Server, *simulator.Autopilot) {
	t.Helper()
	srv := start(t, simulator.Municipality, simulator.Config{})
	ap := simulator.NewAutopilot(cfg, actor, lookup, zaptest.NewLogger(t))
	t.Cleanup(ap.Stop) // runs before the server's Close
	srv.Sim.SetAutopilot(ap)
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

func TestAutopilotPlaysEveryHumanStep(t *testing.T) {
	t.Parallel()
	const delay = 150 * time.Millisecond
	actor := &fakeActor{}
	c, srv, ap := pilot(t, simulator.AutopilotConfig{Enabled: true, Delay: delay}, actor)

	notices := []struct {
		key      string
		n        municipality.Notification
		wantRole string
	}{
		{"rollin/055150000000/99107023037000/framework-agreement/0/waiting",
			waiting(wohngeld, "municipality", "sign-agreement", "framework-agreement"), "municipality"},
		{"rollin/055150000000/99107023037000/call-off/0/waiting",
			waiting(wohngeld, "municipality", "sign-agreement", "call-off"), "municipality"},
		{"rollin/055150000000/99107023037000/countersign/0/waiting",
			waiting(wohngeld, "pm", "countersign-agreement", "countersign"), "pm"},
		{"rollin/055150000000/99107023037000/connection-data/0/waiting",
			waiting(wohngeld, "municipality", "submit-connection-data", "connection-data"), "municipality"},
		{"rollin/055150000000/99107023037000/test-confirmation/0/waiting",
			waiting(wohngeld, "municipality", "confirm-test", "test-confirmation"), "municipality"},
	}
	sent := map[string]time.Time{}
	for _, n := range notices {
		began := time.Now()
		sent[n.key] = began
		require.NoError(t, c.Notify(t.Context(), n.key, n.n))
		require.Less(t, time.Since(began), delay, "the answer does not wait for the delay")
	}

	calls := actor.waitCalls(t, len(notices))
	for _, n := range notices {
		i := slices.IndexFunc(calls, func(c actCall) bool { return c.act.Step == n.n.Step })
		require.GreaterOrEqual(t, i, 0, "no action for %s", n.n.Step)
		got := calls[i]
		require.GreaterOrEqual(t, got.at.Sub(sent[n.key]), delay, "%s acted before the delay", n.n.Step)
		require.Equal(t, ars, got.act.ARS)
		require.Equal(t, string(wohngeld.Key), got.act.Service)
		require.Equal(t, n.wantRole, got.act.Role)
		require.Equal(t, n.n.Action, got.act.Action)
		require.Equal(t, "autopilot/"+n.key, got.act.ActionID)
		switch n.n.Action {
		case "sign-agreement", "countersign-agreement":
			require.Nil(t, got.act.Data)
		case "confirm-test":
			require.JSONEq(t, `{"received": true}`, string(got.act.Data))
		case "submit-connection-data":
			require.NotEmpty(t, got.act.Data)
		}
	}

	// The workflow's activity retried: the same key replays, no new effect, no new action.
	for _, n := range notices {
		require.NoError(t, c.Notify(t.Context(), n.key, n.n))
	}
	time.Sleep(3 * delay)
	require.Len(t, actor.Calls(), len(notices))

	effects := srv.Sim.Counters().Effects
	for _, n := range notices {
		require.Equal(t, 1, effects["notify "+n.n.Recipient+" waiting "+n.n.Step+" "+ars+"/"+string(wohngeld.Key)])
	}
	st := ap.Stats()
	require.Equal(t, len(notices), st.Noticed)
	require.Equal(t, len(notices), st.Acted)
	require.Zero(t, st.Failed+st.Dropped+st.Pending+st.Ignored+st.Retries)
	require.Equal(t, map[string]simulator.ActionStats{
		"sign-agreement":         {Acted: 2},
		"countersign-agreement":  {Acted: 1},
		"submit-connection-data": {Acted: 1},
		"confirm-test":           {Acted: 1},
	}, st.ByAction)
}

func TestAutopilotLostAnswerActsOnce(t *testing.T) {
	t.Parallel()
	actor := &fakeActor{}
	c, srv, ap := pilot(t, simulator.AutopilotConfig{Enabled: true}, actor)
	n := waiting(wohngeld, "municipality", "sign-agreement", "call-off")

	// The notice was applied but the answer got lost; the retry with the same key replays.
	srv.Sim.AddFault(simulator.Fault{PathPrefix: "/v1/notifications", Status: 502, Times: 1, AfterApply: true})
	require.Error(t, c.Notify(t.Context(), "lost", n))
	require.NoError(t, c.Notify(t.Context(), "lost", n))
	// An outage before the effect: nothing is handed over until the retry gets through.
	srv.Sim.AddFault(simulator.Fault{PathPrefix: "/v1/notifications", Status: 503, Times: 1})
	n2 := waiting(gewerbe, "municipality", "sign-agreement", "call-off")
	require.Error(t, c.Notify(t.Context(), "outage", n2))
	require.NoError(t, c.Notify(t.Context(), "outage", n2))

	calls := actor.waitCalls(t, 2)
	time.Sleep(100 * time.Millisecond)
	require.Len(t, actor.Calls(), 2)
	ids := []string{calls[0].act.ActionID, calls[1].act.ActionID}
	require.ElementsMatch(t, []string{"autopilot/lost", "autopilot/outage"}, ids)
	require.Equal(t, 2, ap.Stats().Acted)
}

// connectionData mirrors Rollin's questionnaire, decoded strictly.
type connectionData struct {
	ContactEmail   string `json:"contact_email"`
	ContactAddress string `json:"contact_address"`
	Fachverfahren  string `json:"fachverfahren"`
	Transport      string `json:"transport"`
	OrgUnitID      string `json:"org_unit_id"`
	DVDVKey        string `json:"dvdv_key"`
	PaymentAccount string `json:"payment_account"`
}

var dvdvKey = regexp.MustCompile(`^[a-z]{3}:?[0-9]{12}$`)

// ibanValid checks an IBAN with ISO 7064 mod-97, independently of the autopilot's code:
// move the first four characters to the end, letters to numbers, the whole must be 1 mod 97.
func ibanValid(iban string) bool {
	if len(iban) < 5 {
		return false
	}
	var digits strings.Builder
	for _, r := range iban[4:] + iban[:4] {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			fmt.Fprintf(&digits, "%d", r-'A'+10)
		default:
			return false
		}
	}
	n, ok := new(big.Int).SetString(digits.String(), 10)
	return ok && new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
}

func TestIBANValidatorRejectsBadCheckDigits(t *testing.T) {
	t.Parallel()
	require.True(t, ibanValid("DE89370400440532013000"), "the textbook example")
	require.False(t, ibanValid("DE88370400440532013000"))
}

func TestAutopilotConnectionData(t *testing.T) {
	t.Parallel()
	tests := []struct {
		svc           domain.Service
		wantTransport string
	}{
		{wohngeld, "fit-connect"},
		{gewerbe, "fit-connect"}, // preferred although xta is listed first
		{hundesteuer, "xta"},
	}
	actor := &fakeActor{}
	c, _, _ := pilot(t, simulator.AutopilotConfig{Enabled: true}, actor)
	for _, tt := range tests {
		require.NoError(t, c.Notify(t.Context(), "cd-"+string(tt.svc.Key),
			waiting(tt.svc, "municipality", "submit-connection-data", "connection-data")))
	}
	calls := actor.waitCalls(t, len(tests))
	for _, tt := range tests {
		name := tt.svc.Name
		i := slices.IndexFunc(calls, func(c actCall) bool { return c.act.Service == string(tt.svc.Key) })
		require.GreaterOrEqual(t, i, 0, name)
		raw := calls[i].act.Data

		var cd connectionData
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&cd), "%s: %s", name, raw)

		addr, err := mail.ParseAddress(cd.ContactEmail)
		require.NoError(t, err, name)
		require.Equal(t, "autopilot@"+ars+".example", addr.Address, name)
		require.Equal(t, "OE-"+ars, cd.OrgUnitID, name)
		require.Equal(t, tt.svc.Fachverfahren[0], cd.Fachverfahren, name)
		require.True(t, tt.svc.Compatible(cd.Fachverfahren), name)
		require.Equal(t, tt.wantTransport, cd.Transport, name)
		require.True(t, tt.svc.Supports(domain.Transport(cd.Transport)), name)
		if cd.Transport == "fit-connect" {
			require.NotEmpty(t, cd.ContactAddress, "%s: a FIT-Connect destination publishes the address", name)
		} else {
			require.NotContains(t, string(raw), "contact_address", name)
		}
		if cd.Transport == "xta" {
			require.Regexp(t, dvdvKey, cd.DVDVKey, name)
		} else {
			require.Empty(t, cd.DVDVKey, name)
			require.NotContains(t, string(raw), "dvdv_key", name)
		}
		if tt.svc.PaymentRequired {
			require.Regexp(t, `^DE[0-9]{20}$`, cd.PaymentAccount, name)
			require.True(t, ibanValid(cd.PaymentAccount), "%s: %s", name, cd.PaymentAccount)
		} else {
			require.NotContains(t, string(raw), "payment_account", name)
		}
	}
}

func TestAutopilotIBANForManyMunicipalities(t *testing.T) {
	t.Parallel()
	actor := &fakeActor{}
	c, _, _ := pilot(t, simulator.AutopilotConfig{Enabled: true}, actor)
	arsList := []string{"010010000000", "055150000000", "091620000000", "160770041041", "000000000000", "999999999999"}
	for _, a := range arsList {
		n := waiting(gewerbe, "municipality", "submit-connection-data", "connection-data")
		n.ARS = a
		require.NoError(t, c.Notify(t.Context(), "iban-"+a, n))
	}
	for _, call := range actor.waitCalls(t, len(arsList)) {
		var cd connectionData
		require.NoError(t, json.Unmarshal(call.act.Data, &cd))
		require.True(t, ibanValid(cd.PaymentAccount), "%s: %s", call.act.ARS, cd.PaymentAccount)
		require.Len(t, cd.PaymentAccount, 22)
	}
}

// confirmations sends n confirm-test notices and returns the answers by key.
func confirmations(t *testing.T, cfg simulator.AutopilotConfig, n int) map[string]string {
	t.Helper()
	actor := &fakeActor{}
	c, _, ap := pilot(t, cfg, actor)
	for i := range n {
		require.NoError(t, c.Notify(t.Context(), fmt.Sprintf("test-%d", i),
			waitingAt(i, wohngeld, "municipality", "confirm-test", "test-confirmation")))
	}
	out := map[string]string{}
	for _, call := range actor.waitCalls(t, n) {
		out[call.act.ActionID] = string(call.act.Data)
	}
	require.Eventually(t, func() bool { return ap.Stats().Acted == n }, 5*time.Second, 5*time.Millisecond)
	notReceived := 0
	for _, d := range out {
		if !strings.Contains(d, `"received":true`) {
			notReceived++
		}
	}
	require.Equal(t, notReceived, ap.Stats().TestNotReceived)
	return out
}

func TestAutopilotTestFailureRate(t *testing.T) {
	t.Parallel()
	for _, d := range confirmations(t, simulator.AutopilotConfig{Enabled: true, TestFailureRate: 1}, 10) {
		require.JSONEq(t, `{"received": false, "note": "Autopilot: Testantrag nicht angekommen"}`, d)
	}
	for _, d := range confirmations(t, simulator.AutopilotConfig{Enabled: true, TestFailureRate: 0}, 10) {
		require.JSONEq(t, `{"received": true}`, d)
	}

	// A share in between: both answers occur, and the same seed gives the same answers
	// however the notices interleave.
	half := simulator.AutopilotConfig{Enabled: true, TestFailureRate: 0.5, Seed: 7, Concurrency: 3}
	first, again := confirmations(t, half, 40), confirmations(t, half, 40)
	require.Equal(t, first, again)
	failed := 0
	for _, d := range first {
		if strings.Contains(d, `"received":false`) {
			failed++
		}
	}
	require.Greater(t, failed, 5)
	require.Less(t, failed, 35)
}

func TestAutopilotIgnoresOtherNotices(t *testing.T) {
	t.Parallel()
	const delay = 20 * time.Millisecond
	actor := &fakeActor{}
	c, _, ap := pilot(t, simulator.AutopilotConfig{Enabled: true, Delay: delay}, actor)
	n := waiting(wohngeld, "municipality", "sign-agreement", "call-off")
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
	require.Empty(t, actor.Calls())
	st := ap.Stats()
	require.Equal(t, 3, st.Ignored)
	require.Zero(t, st.Noticed)
}

func TestAutopilotDisabled(t *testing.T) {
	t.Parallel()
	actor := &fakeActor{}
	c, _, ap := pilot(t, simulator.AutopilotConfig{Enabled: false}, actor)
	require.NoError(t, c.Notify(t.Context(), "w", waiting(wohngeld, "municipality", "sign-agreement", "call-off")))
	time.Sleep(50 * time.Millisecond)
	require.Empty(t, actor.Calls())
	require.Equal(t, 1, ap.Stats().Ignored)
}

func TestAutopilotStopWaitsForInFlight(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var finished sync.WaitGroup
	finished.Add(1)
	actor := &fakeActor{respond: func(context.Context, AutopilotAction, int) error {
		defer finished.Done()
		close(entered)
		<-release
		return nil
	}}
	c, _, ap := pilot(t, simulator.AutopilotConfig{Enabled: true}, actor)
	require.NoError(t, c.Notify(t.Context(), "w", waiting(wohngeld, "municipality", "sign-agreement", "call-off")))
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
	require.NoError(t, c.Notify(t.Context(), "late", waiting(wohngeld, "municipality", "sign-agreement", "framework-agreement")))
	st := ap.Stats()
	require.Equal(t, 1, st.Ignored)
	require.Len(t, actor.Calls(), 1)
	ap.Stop() // twice is fine
}

func TestAutopilotStopDropsWhatWaitsForTheDelay(t *testing.T) {
	t.Parallel()
	actor := &fakeActor{}
	c, _, ap := pilot(t, simulator.AutopilotConfig{Enabled: true, Delay: time.Hour}, actor)
	for i := range 3 {
		began := time.Now()
		require.NoError(t, c.Notify(t.Context(), fmt.Sprintf("w-%d", i), waitingAt(i, wohngeld, "municipality", "sign-agreement", "call-off")))
		require.Less(t, time.Since(began), time.Second)
	}
	require.Equal(t, 3, ap.Stats().Pending)
	began := time.Now()
	ap.Stop()
	require.Less(t, time.Since(began), time.Second)
	st := ap.Stats()
	require.Equal(t, 3, st.Dropped)
	require.Zero(t, st.Pending)
	require.Empty(t, actor.Calls())
}

func TestAutopilotConcurrencyBound(t *testing.T) {
	t.Parallel()
	const limit, total = 2, 7
	var (
		mu            sync.Mutex
		now, maxSoFar int
	)
	release := make(chan struct{})
	actor := &fakeActor{respond: func(context.Context, AutopilotAction, int) error {
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
	c, _, ap := pilot(t, simulator.AutopilotConfig{Enabled: true, Concurrency: limit}, actor)
	for i := range total {
		require.NoError(t, c.Notify(t.Context(), fmt.Sprintf("w-%d", i), waitingAt(i, wohngeld, "municipality", "sign-agreement", "call-off")))
	}
	actor.waitCalls(t, limit)
	time.Sleep(100 * time.Millisecond)
	require.Len(t, actor.Calls(), limit, "no more than Concurrency in flight")
	require.Equal(t, total, ap.Stats().Pending)
	close(release)
	require.Eventually(t, func() bool { return ap.Stats().Acted == total }, 5*time.Second, 5*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, limit, maxSoFar)
}

var errConflict = errors.New("409: the run does not wait for sign-agreement")

func TestAutopilotRetries(t *testing.T) {
	t.Parallel()
	cfg := simulator.AutopilotConfig{Enabled: true, Attempts: 3, Backoff: time.Millisecond}
	n := waiting(wohngeld, "municipality", "sign-agreement", "call-off")

	t.Run("retryable then accepted", func(t *testing.T) {
		t.Parallel()
		actor := &fakeActor{respond: func(_ context.Context, _ AutopilotAction, call int) error {
			if call < 3 {
				return fmt.Errorf("starter: %w", simulator.MarkRetryable(errors.New("temporal unavailable")))
			}
			return nil
		}}
		c, _, ap := pilot(t, cfg, actor)
		require.NoError(t, c.Notify(t.Context(), "w", n))
		require.Eventually(t, func() bool { return ap.Stats().Acted == 1 }, 5*time.Second, 5*time.Millisecond)
		calls := actor.Calls()
		require.Len(t, calls, 3)
		for _, c := range calls {
			require.Equal(t, "autopilot/w", c.act.ActionID, "every try carries the same action ID")
		}
		st := ap.Stats()
		require.Equal(t, 2, st.Retries)
		require.Zero(t, st.Failed)
	})
	t.Run("conflict is not retried", func(t *testing.T) {
		t.Parallel()
		actor := &fakeActor{respond: func(context.Context, AutopilotAction, int) error { return errConflict }}
		c, _, ap := pilot(t, cfg, actor)
		require.NoError(t, c.Notify(t.Context(), "w", n))
		require.Eventually(t, func() bool { return ap.Stats().Failed == 1 }, 5*time.Second, 5*time.Millisecond)
		time.Sleep(20 * time.Millisecond)
		require.Len(t, actor.Calls(), 1)
		st := ap.Stats()
		require.Zero(t, st.Retries+st.Acted)
		require.Equal(t, simulator.ActionStats{Failed: 1}, st.ByAction["sign-agreement"])
	})
	t.Run("tries run out", func(t *testing.T) {
		t.Parallel()
		actor := &fakeActor{respond: func(context.Context, AutopilotAction, int) error {
			return simulator.MarkRetryable(errors.New("temporal unavailable"))
		}}
		c, _, ap := pilot(t, cfg, actor)
		require.NoError(t, c.Notify(t.Context(), "w", n))
		require.Eventually(t, func() bool { return ap.Stats().Failed == 1 }, 5*time.Second, 5*time.Millisecond)
		require.Len(t, actor.Calls(), 3)
		require.Equal(t, 2, ap.Stats().Retries)
	})
	t.Run("unknown service fails the questionnaire", func(t *testing.T) {
		t.Parallel()
		actor := &fakeActor{}
		c, _, ap := pilot(t, cfg, actor)
		unknown := waiting(wohngeld, "municipality", "submit-connection-data", "connection-data")
		unknown.ServiceKey = "99999999999000"
		require.NoError(t, c.Notify(t.Context(), "w", unknown))
		require.Eventually(t, func() bool { return ap.Stats().Failed == 1 }, 5*time.Second, 5*time.Millisecond)
		require.Empty(t, actor.Calls())
	})
}

func TestAutopilotDirectHandle(t *testing.T) {
	t.Parallel()
	actor := &fakeActor{}
	ap := simulator.NewAutopilot(simulator.AutopilotConfig{Enabled: true}, actor, lookup, nil)
	t.Cleanup(ap.Stop)
	base := simulator.AutopilotNotice{Key: "k", ARS: ars, Service: string(wohngeld.Key),
		Recipient: "pm", Kind: "waiting", Action: "countersign-agreement", Step: "countersign"}
	require.True(t, ap.Handle(base))
	wrongRole := base
	wrongRole.Recipient = "municipality"
	noKey := base
	noKey.Key = ""
	unknown := base
	unknown.Action = "cancel"
	for _, n := range []simulator.AutopilotNotice{wrongRole, noKey, unknown} {
		require.False(t, ap.Handle(n))
	}
	calls := actor.waitCalls(t, 1)
	require.Equal(t, AutopilotAction{ARS: ars, Service: string(wohngeld.Key), Role: "pm",
		Action: "countersign-agreement", Step: "countersign", ActionID: "autopilot/k"}, calls[0].act)
	require.Equal(t, 3, ap.Stats().Ignored)
}

func TestAutopilotDVDVKeyAcceptedByState(t *testing.T) {
	t.Parallel()
	// The autopilot's "dvd:<ARS>" (the form Rollin's questionnaire accepts) reaches the
	// state's DVDV endpoint as is.
	srv := start(t, simulator.State, simulator.Config{})
	for i, key := range []string{"dvd:" + ars, "dvd" + ars} {
		a := call(t, http.MethodPost, srv.URL+"/dvdv/v1/entries", fmt.Sprintf("k%d", i),
			`{"ars":"`+ars+`","serviceKey":"`+service+`","orgKey":"`+key+`"}`)
		require.Equal(t, http.StatusCreated, a.status, "%s: %s", key, a.body)
	}
}

// TestAutopilotOneActionPerWait: a second notice of the same wait (a resumed run whose live
// notice also arrives, with another key) is ignored while the first action is queued or in
// flight; once it has finished, the same wait in a later round is answered again.
func TestAutopilotOneActionPerWait(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	actor := &fakeActor{respond: func(ctx context.Context, _ AutopilotAction, n int) error {
		if n == 1 {
			<-release
		}
		return nil
	}}
	ap := simulator.NewAutopilot(simulator.AutopilotConfig{Enabled: true}, actor, lookup, nil)
	t.Cleanup(ap.Stop)
	live := simulator.AutopilotNotice{Key: "run/call-off/0/waiting", ARS: ars, Service: string(wohngeld.Key),
		Recipient: "municipality", Kind: "waiting", Action: "sign-agreement", Step: "call-off"}
	resumed := live
	resumed.Key = "resume/run/7"
	require.True(t, ap.Handle(resumed))
	actor.waitCalls(t, 1) // in flight now
	require.False(t, ap.Handle(live), "the same wait is being answered")
	otherStep := live
	otherStep.Step = "framework-agreement"
	require.True(t, ap.Handle(otherStep), "another wait of the same run is not a duplicate")
	close(release)
	actor.waitCalls(t, 2)
	require.Eventually(t, func() bool { return ap.Stats().Pending == 0 }, 5*time.Second, 5*time.Millisecond)

	again := live
	again.Key = "run/call-off/1/waiting"
	require.True(t, ap.Handle(again), "a later round of the same wait is answered")
	calls := actor.waitCalls(t, 3)
	require.Equal(t, "autopilot/resume/run/7", calls[0].act.ActionID)
	require.Equal(t, "autopilot/run/call-off/1/waiting", calls[2].act.ActionID)
	require.Equal(t, 1, ap.Stats().Ignored)
}

// TestAutopilotKeepsOpenActionsAcrossRestart crashes a municipality simulator with a
// state directory while two actions of its autopilot are in flight (the Actor does not
// answer, as when the process dies mid-Update) and starts it again on the crash image
// with a new autopilot: both actions are taken, under their first action IDs, and once
// taken they are not handed over by a third start.
func TestAutopilotKeepsOpenActionsAcrossRestart(t *testing.T) {
	t.Parallel()
	startWith := func(dir string, actor simulator.Actor) (*simulator.Server, *simulator.Autopilot, *municipality.Client) {
		srv, err := simulator.Start(simulator.Municipality, simulator.Config{StateDir: dir}, "")
		require.NoError(t, err)
		ap := simulator.NewAutopilot(simulator.AutopilotConfig{Enabled: true}, actor, lookup, zaptest.NewLogger(t))
		srv.Sim.SetAutopilot(ap)
		c, err := municipality.New(srv.URL, nil)
		require.NoError(t, err)
		return srv, ap, c
	}
	stop := func(srv *simulator.Server, ap *simulator.Autopilot) {
		srv.Sim.SetAutopilot(nil)
		ap.Stop()
		require.NoError(t, srv.Close())
	}

	unblock := make(chan struct{})
	stuck := &fakeActor{respond: func(ctx context.Context, _ AutopilotAction, _ int) error {
		select {
		case <-unblock:
			return errors.New("refused")
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	dir := t.TempDir()
	srv, ap, c := startWith(dir, stuck)
	require.NoError(t, c.Notify(t.Context(), "first", waiting(wohngeld, "municipality", "sign-agreement", "call-off")))
	require.NoError(t, c.Notify(t.Context(), "second", waiting(gewerbe, "municipality", "sign-agreement", "call-off")))
	stuck.waitCalls(t, 2)
	crashed := restarts[1].again(t, srv, dir, simulator.Municipality)

	actor := &fakeActor{}
	srv2, ap2, _ := startWith(crashed, actor)
	calls := actor.waitCalls(t, 2)
	require.ElementsMatch(t, []string{"autopilot/first", "autopilot/second"}, []string{calls[0].act.ActionID, calls[1].act.ActionID})
	require.Eventually(t, func() bool { return ap2.Stats().Acted == 2 }, 10*time.Second, 5*time.Millisecond)
	stop(srv2, ap2)

	again := &fakeActor{}
	srv3, ap3, _ := startWith(crashed, again)
	time.Sleep(100 * time.Millisecond)
	require.Empty(t, again.Calls(), "an action taken is not handed over again")
	stop(srv3, ap3)

	close(unblock) // the crashed process's actions end; it goes away
	stop(srv, ap)
}
