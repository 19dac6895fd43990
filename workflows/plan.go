package workflows

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rollin-efa/rollin/domain"
)

// StepKind says how a step completes: by an external call, by a person, or by the clock.
type StepKind int

// The kinds of step.
const (
	KindCall  StepKind = iota + 1 // an activity that calls an external system
	KindHuman                     // waits durably for an Update from a person
	KindTimer                     // waits durably for a date
)

// StepDef is one entry of the step catalogue: what the step is and how it completes.
type StepDef struct {
	Name  string
	Stage domain.Stage
	Kind  StepKind
	// Activity is the registered activity name of a KindCall step.
	Activity string
	// Action and Role name the Update that completes a KindHuman step and who may send it.
	Action string
	Role   domain.Role
	// Transport, when set, limits the step to runs whose connection uses that route; for
	// other routes it is skipped once the municipality has chosen its route.
	Transport domain.Transport
	// Durable marks a call that waits long — polling the Routing API for up to days, a
	// test submission for minutes with heartbeats — and so stays a regular activity that
	// the server tracks; every other call is short and runs as a local activity (see
	// ChangeLocalCalls).
	Durable bool
}

// Step names, as the API and the audit log show them.
const (
	StepPrecheck           = "precheck"
	StepFrameworkAgreement = "framework-agreement"
	StepCallOff            = "call-off"
	StepDPA                = "dpa"
	StepCountersign        = "countersign"
	StepFileAgreement      = "file-agreement"
	StepConnectionData     = "connection-data"
	StepDestination        = "destination"
	StepPortalLink         = "portal-link"
	StepRouting            = "routing"
	StepDVDV               = "dvdv"
	StepEmailRoute         = "email-route"
	StepPayment            = "payment"
	StepTenant             = "tenant"
	StepTestSubmission     = "test-submission"
	StepTestConfirmation   = "test-confirmation"
	StepActivationDate     = "activation-date"
	StepProductionSwitch   = "production-switch"
	StepPortalLive         = "portal-live"
	StepAnnouncement       = "announcement"
)

// catalogue lists every step in process order. Plan picks from it; the order here is the
// order a run executes.
var catalogue = []StepDef{
	{Name: StepPrecheck, Stage: domain.StagePruefung, Kind: KindCall, Activity: ActivityLoadContext},
	{Name: StepFrameworkAgreement, Stage: domain.StageVereinbarung, Kind: KindHuman, Action: ActionSignAgreement, Role: domain.RoleMunicipality},
	{Name: StepCallOff, Stage: domain.StageVereinbarung, Kind: KindHuman, Action: ActionSignAgreement, Role: domain.RoleMunicipality},
	{Name: StepDPA, Stage: domain.StageVereinbarung, Kind: KindHuman, Action: ActionSignAgreement, Role: domain.RoleMunicipality},
	{Name: StepCountersign, Stage: domain.StageVereinbarung, Kind: KindHuman, Action: ActionCountersignAgreement, Role: domain.RolePM},
	{Name: StepFileAgreement, Stage: domain.StageVereinbarung, Kind: KindCall, Activity: ActivityFileAgreement},
	{Name: StepConnectionData, Stage: domain.StageAnbindung, Kind: KindHuman, Action: ActionSubmitConnectionData, Role: domain.RoleMunicipality},
	{Name: StepDestination, Stage: domain.StageAnbindung, Kind: KindCall, Activity: ActivityEnsureDestination, Transport: domain.TransportFITConnect},
	{Name: StepPortalLink, Stage: domain.StageAnbindung, Kind: KindCall, Activity: ActivityCreatePortalLink},
	{Name: StepRouting, Stage: domain.StageAnbindung, Kind: KindCall, Activity: ActivityVerifyRouting, Transport: domain.TransportFITConnect, Durable: true},
	// XTA/OSCI and e-mail routes have no API Rollin could call: the connection is a task
	// for people, shown with the data they must enter (see ChangeConnectionTasks).
	{Name: StepDVDV, Stage: domain.StageAnbindung, Kind: KindHuman, Action: ActionConfirmConnection, Role: domain.RoleOperator, Transport: domain.TransportXTA},
	{Name: StepEmailRoute, Stage: domain.StageAnbindung, Kind: KindHuman, Action: ActionConfirmConnection, Role: domain.RoleOperator, Transport: domain.TransportEmail},
	{Name: StepPayment, Stage: domain.StageAnbindung, Kind: KindCall, Activity: ActivityConfigurePayment},
	{Name: StepTenant, Stage: domain.StageAnbindung, Kind: KindCall, Activity: ActivityCreateTenant},
	{Name: StepTestSubmission, Stage: domain.StageTest, Kind: KindCall, Activity: ActivityRunTestSubmission, Durable: true},
	{Name: StepTestConfirmation, Stage: domain.StageTest, Kind: KindHuman, Action: ActionConfirmTest, Role: domain.RoleMunicipality},
	{Name: StepActivationDate, Stage: domain.StageGoLive, Kind: KindTimer},
	{Name: StepProductionSwitch, Stage: domain.StageGoLive, Kind: KindCall, Activity: ActivitySwitchToProduction},
	{Name: StepPortalLive, Stage: domain.StageGoLive, Kind: KindCall, Activity: ActivityActivatePortalLink},
	{Name: StepAnnouncement, Stage: domain.StageGoLive, Kind: KindCall, Activity: ActivityAnnounce},
}

// Plan derives the steps of one roll-in from the Steckbrief and what is known of the
// municipality. It is pure, so the workflow can call it and replay it. A non-empty reason
// means the municipality cannot join the service; the run then ends blocked.
func Plan(svc domain.Service, m domain.Municipality) (steps []StepDef, blockedReason string) {
	if !svc.OfferedIn(m.Land) {
		return nil, fmt.Sprintf("service %s (%s) is not offered in Land %s: no cost-sharing agreement covers it (offered in %s)",
			svc.Key, svc.Name, m.Land, strings.Join(svc.Lands, ", "))
	}
	if len(m.Fachverfahren) > 0 && !slices.ContainsFunc(m.Fachverfahren, svc.Compatible) {
		return nil, fmt.Sprintf("none of the municipality's Fachverfahren (%s) is compatible with %s (compatible: %s)",
			strings.Join(m.Fachverfahren, ", "), svc.Name, strings.Join(svc.Fachverfahren, ", "))
	}
	transports := usableTransports(svc, m)
	if len(transports) == 0 {
		return nil, fmt.Sprintf("the municipality receives by %s, but %s delivers only by %s",
			joinTransports(m.Transports), svc.Name, joinTransports(svc.Transports))
	}
	for _, def := range catalogue {
		switch {
		case def.Name == StepFrameworkAgreement && m.FrameworkAgreement:
			continue // on file from an earlier roll-in
		case def.Name == StepDPA && !svc.DPARequired:
			continue
		case def.Name == StepPayment && !svc.PaymentRequired:
			continue
		case def.Transport != "" && !slices.Contains(transports, def.Transport):
			continue
		}
		steps = append(steps, def)
	}
	return steps, ""
}

// usableTransports is the service's routes, narrowed to the municipality's where known.
func usableTransports(svc domain.Service, m domain.Municipality) []domain.Transport {
	if len(m.Transports) == 0 {
		return svc.Transports
	}
	var out []domain.Transport
	for _, t := range svc.Transports {
		if slices.Contains(m.Transports, t) {
			out = append(out, t)
		}
	}
	return out
}

func joinTransports(ts []domain.Transport) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// legacyDVDV is the dvdv step of runs started before ChangeConnectionTasks: a call to the
// Land's system.
var legacyDVDV = StepDef{Name: StepDVDV, Stage: domain.StageAnbindung, Kind: KindCall, Activity: ActivityConfirmDVDV, Transport: domain.TransportXTA}

// withoutConnectionTasks turns a plan into the plan of a run started before
// ChangeConnectionTasks: the dvdv step calls the Land's system and an e-mail route has no
// step of its own.
func withoutConnectionTasks(plan []StepDef) []StepDef {
	var out []StepDef
	for _, def := range plan {
		switch def.Name {
		case StepDVDV:
			out = append(out, legacyDVDV)
		case StepEmailRoute:
		default:
			out = append(out, def)
		}
	}
	return out
}

// StepByName returns the catalogue entry of a step, for front ends that explain steps.
func StepByName(name string) (StepDef, bool) {
	i := slices.IndexFunc(catalogue, func(d StepDef) bool { return d.Name == name })
	if i < 0 {
		return StepDef{}, false
	}
	return catalogue[i], true
}
