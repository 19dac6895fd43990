// Package activities implements the side effects of the roll-in workflow: loading the
// Steckbrief and municipality, writing the read model, and calling the provider's, the
// Land's and the municipality's systems. Every call that changes something carries the
// idempotency key the workflow derived for it, so a retried activity is applied once.
package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/observability"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/systems"
	"github.com/rollin-efa/rollin/systems/municipality"
	"github.com/rollin-efa/rollin/systems/provider"
	"github.com/rollin-efa/rollin/systems/state"
	"github.com/rollin-efa/rollin/textrule"
	"github.com/rollin-efa/rollin/workflows"
)

// Activities holds the dependencies of the activities; its methods are the activities.
// It receives ready clients: the programs build them from the configuration in one place
// (their composition root), so that every process that runs a worker wires them alike.
type Activities struct {
	Store        *store.Store
	Provider     *provider.Client
	State        *state.Client
	Municipality *municipality.Client
	// FitConnect manages the municipalities' destinations; nil when the installation has
	// no FIT-Connect subscribers.
	FitConnect *FitConnect
	// Notifiers send notices by e-mail and webhook besides the municipality's system;
	// nil when neither is configured (notify.smtp.addr and notify.webhook.url empty).
	Notifiers *Notifiers
	// TestPoll is how often a test submission's state is read while waiting for the
	// receiving side's verdict.
	TestPoll time.Duration
	// Identity is the worker's identity, stamped on the audit events it writes.
	Identity string
	// Metrics receives step durations and incidents (nil: none are recorded).
	Metrics *observability.Metrics
	// Log receives failed calls and incidents with the run's fields (nil: no logs).
	Log *zap.Logger
}

// Register registers every activity under the name the workflow calls it by.
func (a *Activities) Register(r worker.ActivityRegistry) {
	for name, fn := range map[string]any{
		workflows.ActivityLoadContext:        a.LoadContext,
		workflows.ActivityPersistRun:         a.PersistRun,
		workflows.ActivityFileAgreement:      a.FileAgreement,
		workflows.ActivityEnsureDestination:  a.EnsureDestination,
		workflows.ActivityCreatePortalLink:   a.CreatePortalLink,
		workflows.ActivityVerifyRouting:      a.VerifyRouting,
		workflows.ActivityConfirmDVDV:        a.ConfirmDVDV,
		workflows.ActivityConfigurePayment:   a.ConfigurePayment,
		workflows.ActivityCreateTenant:       a.CreateTenant,
		workflows.ActivityRunTestSubmission:  a.RunTestSubmission,
		workflows.ActivitySwitchToProduction: a.SwitchToProduction,
		workflows.ActivityActivatePortalLink: a.ActivatePortalLink,
		workflows.ActivityAnnounce:           a.Announce,
		workflows.ActivityNotify:             a.Notify,
		workflows.ActivityApplyCampaign:      a.ApplyCampaign,
		workflows.ActivityAddCampaignRuns:    a.AddCampaignRuns,
	} {
		if call, ok := fn.(func(context.Context, workflows.CallInput) (workflows.CallResult, error)); ok {
			fn = a.logged(call)
		}
		r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}

// LoadContext reads the Steckbrief and the municipality for the pre-check.
func (a *Activities) LoadContext(ctx context.Context, in workflows.LoadInput) (workflows.RunContext, error) {
	svc, err := a.Store.Service(ctx, in.Service)
	if err != nil {
		return workflows.RunContext{}, classify(ctx, fmt.Errorf("load service %s: %w", in.Service, err))
	}
	m, err := a.Store.Municipality(ctx, in.ARS)
	if err != nil {
		return workflows.RunContext{}, classify(ctx, fmt.Errorf("load municipality %s: %w", in.ARS, err))
	}
	return workflows.RunContext{Service: svc, Municipality: m}, nil
}

// PersistRun writes a run's snapshot to the read model; the store ignores stale or repeated
// snapshots, so the workflow may call it again after any failure. Its events are stamped
// with this worker's identity.
func (a *Activities) PersistRun(ctx context.Context, snap domain.RunSnapshot) error {
	for i := range snap.Events {
		snap.Events[i].Worker = a.Identity
	}
	a.observeSnapshot(ctx, snap)
	if err := a.Store.ApplySnapshot(ctx, snap); err != nil {
		return fmt.Errorf("persist %s seq %d: %w", snap.Status.ID, snap.Status.Seq, err)
	}
	return nil
}

// ApplyCampaign writes a campaign's progress to the read model (idempotent by Seq).
func (a *Activities) ApplyCampaign(ctx context.Context, c domain.Campaign) error {
	return a.Store.ApplyCampaign(ctx, c)
}

// AddCampaignRuns records the runs a campaign covers (idempotent).
func (a *Activities) AddCampaignRuns(ctx context.Context, campaignID string, runIDs []string) error {
	return a.Store.AddCampaignRuns(ctx, campaignID, runIDs)
}

// FileAgreement files the signed agreements with the municipality's records and keeps the
// framework agreement on file, so the municipality's later roll-ins skip it.
func (a *Activities) FileAgreement(ctx context.Context, in workflows.CallInput) (workflows.CallResult, error) {
	m, svc := in.Context.Municipality, in.Context.Service
	kinds := []struct{ kind, signedBy string }{
		{municipality.AgreementFramework, in.Signatures.Framework}, {municipality.AgreementCallOff, in.Signatures.CallOff},
		{municipality.AgreementDPA, in.Signatures.DPA},
	}
	for _, k := range kinds {
		if k.signedBy == "" {
			continue
		}
		err := a.Municipality.FileAgreement(ctx, in.IdempotencyKey+"/"+k.kind, municipality.AgreementRequest{
			ARS: string(m.ARS), ServiceKey: string(svc.Key), Kind: k.kind,
			SignedBy: k.signedBy, CountersignedBy: in.Signatures.Countersigned,
		})
		if err != nil {
			return workflows.CallResult{}, classify(ctx, err)
		}
	}
	if in.Signatures.Framework != "" {
		if err := a.Store.RecordFrameworkAgreement(ctx, m.ARS, in.Signatures.Framework, activity.GetInfo(ctx).StartedTime); err != nil {
			return workflows.CallResult{}, classify(ctx, err)
		}
	}
	return done(ctx, "")
}

// CreatePortalLink enters the responsibility data in the Land's editorial system (NL1).
func (a *Activities) CreatePortalLink(ctx context.Context, in workflows.CallInput) (workflows.CallResult, error) {
	c := connection(in)
	link, err := a.State.CreatePortalLink(ctx, in.IdempotencyKey, state.PortalLinkRequest{
		ARS: string(in.Context.Municipality.ARS), ServiceKey: string(in.Context.Service.Key),
		OrgUnitID: c.OrgUnitID, DestinationID: in.Refs.DestinationID, Transport: string(c.Transport),
	})
	if err != nil {
		return workflows.CallResult{}, classify(ctx, err)
	}
	return done(ctx, link.ID)
}

// VerifyRouting checks with the Routing API that the service resolves to the
// municipality's destination. Until it does, the activity fails retryably and the
// workflow's retry policy polls durably.
func (a *Activities) VerifyRouting(ctx context.Context, in workflows.CallInput) (workflows.CallResult, error) {
	ars, key := string(in.Context.Municipality.ARS), string(in.Context.Service.Key)
	routes, err := a.State.Routes(ctx, key, ars)
	if err != nil {
		return workflows.CallResult{}, classify(ctx, err)
	}
	if routes.Has(in.Refs.DestinationID) {
		return done(ctx, in.Refs.DestinationID)
	}
	// Past process.routing_deadline this message is what the operator's incident shows:
	// in FIT-Connect's test environment routing entries are made by hand, on request.
	err = fmt.Errorf("routing: the Routing API does not resolve LeiKa %s and ARS %s to destination %s yet (%d other routes); "+
		"where routing is kept by hand, have destination %s registered for LeiKa %s and ARS %s, then retry the step",
		key, ars, in.Refs.DestinationID, routes.TotalCount, in.Refs.DestinationID, key, ars)
	return workflows.CallResult{}, temporal.NewApplicationErrorWithOptions(err.Error(), "NotRoutedYet",
		temporal.ApplicationErrorOptions{Details: []any{attempt(ctx)}})
}

// ConfirmDVDV confirms the municipality's receiver and DVDV entry for XTA/OSCI (NL2/NL3).
func (a *Activities) ConfirmDVDV(ctx context.Context, in workflows.CallInput) (workflows.CallResult, error) {
	err := a.State.ConfirmDVDV(ctx, in.IdempotencyKey, state.DVDVRequest{
		ARS: string(in.Context.Municipality.ARS), ServiceKey: string(in.Context.Service.Key), OrgKey: connection(in).DVDVKey,
	})
	if err != nil {
		return workflows.CallResult{}, classify(ctx, err)
	}
	return done(ctx, "")
}

// ConfigurePayment sets up the payment platform for the municipality's fees (NL5).
func (a *Activities) ConfigurePayment(ctx context.Context, in workflows.CallInput) (workflows.CallResult, error) {
	err := a.State.ConfigurePayment(ctx, in.IdempotencyKey, state.PaymentRequest{
		ARS: string(in.Context.Municipality.ARS), ServiceKey: string(in.Context.Service.Key), Account: connection(in).PaymentAccount,
	})
	if err != nil {
		return workflows.CallResult{}, classify(ctx, err)
	}
	return done(ctx, "")
}

// CreateTenant has the provider create the municipality's tenant of the service.
func (a *Activities) CreateTenant(ctx context.Context, in workflows.CallInput) (workflows.CallResult, error) {
	c := connection(in)
	t, err := a.Provider.CreateTenant(ctx, in.IdempotencyKey, provider.TenantRequest{
		ARS: string(in.Context.Municipality.ARS), ServiceKey: string(in.Context.Service.Key),
		Name: in.Context.Municipality.Name, Fachverfahren: c.Fachverfahren, Transport: string(c.Transport),
	})
	if err != nil {
		return workflows.CallResult{}, classify(ctx, err)
	}
	return done(ctx, t.ID)
}

// RunTestSubmission sends a test submission through the run's transport route and
// follows it until the receiving side accepts or rejects it: for FIT-Connect Rollin sends
// it itself as a sender (runFitConnectTest); for the other routes the provider sends it.
// It heartbeats what it sent, so a retry after a worker crash follows the same
// submission instead of sending another.
func (a *Activities) RunTestSubmission(ctx context.Context, in workflows.CallInput) (workflows.CallResult, error) {
	if connection(in).Transport == domain.TransportFITConnect {
		return a.runFitConnectTest(ctx, in)
	}
	var id string
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &id)
	}
	if id == "" {
		sub, err := a.Provider.SendTestSubmission(ctx, in.IdempotencyKey, provider.TestSubmissionRequest{
			TenantID: in.Refs.TenantID, ARS: string(in.Context.Municipality.ARS), ServiceKey: string(in.Context.Service.Key),
			Transport: string(connection(in).Transport), DestinationID: in.Refs.DestinationID,
		})
		if err != nil {
			return workflows.CallResult{}, classify(ctx, err)
		}
		id = sub.ID
	}
	return a.followProviderTest(ctx, id)
}

// followProviderTest polls the provider's test submission id until it is accepted or
// rejected.
func (a *Activities) followProviderTest(ctx context.Context, id string) (workflows.CallResult, error) {
	for {
		activity.RecordHeartbeat(ctx, id)
		sub, err := a.Provider.TestSubmission(ctx, id)
		if err != nil {
			return workflows.CallResult{}, classify(ctx, err)
		}
		switch sub.State {
		case provider.StateAccepted:
			return done(ctx, id)
		case provider.StateRejected:
			res, _ := done(ctx, id)
			res.Rejected = true
			if sub.Problem != nil {
				res.Problem = sub.Problem.String()
			}
			return res, nil
		}
		if err := a.pause(ctx); err != nil {
			return workflows.CallResult{}, err
		}
	}
}

// pause waits TestPoll (default 2 s) between two reads of a test submission's state.
func (a *Activities) pause(ctx context.Context) error {
	poll := a.TestPoll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(poll):
		return nil
	}
}

// SwitchToProduction has the provider switch the tenant to production.
func (a *Activities) SwitchToProduction(ctx context.Context, in workflows.CallInput) (workflows.CallResult, error) {
	if err := a.Provider.SwitchToProduction(ctx, in.IdempotencyKey, in.Refs.TenantID); err != nil {
		return workflows.CallResult{}, classify(ctx, err)
	}
	return done(ctx, in.Refs.TenantID)
}

// ActivatePortalLink makes the service findable for the municipality in the portals.
func (a *Activities) ActivatePortalLink(ctx context.Context, in workflows.CallInput) (workflows.CallResult, error) {
	if err := a.State.ActivatePortalLink(ctx, in.IdempotencyKey, in.Refs.PortalLinkID); err != nil {
		return workflows.CallResult{}, classify(ctx, err)
	}
	return done(ctx, in.Refs.PortalLinkID)
}

// Announce tells the municipality that the service is live.
func (a *Activities) Announce(ctx context.Context, in workflows.CallInput) (workflows.CallResult, error) {
	m, svc := in.Context.Municipality, in.Context.Service
	err := a.Municipality.Notify(ctx, in.IdempotencyKey, municipality.Notification{
		ARS: string(m.ARS), ServiceKey: string(svc.Key), Recipient: municipality.RecipientMunicipality, Kind: municipality.NoticeAnnouncement,
		Subject: fmt.Sprintf("%s ist für %s live", svc.Name, m.Name),
		Body:    fmt.Sprintf("Der Onlinedienst %s (%s) ist ab sofort für %s freigeschaltet und in den Portalen auffindbar.", svc.Name, svc.Key, m.Name),
	})
	if err != nil {
		return workflows.CallResult{}, classify(ctx, err)
	}
	return done(ctx, "")
}

// connection returns the questionnaire; steps that need it run only after it was submitted.
func connection(in workflows.CallInput) workflows.ConnectionData {
	if in.Connection == nil {
		return workflows.ConnectionData{}
	}
	return *in.Connection
}

func done(ctx context.Context, ref string) (workflows.CallResult, error) {
	return workflows.CallResult{Ref: ref, Attempt: attempt(ctx)}, nil
}

func attempt(ctx context.Context) int { return int(activity.GetInfo(ctx).Attempt) }

// classify turns an error into the ApplicationError the workflow's retry policy reads:
// permanent errors are not retried, retryable ones honour the system's Retry-After. The
// attempt rides along so the step can show how many tries were made.
func classify(ctx context.Context, err error) error {
	opts := temporal.ApplicationErrorOptions{Details: []any{attempt(ctx)}, Cause: err}
	errType := "Retryable"
	var sysErr *systems.Error
	switch {
	case errors.As(err, &sysErr) && !sysErr.Retryable,
		errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid):
		errType, opts.NonRetryable = workflows.ErrTypePermanent, true
	case errors.As(err, &sysErr) && sysErr.RetryAfter > 0:
		opts.NextRetryDelay = sysErr.RetryAfter
	}
	// The message becomes the step's last_error: cleaned and bounded here too, for errors
	// that did not pass systems.StatusError (a transport error naming a host, say).
	return temporal.NewApplicationErrorWithOptions(textrule.Clean(err.Error(), textrule.MaxExternal), errType, opts)
}
