// Package provider is the typed client of an EfA service operator (the "provider"): it
// creates a municipality's tenant, sends the technical test submission and follows it to
// accepted or rejected, and switches the tenant to production at go-live.
package provider

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/rollin-efa/rollin/systems"
)

// System is the name errors of this client carry in systems.Error.System.
const System = "provider"

// The states of a test submission, following FIT-Connect's submission states (an
// incomplete submission never leaves the provider, so it is not reported).
const (
	StateSubmitted = "submitted"
	StateForwarded = "forwarded"
	StateAccepted  = "accepted"
	StateRejected  = "rejected"
)

// Client calls the provider's API. It is safe for concurrent use.
type Client struct {
	c *systems.Client
}

// New returns a client for the provider API at baseURL. A nil hc means a client with
// systems.DefaultTimeout; hc.Timeout, if set, is the per-call timeout. A malformed
// baseURL is an error here, so configuration mistakes surface at start-up.
func New(baseURL string, hc *http.Client) (*Client, error) {
	c, err := systems.NewClient(System, baseURL, hc)
	if err != nil {
		return nil, err
	}
	return &Client{c: c}, nil
}

// TenantRequest describes the municipality's tenant at the provider: who it is, which
// service, and how submissions reach its Fachverfahren.
type TenantRequest struct {
	ARS           string `json:"ars"`
	ServiceKey    string `json:"serviceKey"`
	Name          string `json:"name"`
	Fachverfahren string `json:"fachverfahren"`
	Transport     string `json:"transport"` // fit-connect, xta or email
}

// Tenant is the provider's record of a municipality's use of a service.
type Tenant struct {
	ID string `json:"id"`
}

// CreateTenant creates the municipality's tenant. A repeated call with the same idemKey
// returns the tenant created by the first one instead of a second tenant.
func (c *Client) CreateTenant(ctx context.Context, idemKey string, r TenantRequest) (Tenant, error) {
	var t Tenant
	err := c.c.Do(ctx, systems.Request{
		Op:             "create tenant",
		Method:         http.MethodPost,
		Path:           "/v1/tenants",
		IdempotencyKey: idemKey,
		Body:           r,
	}, &t)
	if err != nil {
		return Tenant{}, err
	}
	if t.ID == "" {
		return Tenant{}, &systems.Error{System: System, Op: "create tenant", Status: http.StatusOK,
			Err: errors.New("response carries no tenant id")}
	}
	return t, nil
}

// TestSubmissionRequest asks the provider to send a technical test submission to the
// municipality through its transport route; DestinationID is required for fit-connect.
type TestSubmissionRequest struct {
	TenantID      string `json:"tenantId"`
	ARS           string `json:"ars"`
	ServiceKey    string `json:"serviceKey"`
	Transport     string `json:"transport"`
	DestinationID string `json:"destinationId,omitempty"`
}

// Submission is a test submission and how far it got. Problem is set when the receiving
// side rejected it and says why, so the run can go back to Anbindung with the reason.
type Submission struct {
	ID      string           `json:"id"`
	State   string           `json:"state"`
	Problem *systems.Problem `json:"problem,omitempty"`
}

// Final reports whether the submission reached accepted or rejected and polling can stop.
func (s Submission) Final() bool { return s.State == StateAccepted || s.State == StateRejected }

// SendTestSubmission sends a test submission; it starts in state submitted. Follow it
// with TestSubmission until Final.
func (c *Client) SendTestSubmission(ctx context.Context, idemKey string, r TestSubmissionRequest) (Submission, error) {
	var s Submission
	err := c.c.Do(ctx, systems.Request{
		Op:             "send test submission",
		Method:         http.MethodPost,
		Path:           "/v1/test-submissions",
		IdempotencyKey: idemKey,
		Body:           r,
	}, &s)
	if err != nil {
		return Submission{}, err
	}
	if s.ID == "" {
		return Submission{}, &systems.Error{System: System, Op: "send test submission", Status: http.StatusOK,
			Err: errors.New("response carries no submission id")}
	}
	return s, nil
}

// TestSubmission reads the current state of a test submission.
func (c *Client) TestSubmission(ctx context.Context, id string) (Submission, error) {
	const op = "get test submission"
	if id == "" {
		return Submission{}, &systems.Error{System: System, Op: op, Err: errors.New("empty submission id")}
	}
	var s Submission
	err := c.c.Do(ctx, systems.Request{
		Op:     op,
		Method: http.MethodGet,
		Path:   "/v1/test-submissions/" + url.PathEscape(id),
	}, &s)
	if err != nil {
		return Submission{}, err
	}
	return s, nil
}

// SwitchToProduction puts the tenant live at go-live. A repeated call with the same
// idemKey is recognised by the provider and not applied again.
func (c *Client) SwitchToProduction(ctx context.Context, idemKey, tenantID string) error {
	const op = "switch to production"
	if tenantID == "" {
		return &systems.Error{System: System, Op: op, Err: errors.New("empty tenant id")}
	}
	return c.c.Do(ctx, systems.Request{
		Op:             op,
		Method:         http.MethodPost,
		Path:           "/v1/tenants/" + url.PathEscape(tenantID) + "/production",
		IdempotencyKey: idemKey,
	}, nil)
}
