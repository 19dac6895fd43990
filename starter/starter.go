// Package starter is the one service layer through which the API, the web pages and the CLI
// start roll-ins, read them and act on them. It enforces the role matrix, so that no front
// end can disagree with another about who may do what.
package starter

import (
	"context"
	"encoding/json"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
)

// Principal is the signed-in user a request acts for.
type Principal struct {
	Name string
	Role domain.Role
	// ARS scopes a municipality principal to its own municipality; empty for other roles.
	ARS domain.ARS
	// Organisation scopes a project manager or operator to the runs, campaigns and
	// services of their organisation. Municipalities are scoped by ARS instead.
	Organisation domain.Organisation
	// AllOrganisations lifts the organisation scope. No token sets it: it is for
	// in-process callers that stand in for the people of every organisation (the
	// development autopilot).
	AllOrganisations bool
}

// sees reports whether p may see what belongs to org. A municipality sees what concerns
// its ARS whatever the organisation; the ARS check is the caller's.
func (p Principal) sees(org domain.Organisation) bool {
	return p.AllOrganisations || p.Role == domain.RoleMunicipality || p.Organisation == org
}

// seesService reports whether the Steckbrief is in p's catalogue: shared services are in
// every one, an organisation's own only in its members'.
func (p Principal) seesService(svc domain.Service) bool {
	return svc.Organisation == "" || p.sees(svc.Organisation)
}

// Action is a human decision or operator command on one run.
type Action struct {
	Name string `json:"action"`
	// ID makes the action idempotent: the same ID sent twice is applied once.
	ID     string          `json:"action_id"`
	Step   string          `json:"step"`
	Reason string          `json:"reason"`
	Data   json.RawMessage `json:"data"`
}

// API is what front ends need of the starter. *Service implements it.
type API interface {
	Start(ctx context.Context, p Principal, ars, service string) (status domain.RunStatus, created bool, err error)
	Status(ctx context.Context, p Principal, ars, service string) (domain.RunStatus, error)
	List(ctx context.Context, p Principal, f store.RunFilter) (items []domain.RunStatus, next string, err error)
	Act(ctx context.Context, p Principal, ars, service string, a Action) (domain.RunStatus, error)
	Audit(ctx context.Context, p Principal, ars, service string) ([]domain.AuditEvent, error)
	Services(ctx context.Context, p Principal) ([]domain.Service, error)
	Service(ctx context.Context, p Principal, key string) (domain.Service, error)
	Municipalities(ctx context.Context, p Principal, f store.MunicipalityFilter) (items []domain.Municipality, next string, err error)
	StartCampaign(ctx context.Context, p Principal, req CampaignRequest) (progress domain.CampaignProgress, created bool, err error)
	Campaign(ctx context.Context, p Principal, id string) (domain.CampaignProgress, error)
	ActOnCampaign(ctx context.Context, p Principal, id, action, reason string) (domain.CampaignProgress, error)
}
