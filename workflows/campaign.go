package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rollin-efa/rollin/domain"
)

// WorkflowCampaign is the registered name of the campaign workflow.
const WorkflowCampaign = "Campaign"

// Campaign activities (local: short, idempotent database writes).
const (
	ActivityApplyCampaign   = "ApplyCampaign"
	ActivityAddCampaignRuns = "AddCampaignRuns"
)

// Campaign Updates.
const (
	CampaignPause  = "pause"
	CampaignResume = "resume"
	CampaignCancel = "cancel"
)

// CampaignActions lists the campaign Updates.
var CampaignActions = []string{CampaignPause, CampaignResume, CampaignCancel}

// Defaults and bounds of a campaign's pace.
const (
	DefaultCampaignWindow = 50
	MaxCampaignWindow     = 500
	// startsPerRun bounds the starts of one workflow run before it continues as new, which
	// keeps its history far below Temporal's limits (each start adds a few events).
	startsPerRun = 1000
)

// CampaignInput starts a campaign; the fields after Options carry its progress across
// continue-as-new.
type CampaignInput struct {
	ID       string            `json:"id"`
	Service  domain.ServiceKey `json:"service"`
	Selector string            `json:"selector"`
	ARS      []domain.ARS      `json:"ars"`
	// Rate bounds the starts per second (0: as fast as Window allows). Window is how many
	// starts are in flight at once: the window slides over starts, not completions, since
	// each roll-in lives for weeks.
	Rate      float64     `json:"rate"`
	Window    int         `json:"window"`
	StartedBy string      `json:"started_by"`
	Role      domain.Role `json:"role"`
	Options   Options     `json:"options"`
	// Organisation is the starting project manager's; the campaign and its roll-ins
	// belong to it.
	Organisation domain.Organisation `json:"organisation,omitempty"`

	Next      int                  `json:"next"`
	Started   int                  `json:"started"`
	Existing  int                  `json:"existing"`
	Failed    int                  `json:"failed"`
	State     domain.CampaignState `json:"state,omitempty"`
	Seq       int64                `json:"seq"`
	CreatedAt time.Time            `json:"created_at"`
}

// CampaignActionInput is the argument of the campaign Updates.
type CampaignActionInput struct {
	Actor  string      `json:"actor"`
	Role   domain.Role `json:"role"`
	Reason string      `json:"reason,omitempty"`
}

// Campaign starts the roll-ins of one service into many municipalities at a bounded pace.
// Roll-ins that exist already (by hand or from an overlapping campaign) are counted, not
// started twice: their workflow IDs are the same. Started roll-ins outlive the campaign.
func Campaign(ctx workflow.Context, in CampaignInput) (domain.Campaign, error) {
	c := &campaign{in: in}
	if c.in.State == "" {
		c.in.State = domain.CampaignStarting
		c.in.CreatedAt = workflow.GetInfo(ctx).WorkflowStartTime
	}
	if c.in.Window <= 0 {
		c.in.Window = DefaultCampaignWindow
	}
	if err := c.setup(ctx); err != nil {
		return domain.Campaign{}, err
	}
	return c.run(ctx)
}

type campaign struct {
	in     CampaignInput
	reason string
}

func (c *campaign) setup(ctx workflow.Context) error {
	for _, name := range CampaignActions {
		err := workflow.SetUpdateHandlerWithOptions(ctx, name,
			func(ctx workflow.Context, a CampaignActionInput) (domain.Campaign, error) {
				switch name {
				case CampaignPause:
					c.in.State = domain.CampaignPaused
				case CampaignResume:
					c.in.State = domain.CampaignStarting
				case CampaignCancel:
					c.in.State, c.reason = domain.CampaignCancelled, a.Reason
				}
				c.persist(ctx)
				return c.snapshot(ctx), nil
			},
			workflow.UpdateHandlerOptions{Validator: func(_ workflow.Context, a CampaignActionInput) error {
				if a.Role != domain.RolePM {
					return reject(ErrTypeForbidden, "role %q may not %s a campaign", a.Role, name)
				}
				switch {
				case c.in.State.Final():
					return reject(ErrTypeNotAllowed, "the campaign is %s", c.in.State)
				case name == CampaignPause && c.in.State == domain.CampaignPaused:
					return reject(ErrTypeNotAllowed, "the campaign is paused already")
				case name == CampaignResume && c.in.State != domain.CampaignPaused:
					return reject(ErrTypeNotAllowed, "the campaign is not paused")
				case name == CampaignCancel && a.Reason == "":
					return reject(ErrTypeInvalidData, "reason: required to cancel a campaign")
				}
				return nil
			}})
		if err != nil {
			return fmt.Errorf("register update %s: %w", name, err)
		}
	}
	return workflow.SetQueryHandler(ctx, QueryStatus, func() (domain.Campaign, error) { return c.snapshot(ctx), nil })
}

func (c *campaign) run(ctx workflow.Context) (domain.Campaign, error) {
	c.persist(ctx)
	startsThisRun := 0
	for c.in.Next < len(c.in.ARS) {
		if err := workflow.Await(ctx, func() bool { return c.in.State != domain.CampaignPaused }); err != nil {
			return c.snapshot(ctx), err
		}
		if c.in.State == domain.CampaignCancelled {
			break
		}
		if startsThisRun >= startsPerRun {
			return c.continueAsNew(ctx)
		}
		batch := c.in.ARS[c.in.Next:min(c.in.Next+c.in.Window, len(c.in.ARS))]
		began := workflow.Now(ctx)
		if err := c.startBatch(ctx, batch); err != nil {
			return c.snapshot(ctx), err
		}
		c.in.Next += len(batch)
		startsThisRun += len(batch)
		c.persist(ctx)
		if c.in.Rate > 0 {
			// Pace the starts: a batch of n may take no less than n/Rate seconds.
			minimum := time.Duration(float64(len(batch)) / c.in.Rate * float64(time.Second))
			if rest := minimum - workflow.Now(ctx).Sub(began); rest > 0 {
				if _, err := workflow.AwaitWithTimeout(ctx, rest, func() bool { return c.in.State == domain.CampaignCancelled }); err != nil {
					return c.snapshot(ctx), err
				}
			}
		}
	}
	if c.in.State != domain.CampaignCancelled {
		c.in.State = domain.CampaignStarted
	}
	c.persist(ctx)
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return c.snapshot(ctx), err
	}
	return c.snapshot(ctx), nil
}

// startBatch records the batch as members, then starts a roll-in for each and waits until
// Temporal has started (or refused) every one of them.
func (c *campaign) startBatch(ctx workflow.Context, batch []domain.ARS) error {
	ids := make([]string, len(batch))
	for i, a := range batch {
		ids[i] = domain.RunID(a, c.in.Service)
	}
	// Retried until written: only a campaign being torn down (or one recorded before
	// ChangePersistForever whose write failed) gets an error here.
	if err := persistDurably(ctx, workflow.GetLogger(ctx), ActivityAddCampaignRuns, c.in.ID, ids); err != nil {
		return fmt.Errorf("record campaign members: %w", err)
	}
	started := make([]workflow.Future, len(batch))
	for i, a := range batch {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID: ids[i],
			// Roll-ins wait on people for weeks and must outlive the campaign's runs.
			ParentClosePolicy:     enums.PARENT_CLOSE_POLICY_ABANDON,
			WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		})
		started[i] = workflow.ExecuteChildWorkflow(cctx, WorkflowRollIn, Input{
			ARS: a, Service: c.in.Service, StartedBy: c.in.StartedBy, Role: c.in.Role, Options: c.in.Options,
			Organisation: c.in.Organisation,
		}).GetChildWorkflowExecution()
	}
	for i, f := range started {
		err := f.Get(ctx, nil)
		switch {
		case err == nil:
			c.in.Started++
		case temporal.IsWorkflowExecutionAlreadyStartedError(err):
			c.in.Existing++
		case errors.Is(ctx.Err(), workflow.ErrCanceled):
			return err
		default:
			c.in.Failed++
			workflow.GetLogger(ctx).Error("start roll-in", "run", ids[i], "error", err)
		}
	}
	return nil
}

func (c *campaign) continueAsNew(ctx workflow.Context) (domain.Campaign, error) {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return c.snapshot(ctx), err
	}
	return c.snapshot(ctx), workflow.NewContinueAsNewError(ctx, WorkflowCampaign, c.in)
}

// persist writes the campaign's snapshot to the read model, retrying until it is written
// (see persistDurably): a database outage delays a campaign, it never fails it.
func (c *campaign) persist(ctx workflow.Context) {
	c.in.Seq++
	if err := persistDurably(ctx, workflow.GetLogger(ctx), ActivityApplyCampaign, c.snapshot(ctx)); err != nil {
		workflow.GetLogger(ctx).Error("persist campaign", "error", err) // torn down, or recorded before ChangePersistForever
	}
}

func (c *campaign) snapshot(ctx workflow.Context) domain.Campaign {
	return domain.Campaign{
		ID: c.in.ID, Service: c.in.Service, Organisation: c.in.Organisation, Selector: c.in.Selector, State: c.in.State, Total: len(c.in.ARS),
		Started: c.in.Started, Existing: c.in.Existing, Failed: c.in.Failed, Reason: c.reason,
		CreatedBy: c.in.StartedBy, CreatedAt: c.in.CreatedAt, UpdatedAt: workflow.Now(ctx), Seq: c.in.Seq,
	}
}
