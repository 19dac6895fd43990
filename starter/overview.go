package starter

import (
	"context"
	"slices"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/textrule"
	"github.com/rollin-efa/rollin/workflows"
)

// MunicipalityNames names the municipalities of a page of runs, for front ends that list
// runs (which carry only the ARS). The register is public, so every role may read it.
func (s *Service) MunicipalityNames(ctx context.Context, p Principal, ars []domain.ARS) (map[domain.ARS]string, error) {
	if err := checkRole(p); err != nil {
		return nil, err
	}
	names, err := s.store.MunicipalityNames(ctx, ars)
	if err != nil {
		return nil, s.lookupError(err, "name municipalities")
	}
	return names, nil
}

// Coverage tells project managers and operators how far the roll-in of service has come
// in each Land (land empty) or in each Kreis of land. They see their organisation's runs;
// a municipality has no use for it and is refused.
func (s *Service) Coverage(ctx context.Context, p Principal, service, land string) ([]domain.CoverageGroup, error) {
	if err := checkRole(p); err != nil {
		return nil, err
	}
	if !MaySeeCoverage(p) {
		return nil, refuse(KindForbidden, "role %q may not see the coverage of a service (project managers and operators do)", p.Role)
	}
	if err := checkFields(field{name: "land", value: land, max: textrule.MaxID}); err != nil {
		return nil, err
	}
	if land != "" && !domain.Digits(land, 2) {
		return nil, refuse(KindInvalid, "land: %q is not a 2-digit Land key", land)
	}
	svc, err := s.Service(ctx, p, service)
	if err != nil {
		return nil, err
	}
	var org *domain.Organisation
	if !p.AllOrganisations {
		org = &p.Organisation
	}
	groups, err := s.store.Coverage(ctx, svc.Key, land, org)
	if err != nil {
		return nil, s.lookupError(err, "coverage of service %s", service)
	}
	return groups, nil
}

// May reports whether p's role may take action. Front ends ask it to decide which forms to
// show; Act enforces the same rule.
func May(p Principal, action string) bool {
	return slices.Contains(workflows.AllowedRoles(action), p.Role)
}

// MayStart reports whether p may start roll-ins and campaigns: project managers do.
func MayStart(p Principal) bool { return p.Role == domain.RolePM }

// MayEndSessions reports whether p may end other people's web sessions (a token's, a
// person's): operators do, who handle incidents, a leaked token among them.
func MayEndSessions(p Principal) bool { return p.Role == domain.RoleOperator }

// MaySeeCoverage reports whether p may see how far a service has come across
// municipalities: project managers and operators, not a municipality.
func MaySeeCoverage(p Principal) bool {
	return p.Role == domain.RolePM || p.Role == domain.RoleOperator
}
