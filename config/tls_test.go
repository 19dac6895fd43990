package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// pki is a CA with a server and a client certificate, written as PEM files.
type pki struct {
	caFile, certFile, keyFile string
	ca                        *x509.Certificate
	caKey                     *ecdsa.PrivateKey
	caPool                    *x509.CertPool
	server                    tls.Certificate
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	p := pki{ca: ca, caKey: caKey, caPool: x509.NewCertPool()}
	p.caPool.AddCert(ca)
	p.caFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)

	issue := func(serial int64, usage x509.ExtKeyUsage, dns string) ([]byte, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: dns},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, DNSNames: []string{dns},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		return der, key
	}
	srvDER, srvKey := issue(2, x509.ExtKeyUsageServerAuth, "temporal.test")
	p.server = tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}
	cliDER, cliKey := issue(3, x509.ExtKeyUsageClientAuth, "rollin-worker")
	p.certFile = writePEM(t, dir, "client.pem", "CERTIFICATE", cliDER)
	keyDER, err := x509.MarshalECPrivateKey(cliKey)
	require.NoError(t, err)
	p.keyFile = writePEM(t, dir, "client-key.pem", "EC PRIVATE KEY", keyDER)
	return p
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	return path
}

// TestTLSConfigDoesMutualTLS dials a server that requires a client certificate from the
// test CA: the configuration from the files must pass, one without the certificate must not.
func TestTLSConfigDoesMutualTLS(t *testing.T) {
	p := newPKI(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.TLS.PeerCertificates[0].Subject.CommonName))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.caPool}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	srv.StartTLS()
	defer srv.Close()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)

	// A request, not just a handshake: under TLS 1.3 the server refuses a missing client
	// certificate after the client's handshake has completed.
	dial := func(c *tls.Config) error {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: c}}
		resp, err := hc.Get("https://127.0.0.1:" + port)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && string(body) != "rollin-worker" {
			err = fmt.Errorf("server saw client %q", body)
		}
		return err
	}
	full := TLS{CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile, ServerName: "temporal.test"}
	require.NoError(t, full.validate())
	c, err := full.Config()
	require.NoError(t, err)
	require.NoError(t, dial(c), "mTLS with the configured files")

	noCert, err := TLS{CAFile: p.caFile, ServerName: "temporal.test"}.Config()
	require.NoError(t, err)
	require.Error(t, dial(noCert), "the server requires a client certificate")

	wrongName, err := TLS{CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile, ServerName: "other.test"}.Config()
	require.NoError(t, err)
	require.Error(t, dial(wrongName), "server name is verified")
}

func TestTLSBadFilesNameTheKey(t *testing.T) {
	p := newPKI(t)
	off, err := TLS{}.Config()
	require.NoError(t, err)
	require.Nil(t, off, "no TLS unless asked for")
	on, err := TLS{Enabled: true}.Config()
	require.NoError(t, err)
	require.NotNil(t, on, "enabled without files: system roots")

	for _, tc := range []struct {
		name string
		tls  TLS
		key  string
	}{
		{"cert without key", TLS{CertFile: p.certFile}, "temporal.tls.cert_file"},
		{"missing CA file", TLS{CAFile: filepath.Join(t.TempDir(), "nope.pem")}, "temporal.tls.ca_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.tls.validate()
			var ke *KeyError
			require.ErrorAs(t, err, &ke)
			require.Equal(t, tc.key, ke.Key)
		})
	}
	for _, tc := range []struct {
		name string
		tls  TLS
		key  string
	}{
		{"CA file without a certificate", TLS{CAFile: p.keyFile}, "temporal.tls.ca_file"},
		{"key of another certificate", TLS{CertFile: p.certFile, KeyFile: p.caFile}, "temporal.tls.cert_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.tls.Config()
			var ke *KeyError
			require.ErrorAs(t, err, &ke)
			require.Equal(t, tc.key, ke.Key)
		})
	}
}

func TestTemporalTLSFromEnv(t *testing.T) {
	p := newPKI(t)
	t.Setenv("ROLLIN_TEMPORAL_TLS_CERT_FILE", p.certFile)
	_, err := load(t, "")
	require.ErrorContains(t, err, "temporal.tls.cert_file", "a certificate without its key is refused at start-up")
	t.Setenv("ROLLIN_TEMPORAL_TLS_KEY_FILE", p.keyFile)
	cfg, err := load(t, "")
	require.NoError(t, err)
	require.True(t, cfg.Temporal.TLS.On())
	require.Equal(t, 30*time.Second, cfg.Temporal.WorkerStopTimeout)
}
