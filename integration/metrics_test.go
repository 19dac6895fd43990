package integration

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"
)

// TestMetricsOfSeparateProcesses rolls Wohngeld out to the Kreis Höxter on a cluster of
// separate processes and scrapes GET /metrics of the worker and of the API server: the
// Temporal SDK's metrics, the external calls of every system, the step durations and the
// runs by state are there with plausible values. Tracing is on, to a fake OTLP collector
// that must receive spans from both the worker and the API server.
func TestMetricsOfSeparateProcesses(t *testing.T) {
	t.Parallel()
	var spans sync.Map // service name seen in a request body → true
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		for _, svc := range []string{"rollin-worker", "rollin-serve"} {
			if r.URL.Path == "/v1/traces" && bytes.Contains(body, []byte(svc)) {
				spans.Store(svc, true)
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(collector.Close)
	c := startCluster(t, []string{"metrics-worker"}, "tracing:\n  otlp_endpoint: "+collector.URL+"\n")
	campaign := c.startCampaign(map[string]any{"service": wohngeld, "kreis": "05762"})
	require.Positive(t, campaign.Total)

	// During the campaign the endpoints answer too.
	workerURL := "http://" + c.workerAddr["metrics-worker"] + "/metrics"
	scrapeMetrics(t, workerURL)
	c.waitAllLive(campaign.ID, campaign.Total, 2*time.Minute)

	// A run is live in the read model a moment before its workflow completes: scrape until
	// the worker has counted every completion.
	w := scrapeMetrics(t, workerURL)
	for deadline := time.Now().Add(30 * time.Second); counterSum(w, "temporal_workflow_completed_total") < float64(campaign.Total); w = scrapeMetrics(t, workerURL) {
		require.True(t, time.Now().Before(deadline), "the worker did not count %d completed workflows", campaign.Total)
		time.Sleep(200 * time.Millisecond)
	}
	for _, system := range []string{"provider", "state", "municipality", "fit-connect"} {
		require.Positive(t, sampleCount(w, "rollin_external_call_duration_seconds", map[string]string{"system": system}),
			"no calls to %s counted", system)
	}
	// Every run passed the tenant step and the municipality's human steps.
	require.GreaterOrEqual(t, sampleCount(w, "rollin_step_duration_seconds", map[string]string{"step": "tenant", "outcome": "done"}), uint64(campaign.Total))
	require.GreaterOrEqual(t, sampleCount(w, "rollin_step_duration_seconds", map[string]string{"step": "connection-data"}), uint64(campaign.Total))
	require.Positive(t, counterSum(w, "temporal_workflow_task_queue_poll_succeed_total"))
	require.Positive(t, sampleCount(w, "temporal_workflow_task_execution_latency_seconds", nil))
	require.Positive(t, sampleCount(w, "temporal_activity_execution_latency_seconds", map[string]string{"activity_type": "VerifyRouting"}))
	require.Positive(t, sampleCount(w, "temporal_local_activity_execution_latency_seconds", map[string]string{"activity_type": "CreateTenant"}))
	require.Contains(t, w, "go_goroutines")

	a := scrapeMetrics(t, "http://"+c.apiAddr+"/metrics")
	require.Positive(t, counterSum(a, "temporal_request_total"), "the API server's Temporal client")
	runs := a["rollin_runs"]
	require.NotNil(t, runs, "rollin_runs missing")
	live := 0.0
	for _, m := range runs.GetMetric() {
		if labels(m)["state"] == "live" {
			live = m.GetGauge().GetValue()
		}
	}
	require.InDelta(t, float64(campaign.Total), live, 0)

	// Spans are exported in batches (every 5 s).
	require.Eventually(t, func() bool {
		_, worker := spans.Load("rollin-worker")
		_, serve := spans.Load("rollin-serve")
		return worker && serve
	}, 15*time.Second, 200*time.Millisecond, "no spans of worker and API server at the collector")
}

// scrapeMetrics reads a /metrics endpoint in the Prometheus text format.
func scrapeMetrics(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url) // #nosec G107 -- the test's own process
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return families
}

func labels(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

func matches(m *dto.Metric, want map[string]string) bool {
	got := labels(m)
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// sampleCount adds up the observations of the histogram series of name that carry want.
func sampleCount(fams map[string]*dto.MetricFamily, name string, want map[string]string) uint64 {
	var n uint64
	for _, m := range fams[name].GetMetric() {
		if matches(m, want) {
			n += m.GetHistogram().GetSampleCount()
		}
	}
	return n
}

// counterSum adds up every series of the counter name.
func counterSum(fams map[string]*dto.MetricFamily, name string) float64 {
	var n float64
	for _, m := range fams[name].GetMetric() {
		n += m.GetCounter().GetValue()
	}
	return n
}
