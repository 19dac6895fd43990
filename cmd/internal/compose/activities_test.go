package compose

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/systems/fitconnect"
)

// TestFitConnectNamesTheBadKey: a subscriber that cannot work stops the worker at
// start-up with the key to fix, not at the first roll-in.
func TestFitConnectNamesTheBadKey(t *testing.T) {
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
			_, err := fitConnect(tc.cfg, nil)
			var ke *config.KeyError
			require.True(t, errors.As(err, &ke), "%v", err)
			require.Equal(t, tc.key, ke.Key)
			require.Contains(t, ke.Msg, tc.message)
		})
	}
	fc, err := fitConnect(config.FitConnect{}, nil)
	require.NoError(t, err)
	require.Nil(t, fc, "no subscribers, no FIT-Connect")
}

func withCert(sub config.Subscriber, file string) config.FitConnect {
	sub.EncryptionCertFile = file
	return config.FitConnect{SubmissionURL: "https://fc.example", TokenURL: "https://fc.example/token", Subscribers: []config.Subscriber{sub}}
}
