// Package simulator serves stand-ins for Rollin's external systems (provider, state,
// municipality, and FIT-Connect in fitconnect.go) over real HTTP, for development, tests and benchmarks. Each
// simulator speaks the same paths and JSON as the real API the client in package
// provider, state or municipality is written against, and adds what the real systems do
// not offer: configurable latency, a seeded error rate, scripted faults, and counters of
// every request and every side effect, so that tests can prove effects happen exactly
// once however often a call is retried.
//
// The simulators keep their own wire types instead of sharing the clients' structs, and
// reject unknown JSON fields, so that a misspelt field in a client fails its tests.
//
// The processing order of a request is: count it; wait Config.Latency; answer a matching
// Fault (not AfterApply) or, by Config.ErrorRate, 503 — both before any effect; require
// an Idempotency-Key on mutating requests and replay the stored answer for a known key;
// otherwise validate, apply and store the answer; then answer a matching AfterApply fault
// instead of the success.
package simulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rollin-efa/rollin/systems"
)

// Kind selects which external system a simulator plays.
type Kind string

// The simulated systems that New and Start serve, named as in systems.Error.System
// (FIT-Connect is FitConnectKind).
const (
	Provider     Kind = "provider"
	State        Kind = "state"
	Municipality Kind = "municipality"
)

// Valid reports whether k is one of the simulated systems.
func (k Kind) Valid() bool { return k == Provider || k == State || k == Municipality }

// Config tunes a simulator's behaviour; the zero value is a fast, reliable system.
type Config struct {
	// Latency is added to every request before it is processed, so that client timeouts
	// can be provoked. A request whose client gave up during the wait is still processed,
	// as a real backend that does not notice would: only the idempotency key saves the
	// retry from applying the effect again.
	Latency time.Duration
	// SlowRate is the share of requests (0..1, drawn like ErrorRate) that take SlowLatency
	// instead of Latency: a system that is slow now and then. With SlowLatency above the
	// client's timeout those requests time out at the client and are still processed here.
	SlowRate    float64
	SlowLatency time.Duration
	// ErrorRate is the share of requests (0..1) answered 503 before any effect, drawn
	// from a PRNG seeded with Seed, so a sequential test sees the same failures each run.
	ErrorRate float64
	Seed      int64
	// RoutingLag (state) is how many GET /routes calls for a (leikaKey, ars) answer an
	// empty list after a portal link with a destination was created, before the route
	// appears — the lag between editorial system and routing directory.
	RoutingLag int
	// TestPolls (provider) is how many GETs of a test submission still see it in flight
	// (first submitted, then forwarded) before the next one sees it accepted or
	// rejected. 0 means 1; a negative value settles it at the first GET.
	TestPolls int
	// StateDir, when set, is the directory where the simulator keeps its state (in
	// JournalFile(kind)), so that a restart on it, after a crash too, finds every
	// tenant, link, destination, submission, idempotency key and counter an answer told
	// of: as a real system keeps its database. Empty keeps the state in memory, lost with
	// the simulator. Scripted faults and the error rate's draws are never kept. Open and
	// Start take it; New refuses it.
	StateDir string
}

// Fault scripts a failure for requests whose method is Method (empty: any) and whose
// path starts with PathPrefix (empty: any). The first matching fault wins.
type Fault struct {
	Method     string `json:"method,omitempty"`
	PathPrefix string `json:"pathPrefix,omitempty"`
	// Status is the HTTP status to answer, with a problem+json body.
	Status int `json:"status"`
	// Times is how many requests the fault answers; 0 means until cleared.
	Times int `json:"times,omitempty"`
	// AfterApply applies the effect (and stores the success under the idempotency key),
	// then answers Status anyway: the response is "lost". A retry with the same key must
	// get the stored success without applying the effect again.
	AfterApply bool `json:"afterApply,omitempty"`
	// Headers are added to the fault's response, e.g. Retry-After or RateLimit-Reset.
	Headers map[string]string `json:"headers,omitempty"`
	// Body, if set, is answered as text/plain instead of the problem+json body, byte for
	// byte: a system's error page, or bytes no well-behaved system sends (NUL, invalid
	// UTF-8), which Rollin must keep out of its incidents and audit log.
	Body string `json:"body,omitempty"`
}

// Counters is what a simulator has seen and done.
type Counters struct {
	// Requests counts all requests, failed ones included, by "METHOD /path-template",
	// e.g. "GET /v1/test-submissions/{id}"; unmatched requests by their literal path.
	Requests map[string]int `json:"requests"`
	// Effects counts how often each logical effect was applied, keyed by operation and
	// subject, not by idempotency key, e.g. "create-tenant 055150000000/99050012104000".
	// Exactly-once means every value is 1. The operations are create-tenant,
	// send-test-submission, switch-to-production (provider); create-portal-link,
	// activate-portal-link, confirm-dvdv, configure-payment (state); file-agreement
	// <kind> (subject just the ARS for framework), notify <recipient> <kind> [<step>]
	// (municipality; the step where the notification names one, so the waiting notices
	// of different steps are different effects).
	Effects map[string]int `json:"effects"`
	// Keys is the number of distinct idempotency keys seen.
	Keys int `json:"keys"`
}

// Sim is one simulated system. It implements http.Handler and is safe for concurrent
// use. Its state lives in memory and, with Config.StateDir, in a journal there.
type Sim struct {
	kind Kind
	cfg  Config
	mux  *http.ServeMux
	idNS int // first group of generated IDs, distinct per kind

	quit     chan struct{}
	quitOnce sync.Once

	mu         sync.Mutex
	rng        *rand.Rand
	faults     []*Fault
	rejections map[string]systems.Problem
	// shapeFault, if set, adapts an injected fault's answer to what the real API sends
	// for that status and path (see the state simulator's routingFault).
	shapeFault func(r *http.Request, f *Fault, resp response) response
	idem       map[string]stored
	keys       map[string]struct{}
	requests   map[string]int
	effects    map[string]int
	seq        int

	tenants     map[string]*tenant
	submissions map[string]*submission
	links       map[string]*link
	routing     map[routeKey]*routeEntry
	listener    Listener
	// notices are the notices a Listener took on and has not finished with, by key:
	// kept with a StateDir only, so that a restart hands them over again (see
	// SetListener).
	notices map[string]Notice

	// journal keeps the state with Config.StateDir (nil without); dirty holds what
	// changed since the last commit; ext is the state a kind adds (FIT-Connect's).
	journal *journal
	dirty   map[dirtyKey]func() any
	ext     stateExt
}

// stored is the answer kept for an idempotency key and the fingerprint of the request
// that produced it.
type stored struct {
	fingerprint [32]byte
	resp        response
}

// New returns a simulator of kind that keeps its state in memory. It panics on an
// unknown kind or a Config.StateDir (Open keeps state there), programming errors.
func New(kind Kind, cfg Config) *Sim {
	if cfg.StateDir != "" {
		panic("simulator: New keeps state in memory; use Open for a StateDir")
	}
	s, err := Open(kind, cfg)
	if err != nil {
		panic(err.Error())
	}
	return s
}

// Open returns a simulator of kind with the state kept in cfg.StateDir (loaded from it
// when there), or in memory when that is empty. Close releases the directory.
func Open(kind Kind, cfg Config) (*Sim, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("simulator: unknown kind %q (want provider, state or municipality)", kind)
	}
	s := newSim(kind, cfg)
	switch kind {
	case Provider:
		s.idNS = 1
		s.route("POST /v1/tenants", true, s.createTenant)
		s.route("POST /v1/tenants/{id}/production", true, s.switchToProduction)
		s.route("POST /v1/test-submissions", true, s.sendTestSubmission)
		s.route("GET /v1/test-submissions/{id}", false, s.getTestSubmission)
		s.mux.HandleFunc("POST /_sim/rejections", s.postRejection)
		s.mux.HandleFunc("DELETE /_sim/rejections", s.deleteRejections)
	case State:
		s.idNS = 2
		s.shapeFault = routingFault
		s.route("POST /pvog/v1/links", true, s.createLink)
		s.route("POST /pvog/v1/links/{id}/activate", true, s.activateLink)
		s.route("GET /routes", false, s.getRoutes)
		s.route("POST /dvdv/v1/entries", true, s.confirmDVDV)
		s.route("POST /epay/v1/configurations", true, s.configurePayment)
	case Municipality:
		s.idNS = 3
		s.route("POST /v1/agreements", true, s.fileAgreement)
		s.route("POST /v1/notifications", true, s.notify)
	}
	if err := s.openState(); err != nil {
		return nil, err
	}
	return s, nil
}

// Close closes the simulator's journal; the state on disk is complete already (each
// answer waited for its changes). Without a StateDir it does nothing. Serve no request
// after Close.
func (s *Sim) Close() error {
	s.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.journal == nil {
		return nil
	}
	err := s.journal.close()
	s.journal = nil
	if err != nil {
		return fmt.Errorf("close %s simulator state: %w", s.kind, err)
	}
	return nil
}

// newSim builds the pipeline every simulator shares, for any kind (FitConnectKind
// included): the normalised cfg, the state, the /_sim control endpoints and the 404
// fallback. The caller sets idNS and adds the routes of kind.
func newSim(kind Kind, cfg Config) *Sim {
	cfg.ErrorRate = min(max(cfg.ErrorRate, 0), 1)
	switch {
	case cfg.TestPolls == 0:
		cfg.TestPolls = 1
	case cfg.TestPolls < 0:
		cfg.TestPolls = 0
	}
	cfg.RoutingLag = max(cfg.RoutingLag, 0)

	s := &Sim{
		kind:        kind,
		cfg:         cfg,
		mux:         http.NewServeMux(),
		quit:        make(chan struct{}),
		rng:         rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed)), // #nosec G115 G404 -- reproducible from Seed (crypto/rand cannot be), guards nothing; uint64 reinterprets the seed's bits
		rejections:  map[string]systems.Problem{},
		idem:        map[string]stored{},
		keys:        map[string]struct{}{},
		requests:    map[string]int{},
		effects:     map[string]int{},
		tenants:     map[string]*tenant{},
		submissions: map[string]*submission{},
		links:       map[string]*link{},
		routing:     map[routeKey]*routeEntry{},
		notices:     map[string]Notice{},
	}
	s.mux.HandleFunc("GET /_sim/counters", s.getCounters)
	s.mux.HandleFunc("GET /_sim/faults", s.getFaults)
	s.mux.HandleFunc("POST /_sim/faults", s.postFault)
	s.mux.HandleFunc("DELETE /_sim/faults", s.deleteFaults)
	s.route("/", false, func(r *http.Request, _ []byte) reply {
		return problemReply(http.StatusNotFound, "not-found", "Not Found",
			fmt.Sprintf("%s %s is not served by the %s simulator", r.Method, r.URL.Path, kind))
	})
	return s
}

// Kind returns the system the simulator plays.
func (s *Sim) Kind() Kind { return s.kind }

// ServeHTTP serves the simulated API and the /_sim control endpoints.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// AddFault scripts a failure; see Fault.
func (s *Sim) AddFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.Headers = maps.Clone(f.Headers)
	s.faults = append(s.faults, &f)
}

// ClearFaults removes all scripted failures.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// RejectTests makes the provider reject test submissions for ars that are sent from now
// on, with problem as the reason, until ClearRejections. Submissions already sent keep
// their fate, as the receiving side decided when they arrived.
func (s *Sim) RejectTests(ars string, problem systems.Problem) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejections[ars] = problem
	s.markRejection(ars)
	s.save()
}

// ClearRejections lets test submissions be accepted again.
func (s *Sim) ClearRejections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ars := range s.rejections {
		s.markRejection(ars)
	}
	clear(s.rejections)
	s.save()
}

// Counters returns a copy of the counters.
func (s *Sim) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Counters{
		Requests: maps.Clone(s.requests),
		Effects:  maps.Clone(s.effects),
		Keys:     len(s.keys),
	}
}

// stop wakes requests waiting out the latency and makes them fail, so a server can shut
// down without waiting for them.
func (s *Sim) stop() { s.quitOnce.Do(func() { close(s.quit) }) }

// reply is what a handler answers; a body of type systems.Problem is sent as
// application/problem+json.
type reply struct {
	status int
	body   any
}

// handler serves one route. It runs with s.mu held and may touch all state.
type handler func(r *http.Request, body []byte) reply

// response is an encoded reply, ready to write and to store for replays.
type response struct {
	status      int
	contentType string
	body        []byte
	header      map[string]string
}

func (resp response) ok() bool { return resp.status >= 200 && resp.status < 300 }

func (resp response) write(w http.ResponseWriter, replayed bool) {
	for k, v := range resp.header {
		w.Header().Set(k, v)
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if resp.contentType != "" {
		w.Header().Set("Content-Type", resp.contentType)
	}
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

const maxRequestBody = 1 << 20

// route registers pattern behind the request pipeline described in the package comment.
func (s *Sim) route(pattern string, mutating bool, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		template := pattern
		if pattern == "/" {
			template = r.Method + " " + r.URL.Path
		}
		var (
			body    []byte
			readErr error
		)
		if r.Body != nil { // nil only when called directly, not through a server
			body, readErr = io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
		}
		key := r.Header.Get("Idempotency-Key")

		s.mu.Lock()
		s.requests[template]++
		s.markCount(tableRequest, s.requests, template)
		if mutating && key != "" {
			s.keys[key] = struct{}{}
			s.mark(tableKey, key, func() any { return true })
		}
		latency := s.cfg.Latency
		if s.cfg.SlowRate > 0 && s.rng.Float64() < s.cfg.SlowRate {
			latency = s.cfg.SlowLatency
		}
		s.mu.Unlock()

		if !s.wait(latency) {
			problemResponse(problemReply(http.StatusServiceUnavailable, "shutting-down",
				"Service Unavailable", "the simulator is shutting down")).write(w, false)
			return
		}
		resp, replayed := s.process(r, mutating, key, body, readErr, h)
		resp.write(w, replayed)
	})
}

// wait sleeps the request's latency; it reports false if the simulator stopped meanwhile.
// It deliberately ignores the request's context: see Config.Latency.
func (s *Sim) wait(latency time.Duration) bool {
	if latency <= 0 {
		return true
	}
	t := time.NewTimer(latency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.quit:
		return false
	}
}

// process runs the request under the lock and returns the answer once the state it
// reflects is on disk (with a StateDir): an answer a crash could take back is not sent.
func (s *Sim) process(r *http.Request, mutating bool, key string, body []byte, readErr error, h handler) (response, bool) {
	s.mu.Lock()
	resp, replayed := s.processLocked(r, mutating, key, body, readErr, h)
	n, err := s.commit()
	j := s.journal
	s.mu.Unlock()
	if err == nil && j != nil {
		err = j.sync(n)
	}
	if err != nil {
		return problemResponse(problemReply(http.StatusServiceUnavailable, "state-not-saved",
			"Service Unavailable", "the simulator could not save its state: "+err.Error())), false
	}
	return resp, replayed
}

func (s *Sim) processLocked(r *http.Request, mutating bool, key string, body []byte, readErr error, h handler) (response, bool) {

	if f := s.takeFault(r, false); f != nil {
		return s.faultResponse(r, f), false
	}
	if s.cfg.ErrorRate > 0 && s.rng.Float64() < s.cfg.ErrorRate {
		return problemResponse(problemReply(http.StatusServiceUnavailable, "unavailable",
			"Service Unavailable", "simulated outage (error rate)")), false
	}
	if readErr != nil {
		return problemResponse(problemReply(http.StatusBadRequest, "bad-body", "Bad Request",
			"request body: "+readErr.Error())), false
	}

	var (
		resp     response
		replayed bool
	)
	if !mutating {
		resp = encode(h(r, body))
	} else {
		if key == "" {
			return problemResponse(problemReply(http.StatusBadRequest, "idempotency-key-missing",
				"Bad Request", "header Idempotency-Key is required on "+r.Method+" requests")), false
		}
		fp := fingerprint(r, body)
		if st, ok := s.idem[key]; ok {
			if st.fingerprint != fp {
				return problemResponse(problemReply(http.StatusUnprocessableEntity, "idempotency-key-reused",
					"Unprocessable Entity", "header Idempotency-Key "+key+" was used for a different request")), false
			}
			resp, replayed = st.resp, true
		} else {
			resp = encode(h(r, body))
			if resp.ok() {
				st := stored{fingerprint: fp, resp: resp}
				s.idem[key] = st
				s.mark(tableIdem, key, func() any { return st.record() })
			}
		}
	}
	if resp.ok() {
		if f := s.takeFault(r, true); f != nil {
			return s.faultResponse(r, f), false
		}
	}
	return resp, replayed
}

// takeFault returns the first fault matching r with the given AfterApply and uses up one
// of its Times.
func (s *Sim) takeFault(r *http.Request, afterApply bool) *Fault {
	for i, f := range s.faults {
		if f.AfterApply != afterApply ||
			(f.Method != "" && !strings.EqualFold(f.Method, r.Method)) ||
			!strings.HasPrefix(r.URL.Path, f.PathPrefix) {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
		}
		return f
	}
	return nil
}

func (s *Sim) faultResponse(r *http.Request, f *Fault) response {
	resp := problemResponse(problemReply(f.Status, "injected-fault", http.StatusText(f.Status),
		"fault injected by the simulator"))
	resp.header = f.Headers
	if s.shapeFault != nil {
		resp = s.shapeFault(r, f, resp)
	}
	if f.Body != "" {
		resp.contentType, resp.body = "text/plain", []byte(f.Body)
	}
	return resp
}

// fingerprint identifies a request for idempotency: method, path and body, with
// insignificant JSON whitespace removed.
func fingerprint(r *http.Request, body []byte) [32]byte {
	var compact bytes.Buffer
	if json.Compact(&compact, body) == nil {
		body = compact.Bytes()
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s %s\n", r.Method, r.URL.Path)
	h.Write(body)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func encode(rep reply) response {
	if _, ok := rep.body.(systems.Problem); ok {
		return problemResponse(rep)
	}
	if rep.body == nil {
		return response{status: rep.status}
	}
	b, err := json.Marshal(rep.body)
	if err != nil {
		return problemResponse(problemReply(http.StatusInternalServerError, "internal",
			"Internal Server Error", "encode response: "+err.Error()))
	}
	return response{status: rep.status, contentType: "application/json", body: b}
}

func problemResponse(rep reply) response {
	b, _ := json.Marshal(rep.body)
	return response{status: rep.status, contentType: "application/problem+json", body: b}
}

// problemReply builds an RFC 7807 answer; slug becomes the problem type.
func problemReply(status int, slug, title, detail string) reply {
	return reply{status: status, body: systems.Problem{
		Type:   "urn:rollin:simulator:problem:" + slug,
		Title:  title,
		Status: status,
		Detail: detail,
	}}
}

// invalid answers 422 for a body that is well-formed JSON but has a missing or malformed
// field; detail names the field.
func invalid(detail string) reply {
	return problemReply(http.StatusUnprocessableEntity, "invalid-field", "Unprocessable Entity", detail)
}

func notFound(what, id string) reply {
	return problemReply(http.StatusNotFound, "not-found", "Not Found", fmt.Sprintf("%s %q does not exist", what, id))
}

// decodeBody decodes a JSON request body strictly: unknown fields and trailing data are
// a 400, so that a client sending misspelt fields fails loudly.
func decodeBody(body []byte, v any) (reply, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data after the JSON document")
	}
	if err != nil {
		return problemReply(http.StatusBadRequest, "bad-body", "Bad Request", "request body: "+err.Error()), false
	}
	return reply{}, true
}

// effect counts one application of a logical effect.
func (s *Sim) effect(op, subject string) {
	s.effects[op+" "+subject]++
	s.markCount(tableEffect, s.effects, op+" "+subject)
}

// newID returns a deterministic UUID-shaped identifier (the Routing API wants UUIDs for
// destinations); the first group tells which simulator issued it.
func (s *Sim) newID() string {
	s.seq++
	s.mark(tableSeq, "", func() any { return s.seq })
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", s.idNS, s.seq)
}

func (s *Sim) getCounters(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Counters())
}

func (s *Sim) getFaults(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	faults := make([]Fault, 0, len(s.faults))
	for _, f := range s.faults {
		faults = append(faults, *f)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, faults)
}

func (s *Sim) postFault(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		problemResponse(problemReply(http.StatusBadRequest, "bad-body", "Bad Request", err.Error())).write(w, false)
		return
	}
	var f Fault
	if rep, ok := decodeBody(body, &f); !ok {
		problemResponse(rep).write(w, false)
		return
	}
	if f.Status < 100 || f.Status > 599 || f.Times < 0 {
		problemResponse(invalid("status: want 100..599, times: want >= 0")).write(w, false)
		return
	}
	s.AddFault(f)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) deleteFaults(w http.ResponseWriter, _ *http.Request) {
	s.ClearFaults()
	w.WriteHeader(http.StatusNoContent)
}

// rejectionBody is the JSON form of RejectTests.
type rejectionBody struct {
	ARS     string          `json:"ars"`
	Problem systems.Problem `json:"problem"`
}

func (s *Sim) postRejection(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		problemResponse(problemReply(http.StatusBadRequest, "bad-body", "Bad Request", err.Error())).write(w, false)
		return
	}
	var rb rejectionBody
	if rep, ok := decodeBody(body, &rb); !ok {
		problemResponse(rep).write(w, false)
		return
	}
	if msg := checkARS("ars", rb.ARS); msg != "" {
		problemResponse(invalid(msg)).write(w, false)
		return
	}
	s.RejectTests(rb.ARS, rb.Problem)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) deleteRejections(w http.ResponseWriter, _ *http.Request) {
	s.ClearRejections()
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		problemResponse(problemReply(http.StatusInternalServerError, "internal", "Internal Server Error", err.Error())).write(w, false)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
