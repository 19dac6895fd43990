package fitconnect

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"slices"
)

// Key parameters FIT-Connect prescribes (FITKO's documentation, and the JWK schema of its
// Routing API document, which the Submission API shares): RSA of at least 4096 bits, exponent
// AQAB, RSA-OAEP-256 with key_ops wrapKey for encryption, PS512 with key_ops verify for
// signatures, a certificate chain in x5c, a kid of 8 to 64 characters.
const (
	MinRSABits       = 4096
	AlgEncryption    = "RSA-OAEP-256"
	AlgSignature     = "PS512"
	keyOpsEncryption = "wrapKey"
	keyOpsSignature  = "verify"
)

// JWK is a public RSA key as FIT-Connect carries it in a destination (RFC 7517). It has
// both key_ops (required by FIT-Connect's schema) and use (RFC 7517 §4.2, asked for by
// Rollin's design); RFC 7517 allows both when they agree, and Validate insists they do.
type JWK struct {
	Kty    string   `json:"kty"`
	KeyOps []string `json:"key_ops"`
	Use    string   `json:"use,omitempty"`
	Alg    string   `json:"alg"`
	Kid    string   `json:"kid"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	// X5C is the certificate chain, leaf first, each certificate base64 (not base64url)
	// DER as RFC 7517 §4.7 says.
	X5C []string `json:"x5c"`
}

// NewEncryptionKey builds the JWK of a destination's encryption key from the leaf
// certificate's public key and the chain (leaf first). The kid is the RFC 7638 thumbprint,
// so the same key always gets the same kid and Ensure can recognise it.
func NewEncryptionKey(chain []*x509.Certificate) (JWK, error) {
	return newJWK(chain, AlgEncryption, keyOpsEncryption, "enc")
}

// NewSignatureKey builds the JWK of a destination's signature-verification key (PS512);
// see NewEncryptionKey.
func NewSignatureKey(chain []*x509.Certificate) (JWK, error) {
	return newJWK(chain, AlgSignature, keyOpsSignature, "sig")
}

func newJWK(chain []*x509.Certificate, alg, op, use string) (JWK, error) {
	if len(chain) == 0 || chain[0] == nil {
		return JWK{}, errors.New("x5c: at least the leaf certificate is required")
	}
	pub, ok := chain[0].PublicKey.(*rsa.PublicKey)
	if !ok {
		return JWK{}, fmt.Errorf("x5c[0]: want an RSA public key, got %T", chain[0].PublicKey)
	}
	k := JWK{
		Kty: "RSA", KeyOps: []string{op}, Use: use, Alg: alg,
		N: base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
	for _, c := range chain {
		k.X5C = append(k.X5C, base64.StdEncoding.EncodeToString(c.Raw))
	}
	k.Kid = k.Thumbprint()
	return k, k.validate("key", alg)
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of the key, base64url without padding.
func (k JWK) Thumbprint() string {
	// RFC 7638 §3.2: the required members in lexicographic order, no whitespace. e and n
	// are base64url, which needs no JSON escaping.
	sum := sha256.Sum256([]byte(`{"e":"` + k.E + `","kty":"` + k.Kty + `","n":"` + k.N + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// validate checks k for the purpose given by alg; field prefixes every message.
func (k JWK) validate(field, alg string) error {
	wantOp, wantUse := keyOpsEncryption, "enc"
	if alg == AlgSignature {
		wantOp, wantUse = keyOpsSignature, "sig"
	}
	switch {
	case k.Kty != "RSA":
		return fmt.Errorf("%s.kty: want RSA, got %q", field, k.Kty)
	case k.Alg != alg:
		return fmt.Errorf("%s.alg: want %s, got %q", field, alg, k.Alg)
	case !slices.Equal(k.KeyOps, []string{wantOp}):
		return fmt.Errorf("%s.key_ops: want [%s], got %q", field, wantOp, k.KeyOps)
	case k.Use != "" && k.Use != wantUse:
		return fmt.Errorf("%s.use: want %s (or none), got %q", field, wantUse, k.Use)
	case len(k.Kid) < 8 || len(k.Kid) > 64:
		return fmt.Errorf("%s.kid: want 8 to 64 characters, got %d", field, len(k.Kid))
	case k.E != "AQAB":
		return fmt.Errorf("%s.e: want AQAB (65537), got %q", field, k.E)
	}
	n, err := base64.RawURLEncoding.DecodeString(k.N)
	if err != nil {
		return fmt.Errorf("%s.n: want base64url without padding: %w", field, err)
	}
	if bits := new(big.Int).SetBytes(n).BitLen(); bits < MinRSABits {
		return fmt.Errorf("%s.n: want an RSA modulus of at least %d bits, got %d", field, MinRSABits, bits)
	}
	if len(k.X5C) == 0 {
		return fmt.Errorf("%s.x5c: at least the leaf certificate is required", field)
	}
	for i, c := range k.X5C {
		der, err := base64.StdEncoding.DecodeString(c)
		if err != nil {
			return fmt.Errorf("%s.x5c[%d]: want base64 DER: %w", field, i, err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("%s.x5c[%d]: %w", field, i, err)
		}
		if i > 0 {
			continue
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok || !bytes.Equal(pub.N.Bytes(), n) || pub.E != 65537 {
			return fmt.Errorf("%s.x5c[0]: the leaf certificate's public key is not n/e", field)
		}
	}
	return nil
}
