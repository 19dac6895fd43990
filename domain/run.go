package domain

import "time"

// Role is what a signed-in user may do. Rollin knows three.
type Role string

// The roles of Rollin's users, plus the system itself as the actor of automatic transitions.
const (
	RolePM           Role = "pm"           // project manager at a Kommunalvertreter
	RoleOperator     Role = "operator"     // operator who handles incidents
	RoleMunicipality Role = "municipality" // staff of one municipality, scoped to its ARS
	RoleSystem       Role = "system"       // Rollin itself (audit entries of automatic steps)
)

// Valid reports whether r is a role a user can have.
func (r Role) Valid() bool { return r == RolePM || r == RoleOperator || r == RoleMunicipality }

// RunState is the state of a whole roll-in as the read model and the API show it.
type RunState string

// The states of a roll-in. Blocked, live and cancelled are final.
const (
	RunRunning   RunState = "running"
	RunWaiting   RunState = "waiting"  // on a person (see WaitingFor)
	RunIncident  RunState = "incident" // a step failed; an operator must retry, skip or cancel
	RunBlocked   RunState = "blocked"  // the pre-check found the municipality cannot join
	RunLive      RunState = "live"
	RunCancelled RunState = "cancelled"
)

// Final reports whether no further transition can follow.
func (s RunState) Final() bool { return s == RunBlocked || s == RunLive || s == RunCancelled }

// StepState is the state of one step of a roll-in.
type StepState string

// The states of a step; failed means an incident is open on it.
const (
	StepPending StepState = "pending"
	StepRunning StepState = "running"
	StepWaiting StepState = "waiting"
	StepFailed  StepState = "failed"
	StepDone    StepState = "done"
	StepSkipped StepState = "skipped"
)

// Stage is one of the five stages of the roll-in process.
type Stage string

// The stages in the order a roll-in passes them.
const (
	StagePruefung     Stage = "pruefung"
	StageVereinbarung Stage = "vereinbarung"
	StageAnbindung    Stage = "anbindung"
	StageTest         Stage = "test"
	StageGoLive       Stage = "golive"
)

// WaitingFor names the action a roll-in waits on and who may take it.
type WaitingFor struct {
	Action string `json:"action"`
	Role   Role   `json:"role"`
	Step   string `json:"step"`
	// Note carries context for the person, e.g. why a failed test sent the run back.
	Note string `json:"note,omitempty"`
}

// StepStatus is one step as the read model keeps it.
type StepStatus struct {
	Name      string    `json:"name"`
	Stage     Stage     `json:"stage"`
	State     StepState `json:"state"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	UpdatedAt time.Time `json:"updated_at"`
}

// RunStatus is a roll-in as the read model keeps it and the API returns it.
type RunStatus struct {
	ID      string     `json:"id"`
	ARS     ARS        `json:"ars"`
	Service ServiceKey `json:"service"`
	// Organisation is the organisation whose project manager started the run.
	Organisation Organisation `json:"organisation,omitempty"`
	State        RunState     `json:"state"`
	Stage        Stage        `json:"stage"`
	WaitingFor   *WaitingFor  `json:"waiting_for"`
	Reason       string       `json:"reason,omitempty"` // why blocked or cancelled
	Steps        []StepStatus `json:"steps"`
	CreatedAt    time.Time    `json:"created_at"`
	UpdatedAt    time.Time    `json:"updated_at"`
	// Seq increases with every transition; the read model ignores a snapshot whose Seq is
	// not newer than the one it holds, so replayed or reordered writes change nothing.
	Seq int64 `json:"seq"`
}

// AuditEvent is one entry of the append-only audit log of a roll-in.
type AuditEvent struct {
	RunID string `json:"run_id"`
	// Seq numbers the events of one run; (RunID, Seq) is unique, so writing an event twice
	// stores it once.
	Seq    int64     `json:"seq"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Role   Role      `json:"role"`
	Action string    `json:"action"`
	Step   string    `json:"step,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Detail string    `json:"detail,omitempty"`
	// Worker is the identity of the worker process that recorded the event (set when it
	// is written, not by the workflow, whose code must not depend on where it runs).
	Worker string `json:"worker,omitempty"`
}

// RunSnapshot is what a roll-in writes to the read model at each transition: its full
// status and the audit events since the previous snapshot.
type RunSnapshot struct {
	Status RunStatus    `json:"status"`
	Events []AuditEvent `json:"events"`
}
