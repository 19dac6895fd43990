package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// On reports whether the connection to Temporal uses TLS: when enabled, or implied by a
// client certificate or a CA file, since either only makes sense over TLS.
func (t TLS) On() bool { return t.Enabled || t.CAFile != "" || t.CertFile != "" }

func (t TLS) validate() error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return &KeyError{"temporal.tls.cert_file", "cert_file and key_file go together (a client certificate needs its key)"}
	}
	for key, path := range map[string]string{
		"temporal.tls.ca_file": t.CAFile, "temporal.tls.cert_file": t.CertFile, "temporal.tls.key_file": t.KeyFile,
	} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			return &KeyError{key, fmt.Sprintf("cannot read %s: %v", path, err)}
		}
	}
	return nil
}

// Config builds the client TLS configuration, or nil when TLS is off. A file that is not
// what its key says (no PEM certificate in ca_file, a key that does not match cert_file)
// is a *KeyError, so the process stops at start-up instead of failing every call.
func (t TLS) Config() (*tls.Config, error) {
	if !t.On() {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, &KeyError{"temporal.tls.ca_file", err.Error()}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &KeyError{"temporal.tls.ca_file", fmt.Sprintf("%s holds no PEM certificate", t.CAFile)}
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, &KeyError{"temporal.tls.cert_file", fmt.Sprintf("client certificate and key: %v", err)}
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
