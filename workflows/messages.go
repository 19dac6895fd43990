package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/textrule"
)

// Update names: the actions people and operators take on a run. They are the `action`
// values of the API as well.
const (
	ActionSignAgreement        = "sign-agreement"
	ActionCountersignAgreement = "countersign-agreement"
	ActionSubmitConnectionData = "submit-connection-data"
	ActionConfirmTest          = "confirm-test"
	// ActionConfirmConnection says that a connection task for people is done: the DVDV
	// entry of an XTA/OSCI route, the mailbox of an e-mail route.
	ActionConfirmConnection = "confirm-connection"
	ActionRetryStep         = "retry-step"
	ActionSkipStep          = "skip-step"
	ActionCancel            = "cancel"
)

// Actions lists every action in a stable order.
var Actions = []string{
	ActionSignAgreement, ActionCountersignAgreement, ActionSubmitConnectionData,
	ActionConfirmTest, ActionConfirmConnection, ActionRetryStep, ActionSkipStep, ActionCancel,
}

// QueryStatus returns the run's in-memory status; for debugging with the Temporal CLI.
// Rollin's own front ends read the PostgreSQL read model instead.
const QueryStatus = "status"

// WorkflowRollIn is the registered name of the roll-in workflow.
const WorkflowRollIn = "RollIn"

// AllowedRoles returns who may take an action. The starter enforces it before a request
// reaches Temporal, and the workflow's validators enforce it again, so both agree by
// construction.
func AllowedRoles(action string) []domain.Role {
	switch action {
	case ActionSignAgreement, ActionSubmitConnectionData, ActionConfirmTest:
		return []domain.Role{domain.RoleMunicipality}
	case ActionCountersignAgreement:
		return []domain.Role{domain.RolePM}
	case ActionRetryStep, ActionSkipStep, ActionConfirmConnection:
		return []domain.Role{domain.RoleOperator}
	case ActionCancel:
		return []domain.Role{domain.RolePM, domain.RoleOperator}
	}
	return nil
}

// UpdateID is the Temporal Update ID of an action: a digest of the action and its whole
// input (action ID, actor, role, step, reason, data). Temporal answers a repeated Update ID
// with the first Update's outcome without asking the workflow, so an identical repeat stays
// a no-op, while the same action ID for another action, by another actor or with other
// content reaches the validator, which refuses it, instead of being answered as the first.
func UpdateID(action string, in ActionInput) string {
	// JSON keeps the fields apart (no separator inside a value can shift them) and compacts
	// data, so the same data sent with other white space is the same action.
	b, err := json.Marshal(struct {
		Action string      `json:"a"`
		In     ActionInput `json:"i"`
	}{action, in})
	if err != nil { // data is not valid JSON: digest the bytes as they are
		b = fmt.Appendf(nil, "%q %q %q %q %q %q %q", action, in.ActionID, in.Actor, in.Role, in.Step, in.Reason, in.Data)
	}
	sum := sha256.Sum256(b)
	return "action-" + hex.EncodeToString(sum[:12])
}

// ActionInput is the argument of every action Update.
type ActionInput struct {
	// ActionID makes the action idempotent: a second Update with the same ID and the same
	// action and input is accepted and changes nothing; the same ID for another action, by
	// another actor or with other content is refused (ErrTypeNotAllowed). The starter
	// derives the Temporal Update ID from all of it (UpdateID), so that a different action
	// reaches the validator.
	ActionID string          `json:"action_id"`
	Actor    string          `json:"actor"`
	Role     domain.Role     `json:"role"`
	Step     string          `json:"step,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
}

// Error types of rejected Updates, so that the starter can tell the caller whether the
// request was malformed (HTTP 400), not allowed now (409) or not allowed for the role (403).
const (
	ErrTypeInvalidData = "InvalidData"
	ErrTypeNotAllowed  = "NotAllowed"
	ErrTypeForbidden   = "Forbidden"
)

// ConnectionData is the municipality's connection questionnaire, as structured data.
type ConnectionData struct {
	ContactEmail string `json:"contact_email"`
	// ContactAddress is the receiving authority's postal address, required for FIT-Connect:
	// the destination publishes it as its contact.
	ContactAddress string           `json:"contact_address,omitempty"`
	Fachverfahren  string           `json:"fachverfahren"`
	Transport      domain.Transport `json:"transport"`
	// OrgUnitID is the Organisationseinheit in the Land's editorial system (PVOG link).
	OrgUnitID string `json:"org_unit_id"`
	// DVDVKey is the DVDV organisation key, required for XTA/OSCI.
	DVDVKey string `json:"dvdv_key,omitempty"`
	// PaymentAccount is the IBAN fees are paid into, required where the service charges.
	PaymentAccount string `json:"payment_account,omitempty"`
}

var dvdvKey = regexp.MustCompile(`^[a-z]{3}:?[0-9]{12}$`)

// ParseConnectionData decodes and checks the questionnaire against the Steckbrief and what
// is known of the municipality; its error names the first field that is wrong.
func ParseConnectionData(raw json.RawMessage, rc RunContext) (ConnectionData, error) {
	svc := rc.Service
	var c ConnectionData
	if err := decodeStrict(raw, &c); err != nil {
		return c, err
	}
	if _, err := mail.ParseAddress(c.ContactEmail); err != nil || !strings.Contains(c.ContactEmail, "@") {
		return c, fmt.Errorf("data.contact_email %q: not an e-mail address", c.ContactEmail)
	}
	if strings.TrimSpace(c.OrgUnitID) == "" {
		return c, fmt.Errorf("data.org_unit_id: required (the Organisationseinheit in the Land's editorial system, for the portal link)")
	}
	if !svc.Compatible(c.Fachverfahren) {
		return c, fmt.Errorf("data.fachverfahren %q: not compatible with %s (compatible: %s)",
			c.Fachverfahren, svc.Name, strings.Join(svc.Fachverfahren, ", "))
	}
	if !svc.Supports(c.Transport) {
		return c, fmt.Errorf("data.transport %q: %s delivers only by %s", c.Transport, svc.Name, joinTransports(svc.Transports))
	}
	if usable := usableTransports(svc, rc.Municipality); !slices.Contains(usable, c.Transport) {
		return c, fmt.Errorf("data.transport %q: the municipality's profile receives by %s only", c.Transport, joinTransports(usable))
	}
	if c.Transport == domain.TransportFITConnect && strings.TrimSpace(c.ContactAddress) == "" {
		return c, fmt.Errorf("data.contact_address: required for fit-connect (the receiving authority's postal address, published in its destination)")
	}
	if c.Transport == domain.TransportXTA && !dvdvKey.MatchString(strings.ToLower(c.DVDVKey)) {
		return c, fmt.Errorf("data.dvdv_key %q: XTA/OSCI needs the DVDV organisation key (3 letters and 12 digits)", c.DVDVKey)
	}
	if svc.PaymentRequired {
		if err := checkIBAN(c.PaymentAccount); err != nil {
			return c, fmt.Errorf("data.payment_account: %w (the service charges fees, so a payment account is required)", err)
		}
	}
	return c, nil
}

// TestConfirmation is the municipality's answer to "did your Fachverfahren receive the
// test submission intact?".
type TestConfirmation struct {
	Received *bool  `json:"received"`
	Note     string `json:"note"`
}

// ParseTestConfirmation decodes and checks a confirm-test payload.
func ParseTestConfirmation(raw json.RawMessage) (TestConfirmation, error) {
	var c TestConfirmation
	if err := decodeStrict(raw, &c); err != nil {
		return c, err
	}
	if c.Received == nil {
		return c, fmt.Errorf("data.received: required (true or false)")
	}
	if !*c.Received && strings.TrimSpace(c.Note) == "" {
		return c, fmt.Errorf("data.note: required when the test submission was not received")
	}
	return c, nil
}

func decodeStrict(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return fmt.Errorf("data: required")
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return textrule.DecodeError("data", err)
	}
	return nil
}

// checkIBAN validates an IBAN's form and its ISO 7064 mod-97 check digits.
func checkIBAN(s string) error {
	s = strings.ToUpper(strings.ReplaceAll(s, " ", ""))
	if len(s) < 15 || len(s) > 34 {
		return fmt.Errorf("IBAN %q: wrong length", s)
	}
	rearranged := s[4:] + s[:4]
	rem := 0
	for _, r := range rearranged {
		switch {
		case r >= '0' && r <= '9':
			rem = (rem*10 + int(r-'0')) % 97
		case r >= 'A' && r <= 'Z':
			rem = (rem*100 + int(r-'A'+10)) % 97
		default:
			return fmt.Errorf("IBAN %q: invalid character %q", s, r)
		}
	}
	if rem != 1 {
		return fmt.Errorf("IBAN %q: check digits do not match", s)
	}
	return nil
}

// Options tune timings and retries of one run. They are part of the workflow input, so a
// run keeps the options it started with.
type Options struct {
	// ReminderAfter and EscalationAfter measure from the moment a step starts waiting on a
	// person: first the person is reminded, later the project manager is told.
	ReminderAfter   time.Duration `json:"reminder_after"`
	EscalationAfter time.Duration `json:"escalation_after"`
	// CallAttempts bounds the tries of an external call before it becomes an incident.
	CallAttempts int           `json:"call_attempts"`
	RetryInitial time.Duration `json:"retry_initial"`
	RetryMax     time.Duration `json:"retry_max"`
	// RoutingPoll and RoutingDeadline govern the wait for the portal directory to show the
	// municipality's route; FIT-Connect's routing can lag up to 72 hours.
	RoutingPoll     time.Duration `json:"routing_poll"`
	RoutingDeadline time.Duration `json:"routing_deadline"`
}

// DefaultOptions are the timings used when a run starts without its own.
func DefaultOptions() Options {
	return Options{
		ReminderAfter:   7 * 24 * time.Hour,
		EscalationAfter: 14 * 24 * time.Hour,
		CallAttempts:    5,
		RetryInitial:    time.Second,
		RetryMax:        time.Minute,
		RoutingPoll:     10 * time.Minute,
		RoutingDeadline: 72 * time.Hour,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.ReminderAfter <= 0 {
		o.ReminderAfter = d.ReminderAfter
	}
	if o.EscalationAfter <= o.ReminderAfter {
		o.EscalationAfter = o.ReminderAfter + d.EscalationAfter - d.ReminderAfter
	}
	if o.CallAttempts <= 0 {
		o.CallAttempts = d.CallAttempts
	}
	if o.RetryInitial <= 0 {
		o.RetryInitial = d.RetryInitial
	}
	if o.RetryMax < o.RetryInitial {
		o.RetryMax = max(d.RetryMax, o.RetryInitial)
	}
	if o.RoutingPoll <= 0 {
		o.RoutingPoll = d.RoutingPoll
	}
	if o.RoutingDeadline <= 0 {
		o.RoutingDeadline = d.RoutingDeadline
	}
	return o
}

// Input starts a roll-in: one municipality joining one service.
type Input struct {
	ARS       domain.ARS        `json:"ars"`
	Service   domain.ServiceKey `json:"service"`
	StartedBy string            `json:"started_by"`
	Role      domain.Role       `json:"role"`
	Options   Options           `json:"options"`
	// Organisation is the starting project manager's; the run belongs to it. Runs started
	// before organisations existed have none, which is the installation's own.
	Organisation domain.Organisation `json:"organisation,omitempty"`
}
