package workflows

import "github.com/rollin-efa/rollin/domain"

// Registered activity names. The workflow refers to activities by name only, so that it
// imports neither the store nor the system clients; package activities registers its
// methods under these names.
const (
	ActivityLoadContext        = "LoadContext"
	ActivityPersistRun         = "PersistRun" // run as a local activity: a fast, idempotent database write
	ActivityFileAgreement      = "FileAgreement"
	ActivityEnsureDestination  = "EnsureDestination"
	ActivityCreatePortalLink   = "CreatePortalLink"
	ActivityVerifyRouting      = "VerifyRouting"
	ActivityConfirmDVDV        = "ConfirmDVDV"
	ActivityConfigurePayment   = "ConfigurePayment"
	ActivityCreateTenant       = "CreateTenant"
	ActivityRunTestSubmission  = "RunTestSubmission"
	ActivitySwitchToProduction = "SwitchToProduction"
	ActivityActivatePortalLink = "ActivatePortalLink"
	ActivityAnnounce           = "Announce"
	ActivityNotify             = "Notify"
)

// ErrTypePermanent marks an activity error that retrying cannot fix (a 4xx from a system,
// a missing record). The workflow's retry policy does not retry it; the step becomes an
// incident at once.
const ErrTypePermanent = "Permanent"

// LoadInput asks for what the pre-check needs.
type LoadInput struct {
	ARS     domain.ARS        `json:"ars"`
	Service domain.ServiceKey `json:"service"`
}

// RunContext is the Steckbrief and municipality a run works with, loaded once at the
// pre-check and carried in the workflow's state.
type RunContext struct {
	Service      domain.Service      `json:"service"`
	Municipality domain.Municipality `json:"municipality"`
}

// Refs are the identifiers earlier steps created in external systems.
type Refs struct {
	DestinationID string `json:"destination_id,omitempty"`
	PortalLinkID  string `json:"portal_link_id,omitempty"`
	TenantID      string `json:"tenant_id,omitempty"`
}

// Signatures records who signed the agreements of a run.
type Signatures struct {
	Framework     string `json:"framework,omitempty"`
	CallOff       string `json:"call_off,omitempty"`
	DPA           string `json:"dpa,omitempty"`
	Countersigned string `json:"countersigned,omitempty"`
}

// Notice is a message to a person about a run: that it waits for them, a reminder, an
// escalation. Action and Step say what the person is to do, so that a receiving system
// (or the simulator's autopilot) can act on it.
type Notice struct {
	Recipient domain.Role `json:"recipient"`
	Kind      string      `json:"kind"`
	Action    string      `json:"action,omitempty"`
	Step      string      `json:"step,omitempty"`
	Subject   string      `json:"subject"`
	Body      string      `json:"body"`
}

// CallInput is the argument of every external-call activity. IdempotencyKey is
// deterministic per run, step, round and purpose, so a retried call is recognised by the
// external system and applied once.
type CallInput struct {
	RunID          string          `json:"run_id"`
	Step           string          `json:"step"`
	Round          int             `json:"round"`
	IdempotencyKey string          `json:"idempotency_key"`
	Context        RunContext      `json:"context"`
	Connection     *ConnectionData `json:"connection,omitempty"`
	Signatures     Signatures      `json:"signatures"`
	Refs           Refs            `json:"refs"`
	Notice         *Notice         `json:"notice,omitempty"`
	// Organisation is the run's organisation, so that notices reach its people.
	Organisation domain.Organisation `json:"organisation,omitempty"`
}

// CallResult is what an external-call activity reports back.
type CallResult struct {
	// Ref is the identifier the call created (destination, link, tenant), if any.
	Ref string `json:"ref,omitempty"`
	// Rejected and Problem report a test submission the receiving side rejected.
	Rejected bool   `json:"rejected,omitempty"`
	Problem  string `json:"problem,omitempty"`
	// Attempt is the activity attempt that succeeded, for the step's attempt count.
	Attempt int `json:"attempt"`
}
