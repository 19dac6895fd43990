package integration

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/rollin-efa/rollin/devsim"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/logging"
	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/workflows"
)

// RecordEnv names a file to which TestHistoryReplays also writes the history it recorded,
// to add it to workflows/testdata before the process changes (see workflows/replay_test.go).
const RecordEnv = "ROLLIN_RECORD_HISTORY_TO"

// TestHistoryReplays runs a Gewerbe roll-in to live on autopilot on the real server,
// fetches its whole history and replays it with the SDK's replayer: the workflow code
// reproduces what it recorded. With RecordEnv set the history is kept as testdata.
func TestHistoryReplays(t *testing.T) {
	t.Parallel()
	const ars = "053620004004" // Bedburg (Rhein-Erft-Kreis); no other test uses it
	h := newHarness(t, ars, simulator.Config{})
	h.autopilot(devsim.AutopilotConfig{})
	code, body := h.call("pm", http.MethodPost, "/api/v1/rollins", map[string]string{"ars": ars, "service": gewerbe})
	require.Equal(t, http.StatusCreated, code, body)
	h.waitForState(ars, gewerbe, domain.RunLive)

	it := h.client.GetWorkflowHistory(context.Background(), domain.RunID(ars, gewerbe), "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var hist historypb.History
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		hist.Events = append(hist.Events, ev)
	}
	raw, err := protojson.MarshalOptions{Indent: "  "}.Marshal(&hist)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "history.json")
	if out := os.Getenv(RecordEnv); out != "" {
		path = out
	}
	require.NoError(t, os.WriteFile(path, raw, 0o644))

	r := sdkworker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(workflows.RollIn, workflow.RegisterOptions{Name: workflows.WorkflowRollIn})
	require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(logging.Temporal(h.log), path))
}
