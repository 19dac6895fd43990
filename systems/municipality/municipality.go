// Package municipality is the typed client of a municipality's (Kommune's) side of a
// roll-in: the agreements it signs with its Kommunalvertreter and the notifications sent
// to its staff or to the project manager. Its receiving address (a FIT-Connect
// destination) is managed through package fitconnect.
package municipality

import (
	"context"
	"net/http"

	"github.com/rollin-efa/rollin/systems"
)

// System is the name errors of this client carry in systems.Error.System.
const System = "municipality"

// The kinds of agreement a municipality files: the framework agreement with its
// Kommunalvertreter (once), the call-off per service, and the data-processing agreement
// for the few services whose Steckbrief still asks for one.
const (
	AgreementFramework = "framework"
	AgreementCallOff   = "call-off"
	AgreementDPA       = "dpa"
)

// The recipients and kinds of notifications.
const (
	RecipientMunicipality = "municipality"
	RecipientPM           = "pm"

	NoticeWaiting      = "waiting"
	NoticeReminder     = "reminder"
	NoticeEscalation   = "escalation"
	NoticeAnnouncement = "announcement"
)

// The actions a waiting notice may ask of its recipient, by the names Rollin's API gives
// them: the municipality's system shows the person the matching task. An operator's
// actions never reach it — operators are the Kommunalvertreter's own team, told by
// e-mail and webhook.
const (
	ActionSignAgreement        = "sign-agreement"
	ActionCountersignAgreement = "countersign-agreement"
	ActionSubmitConnectionData = "submit-connection-data"
	ActionConfirmTest          = "confirm-test"
)

// TakenBy returns the recipient who takes action, the one a waiting notice naming it must
// go to; "" for an action no notice may name.
func TakenBy(action string) string {
	switch action {
	case ActionSignAgreement, ActionSubmitConnectionData, ActionConfirmTest:
		return RecipientMunicipality
	case ActionCountersignAgreement:
		return RecipientPM
	}
	return ""
}

// Client calls the municipality-side API. It is safe for concurrent use.
type Client struct {
	c *systems.Client
}

// New returns a client for the municipality-side API at baseURL. A nil hc means a client
// with systems.DefaultTimeout; hc.Timeout, if set, is the per-call timeout. A malformed
// baseURL is an error here, so configuration mistakes surface at start-up.
func New(baseURL string, hc *http.Client) (*Client, error) {
	c, err := systems.NewClient(System, baseURL, hc)
	if err != nil {
		return nil, err
	}
	return &Client{c: c}, nil
}

// AgreementRequest files a signed agreement. ServiceKey is ignored for the framework
// agreement, which covers all of the municipality's roll-ins.
type AgreementRequest struct {
	ARS             string `json:"ars"`
	ServiceKey      string `json:"serviceKey,omitempty"`
	Kind            string `json:"kind"` // framework, call-off or dpa
	SignedBy        string `json:"signedBy"`
	CountersignedBy string `json:"countersignedBy"`
}

// FileAgreement records the signed agreement with the municipality.
func (c *Client) FileAgreement(ctx context.Context, idemKey string, r AgreementRequest) error {
	return c.c.Do(ctx, systems.Request{
		Op:             "file agreement",
		Method:         http.MethodPost,
		Path:           "/v1/agreements",
		IdempotencyKey: idemKey,
		Body:           r,
	}, nil)
}

// Notification is a message about a roll-in to the municipality's staff or to the
// project manager.
type Notification struct {
	ARS        string `json:"ars"`
	ServiceKey string `json:"serviceKey"`
	Recipient  string `json:"recipient"` // municipality or pm
	Kind       string `json:"kind"`      // waiting, reminder, escalation or announcement
	Subject    string `json:"subject"`
	Body       string `json:"body"`
	// Action and Step name what the run waits for, e.g. sign-agreement at
	// framework-agreement. A waiting notice must carry both, and its Recipient must be
	// the one who takes the action (see TakenBy).
	Action string `json:"action,omitempty"`
	Step   string `json:"step,omitempty"`
}

// Notify sends the notification. A repeated call with the same idemKey sends nothing new,
// so a retried activity does not mail the mayor twice.
func (c *Client) Notify(ctx context.Context, idemKey string, r Notification) error {
	return c.c.Do(ctx, systems.Request{
		Op:             "notify",
		Method:         http.MethodPost,
		Path:           "/v1/notifications",
		IdempotencyKey: idemKey,
		Body:           r,
	}, nil)
}
