package activities

import (
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/store/storetest"
	"github.com/rollin-efa/rollin/systems"
	"github.com/rollin-efa/rollin/systems/municipality"
	"github.com/rollin-efa/rollin/systems/notify"
	"github.com/rollin-efa/rollin/systems/notify/notifytest"
	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/workflows"
)

const hookSecret = "0123456789abcdef0123456789abcdef-hook"

// hookReceiver is a webhook receiver that checks every delivery with notify.Verify and
// answers the scripted statuses in turn, then 200.
type hookReceiver struct {
	mu       sync.Mutex
	statuses []int
	got      []hookDelivery
}

type hookDelivery struct {
	key    string
	status int
	err    error
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	status := http.StatusOK
	if len(h.statuses) > 0 {
		status, h.statuses = h.statuses[0], h.statuses[1:]
	}
	h.got = append(h.got, hookDelivery{key: r.Header.Get("Idempotency-Key"), status: status,
		err: notify.Verify([]byte(hookSecret), r.Header, body, time.Minute, time.Now())})
	h.mu.Unlock()
	w.WriteHeader(status)
}

// delivered are the keys of the deliveries answered 2xx, after checking every delivery's
// signature.
func (h *hookReceiver) delivered(t *testing.T) []string {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	var keys []string
	for _, d := range h.got {
		require.NoError(t, d.err, "every delivery is signed")
		if d.status/100 == 2 {
			keys = append(keys, d.key)
		}
	}
	return keys
}

func (h *hookReceiver) requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.got)
}

// notifyFixture is the notify activity with a real store, the municipality simulator, a
// real SMTP server and a webhook receiver, wired from configuration as New wires them.
type notifyFixture struct {
	a    *Activities
	st   *store.Store
	sim  *simulator.Server
	smtp *notifytest.Server
	hook *hookReceiver
	logs *observer.ObservedLogs
}

func newNotifyFixture(t *testing.T) notifyFixture {
	t.Helper()
	st, err := store.Open(t.Context(), storetest.NewDatabase(t), zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(st.Close)
	sim, err := simulator.Start(simulator.Municipality, simulator.Config{}, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = sim.Close() })
	mc, err := municipality.New(sim.URL, nil)
	require.NoError(t, err)
	smtp := notifytest.Start(t, notifytest.Options{})
	hook := &hookReceiver{}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)

	mailer, err := notify.NewMailer(notify.MailerConfig{Addr: smtp.Addr, From: "Rollin <rollin@d-nrw.example>", Timeout: 5 * time.Second})
	require.NoError(t, err)
	webhook, err := notify.NewWebhook(hookSrv.URL+"/rollin", []byte(hookSecret), &http.Client{Timeout: 5 * time.Second})
	require.NoError(t, err)
	n := &Notifiers{Mailer: mailer, Webhook: webhook, WebhookHost: strings.TrimPrefix(hookSrv.URL, "http://"),
		PM: []string{"pm@d-nrw.example", "pm2@d-nrw.example"}, Operator: []string{"ops@d-nrw.example"},
		// The Kreis after the Land: the longest matching prefix wins, not the first.
		Municipalities: []MunicipalityAddress{{ARSPrefix: "05", Address: "rollin@d-nrw.example"},
			{ARSPrefix: "05370", Address: "rollin@kreis-heinsberg.example"}},
		Organisations: map[domain.Organisation]RoleAddresses{"itvsh": {Organisation: "itvsh", PM: []string{"projekte@itvsh.example"}}},
	}
	core, logs := observer.New(zapcore.DebugLevel)
	a := &Activities{Store: st, Municipality: mc, Notifiers: n, Log: zap.New(core)}
	return notifyFixture{a: a, st: st, sim: sim, smtp: smtp, hook: hook, logs: logs}
}

// notice is the call input of a notice about the call-off of Wohngeld in the
// municipality ars.
func notice(ars domain.ARS, kind string, to domain.Role, contact string) workflows.CallInput {
	run := "rollin/" + string(ars) + "/99107023037000"
	in := workflows.CallInput{
		RunID: run, Step: workflows.StepCallOff, IdempotencyKey: run + "/call-off/0/" + kind,
		Context: workflows.RunContext{Service: domain.Service{Key: "99107023037000", Name: "Wohngeld"},
			Municipality: domain.Municipality{ARS: ars, Name: "Gemeinde " + string(ars)}},
		Notice: &workflows.Notice{Recipient: to, Kind: kind, Action: workflows.ActionSignAgreement, Step: workflows.StepCallOff,
			Subject: "Erinnerung: Einzelabruf Wohngeld für Münster wartet auf Ihre Unterschrift",
			Body:    "Der Schritt call-off wartet auf municipality (sign-agreement). Bitte prüfen Sie die Vereinbarung."},
	}
	if contact != "" {
		in.Connection = &workflows.ConnectionData{ContactEmail: contact}
	}
	return in
}

func withOrganisation(in workflows.CallInput, org domain.Organisation) workflows.CallInput {
	in.Organisation = org
	return in
}

// TestNotifySendsEachEventOncePerChannel: the notice goes to the municipality system,
// by mail and to the webhook; run again with the same idempotency key (a retried
// activity) nothing is sent a second time on any channel.
func TestNotifySendsEachEventOncePerChannel(t *testing.T) {
	t.Parallel()
	fx := newNotifyFixture(t)
	in := notice("055150000000", "reminder", domain.RoleMunicipality, "wohngeld@muenster.example")
	for range 2 {
		_, err := run(t, fx.a.Notify, in)
		require.NoError(t, err)
	}
	msgs := fx.smtp.Messages()
	require.Equal(t, 1, len(msgs), "one mail per event")
	require.Equal(t, []string{"wohngeld@muenster.example"}, msgs[0].To, "a reminder to the municipality goes to its contact address")
	msg := msgs[0].Parse(t)
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, in.Notice.Subject, subject)
	require.Equal(t, fx.a.Notifiers.Mailer.MessageID(in.IdempotencyKey), msg.Header.Get("Message-ID"))
	require.Equal(t, []string{in.IdempotencyKey}, fx.hook.delivered(t), "one webhook delivery per event")
	require.Equal(t, 1, fx.sim.Sim.Counters().Effects["notify municipality reminder call-off 055150000000/99107023037000"])

	sent, err := fx.st.Notifications(t.Context(), in.RunID)
	require.NoError(t, err)
	require.Len(t, sent, 2)
	byChannel := map[string]string{sent[0].Channel: sent[0].Detail, sent[1].Channel: sent[1].Detail}
	require.Equal(t, "wohngeld@muenster.example", byChannel[ChannelEmail])
	require.Contains(t, byChannel[ChannelWebhook], "127.0.0.1")
}

// TestNotifyAddressesByRole: escalations go to the project managers (of the run's
// organisation where it has its own addresses), operator tasks to
// the operators; a municipality without a contact address yet is written to at the
// address of its longest configured ARS prefix, and without one gets no mail (which the
// log says) while the webhook still hears of it.
func TestNotifyAddressesByRole(t *testing.T) {
	t.Parallel()
	fx := newNotifyFixture(t)
	tests := []struct {
		name string
		in   workflows.CallInput
		to   []string
	}{
		{"escalation", notice("055150000000", "escalation", domain.RolePM, "wohngeld@muenster.example"), []string{"pm@d-nrw.example", "pm2@d-nrw.example"}},
		{"Kreis prefix", notice("053700004004", "reminder", domain.RoleMunicipality, ""), []string{"rollin@kreis-heinsberg.example"}},
		{"Land prefix", notice("051110000000", "reminder", domain.RoleMunicipality, ""), []string{"rollin@d-nrw.example"}},
		{"no address", notice("091620000000", "reminder", domain.RoleMunicipality, ""), nil},
		{"escalation of another organisation's run", withOrganisation(notice("010010000000", "escalation", domain.RolePM, ""), "itvsh"), []string{"projekte@itvsh.example"}},
	}
	for _, tc := range tests {
		before := len(fx.smtp.Messages())
		_, err := run(t, fx.a.Notify, tc.in)
		require.NoError(t, err, tc.name)
		msgs := fx.smtp.Messages()[before:]
		if tc.to == nil {
			require.Zero(t, len(msgs), tc.name)
			continue
		}
		require.Equal(t, 1, len(msgs), tc.name)
		require.Equal(t, tc.to, msgs[0].To, tc.name)
	}
	require.Len(t, fx.hook.delivered(t), len(tests), "the webhook hears of every notice")
	warned := fx.logs.FilterMessageSnippet("no e-mail address for the municipality").FilterField(zap.String("ars", "091620000000"))
	require.Equal(t, 1, warned.Len())

	// A connection task for an operator: mailed to the operators and posted, and not sent
	// to the municipality's system, which is for its staff and the project manager.
	op := notice("055150000000", "waiting", domain.RoleOperator, "wohngeld@muenster.example")
	op.Step, op.IdempotencyKey = workflows.StepDVDV, "rollin/055150000000/99107023037000/dvdv/0/waiting"
	op.Notice.Step, op.Notice.Action = workflows.StepDVDV, workflows.ActionConfirmConnection
	effects := len(fx.sim.Sim.Counters().Effects)
	_, err := run(t, fx.a.Notify, op)
	require.NoError(t, err)
	msgs := fx.smtp.Messages()
	require.Equal(t, []string{"ops@d-nrw.example"}, msgs[len(msgs)-1].To)
	require.Contains(t, fx.hook.delivered(t), op.IdempotencyKey)
	require.Len(t, fx.sim.Sim.Counters().Effects, effects, "no notice to the municipality system for an operator")
}

// TestNotifyRetriesOnlyWhatFailed: a webhook that answers 500 once makes the activity
// fail retryably after the mail went; its retry delivers the webhook and sends no second
// mail. A relay that fails transiently once is the mirror image.
func TestNotifyRetriesOnlyWhatFailed(t *testing.T) {
	t.Parallel()
	fx := newNotifyFixture(t)
	requireRetryable := func(err error) {
		t.Helper()
		var app *temporal.ApplicationError
		require.ErrorAs(t, err, &app)
		require.False(t, app.NonRetryable(), "%v", err)
	}

	fx.hook.mu.Lock()
	fx.hook.statuses = []int{http.StatusInternalServerError}
	fx.hook.mu.Unlock()
	in := notice("055150000000", "escalation", domain.RolePM, "")
	_, err := run(t, fx.a.Notify, in)
	requireRetryable(err)
	require.Contains(t, err.Error(), "webhook")
	require.Equal(t, 1, len(fx.smtp.Messages()), "the mail went in the first attempt")
	require.Empty(t, fx.hook.delivered(t))
	_, err = run(t, fx.a.Notify, in)
	require.NoError(t, err)
	require.Equal(t, 1, len(fx.smtp.Messages()), "no second mail")
	require.Equal(t, []string{in.IdempotencyKey}, fx.hook.delivered(t))
	require.Equal(t, 2, fx.hook.requests())

	fx.smtp.FailData(451)
	in = notice("055150000000", "reminder", domain.RoleMunicipality, "wohngeld@muenster.example")
	_, err = run(t, fx.a.Notify, in)
	requireRetryable(err)
	require.Contains(t, err.Error(), "451")
	require.Equal(t, 1, len(fx.smtp.Messages()), "the relay refused the second event's mail")
	_, err = run(t, fx.a.Notify, in)
	require.NoError(t, err)
	require.Equal(t, 2, len(fx.smtp.Messages()))
	require.Equal(t, 3, fx.hook.requests(), "the webhook had it from the first attempt")
}

// TestDeliveryErrorClassification: several failed channels are retryable when any of
// them is (waiting the longest Retry-After asked for), so that the retry repeats what may
// still succeed; permanent when none is.
func TestDeliveryErrorClassification(t *testing.T) {
	t.Parallel()
	down := &systems.Error{System: notify.SystemWebhook, Op: "deliver notice", Status: 503, Retryable: true, RetryAfter: 7 * time.Second}
	busy := &systems.Error{System: notify.SystemSMTP, Op: "send mail", Retryable: true, RetryAfter: time.Second}
	refused := &systems.Error{System: municipality.System, Op: "notify", Status: 422}
	require.NoError(t, deliveryError([]error{nil, nil}))
	require.Equal(t, error(refused), deliveryError([]error{nil, refused}), "one failure is itself")
	for name, tc := range map[string]struct {
		errs       []error
		retryable  bool
		retryAfter time.Duration
	}{
		"refused and down":        {[]error{refused, down}, true, 7 * time.Second},
		"two down":                {[]error{busy, down}, true, 7 * time.Second},
		"both refused":            {[]error{refused, refused}, false, 0},
		"refused, database error": {[]error{refused, io.ErrUnexpectedEOF}, true, 0},
		"refused, invalid":        {[]error{refused, store.ErrInvalid}, false, 0},
	} {
		err := deliveryError(tc.errs)
		require.Equal(t, tc.retryable, systems.IsRetryable(err), name)
		var se *systems.Error
		require.ErrorAs(t, err, &se, name)
		require.Equal(t, tc.retryAfter, se.RetryAfter, name)
		for _, e := range tc.errs {
			require.Contains(t, err.Error(), e.Error(), name)
			require.ErrorIs(t, err, e, name)
		}
		require.NotContains(t, err.Error(), "\n", "one line for the incident")
	}
}
