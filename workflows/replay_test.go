package workflows

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestRecordedHistoriesReplay replays histories recorded by earlier versions of the
// process (testdata/*.json, written by integration.TestHistoryReplays with
// ROLLIN_RECORD_HISTORY_TO set). Roll-ins run for weeks, so workers meet them again after
// every change: a change that would break a running roll-in — a step added without a
// version marker, an activity turned local without ChangeLocalCalls — fails here.
//
// testdata/rollin-gewerbe-before-local-calls.json is a Gewerbe roll-in to live recorded
// before ChangeLocalCalls (every external call a regular activity);
// rollin-gewerbe-local-calls.json the same after it; rollin-gewerbe-connection-tasks.json
// the same after ChangeConnectionTasks (and with the destination made through
// FIT-Connect's Destination Management API).
func TestRecordedHistoriesReplay(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded histories")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := sdkworker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(RollIn, workflow.RegisterOptions{Name: WorkflowRollIn})
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(log.NewStructuredLogger(slog.New(slog.DiscardHandler)), f))
		})
	}
}
