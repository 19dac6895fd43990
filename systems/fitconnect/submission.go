package fitconnect

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/systems"
)

// Event URIs of a submission's event log (FIT-Connect's event catalogue). The submission
// service signs create, submit and the ones in between; the receiving system signs accept
// and reject with its destination's signature key.
const (
	EventPrefix = "https://schema.fitko.de/fit-connect/events/"
	EventCreate = EventPrefix + "create-submission"
	EventSubmit = EventPrefix + "submit-submission"
	EventAccept = EventPrefix + "accept-submission"
	EventReject = EventPrefix + "reject-submission"
)

// metadataSchema is the URI of FIT-Connect's metadata schema of a version.
func metadataSchema(version string) string {
	return "https://schema.fitko.de/fit-connect/metadata/" + version + "/metadata.schema.json"
}

// Wire types of the Submission API's submission endpoints. Assumption (where FITKO's
// documentation names the steps, not the fields): the field names follow FITKO's documentation as the author
// knows it; the simulator shares them, so the contract test checks they agree.

type wireServiceType struct {
	Name       string `json:"name"`
	Identifier string `json:"identifier"`
}

type wireAnnounce struct {
	DestinationID        string          `json:"destinationId"`
	AnnouncedAttachments []string        `json:"announcedAttachments"`
	ServiceType          wireServiceType `json:"serviceType"`
}

type wireSubmissionRef struct {
	DestinationID string `json:"destinationId"`
	SubmissionID  string `json:"submissionId"`
	CaseID        string `json:"caseId"`
}

type wireSubmit struct {
	EncryptedMetadata string `json:"encryptedMetadata"`
	EncryptedData     string `json:"encryptedData"`
}

type wireEventLog struct {
	EventLog []string `json:"eventLog"`
}

type wireJWKS struct {
	Keys []JWK `json:"keys"`
}

type wireHash struct {
	Type    string `json:"type"`
	Content string `json:"content"`
}

type wireDataStructure struct {
	Hash             wireHash   `json:"hash"`
	SubmissionSchema wireSchema `json:"submissionSchema"`
}

type wireContentStructure struct {
	Data        wireDataStructure `json:"data"`
	Attachments []json.RawMessage `json:"attachments"`
}

// Metadata is the decrypted metadata of a submission (FIT-Connect metadata schema 1.x, the
// parts Rollin sends). Exported so that the simulator's receiving side and tests read it
// with the same shape.
type Metadata struct {
	Schema            string               `json:"$schema"`
	ContentStructure  wireContentStructure `json:"contentStructure"`
	PublicServiceType wireServiceType      `json:"publicServiceType"`
}

// DataHash returns the hash type and hex content the metadata names for the data.
func (m Metadata) DataHash() (typ, content string) {
	return m.ContentStructure.Data.Hash.Type, m.ContentStructure.Data.Hash.Content
}

// DataSchema returns the submission schema the metadata says the data follows.
func (m Metadata) DataSchema() SubmissionSchema {
	return SubmissionSchema(m.ContentStructure.Data.SubmissionSchema)
}

// TestSubmission is a submission Rollin sends as a sender to check a municipality's
// destination end to end before go-live.
type TestSubmission struct {
	DestinationID string
	// ServiceName and LeikaKey name the service (publicServiceType, serviceType).
	ServiceName string
	LeikaKey    string
	// Data is the content, following one of the destination's submission schemas for the
	// service; Prepare picks the first schema whose MIME type is application/json.
	Data []byte
}

// Sent is a test submission announced and encrypted: everything needed to submit it again
// byte for byte and to follow it. A caller keeps it between attempts (a Temporal activity
// heartbeats it) so that a retry neither announces a second submission nor submits
// different content under the same idempotency key.
type Sent struct {
	DestinationID     string `json:"destinationId"`
	SubmissionID      string `json:"submissionId"`
	CaseID            string `json:"caseId"`
	EncryptedMetadata string `json:"encryptedMetadata"`
	EncryptedData     string `json:"encryptedData"`
}

// Verdict is what a submission's event log says, every event's signature checked.
type Verdict struct {
	// Submitted is true once the submission service logged the submit event.
	Submitted bool
	// Final is true once the receiving system accepted or rejected the submission.
	Final    bool
	Accepted bool
	// Problems are the receiving system's reasons for a rejection (RFC 7807), or Rollin's
	// when an acceptance names content other than what was sent.
	Problems []systems.Problem
	// Events are the event URIs in log order, for the audit trail.
	Events []string
}

// Problem joins the verdict's problems into one line for an incident or a loop-back note.
func (v Verdict) Problem() string {
	parts := make([]string, len(v.Problems))
	for i, p := range v.Problems {
		parts[i] = p.String()
	}
	return strings.Join(parts, "; ")
}

// Prepare reads the destination and its encryption key, announces the submission under
// the idempotency key key (POST /v1/submissions), and encrypts metadata and data to the
// destination's key. Nothing is submitted yet: keep the result, then Submit it.
func (cl *Client) Prepare(ctx context.Context, key string, t TestSubmission) (Sent, error) {
	op := "prepare test submission to " + t.DestinationID
	fail := func(err error) (Sent, error) {
		return Sent{}, &systems.Error{System: System, Op: op, Err: err}
	}
	dest, err := cl.Get(ctx, t.DestinationID)
	if err != nil {
		return Sent{}, err
	}
	schema, version, err := dest.accepts(t.LeikaKey)
	if err != nil {
		return fail(err)
	}
	k, err := cl.destinationKey(ctx, dest.ID, dest.EncryptionKey.Kid)
	if err != nil {
		return Sent{}, err
	}
	var ref wireSubmissionRef
	err = cl.do(ctx, call{op: "announce submission to " + dest.ID, method: http.MethodPost, path: "/v1/submissions", key: key,
		body: wireAnnounce{DestinationID: dest.ID, AnnouncedAttachments: []string{},
			ServiceType: wireServiceType{Name: t.ServiceName, Identifier: domain.ServiceKey(t.LeikaKey).URN()}}}, &ref)
	if err != nil {
		return Sent{}, err
	}
	if ref.SubmissionID == "" || ref.CaseID == "" || ref.DestinationID != dest.ID {
		return fail(fmt.Errorf("announce: answer %+v lacks submissionId or caseId or names another destination", ref))
	}
	sum := sha512.Sum512(t.Data)
	meta, err := json.Marshal(Metadata{
		Schema: metadataSchema(version),
		ContentStructure: wireContentStructure{
			Data: wireDataStructure{
				Hash:             wireHash{Type: "sha512", Content: hex.EncodeToString(sum[:])},
				SubmissionSchema: wireSchema(schema),
			},
			Attachments: []json.RawMessage{},
		},
		PublicServiceType: wireServiceType{Name: t.ServiceName, Identifier: domain.ServiceKey(t.LeikaKey).URN()},
	})
	if err != nil {
		return fail(fmt.Errorf("metadata: %w", err))
	}
	encMeta, _, err := Encrypt(k, "application/json", meta)
	if err != nil {
		return fail(err)
	}
	encData, _, err := Encrypt(k, schema.MimeType, t.Data)
	if err != nil {
		return fail(err)
	}
	return Sent{DestinationID: dest.ID, SubmissionID: ref.SubmissionID, CaseID: ref.CaseID,
		EncryptedMetadata: encMeta, EncryptedData: encData}, nil
}

// accepts checks that the destination takes submissions for the LeiKa key and returns the
// JSON submission schema to send and the metadata version to write.
func (d Destination) accepts(leikaKey string) (SubmissionSchema, string, error) {
	i := slices.IndexFunc(d.Services, func(s Service) bool { return s.LeikaKey == leikaKey })
	if i < 0 {
		return SubmissionSchema{}, "", fmt.Errorf("destination %s does not offer LeiKa %s", d.ID, leikaKey)
	}
	j := slices.IndexFunc(d.Services[i].SubmissionSchemas, func(s SubmissionSchema) bool { return s.MimeType == "application/json" })
	if j < 0 {
		return SubmissionSchema{}, "", fmt.Errorf("destination %s names no application/json submission schema for LeiKa %s", d.ID, leikaKey)
	}
	if len(d.MetadataVersions) == 0 {
		return SubmissionSchema{}, "", fmt.Errorf("destination %s names no metadata version", d.ID)
	}
	return d.Services[i].SubmissionSchemas[j], d.MetadataVersions[0], nil
}

func submissionPath(id string) string { return "/v1/submissions/" + url.PathEscape(id) }

// Submit sends the encrypted metadata and data of s and submits it
// (PUT /v1/submissions/{id}) under the idempotency key key.
func (cl *Client) Submit(ctx context.Context, key string, s Sent) error {
	return cl.do(ctx, call{op: "submit submission " + s.SubmissionID, method: http.MethodPut, path: submissionPath(s.SubmissionID),
		key: key, body: wireSubmit{EncryptedMetadata: s.EncryptedMetadata, EncryptedData: s.EncryptedData}}, nil)
}

// Verdict reads the case's event log (GET /v1/cases/{caseId}/events) and checks every
// event's signature: the submission service's against its published keys
// (/.well-known/jwks.json), the receiving system's against the destination's signature
// key of the event's kid. An event that does not verify, or that belongs to another
// submission, is an error, not a verdict. An acceptance must quote the authentication
// tags of the content sent; one that does not is a rejection with the reason named.
func (cl *Client) Verdict(ctx context.Context, s Sent) (Verdict, error) {
	op := "follow submission " + s.SubmissionID
	var log wireEventLog
	if err := cl.do(ctx, call{op: op, method: http.MethodGet, path: "/v1/cases/" + url.PathEscape(s.CaseID) + "/events"}, &log); err != nil {
		return Verdict{}, err
	}
	fail := func(i int, err error) (Verdict, error) {
		return Verdict{}, &systems.Error{System: System, Op: op, Err: fmt.Errorf("eventLog[%d]: %w", i, err)}
	}
	var v Verdict
	for i, token := range log.EventLog {
		kid, claims, err := unverifiedSET(token)
		if err != nil {
			return fail(i, err)
		}
		var key JWK
		if claims.Issuer == s.DestinationID {
			if key, err = cl.destinationKey(ctx, s.DestinationID, kid); err != nil {
				return Verdict{}, err
			}
			if err := key.validate("key", AlgSignature); err != nil {
				return fail(i, err)
			}
		} else if key, err = cl.serviceKey(ctx, kid); err != nil {
			return Verdict{}, err
		}
		set, err := VerifySET(token, key)
		if err != nil {
			return fail(i, err)
		}
		if set.Subject != "submission:"+s.SubmissionID || set.Txn != "case:"+s.CaseID {
			return fail(i, fmt.Errorf("sub %q, txn %q: the event is not about this submission", set.Subject, set.Txn))
		}
		uri, payload, err := set.Event()
		if err != nil {
			return fail(i, err)
		}
		v.Events = append(v.Events, uri)
		if (uri == EventAccept || uri == EventReject) && set.Issuer != s.DestinationID {
			return fail(i, fmt.Errorf("%s issued by %q, not by the destination", uri, set.Issuer))
		}
		switch uri {
		case EventSubmit:
			v.Submitted = true
		case EventAccept:
			v.Final, v.Accepted = true, true
			if p := checkTags(payload, s); p != nil {
				v.Accepted, v.Problems = false, []systems.Problem{*p}
			}
		case EventReject:
			v.Final = true
			var rej struct {
				Problems []systems.Problem `json:"problems"`
			}
			if err := json.Unmarshal(payload, &rej); err != nil {
				return fail(i, fmt.Errorf("reject payload: %w", err))
			}
			v.Problems = rej.Problems
			if len(v.Problems) == 0 {
				v.Problems = []systems.Problem{{Title: "rejected without a reason"}}
			}
		}
	}
	return v, nil
}

// checkTags compares the authentication tags an accept event quotes with those of the
// content sent.
func checkTags(payload json.RawMessage, s Sent) *systems.Problem {
	var acc struct {
		AuthenticationTags struct {
			Metadata string `json:"metadata"`
			Data     string `json:"data"`
		} `json:"authenticationTags"`
	}
	if err := json.Unmarshal(payload, &acc); err != nil {
		return &systems.Problem{Title: "accept event unreadable", Detail: err.Error()}
	}
	tags := acc.AuthenticationTags
	if tags.Metadata != AuthenticationTag(s.EncryptedMetadata) || tags.Data != AuthenticationTag(s.EncryptedData) {
		return &systems.Problem{Title: "accepted other content",
			Detail: "the receiving system's authentication tags differ from those of the metadata and data sent"}
	}
	return nil
}

// destinationKey returns the destination's key kid, read once and then kept (see Client).
func (cl *Client) destinationKey(ctx context.Context, id, kid string) (JWK, error) {
	cl.mu.Lock()
	k, ok := cl.destKeys[id+"/"+kid]
	cl.mu.Unlock()
	if ok {
		return k, nil
	}
	k, found, err := cl.Key(ctx, id, kid)
	if err != nil {
		return JWK{}, err
	}
	if !found {
		return JWK{}, &systems.Error{System: System, Op: "get key " + kid + " of destination " + id,
			Err: errors.New("the destination has no such key")}
	}
	cl.mu.Lock()
	cl.destKeys[id+"/"+kid] = k
	cl.mu.Unlock()
	return k, nil
}

// serviceKey returns the submission service's published signature key kid, reading the
// key set (/.well-known/jwks.json) when it is not known yet or does not hold kid.
func (cl *Client) serviceKey(ctx context.Context, kid string) (JWK, error) {
	find := func() (JWK, bool) {
		cl.mu.Lock()
		defer cl.mu.Unlock()
		i := slices.IndexFunc(cl.serviceKeys, func(k JWK) bool { return k.Kid == kid })
		if i < 0 {
			return JWK{}, false
		}
		return cl.serviceKeys[i], true
	}
	if k, ok := find(); ok {
		return k, nil
	}
	const op = "read the submission service's keys"
	var set wireJWKS
	if err := cl.do(ctx, call{op: op, method: http.MethodGet, path: "/.well-known/jwks.json"}, &set); err != nil {
		return JWK{}, err
	}
	cl.mu.Lock()
	cl.serviceKeys = set.Keys
	cl.mu.Unlock()
	if k, ok := find(); ok {
		return k, nil
	}
	return JWK{}, &systems.Error{System: System, Op: op, Err: fmt.Errorf("kid %s: not among the published keys", kid)}
}
