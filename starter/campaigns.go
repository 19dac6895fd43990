package starter

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/textrule"
	"github.com/rollin-efa/rollin/workflows"
)

// CampaignRequest selects the municipalities of a campaign: exactly one of Land, Kreis or
// ARS (a list, e.g. from a CSV file).
type CampaignRequest struct {
	Service string   `json:"service"`
	Land    string   `json:"land,omitempty"`
	Kreis   string   `json:"kreis,omitempty"`
	ARS     []string `json:"ars,omitempty"`
	// Rate bounds the roll-ins started per second (0: no bound beyond Window).
	Rate float64 `json:"rate,omitempty"`
	// Window is how many starts may be in flight at once (default 50, at most 500).
	Window int `json:"window,omitempty"`
}

// campaignWorkflowID is the Temporal workflow ID of a campaign.
func campaignWorkflowID(id string) string { return "campaign/" + id }

// StartCampaign starts a campaign. Its ID follows from the service and the selection, so
// the same request twice finds the first campaign (created false) instead of a second one.
func (s *Service) StartCampaign(ctx context.Context, p Principal, req CampaignRequest) (domain.CampaignProgress, bool, error) {
	if !MayStart(p) {
		return domain.CampaignProgress{}, false, refuse(KindForbidden, "role %q may not start campaigns (project managers do)", p.Role)
	}
	if err := checkCampaignRequest(req); err != nil {
		return domain.CampaignProgress{}, false, err
	}
	key, err := domain.ParseServiceKey(req.Service)
	if err != nil {
		return domain.CampaignProgress{}, false, refuse(KindInvalid, "service: %s", err)
	}
	if err := s.requireService(ctx, p, key); err != nil {
		return domain.CampaignProgress{}, false, err
	}
	switch {
	case req.Rate < 0:
		return domain.CampaignProgress{}, false, refuse(KindInvalid, "rate: %v must not be negative", req.Rate)
	case req.Window < 0 || req.Window > workflows.MaxCampaignWindow:
		return domain.CampaignProgress{}, false, refuse(KindInvalid, "window: %d is not between 1 and %d", req.Window, workflows.MaxCampaignWindow)
	}
	members, selector, idPart, err := s.campaignMembers(ctx, req)
	if err != nil {
		return domain.CampaignProgress{}, false, err
	}
	id := string(key) + "-" + idPart
	if p.Organisation != "" { // campaigns of different organisations never share an ID
		id = string(p.Organisation) + "-" + id
	}
	if existing, err := s.store.Campaign(ctx, id); err == nil {
		return existing, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return domain.CampaignProgress{}, false, &Error{Kind: KindUnavailable, Msg: "read campaign " + id, Err: err}
	}
	_, err = s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       campaignWorkflowID(id),
		TaskQueue:                                s.taskQueue,
		WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.WorkflowCampaign, workflows.CampaignInput{
		ID: id, Service: key, Selector: selector, ARS: members, Rate: req.Rate, Window: req.Window,
		StartedBy: p.Name, Role: p.Role, Options: s.options, Organisation: p.Organisation,
	})
	created := true
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &already):
		created = false
	case err != nil:
		return domain.CampaignProgress{}, false, &Error{Kind: KindUnavailable, Msg: "start campaign " + id, Err: err}
	}
	progress, err := s.awaitCampaign(ctx, id)
	if err != nil {
		return domain.CampaignProgress{}, false, err
	}
	if progress.ID == "" {
		progress = domain.CampaignProgress{Campaign: domain.Campaign{ID: id, Service: key, Organisation: p.Organisation, Selector: selector,
			State: domain.CampaignStarting, Total: len(members)}}
	}
	return progress, created, nil
}

// campaignMembers resolves the selection to ARS, in register order.
func (s *Service) campaignMembers(ctx context.Context, req CampaignRequest) (members []domain.ARS, selector, idPart string, err error) {
	chosen := 0
	for _, set := range []bool{req.Land != "", req.Kreis != "", len(req.ARS) > 0} {
		if set {
			chosen++
		}
	}
	if chosen != 1 {
		return nil, "", "", refuse(KindInvalid, "select the municipalities with exactly one of land, kreis or ars")
	}
	if len(req.ARS) > 0 {
		seen := map[domain.ARS]bool{}
		for i, raw := range req.ARS {
			a, err := domain.ParseARS(raw)
			if err != nil {
				return nil, "", "", refuse(KindInvalid, "ars[%d]: %s", i, err)
			}
			if _, err := s.store.Municipality(ctx, a); err != nil {
				return nil, "", "", s.lookupError(err, "ars[%d]: municipality %s is not in the register", i, a)
			}
			if !seen[a] {
				seen[a] = true
				members = append(members, a)
			}
		}
		slices.Sort(members)
		sum := sha256.Sum256([]byte(fmt.Sprint(members)))
		return members, fmt.Sprintf("list of %d", len(members)), "list-" + hex.EncodeToString(sum[:6]), nil
	}
	filter := store.MunicipalityFilter{Land: req.Land, Kreis: req.Kreis, Limit: 1000}
	switch {
	case req.Land != "" && !domain.Digits(req.Land, 2):
		return nil, "", "", refuse(KindInvalid, "land: %q is not a 2-digit Land key", req.Land)
	case req.Kreis != "" && !domain.Digits(req.Kreis, 5):
		return nil, "", "", refuse(KindInvalid, "kreis: %q is not a 5-digit Kreis key", req.Kreis)
	case req.Land != "":
		selector, idPart = "land "+req.Land, "land-"+req.Land
	default:
		selector, idPart = "kreis "+req.Kreis, "kreis-"+req.Kreis
	}
	for {
		page, next, err := s.store.Municipalities(ctx, filter)
		if err != nil {
			return nil, "", "", s.lookupError(err, "select municipalities of %s", selector)
		}
		for _, m := range page {
			members = append(members, m.ARS)
		}
		if next == "" {
			break
		}
		filter.Cursor = next
	}
	if len(members) == 0 {
		return nil, "", "", refuse(KindNotFound, "no municipality in the register for %s", selector)
	}
	return members, selector, idPart, nil
}

func (s *Service) awaitCampaign(ctx context.Context, id string) (domain.CampaignProgress, error) {
	var progress domain.CampaignProgress
	err := s.poll(ctx, func() (bool, error) {
		p, err := s.store.Campaign(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		progress = p
		return err == nil, err
	})
	if err != nil {
		return domain.CampaignProgress{}, &Error{Kind: KindUnavailable, Msg: "read campaign " + id, Err: err}
	}
	return progress, nil
}

// Campaign returns a campaign's progress from the read model.
func (s *Service) Campaign(ctx context.Context, p Principal, id string) (domain.CampaignProgress, error) {
	if p.Role != domain.RolePM && p.Role != domain.RoleOperator {
		return domain.CampaignProgress{}, refuse(KindForbidden, "role %q may not read campaigns", p.Role)
	}
	if err := checkFields(field{name: "id", value: id, max: textrule.MaxID}); err != nil {
		return domain.CampaignProgress{}, err
	}
	progress, err := s.store.Campaign(ctx, id)
	if err == nil && !p.sees(progress.Organisation) {
		err = store.ErrNotFound
	}
	if err != nil {
		return domain.CampaignProgress{}, s.lookupError(err, "no campaign %q", id)
	}
	return progress, nil
}

// ActOnCampaign pauses, resumes or cancels a campaign.
func (s *Service) ActOnCampaign(ctx context.Context, p Principal, id, action, reason string) (domain.CampaignProgress, error) {
	if err := checkFields(
		field{name: "id", value: id, max: textrule.MaxID},
		field{name: "action", value: action, max: textrule.MaxID},
		field{name: "reason", value: reason, max: textrule.MaxReason, text: true},
	); err != nil {
		return domain.CampaignProgress{}, err
	}
	if !slices.Contains(workflows.CampaignActions, action) {
		return domain.CampaignProgress{}, refuse(KindInvalid, "action: %q is not one of %s", action, strings.Join(workflows.CampaignActions, ", "))
	}
	if p.Role != domain.RolePM {
		return domain.CampaignProgress{}, refuse(KindForbidden, "role %q may not %s campaigns", p.Role, action)
	}
	current, err := s.Campaign(ctx, p, id)
	if err != nil {
		return domain.CampaignProgress{}, err
	}
	if current.State.Final() {
		return domain.CampaignProgress{}, refuse(KindConflict, "the campaign is %s", current.State)
	}
	handle, err := s.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: campaignWorkflowID(id), UpdateID: randomID(), UpdateName: action,
		WaitForStage: client.WorkflowUpdateStageCompleted,
		Args:         []any{workflows.CampaignActionInput{Actor: p.Name, Role: p.Role, Reason: reason}},
	})
	if err == nil {
		err = handle.Get(ctx, nil)
	}
	if err != nil {
		return domain.CampaignProgress{}, updateError(err, domain.RunStatus{ID: campaignWorkflowID(id), State: domain.RunState(current.State)})
	}
	return s.Campaign(ctx, p, id)
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
