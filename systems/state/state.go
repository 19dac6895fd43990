// Package state is the typed client of a Land's systems that a roll-in touches: the
// portal directory (PVOG links from the editorial system, minimum requirement NL1), the
// FIT-Connect Routing API that shows when a link has reached the directory, the DVDV for
// the XTA/OSCI route (NL2/NL3) and the ePayBL payment platform (NL5).
//
// Routes follows FITKO's Routing API (GET /routes, JSON names of the published OpenAPI
// document), so that it can be pointed at FIT-Connect's routing service itself.
package state

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/rollin-efa/rollin/systems"
)

// System is the name errors of this client carry in systems.Error.System.
const System = "state"

// Client calls the Land's APIs. It is safe for concurrent use.
type Client struct {
	c *systems.Client
}

// New returns a client for the Land's API gateway at baseURL. A nil hc means a client
// with systems.DefaultTimeout; hc.Timeout, if set, is the per-call timeout. A malformed
// baseURL is an error here, so configuration mistakes surface at start-up.
func New(baseURL string, hc *http.Client) (*Client, error) {
	c, err := systems.NewClient(System, baseURL, hc)
	if err != nil {
		return nil, err
	}
	return &Client{c: c}, nil
}

// PortalLinkRequest is the responsibility entry for one service in one municipality:
// which organisational unit handles it and, for FIT-Connect, which destination receives
// its submissions (the routing directory resolves the service and area to it).
type PortalLinkRequest struct {
	ARS           string `json:"ars"`
	ServiceKey    string `json:"serviceKey"`
	OrgUnitID     string `json:"orgUnitId"`
	DestinationID string `json:"destinationId,omitempty"`
	Transport     string `json:"transport"`
}

// PortalLink is the entry in the portal directory; it is a draft until activated.
type PortalLink struct {
	ID string `json:"id"`
}

// CreatePortalLink writes the responsibility data to the editorial system. The entry
// reaches the portal directory and the routing service later (up to 72 h in the field),
// which Routes observes.
func (c *Client) CreatePortalLink(ctx context.Context, idemKey string, r PortalLinkRequest) (PortalLink, error) {
	const op = "create portal link"
	var l PortalLink
	err := c.c.Do(ctx, systems.Request{
		Op:             op,
		Method:         http.MethodPost,
		Path:           "/pvog/v1/links",
		IdempotencyKey: idemKey,
		Body:           r,
	}, &l)
	if err != nil {
		return PortalLink{}, err
	}
	if l.ID == "" {
		return PortalLink{}, &systems.Error{System: System, Op: op, Status: http.StatusOK,
			Err: errors.New("response carries no link id")}
	}
	return l, nil
}

// ActivatePortalLink makes the link visible in the portals at go-live.
func (c *Client) ActivatePortalLink(ctx context.Context, idemKey, linkID string) error {
	const op = "activate portal link"
	if linkID == "" {
		return &systems.Error{System: System, Op: op, Err: errors.New("empty link id")}
	}
	return c.c.Do(ctx, systems.Request{
		Op:             op,
		Method:         http.MethodPost,
		Path:           "/pvog/v1/links/" + url.PathEscape(linkID) + "/activate",
		IdempotencyKey: idemKey,
	}, nil)
}

// MaxRouteLimit is the largest page the Routing API serves (parameter limit, maximum
// 500); AllRoutes asks for pages of this size unless told otherwise, to keep the number
// of calls against the rate limit low.
const MaxRouteLimit = 500

// maxRoutePages bounds AllRoutes, so that a routing service whose totalCount never stops
// growing cannot keep an activity paging forever (500 pages of 500 routes is far more
// than any service in one area has).
const maxRoutePages = 500

// RouteQuery is one question to the Routing API (operation "route", GET /routes): a
// service and exactly one key of the area, as the API demands, with optional paging.
type RouteQuery struct {
	// LeikaKey is the Leistungsschlüssel, 14 digits starting with 99.
	LeikaKey string
	// ARS, AGS and AreaID name the area; exactly one must be set. ARS is the Amtlicher
	// Regionalschlüssel (2, 3, 5, 9 or 12 digits), AGS the Amtlicher Gemeindeschlüssel
	// (2, 3, 5 or 8 digits), AreaID an area found through the API's GET /areas.
	ARS, AGS, AreaID string
	// Offset is the position of the first route to return (0 is the first).
	Offset int
	// Limit is the page size, 1 to MaxRouteLimit; 0 leaves it to the service (100).
	Limit int
}

// values checks what the OpenAPI document cannot express (exactly one area key) and the
// paging bounds, and encodes the query. The value patterns are left to the service,
// which answers 400 with a problem naming the parameter: one source of truth.
func (q RouteQuery) values() (url.Values, error) {
	v := url.Values{"leikaKey": {q.LeikaKey}}
	areas := 0
	for _, a := range []struct{ name, value string }{{"ars", q.ARS}, {"ags", q.AGS}, {"areaId", q.AreaID}} {
		if a.value != "" {
			v.Set(a.name, a.value)
			areas++
		}
	}
	switch {
	case areas != 1:
		return nil, fmt.Errorf("want exactly one of ars, ags, areaId, got %d", areas)
	case q.Offset < 0:
		return nil, fmt.Errorf("offset %d: want >= 0", q.Offset)
	case q.Limit < 0 || q.Limit > MaxRouteLimit:
		return nil, fmt.Errorf("limit %d: want 1 to %d (0 for the default)", q.Limit, MaxRouteLimit)
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v, nil
}

// RouteList is the Routing API's route-result: one page of routes and the total.
type RouteList struct {
	Count      int     `json:"count"`
	Offset     int     `json:"offset"`
	TotalCount int     `json:"totalCount"`
	Routes     []Route `json:"routes"`
}

// Has reports whether the list holds destinationID, the check behind NL1 for FIT-Connect.
func (l RouteList) Has(destinationID string) bool {
	return slices.ContainsFunc(l.Routes, func(r Route) bool { return r.DestinationID == destinationID })
}

// Route is one routing result: the destination a submission for the service and area
// goes to. Only the fields Rollin uses are decoded; destinationId and
// destinationSignature are the ones the API guarantees.
type Route struct {
	DestinationID        string `json:"destinationId"`
	DestinationSignature string `json:"destinationSignature"`
	DestinationName      string `json:"destinationName,omitempty"`
	// Origin is the source system of the entry (e.g. PVOG), useful when a route is wrong.
	Origin string `json:"origin,omitempty"`
}

// routeResult is the wire form of RouteList with pointers, so that a missing required
// property is told apart from a zero; the client rejects an answer without one instead
// of concluding "no route yet" from it.
type routeResult struct {
	Count      *int     `json:"count"`
	Offset     *int     `json:"offset"`
	TotalCount *int     `json:"totalCount"`
	Routes     *[]Route `json:"routes"`
}

func (r routeResult) check() (RouteList, error) {
	switch {
	case r.Count == nil:
		return RouteList{}, errors.New("route-result lacks count")
	case r.Offset == nil:
		return RouteList{}, errors.New("route-result lacks offset")
	case r.TotalCount == nil:
		return RouteList{}, errors.New("route-result lacks totalCount")
	case r.Routes == nil:
		return RouteList{}, errors.New("route-result lacks routes")
	}
	for i, rt := range *r.Routes {
		if rt.DestinationID == "" || rt.DestinationSignature == "" {
			return RouteList{}, fmt.Errorf("route %d lacks destinationId or destinationSignature", i)
		}
	}
	return RouteList{Count: *r.Count, Offset: *r.Offset, TotalCount: *r.TotalCount, Routes: *r.Routes}, nil
}

// RoutePage asks the routing service for one page of routes for q. An empty list is an
// answer, not an error. A 429 is retryable and carries the wait the RateLimit-Reset or
// Retry-After header gives in systems.Error.RetryAfter.
func (c *Client) RoutePage(ctx context.Context, q RouteQuery) (RouteList, error) {
	const op = "get routes"
	v, err := q.values()
	if err != nil {
		return RouteList{}, &systems.Error{System: System, Op: op, Err: fmt.Errorf("route query: %w", err)}
	}
	var res routeResult
	err = c.c.Do(ctx, systems.Request{Op: op, Method: http.MethodGet, Path: "/routes", Query: v}, &res)
	if err != nil {
		return RouteList{}, err
	}
	l, err := res.check()
	if err != nil {
		// The service answered, but not in the published shape; asking again will not help.
		return RouteList{}, &systems.Error{System: System, Op: op, Status: http.StatusOK, Err: err}
	}
	return l, nil
}

// AllRoutes follows the pages of q from q.Offset, q.Limit routes at a time (0 means
// MaxRouteLimit), and returns them as one list whose Count is the number of routes
// gathered and TotalCount the service's total at the last page. Asking for every page
// matters because a destination may sit on any of them.
func (c *Client) AllRoutes(ctx context.Context, q RouteQuery) (RouteList, error) {
	if q.Limit == 0 {
		q.Limit = MaxRouteLimit
	}
	all := RouteList{Offset: q.Offset, Routes: []Route{}}
	for range maxRoutePages {
		page, err := c.RoutePage(ctx, q)
		if err != nil && q.Offset != all.Offset {
			return RouteList{}, fmt.Errorf("page of routes at offset %d: %w", q.Offset, err)
		}
		if err != nil {
			return RouteList{}, err
		}
		all.Routes = append(all.Routes, page.Routes...)
		all.TotalCount = page.TotalCount
		q.Offset += len(page.Routes)
		if len(page.Routes) == 0 || q.Offset >= page.TotalCount {
			all.Count = len(all.Routes)
			return all, nil
		}
	}
	return RouteList{}, &systems.Error{System: System, Op: "get routes",
		Err: fmt.Errorf("more than %d pages of routes; the routing service keeps paging", maxRoutePages)}
}

// Routes asks the routing service where submissions for service leikaKey in area ars go,
// over all pages. An empty list is an answer, not an error: the entry has not arrived
// yet. A 429 is retryable and carries the wait in systems.Error.RetryAfter.
func (c *Client) Routes(ctx context.Context, leikaKey, ars string) (RouteList, error) {
	return c.AllRoutes(ctx, RouteQuery{LeikaKey: leikaKey, ARS: ars})
}

// DVDVRequest confirms the municipality's entry in the DVDV for the XTA/OSCI route;
// OrgKey is the DVDV organisation key (3-letter prefix and 12 digits).
type DVDVRequest struct {
	ARS        string `json:"ars"`
	ServiceKey string `json:"serviceKey"`
	OrgKey     string `json:"orgKey"`
}

// ConfirmDVDV records that receiver and DVDV entry are in place (NL2/NL3).
func (c *Client) ConfirmDVDV(ctx context.Context, idemKey string, r DVDVRequest) error {
	return c.c.Do(ctx, systems.Request{
		Op:             "confirm DVDV entry",
		Method:         http.MethodPost,
		Path:           "/dvdv/v1/entries",
		IdempotencyKey: idemKey,
		Body:           r,
	}, nil)
}

// PaymentRequest configures ePayBL for a service that charges fees in the municipality;
// Account is the municipality's payee account reference at the payment platform.
type PaymentRequest struct {
	ARS        string `json:"ars"`
	ServiceKey string `json:"serviceKey"`
	Account    string `json:"account"`
}

// ConfigurePayment sets up payment for the service in the municipality (NL5).
func (c *Client) ConfigurePayment(ctx context.Context, idemKey string, r PaymentRequest) error {
	return c.c.Do(ctx, systems.Request{
		Op:             "configure payment",
		Method:         http.MethodPost,
		Path:           "/epay/v1/configurations",
		IdempotencyKey: idemKey,
		Body:           r,
	}, nil)
}
