package fitconnect

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// ParseEncryptionKey builds a destination's encryption JWK from a PEM file's certificate
// chain (leaf first; other PEM blocks such as a private key are ignored). This is how an
// installation hands Rollin the public key of a municipality's receiving system: the
// certificate, never the private key, which stays with the Fachverfahren.
func ParseEncryptionKey(pemData []byte) (JWK, error) {
	var chain []*x509.Certificate
	for rest := pemData; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return JWK{}, fmt.Errorf("certificate %d: %w", len(chain)+1, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return JWK{}, errors.New("no PEM CERTIFICATE block found")
	}
	return NewEncryptionKey(chain)
}

// SelfSignedCertificate returns a new self-signed RSA certificate of bits bits for cn and
// its private key, both PEM-encoded. It is for development and test installations, whose
// simulated FIT-Connect accepts any certificate; FIT-Connect's production environment
// requires certificates of the Verwaltungs-PKI. A 4096-bit key takes a second or two.
func SelfSignedCertificate(cn string, bits int) (certPEM, keyPEM []byte, err error) {
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, nil, fmt.Errorf("generate RSA key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, fmt.Errorf("serial number: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(2, 0, 0),
		KeyUsage: x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)})
	return certPEM, keyPEM, nil
}
