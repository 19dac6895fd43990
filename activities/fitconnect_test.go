package activities

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/systems/fitconnect"
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
