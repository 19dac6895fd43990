// Package worker builds the Temporal worker that runs Rollin's workflows and activities.
// It is the one place that binds the workflow's activity names to implementations.
package worker

import (
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/rollin-efa/rollin/activities"
	"github.com/rollin-efa/rollin/workflows"
)

// Options tune a worker.
type Options struct {
	// Identity names the worker in Temporal's history (default: the SDK's pid@host).
	Identity string
	// StopTimeout is how long running activities may finish after Stop.
	StopTimeout time.Duration
}

// SetCacheSize bounds the workflows the process keeps in memory between tasks (shared by
// all its workers). Call it once, before any worker starts: the SDK reads it then.
func SetCacheSize(n int) { worker.SetStickyWorkflowCacheSize(n) }

// New returns a worker polling taskQueue, with the RollIn workflow and all activities
// registered. Start it with Start or Run.
func New(c client.Client, taskQueue string, acts *activities.Activities, opts Options) worker.Worker {
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 10 * time.Second
	}
	w := worker.New(c, taskQueue, worker.Options{
		Identity:          opts.Identity,
		WorkerStopTimeout: opts.StopTimeout,
	})
	w.RegisterWorkflowWithOptions(workflows.RollIn, workflow.RegisterOptions{Name: workflows.WorkflowRollIn})
	w.RegisterWorkflowWithOptions(workflows.Campaign, workflow.RegisterOptions{Name: workflows.WorkflowCampaign})
	acts.Register(w)
	return w
}
