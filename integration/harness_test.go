// Package integration runs Rollin end to end: a real Temporal server in-process
// (temporaltest), a real PostgreSQL database per test, the simulators over real HTTP, and
// the JSON API in front. It is the only package whose tests link the Temporal server.
package integration

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/rollin-efa/rollin/activities"
	"github.com/rollin-efa/rollin/api"
	"github.com/rollin-efa/rollin/auth"
	"github.com/rollin-efa/rollin/catalog"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/logging"
	"github.com/rollin-efa/rollin/register"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/store/storetest"
	"github.com/rollin-efa/rollin/systems/fitconnect"
	"github.com/rollin-efa/rollin/systems/municipality"
	"github.com/rollin-efa/rollin/systems/provider"
	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/systems/state"
	"github.com/rollin-efa/rollin/web"
	"github.com/rollin-efa/rollin/worker"
	"github.com/rollin-efa/rollin/workflows"
)

// One Temporal server serves every test of the package; tests keep apart by task queue
// and by using different municipalities (workflow IDs are per municipality and service).
var (
	temporalOnce   sync.Once
	temporalServer *temporaltest.TestServer
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	if temporalServer != nil {
		temporalServer.Stop()
	}
	os.Exit(code)
}

func sharedTemporal() *temporaltest.TestServer {
	temporalOnce.Do(func() { temporalServer = temporaltest.NewServer() })
	return temporalServer
}

// Services and municipalities the tests use: real keys and real NRW municipalities.
const (
	gewerbe  = "99050012104000" // fit-connect or xta, with payment
	wohngeld = "99107023037000" // fit-connect only, no payment
	hund     = "99102013104000" // not offered in Schleswig-Holstein
)

// fastOptions make retries and polls take milliseconds instead of minutes.
var fastOptions = workflows.Options{
	CallAttempts: 3, RetryInitial: 50 * time.Millisecond, RetryMax: 100 * time.Millisecond,
	RoutingPoll: 50 * time.Millisecond, RoutingDeadline: 20 * time.Second,
}

// harness is one test's Rollin: its database, simulators, worker and API.
type harness struct {
	t      *testing.T
	log    *zap.Logger
	store  *store.Store
	dbURL  string
	client client.Client
	queue  string
	sims   map[simulator.Kind]*simulator.Server
	acts   *activities.Activities
	worker sdkworker.Worker
	api    *httptest.Server
	server *api.Server
	pages  *web.Server
	// reader is the caller waitFor reads runs as: "pm" unless a test watches another
	// organisation's runs.
	reader   string
	starter  *starter.Service
	tokens   map[string]string // name → token
	actionNo int
}

// municipalityARS is the ARS the harness's municipality token is scoped to.
func newHarness(t *testing.T, municipalityARS string, simCfg simulator.Config) *harness {
	t.Helper()
	return newHarnessWith(t, municipalityARS, simCfg, harnessOptions{})
}

// harnessOptions change the harness's defaults for the fault tests.
type harnessOptions struct {
	// process are the timings new runs start with (default fastOptions).
	process *workflows.Options
	// callTimeout bounds one call to a system (default 5 s).
	callTimeout time.Duration
	// notify, if set, sends the notices by e-mail (and webhook) too.
	notify *activities.Notifiers
	// databaseURL, if set, is the (empty) database Rollin's store uses instead of a fresh
	// one on the shared test server.
	databaseURL string
}

func newHarnessWith(t *testing.T, municipalityARS string, simCfg simulator.Config, o harnessOptions) *harness {
	t.Helper()
	if o.process == nil {
		o.process = &fastOptions
	}
	if o.callTimeout == 0 {
		o.callTimeout = 5 * time.Second
	}
	ctx := context.Background()
	h := &harness{t: t, reader: "pm", log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), queue: "rollin-" + t.Name(), sims: map[simulator.Kind]*simulator.Server{}}

	h.dbURL = o.databaseURL
	if h.dbURL == "" {
		h.dbURL = storetest.NewDatabase(t)
	}
	st, err := store.Open(ctx, h.dbURL, h.log)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	h.store = st
	services := catalog.Demo()
	for i := range services {
		services[i].ActivationDates = nil // go-live right after the test; the workflow tests cover Stichtage
	}
	require.NoError(t, st.UpsertServices(ctx, services))
	reg, err := register.Embedded()
	require.NoError(t, err)
	var subset []domain.Municipality // NRW and Schleswig-Holstein keep the set-up fast
	for _, m := range reg.Municipalities {
		if m.Land == "05" || m.Land == "01" {
			subset = append(subset, m)
		}
	}
	_, err = st.UpsertMunicipalities(ctx, subset)
	require.NoError(t, err)

	for _, kind := range []simulator.Kind{simulator.Provider, simulator.State, simulator.Municipality} {
		s, err := simulator.Start(kind, simCfg, "")
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		h.sims[kind] = s
	}
	hc := &http.Client{Timeout: o.callTimeout}
	fc := h.startFitConnect(simCfg, hc)
	pc, err := provider.New(h.sims[simulator.Provider].URL, hc)
	require.NoError(t, err)
	sc, err := state.New(h.sims[simulator.State].URL, hc)
	require.NoError(t, err)
	mc, err := municipality.New(h.sims[simulator.Municipality].URL, hc)
	require.NoError(t, err)
	h.acts = &activities.Activities{Store: st, Provider: pc, State: sc, Municipality: mc, FitConnect: fc, TestPoll: 20 * time.Millisecond}
	h.acts.Notifiers = o.notify

	ts := sharedTemporal()
	h.client = ts.NewClientWithOptions(client.Options{Logger: logging.Temporal(h.log)})
	t.Cleanup(h.client.Close)
	h.startWorker()

	tokens := []auth.Token{
		{Name: "projektleitung", Role: domain.RolePM, Token: "pm-token-0123456789"},
		{Name: "betrieb", Role: domain.RoleOperator, Token: "operator-token-0123456789"},
		{Name: "kommune", Role: domain.RoleMunicipality, Token: "municipality-token-0123456789", ARS: municipalityARS},
		{Name: "andere-kommune", Role: domain.RoleMunicipality, Token: "other-municipality-token-0123", ARS: "010010000000"},
		// Two organisations sharing the installation, for the authorization test.
		{Name: "pl-dnrw", Role: domain.RolePM, Token: "pm-dnrw-token-0123456789", Organisation: orgNRW},
		{Name: "betrieb-dnrw", Role: domain.RoleOperator, Token: "op-dnrw-token-0123456789", Organisation: orgNRW},
		{Name: "pl-itvsh", Role: domain.RolePM, Token: "pm-itvsh-token-0123456789", Organisation: orgSH},
		{Name: "betrieb-itvsh", Role: domain.RoleOperator, Token: "op-itvsh-token-0123456789", Organisation: orgSH},
	}
	h.tokens = map[string]string{ // the names tests use for the callers
		"pm": tokens[0].Token, "operator": tokens[1].Token, "municipality": tokens[2].Token, "other": tokens[3].Token,
		"pm-nrw": tokens[4].Token, "op-nrw": tokens[5].Token, "pm-sh": tokens[6].Token, "op-sh": tokens[7].Token,
	}
	svc := starter.New(h.client, st, h.queue, *o.process)
	h.starter = svc
	set, err := auth.NewTokens(tokens)
	require.NoError(t, err)
	h.server = api.New(svc, set, func(context.Context) error { return nil }, h.log)
	h.server.EndSessionsIn(st)
	// Everyone who waits is overdue at once, and escalated after a minute, so that the
	// overdue page has something to show.
	h.pages, err = web.New(svc, web.Options{Tokens: set, Sessions: st, ReminderAfter: time.Millisecond, EscalationAfter: time.Minute, Log: h.log})
	require.NoError(t, err)
	front := http.NewServeMux() // as `rollin serve` mounts them: the API under /api/, the pages elsewhere
	for _, p := range []string{"/api/", "/healthz", "/readyz"} {
		front.Handle(p, h.server)
	}
	front.Handle("/", h.pages)
	h.api = httptest.NewServer(front)
	t.Cleanup(h.api.Close)
	return h
}

func (h *harness) startWorker() {
	h.worker = worker.New(h.client, h.queue, h.acts, worker.Options{StopTimeout: 5 * time.Second})
	require.NoError(h.t, h.worker.Start())
	w := h.worker
	h.t.Cleanup(w.Stop)
}

// call sends one API request as the given role ("" for none) and decodes the JSON answer.
func (h *harness) call(role, method, path string, body any) (int, map[string]any) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, ok := body.(string)
		if !ok {
			b, err := json.Marshal(body)
			require.NoError(h.t, err)
			raw = string(b)
		}
		rd = bytes.NewReader([]byte(raw))
	}
	req, err := http.NewRequest(method, h.api.URL+path, rd)
	require.NoError(h.t, err)
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+h.tokens[role])
	}
	resp, err := apiClient(h.t).Do(req) // validates the exchange against openapi.json
	require.NoError(h.t, err)
	defer resp.Body.Close()
	var out map[string]any
	raw, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	require.NoError(h.t, json.Unmarshal(raw, &out), "answer to %s %s: %s", method, path, raw)
	return resp.StatusCode, out
}

// status reads a run through the API.
func (h *harness) status(role, ars, service string) domain.RunStatus {
	h.t.Helper()
	code, out := h.call(role, http.MethodGet, "/api/v1/rollins/"+ars+"/"+service, nil)
	require.Equal(h.t, http.StatusOK, code, out)
	return decode[domain.RunStatus](h.t, out)
}

// waitFor polls the run's status until cond holds, failing after 30 s. A run not there
// yet (404: a campaign starts its runs in the background) is waited for too.
func (h *harness) waitFor(ars, service string, what string, cond func(domain.RunStatus) bool) domain.RunStatus {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var st domain.RunStatus
	for ; time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		code, out := h.call(h.reader, http.MethodGet, "/api/v1/rollins/"+ars+"/"+service, nil)
		if code == http.StatusNotFound {
			continue
		}
		require.Equal(h.t, http.StatusOK, code, out)
		st = decode[domain.RunStatus](h.t, out)
		if cond(st) {
			return st
		}
	}
	h.t.Fatalf("run %s/%s never got %s; last status: %+v", ars, service, what, st)
	return st
}

func (h *harness) waitForAction(ars, service, action string) domain.RunStatus {
	h.t.Helper()
	return h.waitFor(ars, service, "waiting for "+action, func(st domain.RunStatus) bool {
		return st.WaitingFor != nil && st.WaitingFor.Action == action
	})
}

func (h *harness) waitForState(ars, service string, state domain.RunState) domain.RunStatus {
	h.t.Helper()
	return h.waitFor(ars, service, "state "+string(state), func(st domain.RunStatus) bool { return st.State == state })
}

// act sends an action and returns the HTTP status and answer.
func (h *harness) act(role, ars, service, action string, extra map[string]any) (int, map[string]any) {
	h.t.Helper()
	h.actionNo++
	body := map[string]any{"action": action, "action_id": fmt.Sprintf("%s-%d", h.t.Name(), h.actionNo)}
	for k, v := range extra {
		body[k] = v
	}
	return h.call(role, http.MethodPost, "/api/v1/rollins/"+ars+"/"+service+"/actions", body)
}

// signUpTo starts a roll-in of service into ars and plays the agreements (the
// municipality signs what it must, the project manager countersigns) until the run waits
// for the connection questionnaire.
func (h *harness) signUpTo(ars, service string) {
	h.t.Helper()
	code, out := h.call("pm", http.MethodPost, "/api/v1/rollins", map[string]string{"ars": ars, "service": service})
	require.Equal(h.t, http.StatusCreated, code, out)
	h.waitForAction(ars, service, workflows.ActionSignAgreement)
	for h.status("pm", ars, service).WaitingFor.Action == workflows.ActionSignAgreement {
		h.mustAct("municipality", ars, service, workflows.ActionSignAgreement, nil)
	}
	h.mustAct("pm", ars, service, workflows.ActionCountersignAgreement, nil)
	h.waitForAction(ars, service, workflows.ActionSubmitConnectionData)
}

// mustAct sends an action that must be accepted.
func (h *harness) mustAct(role, ars, service, action string, extra map[string]any) domain.RunStatus {
	h.t.Helper()
	code, out := h.act(role, ars, service, action, extra)
	require.Equal(h.t, http.StatusOK, code, "%s: %v", action, out)
	return decode[domain.RunStatus](h.t, out)
}

func decode[T any](t *testing.T, v any) T {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	var out T
	require.NoError(t, json.Unmarshal(raw, &out))
	return out
}

// connection is a valid questionnaire for the Gewerbe service over FIT-Connect.
func connection() map[string]any {
	return map[string]any{
		"contact_email": "gewerbe@kommune.example", "contact_address": "Rathausplatz 1, 52525 Heinsberg", "fachverfahren": "OK.GEWERBE", "transport": "fit-connect",
		"org_unit_id": "OE-4711", "payment_account": "DE89 3704 0044 0532 0130 00",
	}
}

// The receiving systems' encryption certificate, made once per test binary: a 4096-bit
// key takes seconds.
var (
	fitConnectCertOnce sync.Once
	fitConnectCert     []byte
	fitConnectKey      []byte
	fitConnectCertErr  error
)

// encryptionCert returns a self-signed 4096-bit encryption certificate and its private
// key (PEM).
func encryptionCert(t *testing.T) (cert, key []byte) {
	t.Helper()
	fitConnectCertOnce.Do(func() {
		fitConnectCert, fitConnectKey, fitConnectCertErr = fitconnect.SelfSignedCertificate("Rollin integration test receiving system", fitconnect.MinRSABits)
	})
	require.NoError(t, fitConnectCertErr)
	return fitConnectCert, fitConnectKey
}

// startFitConnect starts the harness's FIT-Connect simulator with one subscriber, which
// serves every municipality, and a sender, and returns the activities' view of it. The
// simulated receiving system holds the subscriber's private key, so it decrypts and
// checks every test submission.
func (h *harness) startFitConnect(simCfg simulator.Config, hc *http.Client) *activities.FitConnect {
	h.t.Helper()
	const clientID, clientSecret = "harness-subscriber", "harness-client-secret-0123456789"
	const senderID, senderSecret = "harness-sender", "harness-sender-secret-0123456789"
	certPEM, keyPEM := encryptionCert(h.t)
	block, _ := pem.Decode(keyPEM)
	require.NotNil(h.t, block)
	priv, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	require.NoError(h.t, err)
	srv, _, err := simulator.StartFitConnect(simCfg, simulator.FitConnectConfig{
		Clients: map[string]string{clientID: clientSecret, senderID: senderSecret}, ReceiverKeys: []*rsa.PrivateKey{priv},
	}, "")
	require.NoError(h.t, err)
	h.t.Cleanup(func() { _ = srv.Close() })
	h.sims[simulator.FitConnectKind] = srv
	key, err := fitconnect.ParseEncryptionKey(certPEM)
	require.NoError(h.t, err)
	client := func(id, secret string) *fitconnect.Client {
		ts, err := fitconnect.NewTokenSource(fitconnect.Credentials{TokenURL: srv.URL + "/token", ClientID: id, ClientSecret: fitconnect.Secret(secret), HTTPClient: hc})
		require.NoError(h.t, err)
		cl, err := fitconnect.New(srv.URL, ts, hc)
		require.NoError(h.t, err)
		return cl
	}
	cl := client(clientID, clientSecret)
	return &activities.FitConnect{MetadataVersions: []string{"1.2.0"}, Sender: client(senderID, senderSecret), Subscribers: fitconnect.Subscribers{{
		Client: cl, EncryptionKey: key, CallbackURL: "https://fachverfahren.example/fit-connect/callback",
		CallbackSecret: "harness-callback-secret-0123456789abcdef",
	}}}
}

// destination returns the one FIT-Connect destination that serves service in the
// municipality ars, as the FIT-Connect simulator holds it, and checks that it carries
// what the destination step writes: the service for exactly that area, the receiving
// system's key and the callback.
func (h *harness) destination(ars, service string) fitconnect.Destination {
	h.t.Helper()
	sub := h.acts.FitConnect.Subscribers[0]
	all, err := sub.Client.List(h.t.Context())
	require.NoError(h.t, err)
	var found []fitconnect.Destination
	for _, d := range all {
		if len(d.Services) == 1 && d.Services[0].LeikaKey == service && slices.Equal(d.Services[0].Areas, []string{ars}) {
			found = append(found, d)
		}
	}
	require.Len(h.t, found, 1, "destinations for %s in %s", service, ars)
	d := found[0]
	require.Equal(h.t, sub.EncryptionKey.Kid, d.EncryptionKey.Kid)
	require.Equal(h.t, sub.CallbackURL, d.CallbackURL)
	require.NotEmpty(h.t, d.Services[0].SubmissionSchemas)
	return d
}

// requireExactlyOnce checks that the simulators applied every side effect once.
func (h *harness) requireExactlyOnce() {
	h.t.Helper()
	total := 0
	for kind, s := range h.sims {
		for effect, n := range s.Sim.Counters().Effects {
			require.Equal(h.t, 1, n, "%s: effect %q applied %d times", kind, effect, n)
			total++
		}
	}
	require.NotZero(h.t, total, "no side effect was recorded at all")
}
