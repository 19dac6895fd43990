package fitconnect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/systems"
)

// MinCallbackSecretLength is the shortest callback secret accepted. Assumption: FITKO
// asks for a long random secret for the HMAC-SHA512 callback signature; 32 characters is
// this package's floor, not a documented FIT-Connect limit.
const MinCallbackSecretLength = 32

// listPageSize is how many destinations one list request asks for.
const listPageSize = 100

var (
	metadataVersionPattern = regexp.MustCompile(`^\d+\.\d+\.\d+$`)
	// mimeTypePattern is the submission schema's mimeType pattern in FITKO's Routing API
	// document, which describes the same schema reference as the Submission API.
	mimeTypePattern = regexp.MustCompile(`^[-\w.]+/[-\w.]+$`)
)

// Destination is a FIT-Connect destination ("Zustellpunkt") as Rollin wants it: where a
// municipality receives submissions for its services. Services and areas are plain keys
// here (Leistungsschlüssel, ARS) and become URNs on the wire, so callers cannot get the
// URN prefixes wrong.
type Destination struct {
	// ID is FIT-Connect's destinationId; empty for a destination not created yet. Ensure
	// uses a known ID instead of looking the destination up by Name.
	ID string
	// Status is FIT-Connect's status as read; ignored on writes.
	Status string
	// Name is the destination's name and, as long as ID is unknown, the stable reference
	// Ensure looks it up by. Assumption: the Submission API's field is "name" (FITKO's
	// published Submission API document, version 1.1.3, defines none; see issue 15).
	Name string
	// CallbackURL receives FIT-Connect's callbacks; it must be https.
	CallbackURL string
	// CallbackSecret keys the HMAC-SHA512 callback signature. FIT-Connect does not return
	// it (assumption: it is write-only), so Ensure cannot notice a changed secret; rotate
	// it with Update.
	CallbackSecret   Secret
	Contact          Contact
	ReplyChannels    ReplyChannels
	MetadataVersions []string
	Services         []Service
	// EncryptionKey is the public key senders encrypt submissions with; its kid becomes
	// the destination's encryptionKid.
	EncryptionKey JWK
	// SignatureKey, if set, is published too, for verifying the destination's signatures.
	SignatureKey *JWK
}

// Contact is the responsible authority's contact (FIT-Connect's contact object).
type Contact struct {
	LegalName string
	Address   string
	Phone     string
	Email     string
}

// ReplyChannels are the channels on which the destination can answer an applicant.
// Assumption: the field names (eMail with usePgp/pgpKey, deMail, fink, elster) are
// FIT-Connect's replyChannels as the author knows them.
type ReplyChannels struct {
	EMail  *EMailChannel
	DeMail bool
	Fink   bool
	Elster bool
}

// EMailChannel is the e-mail reply channel, optionally PGP-encrypted.
type EMailChannel struct {
	UsePGP bool
	PGPKey string
}

// Service is one public service the destination receives, in the areas it is
// responsible for.
type Service struct {
	// LeikaKey is the 14-digit Leistungsschlüssel; on the wire
	// urn:de:fim:leika:leistung:<key>.
	LeikaKey string
	// Areas are 12-digit ARS; on the wire
	// urn:de:bund:destatis:bevoelkerungsstatistik:schluessel:rs:<ARS>.
	Areas []string
	// SubmissionSchemas are the data schemas the destination accepts for the service.
	SubmissionSchemas []SubmissionSchema
}

// SubmissionSchema references the schema of a submission's data (FIT-Connect's
// submissionSchemas entry).
type SubmissionSchema struct {
	SchemaURI string
	MimeType  string
}

// Validate checks d locally, before anything is sent, so that a mistake is a permanent
// error naming the field instead of a round trip and a 422. It never quotes a secret.
func (d Destination) Validate() error {
	if err := d.validate(); err != nil {
		return &systems.Error{System: System, Op: "validate destination", Err: err}
	}
	return nil
}

func (d Destination) validate() error {
	if strings.TrimSpace(d.Name) == "" {
		return errors.New("name: required")
	}
	if err := checkHTTPS("callback.url", d.CallbackURL); err != nil {
		return err
	}
	if d.CallbackSecret == "" {
		return errors.New("callback.secret: required (a callback needs a secret)")
	}
	if n := len(d.CallbackSecret.Reveal()); n < MinCallbackSecretLength {
		return fmt.Errorf("callback.secret: want at least %d characters, got %d", MinCallbackSecretLength, n)
	}
	if err := d.Contact.validate(); err != nil {
		return err
	}
	if e := d.ReplyChannels.EMail; e != nil && e.UsePGP && strings.TrimSpace(e.PGPKey) == "" {
		return errors.New("replyChannels.eMail.pgpKey: required when usePgp is set")
	}
	if len(d.MetadataVersions) == 0 {
		return errors.New("metadataVersions: at least one is required")
	}
	for i, v := range d.MetadataVersions {
		if !metadataVersionPattern.MatchString(v) {
			return fmt.Errorf("metadataVersions[%d]: want a version like 1.0.0, got %q", i, v)
		}
	}
	if len(d.Services) == 0 {
		return errors.New("services: at least one is required")
	}
	seen := map[string]bool{}
	for i, s := range d.Services {
		field := "services[" + strconv.Itoa(i) + "]"
		if err := s.validate(field); err != nil {
			return err
		}
		if seen[s.LeikaKey] {
			return fmt.Errorf("%s.identifier: service %s is listed twice", field, s.LeikaKey)
		}
		seen[s.LeikaKey] = true
	}
	if err := d.EncryptionKey.validate("encryptionKey", AlgEncryption); err != nil {
		return err
	}
	if d.SignatureKey != nil {
		if err := d.SignatureKey.validate("signatureKey", AlgSignature); err != nil {
			return err
		}
		if d.SignatureKey.Kid == d.EncryptionKey.Kid {
			return errors.New("signatureKey.kid: must differ from encryptionKey.kid")
		}
	}
	return nil
}

func (c Contact) validate() error {
	switch {
	case strings.TrimSpace(c.LegalName) == "":
		return errors.New("contact.legalName: required")
	case strings.TrimSpace(c.Address) == "":
		return errors.New("contact.address: required")
	case c.Email == "":
		return errors.New("contact.email: required")
	case !strings.Contains(c.Email, "@"):
		return fmt.Errorf("contact.email: want an e-mail address, got %q", c.Email)
	}
	return nil
}

func (s Service) validate(field string) error {
	if k, err := domain.ParseServiceKey(s.LeikaKey); err != nil || string(k) != s.LeikaKey {
		return fmt.Errorf("%s.identifier: want a 14-digit Leistungsschlüssel starting with 99, got %q", field, s.LeikaKey)
	}
	if len(s.Areas) == 0 {
		return fmt.Errorf("%s.regions: at least one area is required", field)
	}
	for j, a := range s.Areas {
		if ars, err := domain.ParseARS(a); err != nil || string(ars) != a {
			return fmt.Errorf("%s.regions[%d]: want a 12-digit ARS, got %q", field, j, a)
		}
	}
	// Assumption: FIT-Connect requires at least one submission schema per service.
	if len(s.SubmissionSchemas) == 0 {
		return fmt.Errorf("%s.submissionSchemas: at least one is required", field)
	}
	for j, sc := range s.SubmissionSchemas {
		if strings.TrimSpace(sc.SchemaURI) == "" {
			return fmt.Errorf("%s.submissionSchemas[%d].schemaUri: required", field, j)
		}
		if !mimeTypePattern.MatchString(sc.MimeType) {
			return fmt.Errorf("%s.submissionSchemas[%d].mimeType: want a MIME type like application/json, got %q", field, j, sc.MimeType)
		}
	}
	return nil
}

func checkHTTPS(field, v string) error {
	u, err := url.Parse(v)
	if v == "" {
		return fmt.Errorf("%s: required", field)
	}
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%s: want an absolute https URL, got %q", field, v)
	}
	return nil
}

// Wire types: the JSON of the Submission API's destination management.

type wireCallback struct {
	URL    string `json:"url"`
	Secret string `json:"secret,omitempty"`
}

type wireContact struct {
	LegalName string `json:"legalName"`
	Address   string `json:"address"`
	Phone     string `json:"phone,omitempty"`
	Email     string `json:"email"`
}

type wireEMail struct {
	UsePGP bool   `json:"usePgp"`
	PGPKey string `json:"pgpKey,omitempty"`
}

type wireEmpty struct{}

type wireReplyChannels struct {
	EMail  *wireEMail `json:"eMail,omitempty"`
	DeMail *wireEmpty `json:"deMail,omitempty"`
	Fink   *wireEmpty `json:"fink,omitempty"`
	Elster *wireEmpty `json:"elster,omitempty"`
}

type wireSchema struct {
	SchemaURI string `json:"schemaUri"`
	MimeType  string `json:"mimeType"`
}

type wireService struct {
	Identifier        string       `json:"identifier"`
	SubmissionSchemas []wireSchema `json:"submissionSchemas"`
	Regions           []string     `json:"regions"`
}

// wireBody is what PUT /v1/destinations/{id} takes and what a destination reads as,
// without its ID and status. Assumption: PUT carries no keys; keys are added with
// POST /v1/destinations/{id}/keys, and encryptionKid must name a key already added.
type wireBody struct {
	Name             string            `json:"name"`
	Callback         wireCallback      `json:"callback"`
	Contact          wireContact       `json:"contact"`
	ReplyChannels    wireReplyChannels `json:"replyChannels"`
	MetadataVersions []string          `json:"metadataVersions"`
	Services         []wireService     `json:"services"`
	EncryptionKid    string            `json:"encryptionKid"`
}

// wireCreate is the body of POST /v1/destinations: the destination with its keys.
type wireCreate struct {
	wireBody
	Keys []JWK `json:"keys"`
}

// wireDestination is a destination as read.
type wireDestination struct {
	DestinationID string `json:"destinationId"`
	Status        string `json:"status"`
	wireBody
}

// wireList is the answer of GET /v1/destinations, paged like the Routing API's results.
// Assumption: the list field is "destinations".
type wireList struct {
	Count        int               `json:"count"`
	Offset       int               `json:"offset"`
	TotalCount   int               `json:"totalCount"`
	Destinations []wireDestination `json:"destinations"`
}

// body renders d for the wire; withSecret false leaves the secret out (for comparing and
// for deriving idempotency keys). Lists are sorted, as their order means nothing.
func (d Destination) body(withSecret bool) wireBody {
	w := wireBody{
		Name:     d.Name,
		Callback: wireCallback{URL: d.CallbackURL},
		Contact: wireContact{LegalName: d.Contact.LegalName, Address: d.Contact.Address,
			Phone: d.Contact.Phone, Email: d.Contact.Email},
		MetadataVersions: sortedCopy(d.MetadataVersions),
		EncryptionKid:    d.EncryptionKey.Kid,
	}
	if withSecret {
		w.Callback.Secret = d.CallbackSecret.Reveal()
	}
	if e := d.ReplyChannels.EMail; e != nil {
		w.ReplyChannels.EMail = &wireEMail{UsePGP: e.UsePGP, PGPKey: e.PGPKey}
	}
	if d.ReplyChannels.DeMail {
		w.ReplyChannels.DeMail = &wireEmpty{}
	}
	if d.ReplyChannels.Fink {
		w.ReplyChannels.Fink = &wireEmpty{}
	}
	if d.ReplyChannels.Elster {
		w.ReplyChannels.Elster = &wireEmpty{}
	}
	for _, s := range d.Services {
		ws := wireService{Identifier: domain.ServiceKey(s.LeikaKey).URN()}
		for _, a := range s.Areas {
			ws.Regions = append(ws.Regions, domain.ARS(a).AreaURN())
		}
		for _, sc := range s.SubmissionSchemas {
			ws.SubmissionSchemas = append(ws.SubmissionSchemas, wireSchema(sc))
		}
		w.Services = append(w.Services, ws)
	}
	return w.normalize()
}

// normalize sorts every list and drops the secret's absence differences, so that two
// bodies that mean the same compare equal.
func (w wireBody) normalize() wireBody {
	w.MetadataVersions = sortedCopy(w.MetadataVersions)
	services := make([]wireService, 0, len(w.Services))
	for _, s := range w.Services {
		s.Regions = sortedCopy(s.Regions)
		s.SubmissionSchemas = slices.Clone(s.SubmissionSchemas)
		slices.SortFunc(s.SubmissionSchemas, func(a, b wireSchema) int {
			return strings.Compare(a.SchemaURI+" "+a.MimeType, b.SchemaURI+" "+b.MimeType)
		})
		if len(s.SubmissionSchemas) == 0 {
			s.SubmissionSchemas = nil
		}
		services = append(services, s)
	}
	slices.SortFunc(services, func(a, b wireService) int { return strings.Compare(a.Identifier, b.Identifier) })
	w.Services = services
	if len(w.Services) == 0 {
		w.Services = nil
	}
	return w
}

func sortedCopy(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// diff names the first field in which got differs from want, or "" if none. The secret
// is not compared (see Destination.CallbackSecret).
func diff(got, want wireBody) string {
	got, want = got.normalize(), want.normalize()
	got.Callback.Secret, want.Callback.Secret = "", ""
	fields := []struct {
		name string
		a, b any
	}{
		{"name", got.Name, want.Name},
		{"callback.url", got.Callback, want.Callback},
		{"contact", got.Contact, want.Contact},
		{"replyChannels", got.ReplyChannels, want.ReplyChannels},
		{"metadataVersions", got.MetadataVersions, want.MetadataVersions},
		{"services", got.Services, want.Services},
		{"encryptionKid", got.EncryptionKid, want.EncryptionKid},
	}
	for _, f := range fields {
		if !reflect.DeepEqual(f.a, f.b) {
			return f.name
		}
	}
	return ""
}

// fromWire turns a destination as read into a Destination. The secret and the keys are
// not part of it; EncryptionKey carries only the kid.
func fromWire(w wireDestination) Destination {
	d := Destination{
		ID: w.DestinationID, Status: w.Status, Name: w.Name, CallbackURL: w.Callback.URL,
		Contact: Contact{LegalName: w.Contact.LegalName, Address: w.Contact.Address,
			Phone: w.Contact.Phone, Email: w.Contact.Email},
		MetadataVersions: slices.Clone(w.MetadataVersions),
		EncryptionKey:    JWK{Kid: w.EncryptionKid},
	}
	if e := w.ReplyChannels.EMail; e != nil {
		d.ReplyChannels.EMail = &EMailChannel{UsePGP: e.UsePGP, PGPKey: e.PGPKey}
	}
	d.ReplyChannels.DeMail = w.ReplyChannels.DeMail != nil
	d.ReplyChannels.Fink = w.ReplyChannels.Fink != nil
	d.ReplyChannels.Elster = w.ReplyChannels.Elster != nil
	for _, s := range w.Services {
		svc := Service{LeikaKey: strings.TrimPrefix(s.Identifier, domain.ServiceURNPrefix)}
		for _, r := range s.Regions {
			svc.Areas = append(svc.Areas, strings.TrimPrefix(r, domain.AreaURNPrefix))
		}
		for _, sc := range s.SubmissionSchemas {
			svc.SubmissionSchemas = append(svc.SubmissionSchemas, SubmissionSchema(sc))
		}
		d.Services = append(d.Services, svc)
	}
	return d
}

func (d Destination) keys() []JWK {
	keys := []JWK{d.EncryptionKey}
	if d.SignatureKey != nil {
		keys = append(keys, *d.SignatureKey)
	}
	return keys
}

func destinationPath(id string) string { return "/v1/destinations/" + url.PathEscape(id) }

// Create creates d with its keys (POST /v1/destinations) under the idempotency key key
// and returns the destination as FIT-Connect answered.
func (cl *Client) Create(ctx context.Context, key string, d Destination) (Destination, error) {
	if err := d.Validate(); err != nil {
		return Destination{}, err
	}
	var out wireDestination
	err := cl.do(ctx, call{op: "create destination " + d.Name, method: http.MethodPost, path: "/v1/destinations",
		key: key, body: wireCreate{wireBody: d.body(true), Keys: d.keys()},
		secrets: []string{d.CallbackSecret.Reveal()}}, &out)
	if err != nil {
		return Destination{}, err
	}
	if out.DestinationID == "" {
		return Destination{}, &systems.Error{System: System, Op: "create destination " + d.Name,
			Err: errors.New("answer: destinationId: missing")}
	}
	return fromWire(out), nil
}

// Get reads the destination id (GET /v1/destinations/{id}).
func (cl *Client) Get(ctx context.Context, id string) (Destination, error) {
	var out wireDestination
	if err := cl.do(ctx, call{op: "get destination " + id, method: http.MethodGet, path: destinationPath(id)}, &out); err != nil {
		return Destination{}, err
	}
	return fromWire(out), nil
}

// List reads all destinations of this API client (GET /v1/destinations), page by page.
func (cl *Client) List(ctx context.Context) ([]Destination, error) {
	var all []Destination
	for offset := 0; ; {
		var page wireList
		q := url.Values{"offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(listPageSize)}}
		if err := cl.do(ctx, call{op: "list destinations", method: http.MethodGet, path: "/v1/destinations", query: q}, &page); err != nil {
			return nil, err
		}
		for _, w := range page.Destinations {
			all = append(all, fromWire(w))
		}
		offset += len(page.Destinations)
		if len(page.Destinations) == 0 || offset >= page.TotalCount {
			return all, nil
		}
	}
}

// Update replaces the destination id's settings with d (PUT /v1/destinations/{id})
// under the idempotency key key. d's keys must already be on the destination (see
// AddKey); d.ID is ignored in favour of id.
func (cl *Client) Update(ctx context.Context, key, id string, d Destination) (Destination, error) {
	if err := d.Validate(); err != nil {
		return Destination{}, err
	}
	var out wireDestination
	err := cl.do(ctx, call{op: "update destination " + id, method: http.MethodPut, path: destinationPath(id),
		key: key, body: d.body(true), secrets: []string{d.CallbackSecret.Reveal()}}, &out)
	if err != nil {
		return Destination{}, err
	}
	return fromWire(out), nil
}

// AddKey adds the public key k to the destination id (POST /v1/destinations/{id}/keys).
// FIT-Connect answers 201 also when the key is already there, so repeating it is safe.
func (cl *Client) AddKey(ctx context.Context, key, id string, k JWK) error {
	op := "add key " + k.Kid + " to destination " + id
	alg := AlgEncryption
	if k.Alg == AlgSignature {
		alg = AlgSignature
	}
	if err := k.validate("key", alg); err != nil {
		return &systems.Error{System: System, Op: op, Err: err}
	}
	return cl.do(ctx, call{op: op, method: http.MethodPost, path: destinationPath(id) + "/keys", key: key, body: k}, nil)
}

// Key reads the public key kid of the destination id
// (GET /v1/destinations/{id}/keys/{kid}); found is false on 404.
func (cl *Client) Key(ctx context.Context, id, kid string) (k JWK, found bool, err error) {
	err = cl.do(ctx, call{op: "get key " + kid + " of destination " + id, method: http.MethodGet,
		path: destinationPath(id) + "/keys/" + url.PathEscape(kid)}, &k)
	var se *systems.Error
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return JWK{}, false, nil
	}
	if err != nil {
		return JWK{}, false, err
	}
	return k, true, nil
}

// Ensure makes the destination match want and returns it as read back: it finds it by
// want.ID, or else by want.Name among this API client's destinations; creates it if
// there is none; adds missing keys; updates it if a field differs; then reads it back and
// checks it. Calling it again with the same input sends no mutating request, and the
// idempotency keys it derives make a retried attempt apply nothing twice, so it is safe
// as (part of) a Temporal activity. A known ID that FIT-Connect does not have is an error,
// not a reason to create a second destination.
func (cl *Client) Ensure(ctx context.Context, want Destination) (Destination, error) {
	if err := want.Validate(); err != nil {
		return Destination{}, err
	}
	cur, found, err := cl.find(ctx, want)
	if err != nil {
		return Destination{}, err
	}
	wantBody := want.body(false)
	var id string
	if !found {
		created, err := cl.Create(ctx, idemKey("create", jsonOf(wantBody), kidsOf(want)), want)
		if err != nil {
			return Destination{}, err
		}
		id = created.ID
	} else {
		id = cur.ID
		for _, k := range want.keys() {
			if err := cl.ensureKey(ctx, id, k); err != nil {
				return Destination{}, err
			}
		}
		if diff(cur.body(false), wantBody) != "" {
			key := idemKey("update", id, jsonOf(cur.body(false)), jsonOf(wantBody))
			if _, err := cl.Update(ctx, key, id, want); err != nil {
				return Destination{}, err
			}
		}
	}
	got, err := cl.Get(ctx, id)
	if err != nil {
		return Destination{}, err
	}
	if field := diff(got.body(false), wantBody); field != "" {
		return Destination{}, &systems.Error{System: System, Op: "ensure destination " + id,
			Err: fmt.Errorf("read back: %s differs from what was written", field)}
	}
	if !found {
		for _, k := range want.keys() {
			if err := cl.checkKey(ctx, id, k); err != nil {
				return Destination{}, err
			}
		}
	}
	return got, nil
}

// find looks the destination up by ID or, without one, by name.
func (cl *Client) find(ctx context.Context, want Destination) (Destination, bool, error) {
	if want.ID != "" {
		d, err := cl.Get(ctx, want.ID)
		if err != nil {
			return Destination{}, false, err
		}
		return d, true, nil
	}
	all, err := cl.List(ctx)
	if err != nil {
		return Destination{}, false, err
	}
	var match []Destination
	for _, d := range all {
		if d.Name == want.Name {
			match = append(match, d)
		}
	}
	switch len(match) {
	case 0:
		return Destination{}, false, nil
	case 1:
		return match[0], true, nil
	default:
		return Destination{}, false, &systems.Error{System: System, Op: "find destination " + want.Name,
			Err: fmt.Errorf("name: %d destinations carry it; pass the ID to pick one", len(match))}
	}
}

// ensureKey adds k unless the destination already has it, and fails if the destination
// has a different key under the same kid.
func (cl *Client) ensureKey(ctx context.Context, id string, k JWK) error {
	got, found, err := cl.Key(ctx, id, k.Kid)
	if err != nil {
		return err
	}
	if !found {
		return cl.AddKey(ctx, idemKey("add-key", id, k.Kid, k.N), id, k)
	}
	return sameKey(id, got, k)
}

// checkKey verifies that the destination id has k.
func (cl *Client) checkKey(ctx context.Context, id string, k JWK) error {
	got, found, err := cl.Key(ctx, id, k.Kid)
	if err != nil {
		return err
	}
	if !found {
		return &systems.Error{System: System, Op: "ensure destination " + id,
			Err: fmt.Errorf("read back: key %s is missing", k.Kid)}
	}
	return sameKey(id, got, k)
}

func sameKey(id string, got, want JWK) error {
	if got.N != want.N || got.E != want.E || got.Alg != want.Alg {
		return &systems.Error{System: System, Op: "ensure destination " + id,
			Err: fmt.Errorf("key %s: the destination holds a different key under this kid", want.Kid)}
	}
	return nil
}

// idemKey derives a deterministic idempotency key from what a mutation does, so that a
// retried activity sends the same key. An update's key includes the state it starts from,
// so that changing A→B→A is two updates and not a replay of the first.
func idemKey(op string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return "rollin-fit-connect-" + op + "-" + hex.EncodeToString(h.Sum(nil))[:32]
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v) // wire types always marshal
	return string(b)
}

func kidsOf(d Destination) string {
	var kids []string
	for _, k := range d.keys() {
		kids = append(kids, k.Kid)
	}
	return strings.Join(kids, ",")
}
