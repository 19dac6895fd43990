package activities

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/catalog"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/store/storetest"
	"github.com/rollin-efa/rollin/systems"
	"github.com/rollin-efa/rollin/systems/fitconnect"
	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/workflows"
)

func TestDestinationForCarriesRunAndSubscriber(t *testing.T) {
	t.Parallel()
	sub := fitconnect.Subscriber{
		Area: "05", EncryptionKey: fitconnect.JWK{Kid: "kid-1"},
		CallbackURL: "https://fv.example/cb", CallbackSecret: "s3cret-s3cret-s3cret-s3cret-s3cret",
	}
	in := workflows.CallInput{
		Context: workflows.RunContext{
			Municipality: domain.Municipality{ARS: "053700004004", Name: "Gangelt"},
			Service: domain.Service{Key: "99107023037000", Name: "Wohngeld",
				SubmissionSchemas: []domain.SubmissionSchema{{SchemaURI: "urn:x:wohngeld", MimeType: "application/json"}}},
		},
		Connection: &workflows.ConnectionData{ContactEmail: "wohngeld@gangelt.example", ContactAddress: "Burgstraße 10, 52538 Gangelt"},
	}
	d := destinationFor(in, sub, []string{"1.2.0"})
	require.Equal(t, "Gangelt – Wohngeld (ARS 053700004004, LeiKa 99107023037000)", d.Name)
	require.Equal(t, fitconnect.Contact{LegalName: "Gangelt", Address: "Burgstraße 10, 52538 Gangelt", Email: "wohngeld@gangelt.example"}, d.Contact)
	require.Equal(t, []fitconnect.Service{{LeikaKey: "99107023037000", Areas: []string{"053700004004"},
		SubmissionSchemas: []fitconnect.SubmissionSchema{{SchemaURI: "urn:x:wohngeld", MimeType: "application/json"}}}}, d.Services)
	require.Equal(t, "kid-1", d.EncryptionKey.Kid)
	require.Equal(t, sub.CallbackURL, d.CallbackURL)
	require.Equal(t, sub.CallbackSecret, d.CallbackSecret)
	require.Equal(t, []string{"1.2.0"}, d.MetadataVersions)
}

// TestEnsureDestinationThroughTheSimulator runs the activity against a real FIT-Connect
// simulator and a real store: a run that carries a Steckbrief without submission schemas
// (loaded before they were recorded) gets them from the store; a Steckbrief that has none
// and connection data without an address are permanent errors that say what to do.
// fitConnectFixture is a store with the demo catalogue, a FIT-Connect simulator whose
// receiving system can decrypt, and activities with one subscriber for every municipality
// and a sender.
type fitConnectFixture struct {
	a              *Activities
	sim            *simulator.FitConnect
	wohngeld, hund domain.Service
}

func newFitConnectFixture(t *testing.T) fitConnectFixture {
	t.Helper()
	st, err := store.Open(t.Context(), storetest.NewDatabase(t), zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(st.Close)
	demo := catalog.Demo()
	require.NoError(t, st.UpsertServices(t.Context(), demo))
	byKey := func(k domain.ServiceKey) domain.Service {
		return demo[slices.IndexFunc(demo, func(s domain.Service) bool { return s.Key == k })]
	}

	const clientID, secret = "subscriber", "subscriber-secret-0123456789"
	const senderID, senderSecret = "sender", "sender-secret-0123456789"
	certPEM, keyPEM, err := fitconnect.SelfSignedCertificate("test receiving system", fitconnect.MinRSABits)
	require.NoError(t, err)
	block, _ := pem.Decode(keyPEM)
	priv, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	require.NoError(t, err)
	srv, fc, err := simulator.StartFitConnect(simulator.Config{}, simulator.FitConnectConfig{
		Clients: map[string]string{clientID: secret, senderID: senderSecret}, ReceiverKeys: []*rsa.PrivateKey{priv}}, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	client := func(id, secret string) *fitconnect.Client {
		ts, err := fitconnect.NewTokenSource(fitconnect.Credentials{TokenURL: srv.URL + "/token", ClientID: id, ClientSecret: fitconnect.Secret(secret)})
		require.NoError(t, err)
		cl, err := fitconnect.New(srv.URL, ts, nil)
		require.NoError(t, err)
		return cl
	}
	jwk, err := fitconnect.ParseEncryptionKey(certPEM)
	require.NoError(t, err)
	f := &FitConnect{MetadataVersions: []string{"1.2.0"}, Sender: client(senderID, senderSecret),
		Subscribers: fitconnect.Subscribers{{Client: client(clientID, secret), EncryptionKey: jwk,
			CallbackURL: "https://fv.example/cb", CallbackSecret: "0123456789abcdef0123456789abcdef"}}}
	return fitConnectFixture{a: &Activities{Store: st, FitConnect: f, TestPoll: time.Millisecond}, sim: fc,
		wohngeld: byKey("99107023037000"), hund: byKey("99102013104000")}
}

// gangelt is the call input of a FIT-Connect roll-in of svc in Gangelt.
func gangelt(svc domain.Service, address string) workflows.CallInput {
	return workflows.CallInput{
		RunID: "rollin/053700004004/" + string(svc.Key), IdempotencyKey: "rollin/053700004004/" + string(svc.Key) + "/1",
		Context: workflows.RunContext{Service: svc, Municipality: domain.Municipality{ARS: "053700004004", Name: "Gangelt"}},
		Connection: &workflows.ConnectionData{ContactEmail: "a@gangelt.example", ContactAddress: address,
			Transport: domain.TransportFITConnect},
	}
}

// run executes the activity fn with in (and heartbeat details from an earlier attempt,
// if any) the way a worker would.
func run(t *testing.T, fn any, in workflows.CallInput, heartbeat ...any) (workflows.CallResult, error) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(fn)
	if len(heartbeat) > 0 {
		env.SetHeartbeatDetails(heartbeat[0])
	}
	val, err := env.ExecuteActivity(fn, in)
	if err != nil {
		return workflows.CallResult{}, err
	}
	var res workflows.CallResult
	require.NoError(t, val.Get(&res))
	return res, nil
}

func requirePermanent(t *testing.T, err error, want string) {
	t.Helper()
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.True(t, app.NonRetryable(), "%v", err)
	require.Contains(t, app.Message(), want)
}

func TestEnsureDestinationThroughTheSimulator(t *testing.T) {
	t.Parallel()
	fx := newFitConnectFixture(t)
	a, f, wohngeld, hund := fx.a, fx.a.FitConnect, fx.wohngeld, fx.hund
	fc := fx.sim
	ensure := func(svc domain.Service, address string) (workflows.CallResult, error) {
		return run(t, a.EnsureDestination, gangelt(svc, address))
	}
	old := wohngeld
	old.SubmissionSchemas = nil
	res, err := ensure(old, "Burgstraße 10, 52538 Gangelt")
	require.NoError(t, err)
	require.NotEmpty(t, res.Ref)
	got, err := f.Subscribers[0].Client.Get(t.Context(), res.Ref)
	require.NoError(t, err)
	require.Equal(t, wohngeld.SubmissionSchemas[0].SchemaURI, got.Services[0].SubmissionSchemas[0].SchemaURI, "the stored Steckbrief's schemas")
	require.Equal(t, 1, fc.Sim().Counters().Effects["create-destination "+res.Ref])

	for name, tc := range map[string]struct {
		svc     domain.Service
		address string
		want    string
	}{
		"no schemas anywhere": {hund, "Rathaus", "names no submission_schemas"},
		"no address":          {wohngeld, "", "no contact_address"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ensure(tc.svc, tc.address)
			requirePermanent(t, err, tc.want)
		})
	}
}

func TestTestSubmissionThroughTheSimulator(t *testing.T) {
	t.Parallel()
	fx := newFitConnectFixture(t)
	in := gangelt(fx.wohngeld, "Burgstraße 10, 52538 Gangelt")
	dest, err := run(t, fx.a.EnsureDestination, in)
	require.NoError(t, err)
	in.Refs.DestinationID = dest.Ref
	effects := func() map[string]int { return fx.sim.Sim().Counters().Effects }

	res, err := run(t, fx.a.RunTestSubmission, in)
	require.NoError(t, err)
	require.False(t, res.Rejected, res.Problem)
	for _, op := range []string{"announce-submission", "submit-submission"} {
		require.Equal(t, 1, effects()[op+" "+res.Ref], op)
	}

	t.Run("a retry resumes the heartbeated submission", func(t *testing.T) {
		// An attempt that announced, encrypted, heartbeated and submitted, and died before
		// it heartbeated again. Encrypting anew would send other bytes under the same
		// idempotency key, which the simulator refuses (422), as it should.
		again := in
		again.IdempotencyKey += "/retry-1"
		sent, err := fx.a.FitConnect.Sender.Prepare(t.Context(), again.IdempotencyKey+"/announce", fitconnect.TestSubmission{
			DestinationID: dest.Ref, ServiceName: fx.wohngeld.Name, LeikaKey: string(fx.wohngeld.Key), Data: testData(again)})
		require.NoError(t, err)
		require.NoError(t, fx.a.FitConnect.Sender.Submit(t.Context(), again.IdempotencyKey+"/submit", sent))
		announced := effects()
		res, err := run(t, fx.a.RunTestSubmission, again, testProgress{FitConnect: sent})
		require.NoError(t, err)
		require.Equal(t, sent.SubmissionID, res.Ref, "the same submission, not a new one")
		require.False(t, res.Rejected, res.Problem)
		after := effects()
		require.Equal(t, announced, after, "nothing announced or submitted again")
	})

	t.Run("passing faults while following do not end the attempt", func(t *testing.T) {
		// The submit's answer is lost after it applied, and the event log answers 503
		// twice: one attempt (the test environment makes no second) still gets its verdict.
		fx.sim.Sim().AddFault(simulator.Fault{Method: http.MethodPut, PathPrefix: "/v1/submissions/", Status: 503, Times: 1, AfterApply: true})
		fx.sim.Sim().AddFault(simulator.Fault{Method: http.MethodGet, PathPrefix: "/v1/cases/", Status: 503, Times: 2})
		again := in
		again.IdempotencyKey += "/retry-3"
		res, err := run(t, fx.a.RunTestSubmission, again)
		require.NoError(t, err)
		require.False(t, res.Rejected, res.Problem)
		require.Equal(t, 1, effects()["submit-submission "+res.Ref], "submitted once")
	})

	t.Run("a rejection loops back with the problem", func(t *testing.T) {
		fx.sim.Sim().RejectTests("053700004004", systems.Problem{Title: "Fachverfahren", Detail: "Mandant Gangelt nicht eingerichtet"})
		t.Cleanup(fx.sim.Sim().ClearRejections)
		again := in
		again.IdempotencyKey += "/retry-2"
		res, err := run(t, fx.a.RunTestSubmission, again)
		require.NoError(t, err)
		require.True(t, res.Rejected)
		require.Contains(t, res.Problem, "Mandant Gangelt nicht eingerichtet")
	})

	t.Run("without a sender the step says what to configure", func(t *testing.T) {
		noSender := *fx.a
		fc := *noSender.FitConnect
		fc.Sender = nil
		noSender.FitConnect = &fc
		_, err := run(t, noSender.RunTestSubmission, in)
		requirePermanent(t, err, "configure fitconnect.sender")
	})
}
