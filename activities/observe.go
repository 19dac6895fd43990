package activities

import (
	"context"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/workflows"
)

// logger returns the activities' logger with the fields that find the run a log entry
// belongs to: the workflow and run ID and activity from the activity's info, the ARS,
// service and step from its input.
func (a *Activities) logger(ctx context.Context, ars domain.ARS, service domain.ServiceKey, step string) *zap.Logger {
	if a.Log == nil {
		return zap.NewNop()
	}
	fields := []zap.Field{zap.String("ars", string(ars)), zap.String("service", string(service))}
	if step != "" {
		fields = append(fields, zap.String("step", step))
	}
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		fields = append(fields, zap.String("workflow_id", info.WorkflowExecution.ID), zap.String("run_id", info.WorkflowExecution.RunID),
			zap.String("activity", info.ActivityType.Name), zap.Int32("attempt", info.Attempt))
	}
	return a.Log.With(fields...)
}

// callLogger is logger for an external-call activity's input.
func (a *Activities) callLogger(ctx context.Context, in workflows.CallInput) *zap.Logger {
	return a.logger(ctx, in.Context.Municipality.ARS, in.Context.Service.Key, in.Step)
}

// logged wraps an external-call activity so that its failures are logged with the run's
// fields (at warn: the workflow retries them, or turns them into an incident).
func (a *Activities) logged(fn func(context.Context, workflows.CallInput) (workflows.CallResult, error)) func(context.Context, workflows.CallInput) (workflows.CallResult, error) {
	return func(ctx context.Context, in workflows.CallInput) (workflows.CallResult, error) {
		res, err := fn(ctx, in)
		log := a.callLogger(ctx, in)
		switch {
		case err != nil:
			log.Warn("external call failed", zap.Error(err))
		case res.Rejected:
			log.Info("test submission rejected", zap.String("problem", res.Problem))
		default:
			log.Debug("external call done", zap.String("ref", res.Ref))
		}
		return res, err
	}
}

// observeSnapshot records what snap changes about its steps, before it is applied: a
// step that became an incident counts and is logged; a step that ended (done or skipped)
// since the last snapshot is timed from the start the read model holds for it (its last
// running or waiting). Only steps the snapshot's events name changed, so steps found
// untouched cost nothing, and the read model is read only when a step ended. Metrics are
// best effort: a failed read records nothing and does not fail the write.
func (a *Activities) observeSnapshot(ctx context.Context, snap domain.RunSnapshot) {
	if a.Metrics == nil && a.Log == nil {
		return
	}
	touched := map[string]string{} // step → last action on it in this snapshot
	for _, e := range snap.Events {
		if e.Step != "" {
			touched[e.Step] = e.Action
		}
	}
	var ended []domain.StepStatus
	for _, s := range snap.Status.Steps {
		action, ok := touched[s.Name]
		if !ok {
			continue
		}
		switch s.State {
		case domain.StepFailed:
			if action == "incident" {
				a.Metrics.Incident(s.Name)
				a.logger(ctx, snap.Status.ARS, snap.Status.Service, s.Name).Warn("incident", zap.String("error", s.LastError), zap.Int("attempts", s.Attempts))
			}
		case domain.StepDone, domain.StepSkipped:
			if !strings.HasSuffix(action, "-not-needed") {
				ended = append(ended, s)
			}
		}
	}
	if len(ended) == 0 || a.Metrics == nil {
		return
	}
	prev, err := a.Store.Run(ctx, snap.Status.ID)
	if err != nil {
		return
	}
	for _, s := range ended {
		for _, p := range prev.Steps {
			if p.Name == s.Name && (p.State == domain.StepRunning || p.State == domain.StepWaiting || p.State == domain.StepFailed) {
				a.Metrics.ObserveStep(s.Name, string(s.State), s.UpdatedAt.Sub(p.UpdatedAt))
			}
		}
	}
}
