// Package api serves Rollin's HTTP JSON API. It authenticates the caller by bearer token,
// turns requests into starter calls and starter refusals into status codes; it holds no
// rules of its own about who may do what (the starter does).
package api

import (
	"bytes"
	"context"
	_ "embed" // openapi.json
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/auth"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/health"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/textrule"
)

// maxBody bounds request bodies; the largest legitimate one is a connection questionnaire.
const maxBody = 1 << 20

// Server is the HTTP handler of the API.
type Server struct {
	starter starter.API
	tokens  *auth.Tokens
	health  *health.Checker
	log     *zap.Logger
	mux     *http.ServeMux
	routes  []string
	// sessions, if set, lets operators end web sessions (see EndSessionsIn).
	sessions SessionEnder
}

// New builds the API over the starter. ready reports whether the process can serve
// (database and Temporal reachable); /readyz answers 503 while it returns an error.
// Serve it wrapped in Protect, which adds the security headers and the per-token rate limit.
func New(s starter.API, tokens *auth.Tokens, ready func(context.Context) error, log *zap.Logger) *Server {
	srv := &Server{starter: s, tokens: tokens, health: health.New(ready), log: log, mux: http.NewServeMux()}
	srv.health.Register(srv.mux)
	srv.route("POST /api/v1/rollins", srv.startRun)
	srv.route("GET /api/v1/rollins", srv.listRuns)
	srv.route("GET /api/v1/rollins/{ars}/{service}", srv.getRun)
	srv.route("POST /api/v1/rollins/{ars}/{service}/actions", srv.act)
	srv.route("GET /api/v1/rollins/{ars}/{service}/audit", srv.audit)
	srv.route("GET /api/v1/services", srv.listServices)
	srv.route("GET /api/v1/services/{key}", srv.getService)
	srv.route("GET /api/v1/municipalities", srv.listMunicipalities)
	srv.campaignRoutes()
	srv.route("DELETE /api/v1/sessions/{name}", srv.endSessions)
	// Not a srv.route: the description is documentation, served to anyone (see serveOpenAPI).
	srv.mux.HandleFunc("GET /api/v1/openapi.json", serveOpenAPI)
	srv.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
	})
	return srv
}

// openAPIDocument is the OpenAPI 3 description of /api/v1, written by hand. The tests hold
// it to the code: every route registered here is in it and it describes nothing else, and
// the integration tests validate every request and response they exchange against it.
//
//go:embed openapi.json
var openAPIDocument []byte

// serveOpenAPI answers the OpenAPI description without asking for a token: it is
// documentation, the same for every caller, and says nothing a refusal would not, so that
// client generators and API explorers can fetch it before anyone has a token.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.mux.ServeHTTP(w, r)
}

type handler func(w http.ResponseWriter, r *http.Request, p starter.Principal) error

// Routes lists the patterns of the authenticated routes ("METHOD /path/{param}"), so that
// the authorization test can require that it covers every one.
func (s *Server) Routes() []string { return slices.Clone(s.routes) }

// route registers an authenticated handler and maps its error to a response.
func (s *Server) route(pattern string, h handler) {
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.authenticate(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="rollin"`)
			writeError(w, http.StatusUnauthorized, "missing or unknown bearer token")
			return
		}
		if lim := limiterOf(r.Context()); lim != nil {
			if wait, ok := lim.allow(p.Name); !ok {
				lim.refuse(w, p.Name, wait)
				return
			}
		}
		if r.ContentLength > maxBody { // refused before reading; a body without a length is cut by MaxBytesReader
			s.fail(w, r, &http.MaxBytesError{Limit: maxBody})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := h(w, r, p); err != nil {
			s.fail(w, r, err)
		}
	})
}

// authenticate finds the principal of the request's bearer token (auth.Tokens compares
// digests in constant time and matches no blank token).
func (s *Server) authenticate(r *http.Request) (starter.Principal, bool) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return starter.Principal{}, false
	}
	return s.tokens.Lookup(raw)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than the limit of %d bytes", tooBig.Limit))
		return
	case errors.Is(err, errBadRequest):
		writeError(w, http.StatusBadRequest, strings.TrimSuffix(err.Error(), ": "+errBadRequest.Error()))
		return
	}
	status := map[starter.Kind]int{
		starter.KindInvalid:     http.StatusBadRequest,
		starter.KindForbidden:   http.StatusForbidden,
		starter.KindNotFound:    http.StatusNotFound,
		starter.KindConflict:    http.StatusConflict,
		starter.KindUnavailable: http.StatusServiceUnavailable,
	}[starter.KindOf(err)]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if status >= 500 {
		// The detail (a PostgreSQL or Temporal error) is for the log: it names tables,
		// constraints and hosts, and says nothing the caller can act on.
		s.log.Error("request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
		writeError(w, status, unavailableMessage(err))
		return
	}
	writeError(w, status, err.Error())
}

// unavailableMessage is what a caller reads when a backing system failed: what the
// starter was doing (its own words, never the backing system's) and that a retry may help.
// A refusal without a backing system's error (an action accepted and not yet recorded)
// already says all there is to say.
func unavailableMessage(err error) string {
	var refusal *starter.Error
	if errors.As(err, &refusal) && refusal.Kind == starter.KindUnavailable {
		if refusal.Err == nil {
			return refusal.Msg
		}
		return refusal.Msg + ": a backing system (database or Temporal) did not answer; try again shortly"
	}
	return "internal error; the server's log has the detail"
}

var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errBadRequest)...)
}

// Drain makes /readyz answer 503 while everything else keeps being served, so that load
// balancers stop sending requests before the server closes (see http.shutdown_delay).
func (s *Server) Drain() { s.health.Drain() }

type startRequest struct {
	ARS     string `json:"ars"`
	Service string `json:"service"`
}

func (s *Server) startRun(w http.ResponseWriter, r *http.Request, p starter.Principal) error {
	var req startRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	st, created, err := s.starter.Start(r.Context(), p, req.ARS, req.Service)
	if err != nil {
		return err
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	writeJSON(w, code, view(st))
	return nil
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request, p starter.Principal) error {
	st, err := s.starter.Status(r.Context(), p, r.PathValue("ars"), r.PathValue("service"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view(st))
	return nil
}

// queryParams parses the query strictly: a malformed pair (a bad escape, a semicolon) is
// refused instead of dropped, so a filter is never silently left out.
func queryParams(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("query: %s", err)
	}
	return q, nil
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request, p starter.Principal) error {
	q, err := queryParams(r)
	if err != nil {
		return err
	}
	limit, err := limitParam(q.Get("limit"))
	if err != nil {
		return err
	}
	items, next, err := s.starter.List(r.Context(), p, store.RunFilter{
		State: q.Get("state"), Stage: q.Get("stage"), Service: q.Get("service"),
		Land: q.Get("land"), Kreis: q.Get("kreis"), ARS: q.Get("ars"), Step: q.Get("step"), Limit: limit, Cursor: q.Get("cursor"),
	})
	if err != nil {
		return err
	}
	views := make([]domain.RunStatus, len(items))
	for i, it := range items {
		views[i] = view(it)
	}
	writeList(w, views, next)
	return nil
}

func (s *Server) act(w http.ResponseWriter, r *http.Request, p starter.Principal) error {
	var a starter.Action
	if err := decode(r, &a); err != nil {
		return err
	}
	st, err := s.starter.Act(r.Context(), p, r.PathValue("ars"), r.PathValue("service"), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view(st))
	return nil
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request, p starter.Principal) error {
	events, err := s.starter.Audit(r.Context(), p, r.PathValue("ars"), r.PathValue("service"))
	if err != nil {
		return err
	}
	writeList(w, nonNil(events), "")
	return nil
}

func (s *Server) listServices(w http.ResponseWriter, r *http.Request, p starter.Principal) error {
	svcs, err := s.starter.Services(r.Context(), p)
	if err != nil {
		return err
	}
	writeList(w, nonNil(svcs), "")
	return nil
}

func (s *Server) getService(w http.ResponseWriter, r *http.Request, p starter.Principal) error {
	svc, err := s.starter.Service(r.Context(), p, r.PathValue("key"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, svc)
	return nil
}

func (s *Server) listMunicipalities(w http.ResponseWriter, r *http.Request, p starter.Principal) error {
	q, err := queryParams(r)
	if err != nil {
		return err
	}
	limit, err := limitParam(q.Get("limit"))
	if err != nil {
		return err
	}
	items, next, err := s.starter.Municipalities(r.Context(), p, store.MunicipalityFilter{
		Land: q.Get("land"), Kreis: q.Get("kreis"), Query: q.Get("q"), Limit: limit, Cursor: q.Get("cursor"),
	})
	if err != nil {
		return err
	}
	writeList(w, nonNil(items), next)
	return nil
}

func limitParam(raw string) (int, error) {
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > 1000 {
		return 0, badRequest("limit: %q is not a number between 1 and 1000", raw)
	}
	return n, nil
}

// decode reads a JSON body strictly: unknown fields and trailing data are errors that name
// the problem, so a typo in a field name does not silently do nothing.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return badRequest("request body: empty, want a JSON object")
		}
		return badRequest("request body: %s", err)
	}
	// Anything after the value but white space, even a stray } or ] (which dec.More would
	// let pass), is refused.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return badRequest("request body: more than one JSON value")
	}
	// Only an object: null, a list or a string would decode into the zero request and be
	// taken for one with every field left out.
	if raw[0] != '{' {
		return badRequest("request body: want a JSON object, not %s", raw[:min(len(raw), 20)])
	}
	// encoding/json would turn invalid UTF-8 into U+FFFD without a word; refuse it by
	// the field it is in instead (the starter checks every other rule of the strings).
	if !utf8.Valid(raw) {
		return badRequest("%s: not valid UTF-8", invalidUTF8Field(raw))
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		return badRequest("%s", textrule.DecodeError("", err))
	}
	return nil
}

// invalidUTF8Field names the first field of the JSON object raw whose key or value is not
// valid UTF-8 ("reason", "data.note"), or "request body" when no string is (a raw byte
// outside any string makes the JSON invalid, which the decoder reports itself).
func invalidUTF8Field(raw []byte) string {
	found := "request body"
	_ = textrule.JSONStrings(raw, "", func(path, _ string, valid bool) error {
		if valid {
			return nil
		}
		if path != "" {
			found = path
		}
		return errStop
	})
	return found
}

var errStop = errors.New("stop")

// view makes a status ready for JSON: steps as an empty list rather than null.
func view(st domain.RunStatus) domain.RunStatus {
	if st.Steps == nil {
		st.Steps = []domain.StepStatus{}
	}
	return st
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func writeList[T any](w http.ResponseWriter, items []T, next string) {
	var cursor *string
	if next != "" {
		cursor = &next
	}
	writeJSON(w, http.StatusOK, struct {
		Items      []T     `json:"items"`
		NextCursor *string `json:"next_cursor"`
	}{items, cursor})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
