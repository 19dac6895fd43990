package workflows

import (
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// ChangePersistForever names the change that made the read-model writes (a run's snapshot,
// a campaign's snapshot and members) retry until they are written. Before it, a write gave
// up after one round of local retries (about 10 s): a run's last transition could be lost
// for good, Updates waiting for it never returned, and a campaign failed on a database
// outage. Now a failed round is followed by a durable pause (a timer, backoff capped at
// persistPauseMax) and another round, for as long as it takes; only a workflow being torn
// down stops it.
//
// The version is asked for only when a round has failed, so a history without a failed
// write carries no marker and runs that started before the change get the new behaviour
// at their next failed write; a history that recorded a failed write under the old code
// replays it as it was. What it costs: each round of an outage adds about a dozen events
// to the history (the workflow task is renewed while the local activity retries, then a
// timer), at most one round every persistRound+persistPauseMax once the pause is capped.
const ChangePersistForever = "persist-forever"

// Timing of the read-model writes. A round is one local activity with retries; between
// rounds the workflow sleeps durably, the pause doubling from persistPauseFirst up to
// persistPauseMax, so a write is at most that long behind the database's return.
const (
	persistRound      = time.Minute
	persistPauseFirst = 5 * time.Second
	persistPauseMax   = 2 * time.Minute
)

// persistOptions are one round of a read-model write. The retry interval stays below the
// default workflow task timeout (10 s), so the SDK retries within the workflow task rather
// than with timers of its own; ScheduleToCloseTimeout ends the round (without it the SDK
// ends a local activity after one StartToClose timeout).
var persistOptions = workflow.LocalActivityOptions{
	StartToCloseTimeout:    10 * time.Second,
	ScheduleToCloseTimeout: persistRound,
	RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 8 * time.Second},
}

// persistDurably runs the read-model write activity with args until it succeeds. It
// returns an error only when ctx is cancelled (the workflow is being torn down; callers
// that must still write use a disconnected context) or when the history was recorded
// before ChangePersistForever and the first round failed, as the old code did.
func persistDurably(ctx workflow.Context, logger log.Logger, activity string, args ...any) error {
	pause := persistPauseFirst
	for round := 1; ; round++ {
		lctx := workflow.WithLocalActivityOptions(ctx, persistOptions)
		err := workflow.ExecuteLocalActivity(lctx, activity, args...).Get(lctx, nil)
		if err == nil {
			if round > 1 {
				logger.Info("read model written after an outage", "activity", activity, "rounds", round)
			}
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if workflow.GetVersion(ctx, ChangePersistForever, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			return err
		}
		logger.Warn("read model not written; trying again", "activity", activity, "round", round, "pause", pause, "error", err)
		if err := workflow.Sleep(ctx, pause); err != nil {
			return err
		}
		pause = min(2*pause, persistPauseMax)
	}
}
