package simulator

import (
	crand "crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rollin-efa/rollin/domain"
)

// FitConnectKind names the FIT-Connect simulator in errors and logs. It is not one of the
// Kinds New and Start accept: FIT-Connect is reached through NewFitConnect and
// StartFitConnect, because it adds OAuth and keeps its own state.
const FitConnectKind Kind = "fit-connect"

// DefaultTokenTTL is the lifetime of the simulator's access tokens when
// FitConnectConfig.TokenTTL is zero; FIT-Connect's tokens live for minutes, not hours.
const DefaultTokenTTL = 30 * time.Minute

// FitConnectConfig configures what only the FIT-Connect simulator has.
type FitConnectConfig struct {
	// Clients are the registered API clients: client ID → client secret.
	Clients map[string]string
	// TokenTTL is the expires_in of issued tokens; 0 means DefaultTokenTTL.
	TokenTTL time.Duration
	// Now is the simulator's clock for token expiry and event times; nil means time.Now.
	Now func() time.Time
	// ReceiverKeys are private keys of receiving systems: for a destination whose
	// encryption key is one of them, the simulated receiving system decrypts and checks
	// submissions instead of only their JWE headers.
	ReceiverKeys []*rsa.PrivateKey
}

// FitConnect simulates FIT-Connect's token endpoint (OAuth 2.0 client credentials,
// POST /token), the destination management of its Submission API, and its submissions
// with a simulated receiving system behind them (see fitconnect_submission.go):
//
//	GET  /v1/destinations                 this client's destinations (offset, limit)
//	POST /v1/destinations                 create, with keys        effect create-destination <id>
//	GET  /v1/destinations/{id}
//	PUT  /v1/destinations/{id}            update, without keys     effect update-destination <id>
//	POST /v1/destinations/{id}/keys       add a key (201 also when present) effect add-key <id>/<kid>
//	GET  /v1/destinations/{id}/keys/{kid}
//
// Every /v1 request needs a bearer token the simulator issued and that has not expired
// or been revoked (/.well-known/jwks.json needs none); otherwise it answers 401 as
// problem+json before anything else (counted
// in Unauthorized and in Counters.Requests as "401 METHOD /literal/path"). Behind
// that check the requests run through the same pipeline as the other simulators
// (latency, faults, error rate, idempotency keys, counters; see the package comment), so
// Fault, Counters and the /_sim endpoints work as there. Destinations belong to the API
// client that created them: only it lists, changes or adds keys to them; any client (a
// sender) reads one and its keys, without the callback. The callback secret is
// write-only, as the client package assumes FIT-Connect's is.
type FitConnect struct {
	sim *Sim
	fc  FitConnectConfig

	// Guarded by sim.mu (handlers run with it held).
	tokens       map[string]issuedToken
	issued       int
	unauthorized int
	dests        map[string]*fcDestination
	order        []string                 // destination IDs in creation order, for stable lists
	subs         map[string]*fcSubmission // by submission ID
	cases        map[string]*fcSubmission // by case ID
	keys         *simKeyPair              // the signature keys, once used or loaded (see keyPair)
}

type issuedToken struct {
	client  string
	expires time.Time
}

// NewFitConnect returns a FIT-Connect simulator on the pipeline every Sim shares (New
// accepts only the three original kinds), with its state in memory. It panics on a
// Config.StateDir, a programming error: OpenFitConnect keeps state there.
func NewFitConnect(cfg Config, fc FitConnectConfig) *FitConnect {
	if cfg.StateDir != "" {
		panic("simulator: NewFitConnect keeps state in memory; use OpenFitConnect for a StateDir")
	}
	return newFitConnect(cfg, fc)
}

func newFitConnect(cfg Config, fc FitConnectConfig) *FitConnect {
	if fc.TokenTTL <= 0 {
		fc.TokenTTL = DefaultTokenTTL
	}
	if fc.Now == nil {
		fc.Now = time.Now
	}
	s := newSim(FitConnectKind, cfg)
	s.idNS = 4
	f := &FitConnect{sim: s, fc: fc, tokens: map[string]issuedToken{}, dests: map[string]*fcDestination{},
		subs: map[string]*fcSubmission{}, cases: map[string]*fcSubmission{}}
	s.ext = f
	s.route("POST /token", false, f.issueToken)
	s.route("GET /v1/destinations", false, f.listDestinations)
	s.route("POST /v1/destinations", true, f.createDestination)
	s.route("GET /v1/destinations/{id}", false, f.getDestination)
	s.route("PUT /v1/destinations/{id}", true, f.updateDestination)
	s.route("POST /v1/destinations/{id}/keys", true, f.addKey)
	s.route("GET /v1/destinations/{id}/keys/{kid}", false, f.getKey)
	s.route("POST /v1/submissions", true, f.announceSubmission)
	s.route("PUT /v1/submissions/{id}", true, f.submitSubmission)
	s.route("GET /v1/cases/{caseId}/events", false, f.caseEvents)
	s.route("GET /.well-known/jwks.json", false, f.serviceKeys)
	return f
}

// StartFitConnect serves a new FIT-Connect simulator on addr ("" means 127.0.0.1 on a
// free port), like Start. The Server's Sim gives faults and counters.
func StartFitConnect(cfg Config, fc FitConnectConfig, addr string) (*Server, *FitConnect, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("start %s simulator: %w", FitConnectKind, err)
	}
	f, err := OpenFitConnect(cfg, fc)
	if err != nil {
		_ = ln.Close()
		return nil, nil, err
	}
	s := &Server{
		URL:  "http://" + ln.Addr().String(),
		Sim:  f.sim,
		srv:  &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second},
		addr: ln.Addr().String(),
	}
	s.serve(ln)
	return s, f, nil
}

// Sim returns the pipeline behind the simulator, for faults and counters.
func (f *FitConnect) Sim() *Sim { return f.sim }

// ServeHTTP checks the bearer token of /v1 requests, then serves like a Sim.
func (f *FitConnect) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v1/") || r.URL.Path == "/v1" {
		f.sim.mu.Lock()
		_, ok := f.bearer(r)
		if !ok {
			f.unauthorized++
			f.markCount("unauthorized", &f.unauthorized)
			f.sim.requests["401 "+r.Method+" "+r.URL.Path]++
			f.sim.markCount(tableRequest, f.sim.requests, "401 "+r.Method+" "+r.URL.Path)
		}
		f.sim.mu.Unlock()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			problemResponse(problemReply(http.StatusUnauthorized, "unauthorized", "Unauthorized",
				"a valid bearer access token is required")).write(w, false)
			return
		}
	}
	f.sim.ServeHTTP(w, r)
}

// TokensIssued returns how many access tokens the token endpoint has issued.
func (f *FitConnect) TokensIssued() int {
	f.sim.mu.Lock()
	defer f.sim.mu.Unlock()
	return f.issued
}

// Unauthorized returns how many /v1 requests were answered 401 for want of a valid token.
func (f *FitConnect) Unauthorized() int {
	f.sim.mu.Lock()
	defer f.sim.mu.Unlock()
	return f.unauthorized
}

// RevokeTokens invalidates every issued token, as a restart of the authorisation server
// or a revocation would: clients holding one get 401 and must fetch a new one.
func (f *FitConnect) RevokeTokens() {
	f.sim.mu.Lock()
	defer f.sim.mu.Unlock()
	for tok := range f.tokens {
		delete(f.tokens, tok)
		f.markToken(tok)
	}
	f.sim.save()
}

// CallbackSecret returns the callback secret stored for destination id (the API never
// returns it), so tests can check that an update reached the simulator.
func (f *FitConnect) CallbackSecret(id string) (string, bool) {
	f.sim.mu.Lock()
	defer f.sim.mu.Unlock()
	d, ok := f.dests[id]
	if !ok {
		return "", false
	}
	return d.secret, true
}

// bearer returns the API client of r's valid bearer token. Call with sim.mu held.
func (f *FitConnect) bearer(r *http.Request) (string, bool) {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	t, ok := f.tokens[tok]
	if !ok || !f.fc.Now().Before(t.expires) {
		return "", false
	}
	return t.client, true
}

// oauthError is RFC 6749 §5.2's error answer (plain JSON, not problem+json).
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

type tokenOut struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// issueToken implements the client-credentials grant with the client authenticated by
// HTTP Basic (form-encoded parts) or by client_id/client_secret in the body, not both.
func (f *FitConnect) issueToken(r *http.Request, body []byte) reply {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return reply{status: http.StatusBadRequest, body: oauthError{"invalid_request", "want Content-Type application/x-www-form-urlencoded"}}
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return reply{status: http.StatusBadRequest, body: oauthError{"invalid_request", "malformed form body"}}
	}
	if form.Get("grant_type") != "client_credentials" {
		return reply{status: http.StatusBadRequest, body: oauthError{"unsupported_grant_type", "only client_credentials is supported"}}
	}
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		if id != "" || secret != "" {
			return reply{status: http.StatusBadRequest, body: oauthError{"invalid_request", "client authenticated twice"}}
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(u)
		secret, err2 = url.QueryUnescape(p)
		if err1 != nil || err2 != nil {
			return reply{status: http.StatusBadRequest, body: oauthError{"invalid_request", "malformed basic credentials"}}
		}
	}
	want, known := f.fc.Clients[id]
	if !known || subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
		return reply{status: http.StatusUnauthorized, body: oauthError{"invalid_client", "unknown client or wrong secret"}}
	}
	var raw [24]byte
	_, _ = crand.Read(raw[:]) // crypto/rand.Read never fails (Go 1.24+)
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	f.tokens[tok] = issuedToken{client: id, expires: f.fc.Now().Add(f.fc.TokenTTL)}
	f.issued++
	f.markToken(tok)
	f.markCount("issued", &f.issued)
	return reply{status: http.StatusOK, body: tokenOut{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(f.fc.TokenTTL / time.Second)}}
}

// Wire and state types of the destination management, following the client's shapes
// (and FIT-Connect's as described there).

type fcCallback struct {
	URL    string `json:"url"`
	Secret string `json:"secret,omitempty"`
}

type fcContact struct {
	LegalName string `json:"legalName"`
	Address   string `json:"address"`
	Phone     string `json:"phone,omitempty"`
	Email     string `json:"email"`
}

type fcEMail struct {
	UsePGP bool   `json:"usePgp"`
	PGPKey string `json:"pgpKey,omitempty"`
}

type fcEmpty struct{}

type fcReplyChannels struct {
	EMail  *fcEMail `json:"eMail,omitempty"`
	DeMail *fcEmpty `json:"deMail,omitempty"`
	Fink   *fcEmpty `json:"fink,omitempty"`
	Elster *fcEmpty `json:"elster,omitempty"`
}

type fcSchema struct {
	SchemaURI string `json:"schemaUri"`
	MimeType  string `json:"mimeType"`
}

type fcService struct {
	Identifier        string     `json:"identifier"`
	SubmissionSchemas []fcSchema `json:"submissionSchemas"`
	Regions           []string   `json:"regions"`
}

type fcBody struct {
	Name             string          `json:"name"`
	Callback         fcCallback      `json:"callback"`
	Contact          fcContact       `json:"contact"`
	ReplyChannels    fcReplyChannels `json:"replyChannels"`
	MetadataVersions []string        `json:"metadataVersions"`
	Services         []fcService     `json:"services"`
	EncryptionKid    string          `json:"encryptionKid"`
}

type fcCreate struct {
	fcBody
	Keys []fcJWK `json:"keys"`
}

type fcJWK struct {
	Kty    string   `json:"kty"`
	KeyOps []string `json:"key_ops"`
	Use    string   `json:"use,omitempty"`
	Alg    string   `json:"alg"`
	Kid    string   `json:"kid"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X5C    []string `json:"x5c"`
}

type fcDestinationOut struct {
	DestinationID string `json:"destinationId"`
	Status        string `json:"status"`
	fcBody
}

type fcList struct {
	Count        int                `json:"count"`
	Offset       int                `json:"offset"`
	TotalCount   int                `json:"totalCount"`
	Destinations []fcDestinationOut `json:"destinations"`
}

type fcDestination struct {
	id     string
	owner  string
	body   fcBody // without the secret
	secret string
	keys   map[string]fcJWK
}

func (d *fcDestination) out() fcDestinationOut {
	return fcDestinationOut{DestinationID: d.id, Status: "active", fcBody: d.body}
}

var fcVersion = regexp.MustCompile(`^\d+\.\d+\.\d+$`)

// checkBody validates a destination body; the messages name the field and never quote
// the secret.
func checkBody(b fcBody) string {
	msg := firstInvalid(required("name", b.Name), checkURL("callback.url", b.Callback.URL),
		required("callback.secret", b.Callback.Secret), required("contact.legalName", b.Contact.LegalName),
		required("contact.address", b.Contact.Address), required("contact.email", b.Contact.Email),
		required("encryptionKid", b.EncryptionKid))
	if msg == "" && !strings.HasPrefix(b.Callback.URL, "https://") {
		msg = "callback.url: want https, got " + quote(b.Callback.URL)
	}
	if msg == "" && !strings.Contains(b.Contact.Email, "@") {
		msg = "contact.email: want an e-mail address, got " + quote(b.Contact.Email)
	}
	if msg == "" && len(b.MetadataVersions) == 0 {
		msg = "metadataVersions: at least one is required"
	}
	for _, v := range b.MetadataVersions {
		if msg == "" && !fcVersion.MatchString(v) {
			msg = "metadataVersions: want versions like 1.0.0, got " + quote(v)
		}
	}
	if msg == "" && len(b.Services) == 0 {
		msg = "services: at least one service is required"
	}
	for _, svc := range b.Services {
		if msg != "" {
			break
		}
		key, ok := strings.CutPrefix(svc.Identifier, domain.ServiceURNPrefix)
		if !ok {
			msg = "services.identifier: want " + domain.ServiceURNPrefix + "<Leistungsschlüssel>, got " + quote(svc.Identifier)
			break
		}
		msg = checkServiceKey("services.identifier", key)
		if msg == "" && len(svc.SubmissionSchemas) == 0 {
			msg = "services.submissionSchemas: at least one is required"
		}
		if msg == "" && len(svc.Regions) == 0 {
			msg = "services.regions: at least one region is required"
		}
		for _, region := range svc.Regions {
			if msg != "" {
				break
			}
			ars, ok := strings.CutPrefix(region, domain.AreaURNPrefix)
			if !ok {
				msg = "services.regions: want " + domain.AreaURNPrefix + "<ARS>, got " + quote(region)
				break
			}
			msg = checkARS("services.regions", ars)
		}
	}
	return msg
}

// checkJWK validates a public key as FIT-Connect's JWK schema describes it.
func checkJWK(field string, k fcJWK) string {
	wantOps := map[string]string{"RSA-OAEP-256": "wrapKey", "PS512": "verify"}
	op, ok := wantOps[k.Alg]
	switch {
	case k.Kty != "RSA":
		return field + ".kty: want RSA, got " + quote(k.Kty)
	case !ok:
		return field + ".alg: want RSA-OAEP-256 or PS512, got " + quote(k.Alg)
	case !slices.Equal(k.KeyOps, []string{op}):
		return field + ".key_ops: want [" + op + "] for " + k.Alg
	case len(k.Kid) < 8 || len(k.Kid) > 64:
		return field + ".kid: want 8 to 64 characters"
	case k.E != "AQAB":
		return field + ".e: want AQAB, got " + quote(k.E)
	case len(k.X5C) == 0:
		return field + ".x5c: at least one certificate is required"
	}
	n, err := base64.RawURLEncoding.DecodeString(k.N)
	if err != nil || new(big.Int).SetBytes(n).BitLen() < 4096 {
		return field + ".n: want a base64url RSA modulus of at least 4096 bits"
	}
	der, err := base64.StdEncoding.DecodeString(k.X5C[0])
	if err != nil {
		return field + ".x5c[0]: want base64 DER"
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return field + ".x5c[0]: not a certificate: " + err.Error()
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || pub.N.Cmp(new(big.Int).SetBytes(n)) != 0 {
		return field + ".x5c[0]: the certificate's key is not n/e"
	}
	return ""
}

// owned returns the destination id if the caller's client owns it.
func (f *FitConnect) owned(r *http.Request) (*fcDestination, reply, bool) {
	client, _ := f.bearer(r)
	id := r.PathValue("id")
	d, ok := f.dests[id]
	if !ok || d.owner != client {
		return nil, notFound("destination", id), false
	}
	return d, reply{}, true
}

func (f *FitConnect) listDestinations(r *http.Request, _ []byte) reply {
	client, _ := f.bearer(r)
	offset, limit := 0, 100
	if v := r.URL.Query().Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return problemReply(http.StatusBadRequest, "bad-parameter", "Bad Request", "offset: want a number >= 0")
		}
		offset = n
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return problemReply(http.StatusBadRequest, "bad-parameter", "Bad Request", "limit: want 1..500")
		}
		limit = n
	}
	var mine []fcDestinationOut
	for _, id := range f.order {
		if d := f.dests[id]; d.owner == client {
			mine = append(mine, d.out())
		}
	}
	out := fcList{Offset: offset, TotalCount: len(mine), Destinations: []fcDestinationOut{}}
	if offset < len(mine) {
		out.Destinations = mine[offset:min(offset+limit, len(mine))]
	}
	out.Count = len(out.Destinations)
	return reply{status: http.StatusOK, body: out}
}

func (f *FitConnect) createDestination(r *http.Request, body []byte) reply {
	client, _ := f.bearer(r)
	var in fcCreate
	if rep, ok := decodeBody(body, &in); !ok {
		return rep
	}
	msg := checkBody(in.fcBody)
	if msg == "" && len(in.Keys) == 0 {
		msg = "keys: at least the encryption key is required"
	}
	keys := map[string]fcJWK{}
	for i, k := range in.Keys {
		if msg == "" {
			msg = checkJWK("keys["+strconv.Itoa(i)+"]", k)
		}
		keys[k.Kid] = k
	}
	if msg == "" {
		if k, ok := keys[in.EncryptionKid]; !ok || k.Alg != "RSA-OAEP-256" {
			msg = "encryptionKid: want the kid of an RSA-OAEP-256 key in keys, got " + quote(in.EncryptionKid)
		}
	}
	if msg != "" {
		return invalid(msg)
	}
	d := &fcDestination{id: f.sim.newID(), owner: client, secret: in.Callback.Secret, keys: keys}
	d.body = in.fcBody
	d.body.Callback.Secret = ""
	f.dests[d.id] = d
	f.order = append(f.order, d.id)
	f.markDest(d)
	f.sim.effect("create-destination", d.id)
	return reply{status: http.StatusCreated, body: d.out()}
}

func (f *FitConnect) getDestination(r *http.Request, _ []byte) reply {
	id := r.PathValue("id")
	d, ok := f.dests[id]
	if !ok {
		return notFound("destination", id)
	}
	out := d.out()
	if client, _ := f.bearer(r); client != d.owner {
		out.Callback = fcCallback{} // a sender sees the public part
	}
	return reply{status: http.StatusOK, body: out}
}

func (f *FitConnect) updateDestination(r *http.Request, body []byte) reply {
	d, rep, ok := f.owned(r)
	if !ok {
		return rep
	}
	var in fcBody
	if rep, ok := decodeBody(body, &in); !ok {
		return rep
	}
	msg := checkBody(in)
	if k, ok := d.keys[in.EncryptionKid]; msg == "" && (!ok || k.Alg != "RSA-OAEP-256") {
		msg = "encryptionKid: want the kid of an RSA-OAEP-256 key of the destination, got " + quote(in.EncryptionKid)
	}
	if msg != "" {
		return invalid(msg)
	}
	d.secret = in.Callback.Secret
	in.Callback.Secret = ""
	d.body = in
	f.markDest(d)
	f.sim.effect("update-destination", d.id)
	return reply{status: http.StatusOK, body: d.out()}
}

func (f *FitConnect) addKey(r *http.Request, body []byte) reply {
	d, rep, ok := f.owned(r)
	if !ok {
		return rep
	}
	var k fcJWK
	if rep, ok := decodeBody(body, &k); !ok {
		return rep
	}
	if msg := checkJWK("key", k); msg != "" {
		return invalid(msg)
	}
	if old, ok := d.keys[k.Kid]; ok {
		if old.N != k.N || old.Alg != k.Alg {
			return problemReply(http.StatusConflict, "key-conflict", "Conflict",
				"kid: the destination already holds a different key "+quote(k.Kid))
		}
		// FIT-Connect answers 201 for a key that is already there: nothing happens.
		return reply{status: http.StatusCreated, body: k}
	}
	d.keys[k.Kid] = k
	f.markDest(d)
	f.sim.effect("add-key", d.id+"/"+k.Kid)
	return reply{status: http.StatusCreated, body: k}
}

func (f *FitConnect) getKey(r *http.Request, _ []byte) reply {
	d, ok := f.dests[r.PathValue("id")]
	if !ok {
		return notFound("destination", r.PathValue("id"))
	}
	k, ok := d.keys[r.PathValue("kid")]
	if !ok {
		return notFound("key", r.PathValue("kid"))
	}
	return reply{status: http.StatusOK, body: k}
}
