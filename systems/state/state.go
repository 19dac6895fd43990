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
	"net/http"
	"net/url"
	"slices"

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

// RouteList is the Routing API's route-result: one page of routes and the total.
type RouteList struct {
	Count      int     `json:"count"`
	Offset     int     `json:"offset"`
	TotalCount int     `json:"totalCount"`
	Routes     []Route `json:"routes"`
}

// Has reports whether the page lists destinationID, the check behind NL1 for FIT-Connect.
func (l RouteList) Has(destinationID string) bool {
	return slices.ContainsFunc(l.Routes, func(r Route) bool { return r.DestinationID == destinationID })
}

// Route is one routing result: the destination a submission for the service and area
// goes to. Only the fields Rollin uses are decoded.
type Route struct {
	DestinationID        string `json:"destinationId"`
	DestinationSignature string `json:"destinationSignature"`
	DestinationName      string `json:"destinationName"`
}

// Routes asks the routing service where submissions for service leikaKey in area ars go.
// An empty list is an answer, not an error: the entry has not arrived yet. A 429 is
// retryable and carries the wait from RateLimit-Reset in systems.Error.RetryAfter.
func (c *Client) Routes(ctx context.Context, leikaKey, ars string) (RouteList, error) {
	var l RouteList
	err := c.c.Do(ctx, systems.Request{
		Op:     "get routes",
		Method: http.MethodGet,
		Path:   "/routes",
		Query:  url.Values{"leikaKey": {leikaKey}, "ars": {ars}},
	}, &l)
	if err != nil {
		return RouteList{}, err
	}
	return l, nil
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
