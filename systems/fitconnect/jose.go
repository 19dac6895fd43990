package fitconnect

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// Content encryption FIT-Connect prescribes for metadata, data and attachments: the
// content key wrapped with the destination's RSA-OAEP-256 key, the content encrypted with
// A256GCM, in JWE compact serialisation with the key's kid in the header.
const encContent = jose.A256GCM

// PublicKey returns k's RSA public key, for encrypting to it or verifying with it.
func (k JWK) PublicKey() (*rsa.PublicKey, error) {
	if k.Kty != "RSA" {
		return nil, fmt.Errorf("key %s: kty: want RSA, got %q", k.Kid, k.Kty)
	}
	n, err := base64.RawURLEncoding.DecodeString(k.N)
	if err != nil || len(n) == 0 {
		return nil, fmt.Errorf("key %s: n: want base64url without padding", k.Kid)
	}
	e, err := base64.RawURLEncoding.DecodeString(k.E)
	if err != nil || len(e) == 0 || len(e) > 4 {
		return nil, fmt.Errorf("key %s: e: want a base64url exponent", k.Kid)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
}

// Encrypt encrypts plaintext of media type contentType to the destination's encryption
// key k as FIT-Connect wants it (RSA-OAEP-256, A256GCM, kid and cty in the protected
// header) and returns the compact JWE and its authentication tag, which the receiver
// quotes back in its accept event.
func Encrypt(k JWK, contentType string, plaintext []byte) (jwe, tag string, err error) {
	if err := k.validate("key", AlgEncryption); err != nil {
		return "", "", err
	}
	pub, err := k.PublicKey()
	if err != nil {
		return "", "", err
	}
	enc, err := jose.NewEncrypter(encContent, jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: pub, KeyID: k.Kid},
		(&jose.EncrypterOptions{}).WithContentType(jose.ContentType(contentType)))
	if err != nil {
		return "", "", fmt.Errorf("encrypt: %w", err)
	}
	obj, err := enc.Encrypt(plaintext)
	if err != nil {
		return "", "", fmt.Errorf("encrypt: %w", err)
	}
	jwe, err = obj.CompactSerialize()
	if err != nil {
		return "", "", fmt.Errorf("encrypt: %w", err)
	}
	return jwe, AuthenticationTag(jwe), nil
}

// AuthenticationTag is the last part of a compact JWE: what FIT-Connect's accept event
// names to say which content the receiver decrypted.
func AuthenticationTag(jwe string) string {
	return jwe[strings.LastIndexByte(jwe, '.')+1:]
}

// SET is a Security Event Token of a submission's event log, after its signature was
// checked.
type SET struct {
	Issuer   string `json:"iss"`
	IssuedAt int64  `json:"iat"`
	ID       string `json:"jti"`
	// Subject is "submission:<submissionId>"; Txn is "case:<caseId>".
	Subject string `json:"sub"`
	Txn     string `json:"txn"`
	// Events holds exactly one event: its URI and its payload.
	Events map[string]json.RawMessage `json:"events"`
}

// Event returns the SET's one event URI and payload.
func (s SET) Event() (uri string, payload json.RawMessage, err error) {
	if len(s.Events) != 1 {
		return "", nil, fmt.Errorf("events: want exactly one event, got %d", len(s.Events))
	}
	for k := range s.Events {
		uri = k
	}
	return uri, s.Events[uri], nil
}

// unverifiedSET reads a SET's kid and claims without checking the signature, to find out
// whose key must check it. Nothing read here may be trusted before VerifySET.
func unverifiedSET(token string) (kid string, claims SET, err error) {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.PS512})
	if err != nil {
		return "", SET{}, fmt.Errorf("SET: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return "", SET{}, errors.New("SET: want exactly one signature")
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		return "", SET{}, fmt.Errorf("SET: claims: %w", err)
	}
	return jws.Signatures[0].Header.KeyID, claims, nil
}

// VerifySET checks token's PS512 signature with key and its header type secevent+jwt, and
// returns its claims. The key must be a PS512 verification key.
func VerifySET(token string, key JWK) (SET, error) {
	if key.Alg != AlgSignature {
		return SET{}, fmt.Errorf("SET: key %s: alg: want %s, got %q", key.Kid, AlgSignature, key.Alg)
	}
	pub, err := key.PublicKey()
	if err != nil {
		return SET{}, fmt.Errorf("SET: %w", err)
	}
	if bits := pub.N.BitLen(); bits < MinRSABits {
		return SET{}, fmt.Errorf("SET: key %s: want at least %d bits, got %d", key.Kid, MinRSABits, bits)
	}
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.PS512})
	if err != nil {
		return SET{}, fmt.Errorf("SET: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return SET{}, errors.New("SET: want exactly one signature")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "secevent+jwt" {
		return SET{}, fmt.Errorf("SET: typ: want secevent+jwt, got %q", typ)
	}
	if h.KeyID != key.Kid {
		return SET{}, fmt.Errorf("SET: kid: signed with %q, checked with %q", h.KeyID, key.Kid)
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		return SET{}, fmt.Errorf("SET: signature does not verify with key %s: %w", key.Kid, err)
	}
	var claims SET
	if err := json.Unmarshal(payload, &claims); err != nil {
		return SET{}, fmt.Errorf("SET: claims: %w", err)
	}
	return claims, nil
}
