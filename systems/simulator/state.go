package simulator

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/rollin-efa/rollin/domain"
)

// Wire and state types of the state simulator.

type linkIn struct {
	ARS           string `json:"ars"`
	ServiceKey    string `json:"serviceKey"`
	OrgUnitID     string `json:"orgUnitId"`
	DestinationID string `json:"destinationId"`
	Transport     string `json:"transport"`
}

type link struct {
	linkIn
	ID     string `json:"id"`
	Status string `json:"status"` // draft, active
}

// routeKey is what the Routing API resolves: a service in an area.
type routeKey struct{ leika, ars string }

// routeEntry is the routing directory's knowledge of a routeKey. lag counts the GETs
// that still answer empty, as the entry is on its way from the editorial system.
type routeEntry struct {
	lag    int
	routes []routeOut
}

// routeOut follows the Routing API's route schema (the fields the simulator knows).
type routeOut struct {
	DestinationID        string `json:"destinationId"`
	DestinationSignature string `json:"destinationSignature"`
	DestinationName      string `json:"destinationName"`
	Origin               string `json:"origin"`
}

type routeResult struct {
	Count      int        `json:"count"`
	Offset     int        `json:"offset"`
	TotalCount int        `json:"totalCount"`
	Routes     []routeOut `json:"routes"`
}

type dvdvIn struct {
	ARS        string `json:"ars"`
	ServiceKey string `json:"serviceKey"`
	OrgKey     string `json:"orgKey"`
}

type paymentIn struct {
	ARS        string `json:"ars"`
	ServiceKey string `json:"serviceKey"`
	Account    string `json:"account"`
}

type created struct {
	ID string `json:"id"`
}

// Query parameter patterns of the Routing API's OpenAPI document.
var (
	leikaParam  = regexp.MustCompile(`^99\d{12}$`)
	arsParam    = regexp.MustCompile(`^(\d{2}|\d{3}|\d{5}|\d{9}|\d{12})$`)
	agsParam    = regexp.MustCompile(`^(\d{2}|\d{3}|\d{5}|\d{8})$`)
	areaIDParam = regexp.MustCompile(`^\d+$`) // the document's ^\d{1,} is unanchored at the end; an ID is digits
)

// uuidPattern is the Routing API's format for destinationId: a route the simulator
// serves must validate against the published document, so a link carries a UUID.
var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (s *Sim) createLink(_ *http.Request, body []byte) reply {
	var in linkIn
	if rep, ok := decodeBody(body, &in); !ok {
		return rep
	}
	msg := firstInvalid(
		checkARS("ars", in.ARS),
		checkServiceKey("serviceKey", in.ServiceKey),
		required("orgUnitId", in.OrgUnitID),
		checkTransport("transport", in.Transport),
	)
	if msg == "" && in.Transport == "fit-connect" {
		msg = required("destinationId", in.DestinationID)
	}
	if msg == "" && in.DestinationID != "" && !uuidPattern.MatchString(in.DestinationID) {
		msg = "destinationId: want a UUID, got " + quote(in.DestinationID)
	}
	if msg != "" {
		return invalid(msg)
	}
	l := &link{linkIn: in, ID: s.newID(), Status: "draft"}
	s.links[l.ID] = l
	s.markLink(l)
	s.effect("create-portal-link", in.ARS+"/"+in.ServiceKey)
	if in.DestinationID != "" {
		s.addRoute(l)
	}
	return reply{status: http.StatusCreated, body: l}
}

// addRoute enters the link's destination in the routing directory. The lag starts with
// the first entry for the key; a further destination for a visible key shows at once.
func (s *Sim) addRoute(l *link) {
	k := routeKey{leika: l.ServiceKey, ars: l.ARS}
	e, ok := s.routing[k]
	if !ok {
		e = &routeEntry{lag: s.cfg.RoutingLag}
		s.routing[k] = e
	}
	s.markRoute(k, e)
	for _, r := range e.routes {
		if r.DestinationID == l.DestinationID {
			return
		}
	}
	e.routes = append(e.routes, routeOut{
		DestinationID:        l.DestinationID,
		DestinationSignature: fakeSignature(l),
		DestinationName:      "Zuständige Stelle " + l.OrgUnitID,
		Origin:               "PVOG",
	})
}

// fakeSignature shapes a compact JWS like the ones XZuFI carries, with an unverifiable
// signature: clients must not mistake the simulator for a trust anchor.
func fakeSignature(l *link) string {
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "PS512", "typ": "jwt", "kid": "rollin-simulator"})
	payload, _ := json.Marshal(map[string]any{
		"destinationId": l.DestinationID,
		"services": []map[string][]string{{
			"gebietIDs":   {domain.ARS(l.ARS).AreaURN()},
			"leistungIDs": {domain.ServiceKey(l.ServiceKey).URN()},
		}},
	})
	return enc.EncodeToString(header) + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString([]byte("simulated"))
}

func (s *Sim) activateLink(r *http.Request, _ []byte) reply {
	id := r.PathValue("id")
	l, ok := s.links[id]
	if !ok {
		return notFound("portal link", id)
	}
	l.Status = "active"
	s.markLink(l)
	s.effect("activate-portal-link", l.ARS+"/"+l.ServiceKey)
	return reply{status: http.StatusOK, body: l}
}

// getRoutes serves GET /routes as the Routing API does: leikaKey and exactly one of ars,
// ags, areaId, with offset and limit paging. The simulator has no area directory, so an
// areaId finds nothing.
func (s *Sim) getRoutes(r *http.Request, _ []byte) reply {
	q := r.URL.Query()
	leika, ars, ags, areaID := q.Get("leikaKey"), q.Get("ars"), q.Get("ags"), q.Get("areaId")
	bad := func(detail string) reply {
		return problemReply(http.StatusBadRequest, "invalid-parameter", "Bad Request", detail)
	}
	for _, name := range []string{"leikaKey", "ars", "ags", "areaId", "offset", "limit"} {
		if len(q[name]) > 1 {
			return bad(name + ": given more than once")
		}
	}
	if !leikaParam.MatchString(leika) {
		return bad("leikaKey: want 14 digits starting with 99, got " + quote(leika))
	}
	areas := 0
	for _, v := range []string{ars, ags, areaID} {
		if v != "" {
			areas++
		}
	}
	switch {
	case areas != 1:
		return bad("exactly one of ars, ags, areaId is required")
	case ars != "" && !arsParam.MatchString(ars):
		return bad("ars: want 2, 3, 5, 9 or 12 digits, got " + quote(ars))
	case ags != "" && !agsParam.MatchString(ags):
		return bad("ags: want 2, 3, 5 or 8 digits, got " + quote(ags))
	case areaID != "" && !areaIDParam.MatchString(areaID):
		return bad("areaId: want digits, got " + quote(areaID))
	}
	offset, limit := 0, 100
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return bad("offset: want an integer >= 0, got " + quote(v))
		}
		offset = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return bad("limit: want an integer from 1 to 500, got " + quote(v))
		}
		limit = n
	}

	var keys []routeKey
	for k := range s.routing {
		if k.leika == leika && (k.ars == ars || (ags != "" && domain.ARS(k.ars).AGS() == ags)) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b routeKey) int { return strings.Compare(a.ars, b.ars) })
	var all []routeOut
	for _, k := range keys {
		e := s.routing[k]
		if e.lag > 0 {
			e.lag--
			s.markRoute(k, e)
			continue
		}
		all = append(all, e.routes...)
	}
	page := []routeOut{}
	if offset < len(all) {
		page = all[offset:min(offset+limit, len(all))]
	}
	return reply{status: http.StatusOK, body: routeResult{
		Count:      len(page),
		Offset:     offset,
		TotalCount: len(all),
		Routes:     page,
	}}
}

func (s *Sim) confirmDVDV(_ *http.Request, body []byte) reply {
	var in dvdvIn
	if rep, ok := decodeBody(body, &in); !ok {
		return rep
	}
	if msg := firstInvalid(
		checkARS("ars", in.ARS),
		checkServiceKey("serviceKey", in.ServiceKey),
		checkOrgKey("orgKey", in.OrgKey),
	); msg != "" {
		return invalid(msg)
	}
	s.effect("confirm-dvdv", in.ARS+"/"+in.ServiceKey)
	return reply{status: http.StatusCreated, body: created{ID: s.newID()}}
}

func (s *Sim) configurePayment(_ *http.Request, body []byte) reply {
	var in paymentIn
	if rep, ok := decodeBody(body, &in); !ok {
		return rep
	}
	if msg := firstInvalid(
		checkARS("ars", in.ARS),
		checkServiceKey("serviceKey", in.ServiceKey),
		required("account", in.Account),
	); msg != "" {
		return invalid(msg)
	}
	s.effect("configure-payment", in.ARS+"/"+in.ServiceKey)
	return reply{status: http.StatusCreated, body: created{ID: s.newID()}}
}

// routingFault gives an injected 429 on the Routing API the media type FITKO's document
// prescribes for it (application/json, an object) instead of problem+json; the body
// stays the problem object, which is an object, and the fault's headers carry the
// RateLimit fields.
func routingFault(r *http.Request, f *Fault, resp response) response {
	if f.Status == http.StatusTooManyRequests && r.URL.Path == "/routes" {
		resp.contentType = "application/json"
	}
	return resp
}
