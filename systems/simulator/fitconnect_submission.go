package simulator

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/systems"
)

// The simulator's submissions follow FIT-Connect's Submission API as the client package
// describes it (after FITKO's published documentation):
//
//	POST /v1/submissions             announce           effect announce-submission <id>
//	PUT  /v1/submissions/{id}        metadata and data as JWE, submit
//	                                                    effect submit-submission <id>
//	GET  /v1/cases/{caseId}/events   the event log: Security Event Tokens, PS512-signed
//	GET  /.well-known/jwks.json      the submission service's signature keys (no token)
//
// Behind the submission service the simulator plays the municipality's receiving system
// (its Fachverfahren): after TestPolls reads of the event log following the submit it
// checks the submission and logs accept-submission (quoting the JWE authentication tags)
// or reject-submission with problems, signed with its own key, which it publishes among
// the destination's keys as a receiving system registers its signature key. It checks
// the JWE headers always, and decrypts and checks metadata and data (schema, metadata
// version, service, hash) when FitConnectConfig.ReceiverKeys holds the destination's
// private key. RejectTests(ars, …) on its Sim makes it reject submissions to
// destinations of that area.

// simKeys are the simulator's own RSA keys: generating 4096-bit keys takes a second or
// more, so every simulator in the process shares one pair, made on first use.
var simKeys = sync.OnceValues(func() (simKeyPair, error) {
	service, err := newSimKey("Rollin simulator: FIT-Connect submission service")
	if err != nil {
		return simKeyPair{}, err
	}
	receiver, err := newSimKey("Rollin simulator: receiving system")
	return simKeyPair{service: service, receiver: receiver}, err
})

type simKeyPair struct{ service, receiver simKey }

// simKey is a PS512 signature key with its public JWK.
type simKey struct {
	priv *rsa.PrivateKey
	jwk  fcJWK
}

func newSimKey(cn string) (simKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		return simKey{}, fmt.Errorf("generate simulator key: %w", err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return simKey{}, fmt.Errorf("simulator certificate: %w", err)
	}
	n := base64.RawURLEncoding.EncodeToString(priv.N.Bytes())
	sum := sha256.Sum256([]byte(`{"e":"AQAB","kty":"RSA","n":"` + n + `"}`))
	return simKey{priv: priv, jwk: fcJWK{Kty: "RSA", KeyOps: []string{"verify"}, Use: "sig", Alg: "PS512",
		Kid: base64.RawURLEncoding.EncodeToString(sum[:]), N: n, E: "AQAB", X5C: []string{base64.StdEncoding.EncodeToString(der)}}}, nil
}

// sign makes a Security Event Token of claims, signed by k.
func (k simKey) sign(claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.PS512, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.jwk.Kid}},
		(&jose.SignerOptions{}).WithType("secevent+jwt"))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// fcServiceIssuer is the iss of the simulated submission service's events.
const fcServiceIssuer = "urn:rollin:simulator:fit-connect"

const fcEvents = "https://schema.fitko.de/fit-connect/events/"

type fcServiceType struct {
	Name       string `json:"name"`
	Identifier string `json:"identifier"`
}

type fcAnnounce struct {
	DestinationID        string        `json:"destinationId"`
	AnnouncedAttachments []string      `json:"announcedAttachments"`
	ServiceType          fcServiceType `json:"serviceType"`
}

type fcSubmissionRef struct {
	DestinationID string `json:"destinationId"`
	SubmissionID  string `json:"submissionId"`
	CaseID        string `json:"caseId"`
}

type fcSubmit struct {
	EncryptedMetadata string `json:"encryptedMetadata"`
	EncryptedData     string `json:"encryptedData"`
}

type fcSubmission struct {
	ref       fcSubmissionRef
	sender    string
	service   fcServiceType
	submitted bool
	meta      string
	data      string
	events    []string
	polls     int // event-log reads since the submit
	decided   bool
}

func (f *FitConnect) serviceKeys(_ *http.Request, _ []byte) reply {
	keys, err := f.keyPair()
	if err != nil {
		return serverError(err)
	}
	return reply{status: http.StatusOK, body: map[string]any{"keys": []fcJWK{keys.service.jwk}}}
}

// logEvent appends a signed event about sub to its event log.
func (f *FitConnect) logEvent(sub *fcSubmission, k simKey, iss, event string, payload any) error {
	set, err := k.sign(map[string]any{
		"iss": iss, "iat": f.fc.Now().Unix(), "jti": f.sim.newID(),
		"sub": "submission:" + sub.ref.SubmissionID, "txn": "case:" + sub.ref.CaseID,
		"events": map[string]any{fcEvents + event: payload},
	})
	if err != nil {
		return fmt.Errorf("sign %s event: %w", event, err)
	}
	sub.events = append(sub.events, set)
	f.markSub(sub)
	return nil
}

// logServiceEvent appends an event of the submission service (no payload) about sub.
func (f *FitConnect) logServiceEvent(sub *fcSubmission, event string) error {
	keys, err := f.keyPair()
	if err != nil {
		return err
	}
	return f.logEvent(sub, keys.service, fcServiceIssuer, event, map[string]any{})
}

// serverError answers a failure of the simulator itself (its keys, its signing).
func serverError(err error) reply {
	return problemReply(http.StatusInternalServerError, "simulator", "Internal Server Error", err.Error())
}

func (f *FitConnect) announceSubmission(r *http.Request, body []byte) reply {
	client, _ := f.bearer(r)
	var in fcAnnounce
	if rep, ok := decodeBody(body, &in); !ok {
		return rep
	}
	msg := firstInvalid(required("destinationId", in.DestinationID), required("serviceType.name", in.ServiceType.Name),
		required("serviceType.identifier", in.ServiceType.Identifier))
	d, known := f.dests[in.DestinationID]
	switch {
	case msg != "":
	case !known:
		return notFound("destination", in.DestinationID)
	case !slices.ContainsFunc(d.body.Services, func(s fcService) bool { return s.Identifier == in.ServiceType.Identifier }):
		msg = "serviceType.identifier: destination " + d.id + " does not offer " + quote(in.ServiceType.Identifier)
	case in.AnnouncedAttachments == nil:
		msg = "announcedAttachments: required (an empty list when there are none)"
	case len(in.AnnouncedAttachments) > 0:
		msg = "announcedAttachments: the simulator takes submissions without attachments"
	}
	if msg != "" {
		return invalid(msg)
	}
	sub := &fcSubmission{ref: fcSubmissionRef{DestinationID: d.id, SubmissionID: f.sim.newID(), CaseID: f.sim.newID()},
		sender: client, service: in.ServiceType}
	if err := f.logServiceEvent(sub, "create-submission"); err != nil {
		return serverError(err)
	}
	f.subs[sub.ref.SubmissionID] = sub
	f.cases[sub.ref.CaseID] = sub
	f.sim.effect("announce-submission", sub.ref.SubmissionID)
	return reply{status: http.StatusCreated, body: sub.ref}
}

func (f *FitConnect) submitSubmission(r *http.Request, body []byte) reply {
	client, _ := f.bearer(r)
	id := r.PathValue("id")
	sub, ok := f.subs[id]
	if !ok || sub.sender != client {
		return notFound("submission", id)
	}
	var in fcSubmit
	if rep, ok := decodeBody(body, &in); !ok {
		return rep
	}
	if sub.submitted {
		return problemReply(http.StatusConflict, "already-submitted", "Conflict", "submission "+id+" is submitted already")
	}
	kid := f.dests[sub.ref.DestinationID].body.EncryptionKid
	msg := firstInvalid(checkJWE("encryptedMetadata", in.EncryptedMetadata, kid), checkJWE("encryptedData", in.EncryptedData, kid))
	if msg != "" {
		return invalid(msg)
	}
	if err := f.logServiceEvent(sub, "submit-submission"); err != nil {
		return serverError(err)
	}
	sub.submitted, sub.meta, sub.data = true, in.EncryptedMetadata, in.EncryptedData
	f.markSub(sub)
	f.sim.effect("submit-submission", id)
	return reply{status: http.StatusAccepted, body: sub.ref}
}

// checkJWE checks what the submission service can see of a JWE: five compact parts and a
// protected header with RSA-OAEP-256, A256GCM and the destination's encryption kid.
func checkJWE(field, jwe, kid string) string {
	if jwe == "" {
		return field + ": required"
	}
	parts := strings.Split(jwe, ".")
	if len(parts) != 5 {
		return field + ": want a JWE in compact serialisation (five parts)"
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	var h struct {
		Alg string `json:"alg"`
		Enc string `json:"enc"`
		Kid string `json:"kid"`
	}
	if err != nil || json.Unmarshal(raw, &h) != nil {
		return field + ": the protected header is not base64url JSON"
	}
	switch {
	case h.Alg != "RSA-OAEP-256":
		return field + ": alg: want RSA-OAEP-256, got " + quote(h.Alg)
	case h.Enc != "A256GCM":
		return field + ": enc: want A256GCM, got " + quote(h.Enc)
	case h.Kid != kid:
		return field + ": kid: want the destination's encryptionKid " + quote(kid) + ", got " + quote(h.Kid)
	}
	return ""
}

func (f *FitConnect) caseEvents(r *http.Request, _ []byte) reply {
	client, _ := f.bearer(r)
	id := r.PathValue("caseId")
	sub, ok := f.cases[id]
	if !ok || (sub.sender != client && f.dests[sub.ref.DestinationID].owner != client) {
		return notFound("case", id)
	}
	if sub.submitted && !sub.decided {
		sub.polls++
		f.markSub(sub)
		if sub.polls > f.sim.cfg.TestPolls {
			if err := f.decide(sub); err != nil {
				return serverError(err)
			}
		}
	}
	return reply{status: http.StatusOK, body: map[string]any{"eventLog": slices.Clone(sub.events)}}
}

// decide plays the receiving system: it checks the submission and logs its verdict,
// signed with its key, which it adds to the destination's keys first.
func (f *FitConnect) decide(sub *fcSubmission) error {
	keys, err := f.keyPair()
	if err != nil {
		return err
	}
	d := f.dests[sub.ref.DestinationID]
	problems := f.receiverChecks(d, sub)
	if p, ok := f.sim.rejections[d.area()]; ok {
		problems = append(problems, p)
	}
	d.keys[keys.receiver.jwk.Kid] = keys.receiver.jwk
	f.markDest(d)
	if len(problems) > 0 {
		err = f.logEvent(sub, keys.receiver, d.id, "reject-submission", map[string]any{"problems": problems})
	} else {
		err = f.logEvent(sub, keys.receiver, d.id, "accept-submission", map[string]any{"authenticationTags": map[string]any{
			"metadata": sub.meta[strings.LastIndexByte(sub.meta, '.')+1:],
			"data":     sub.data[strings.LastIndexByte(sub.data, '.')+1:],
		}})
	}
	if err != nil {
		return err
	}
	// The verdict is the receiving system's own doing, not the effect of a request: it
	// shows in the event log, not among the effects.
	sub.decided = true
	f.markSub(sub)
	return nil
}

// area is the ARS of the destination's first region: whose rejections apply to it.
func (d *fcDestination) area() string {
	for _, s := range d.body.Services {
		for _, r := range s.Regions {
			return strings.TrimPrefix(r, domain.AreaURNPrefix)
		}
	}
	return ""
}

// fcProblem is a receiving system's reason to reject, in FIT-Connect's problem shape.
func fcProblem(slug, detail string) systems.Problem {
	return systems.Problem{Type: "https://schema.fitko.de/fit-connect/events/problems/" + slug, Title: "Submission rejected", Detail: detail}
}

// receiverChecks decrypts and checks metadata and data when the simulator holds the
// destination's private key; without it the receiving system cannot look inside.
func (f *FitConnect) receiverChecks(d *fcDestination, sub *fcSubmission) []systems.Problem {
	priv := f.receiverKey(d.keys[d.body.EncryptionKid])
	if priv == nil {
		return nil
	}
	metaJSON, err := decryptJWE(sub.meta, priv)
	if err != nil {
		return []systems.Problem{fcProblem("encryption-issue", "metadata: "+err.Error())}
	}
	data, err := decryptJWE(sub.data, priv)
	if err != nil {
		return []systems.Problem{fcProblem("encryption-issue", "data: "+err.Error())}
	}
	var meta struct {
		Schema           string `json:"$schema"`
		ContentStructure struct {
			Data struct {
				Hash struct {
					Type    string `json:"type"`
					Content string `json:"content"`
				} `json:"hash"`
				SubmissionSchema fcSchema `json:"submissionSchema"`
			} `json:"data"`
		} `json:"contentStructure"`
		PublicServiceType fcServiceType `json:"publicServiceType"`
	}
	if err := json.Unmarshal(metaJSON, &meta); err != nil {
		return []systems.Problem{fcProblem("syntax-violation", "metadata: "+err.Error())}
	}
	var problems []systems.Problem
	version := strings.TrimSuffix(strings.TrimPrefix(meta.Schema, "https://schema.fitko.de/fit-connect/metadata/"), "/metadata.schema.json")
	if !slices.Contains(d.body.MetadataVersions, version) {
		problems = append(problems, fcProblem("unsupported-metadata-schema", "$schema: "+quote(meta.Schema)+" is not a metadata version the destination accepts"))
	}
	i := slices.IndexFunc(d.body.Services, func(s fcService) bool { return s.Identifier == meta.PublicServiceType.Identifier })
	switch {
	case meta.PublicServiceType.Identifier != sub.service.Identifier:
		problems = append(problems, fcProblem("service-mismatch", "publicServiceType.identifier differs from the announced service"))
	case i < 0 || !slices.Contains(d.body.Services[i].SubmissionSchemas, meta.ContentStructure.Data.SubmissionSchema):
		problems = append(problems, fcProblem("unsupported-schema", "contentStructure.data.submissionSchema: not one of the destination's schemas for the service"))
	}
	sum := sha512.Sum512(data)
	if h := meta.ContentStructure.Data.Hash; h.Type != "sha512" || h.Content != hex.EncodeToString(sum[:]) {
		problems = append(problems, fcProblem("hash-mismatch", "contentStructure.data.hash: not the SHA-512 of the data"))
	}
	if !json.Valid(data) {
		problems = append(problems, fcProblem("syntax-violation", "data: not JSON"))
	}
	return problems
}

// receiverKey returns the configured private key whose public key is k, if any.
func (f *FitConnect) receiverKey(k fcJWK) *rsa.PrivateKey {
	n, err := base64.RawURLEncoding.DecodeString(k.N)
	if err != nil {
		return nil
	}
	for _, priv := range f.fc.ReceiverKeys {
		if bytes.Equal(priv.N.Bytes(), n) {
			return priv
		}
	}
	return nil
}

func decryptJWE(jwe string, priv *rsa.PrivateKey) ([]byte, error) {
	obj, err := jose.ParseEncrypted(jwe, []jose.KeyAlgorithm{jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		return nil, err
	}
	return obj.Decrypt(priv)
}
