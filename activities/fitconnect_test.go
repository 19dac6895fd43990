package activities

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/catalog"
	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/store/storetest"
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

// TestNewFitConnectNamesTheBadKey: a subscriber that cannot work stops the worker at
// start-up with the key to fix, not at the first roll-in.
func TestNewFitConnectNamesTheBadKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	small, _, err := fitconnect.SelfSignedCertificate("too small", 2048)
	require.NoError(t, err)
	smallFile := filepath.Join(dir, "small.pem")
	require.NoError(t, os.WriteFile(smallFile, small, 0o600))
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))

	sub := config.Subscriber{ClientID: "c", ClientSecret: "s", CallbackURL: "https://fv.example/cb", CallbackSecret: "0123456789abcdef0123456789abcdef"}
	for name, tc := range map[string]struct {
		cfg     config.FitConnect
		key     string
		message string
	}{
		"no submission URL": {config.FitConnect{Subscribers: []config.Subscriber{sub}}, "fitconnect.submission_url", "required"},
		"missing file":      {withCert(sub, filepath.Join(dir, "absent.pem")), "fitconnect.subscribers[0].encryption_cert_file", "no such file"},
		"not PEM":           {withCert(sub, notPEM), "fitconnect.subscribers[0].encryption_cert_file", "no PEM CERTIFICATE"},
		"2048-bit key":      {withCert(sub, smallFile), "fitconnect.subscribers[0].encryption_cert_file", "4096"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := newFitConnect(tc.cfg, nil)
			var ke *config.KeyError
			require.True(t, errors.As(err, &ke), "%v", err)
			require.Equal(t, tc.key, ke.Key)
			require.Contains(t, ke.Msg, tc.message)
		})
	}
	fc, err := newFitConnect(config.FitConnect{}, nil)
	require.NoError(t, err)
	require.Nil(t, fc, "no subscribers, no FIT-Connect")
}

func withCert(sub config.Subscriber, file string) config.FitConnect {
	sub.EncryptionCertFile = file
	return config.FitConnect{SubmissionURL: "https://fc.example", TokenURL: "https://fc.example/token", Subscribers: []config.Subscriber{sub}}
}

// TestEnsureDestinationThroughTheSimulator runs the activity against a real FIT-Connect
// simulator and a real store: a run that carries a Steckbrief without submission schemas
// (loaded before they were recorded) gets them from the store; a Steckbrief that has none
// and connection data without an address are permanent errors that say what to do.
func TestEnsureDestinationThroughTheSimulator(t *testing.T) {
	t.Parallel()
	st, err := store.Open(t.Context(), storetest.NewDatabase(t), zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(st.Close)
	demo := catalog.Demo()
	require.NoError(t, st.UpsertServices(t.Context(), demo))
	wohngeld := demo[slices.IndexFunc(demo, func(s domain.Service) bool { return s.Key == "99107023037000" })]
	hund := demo[slices.IndexFunc(demo, func(s domain.Service) bool { return s.Key == "99102013104000" })]

	const clientID, secret = "subscriber", "subscriber-secret-0123456789"
	srv, fc, err := simulator.StartFitConnect(simulator.Config{}, simulator.FitConnectConfig{Clients: map[string]string{clientID: secret}}, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	certFile := filepath.Join(t.TempDir(), "cert.pem")
	certPEM, _, err := fitconnect.SelfSignedCertificate("test receiving system", fitconnect.MinRSABits)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(certFile, certPEM, 0o600))
	f, err := newFitConnect(config.FitConnect{SubmissionURL: srv.URL, TokenURL: srv.URL + "/token", MetadataVersions: []string{"1.2.0"},
		Subscribers: []config.Subscriber{{ClientID: clientID, ClientSecret: secret, EncryptionCertFile: certFile,
			CallbackURL: "https://fv.example/cb", CallbackSecret: "0123456789abcdef0123456789abcdef"}}}, nil)
	require.NoError(t, err)
	a := &Activities{Store: st, FitConnect: f}

	ensure := func(svc domain.Service, address string) (workflows.CallResult, error) {
		var suite testsuite.WorkflowTestSuite
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivity(a.EnsureDestination)
		val, err := env.ExecuteActivity(a.EnsureDestination, workflows.CallInput{
			Context:    workflows.RunContext{Service: svc, Municipality: domain.Municipality{ARS: "053700004004", Name: "Gangelt"}},
			Connection: &workflows.ConnectionData{ContactEmail: "a@gangelt.example", ContactAddress: address},
		})
		if err != nil {
			return workflows.CallResult{}, err
		}
		var res workflows.CallResult
		require.NoError(t, val.Get(&res))
		return res, nil
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
		_, err := ensure(tc.svc, tc.address)
		var app *temporal.ApplicationError
		require.ErrorAs(t, err, &app, name)
		require.True(t, app.NonRetryable(), name)
		require.Contains(t, app.Message(), tc.want, name)
	}
}
