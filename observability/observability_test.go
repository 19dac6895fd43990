package observability

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	return rec.Body.String()
}

// TestTransportCountsCallsBySystemAndOutcome calls a server that answers 200, 503 and
// then is gone, through the metered transport of one system.
func TestTransportCountsCallsBySystemAndOutcome(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if fail.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	m := NewMetrics()
	hc := &http.Client{Transport: m.Transport(SystemState, nil)}
	call := func() error {
		resp, err := hc.Get(srv.URL)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	require.NoError(t, call())
	require.NoError(t, call())
	fail.Store(true)
	require.NoError(t, call())
	srv.Close()
	require.Error(t, call())

	out := scrape(t, m)
	require.Contains(t, out, `rollin_external_call_duration_seconds_count{method="GET",outcome="2xx",system="state"} 2`)
	require.Contains(t, out, `rollin_external_call_duration_seconds_count{method="GET",outcome="5xx",system="state"} 1`)
	require.Contains(t, out, `rollin_external_call_errors_total{outcome="5xx",system="state"} 1`)
	require.Contains(t, out, `rollin_external_call_errors_total{outcome="error",system="state"} 1`)
	require.NotContains(t, out, `system="provider"`)
}

func TestOutcome(t *testing.T) {
	t.Parallel()
	require.Equal(t, "4xx", Outcome(&http.Response{StatusCode: 404}, nil))
	require.Equal(t, "timeout", Outcome(nil, context.DeadlineExceeded))
	require.Equal(t, "canceled", Outcome(nil, context.Canceled))
	require.Equal(t, "error", Outcome(nil, errors.New("connection refused")))
}

// TestNilMetricsRecordNothing: code built without metrics uses a nil *Metrics.
func TestNilMetricsRecordNothing(t *testing.T) {
	t.Parallel()
	var m *Metrics
	require.Equal(t, http.DefaultTransport, m.Transport(SystemProvider, nil))
	m.Incident("tenant")
	m.ObserveStep("tenant", "done", time.Second)
	require.NoError(t, m.RunsByState(nil))
	m.TemporalHandler().Counter("x").Inc(1)
}

// TestTemporalHandlerExportsSDKMetrics feeds the handler as the SDK does, with different
// tag sets under one name, and reads them back in the text format.
func TestTemporalHandlerExportsSDKMetrics(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	h := m.TemporalHandler().WithTags(map[string]string{"namespace": "default", "task_queue": "rollin"})
	h.Counter("temporal_workflow_task_queue_poll_succeed").Inc(3)
	h.WithTags(map[string]string{"workflow_type": "RollIn"}).Counter("temporal_workflow_completed").Inc(1)
	h.Counter("temporal_workflow_completed").Inc(2) // same name, fewer tags
	h.Gauge("temporal_num_pollers").Update(4)
	h.Timer("temporal_workflow_task_execution_latency").Record(20 * time.Millisecond)
	h.Counter("temporal_workflow_task_queue_poll_succeed").Inc(1) // the same series again

	out := scrape(t, m)
	require.Contains(t, out, `temporal_workflow_task_queue_poll_succeed_total{namespace="default",task_queue="rollin"} 4`)
	require.Contains(t, out, `temporal_workflow_completed_total{namespace="default",task_queue="rollin",workflow_type="RollIn"} 1`)
	require.Contains(t, out, `temporal_workflow_completed_total{namespace="default",task_queue="rollin"} 2`)
	require.Contains(t, out, `temporal_num_pollers{namespace="default",task_queue="rollin"} 4`)
	require.Contains(t, out, `temporal_workflow_task_execution_latency_seconds_bucket{namespace="default",task_queue="rollin",le="0.025"} 1`)
	require.Contains(t, out, "go_goroutines")
}

// TestMetricsHandlerServesRollinFamilies checks steps, incidents and the runs gauge, and
// that a failing runs query still serves everything else.
func TestMetricsHandlerServesRollinFamilies(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	m.ObserveStep("tenant", "done", 1500*time.Millisecond)
	m.ObserveStep("call-off", "done", 2*time.Hour)
	m.Incident("tenant")
	var broken atomic.Bool
	require.NoError(t, m.RunsByState(func(context.Context) (map[string]int64, error) {
		if broken.Load() {
			return nil, errors.New("database down")
		}
		return map[string]int64{"live": 7, "waiting": 2}, nil
	}))
	out := scrape(t, m)
	require.Contains(t, out, `rollin_step_duration_seconds_count{outcome="done",step="tenant"} 1`)
	require.Contains(t, out, `rollin_step_duration_seconds_sum{outcome="done",step="call-off"} 7200`)
	require.Contains(t, out, `rollin_incidents_total{step="tenant"} 1`)
	require.Contains(t, out, `rollin_runs{state="live"} 7`)
	require.Contains(t, out, `rollin_runs{state="waiting"} 2`)
	require.Contains(t, out, `rollin_runs{state="incident"} 0`)

	broken.Store(true)
	out = scrape(t, m)
	require.Contains(t, out, "rollin_incidents_total")
	require.NotContains(t, out, "rollin_runs{")

	mux := http.NewServeMux()
	m.Mount(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain"), rec.Header().Get("Content-Type"))
}

func TestTracingOffByDefault(t *testing.T) {
	t.Parallel()
	tr, err := StartTracing(context.Background(), "", "rollin-test", "me")
	require.NoError(t, err)
	require.Nil(t, tr)
	require.Nil(t, tr.Interceptors())
	require.NoError(t, tr.Shutdown(context.Background()))
}

// TestTracingExportsOverOTLP sends a span to a fake collector and checks it arrives at
// /v1/traces, the path added to an endpoint without one.
func TestTracingExportsOverOTLP(t *testing.T) {
	t.Parallel()
	got := make(chan string, 10)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Method + " " + r.URL.Path
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	ctx := context.Background()
	tr, err := StartTracing(ctx, collector.URL, "rollin-test", "me")
	require.NoError(t, err)
	require.Len(t, tr.Interceptors(), 1)
	_, span := tr.provider.Tracer("test").Start(ctx, "step")
	span.End()
	require.NoError(t, tr.Shutdown(ctx))
	select {
	case req := <-got:
		require.Equal(t, "POST /v1/traces", req)
	case <-time.After(5 * time.Second):
		t.Fatal("no spans arrived at the collector")
	}
}
