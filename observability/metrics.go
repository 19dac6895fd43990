// Package observability gives every long-running Rollin process (`rollin-dev`, `rollin
// worker`, `rollin serve`) the same view from outside: Prometheus metrics on GET /metrics
// (the Temporal SDK's own and Rollin's external calls, steps, incidents and runs) and, when
// an OTLP endpoint is configured, OpenTelemetry traces of workflows and activities. Workflow
// code must not import it: it is not deterministic.
package observability

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rollin-efa/rollin/domain"
)

// Metrics is one process's metric registry. Each process has its own (not the global
// default registry), so that tests can run several workers in one process and an embedded
// Temporal server's metrics never mix with Rollin's. All methods accept a nil *Metrics
// and then record nothing, so code paths built without metrics (benchmarks, tests) need
// no checks.
type Metrics struct {
	reg          *prometheus.Registry
	sdk          *sdkCollector
	callDuration *prometheus.HistogramVec
	callErrors   *prometheus.CounterVec
	stepDuration *prometheus.HistogramVec
	incidents    *prometheus.CounterVec
}

// The names of the systems Rollin calls, as the external-call metrics label them.
const (
	SystemProvider     = "provider"
	SystemState        = "state"
	SystemMunicipality = "municipality"
	SystemFitConnect   = "fit-connect"
)

// stepBuckets span an automatic step of a second to a human step that waits for weeks.
var stepBuckets = []float64{0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600, 14 * 24 * 3600, 30 * 24 * 3600}

// NewMetrics returns a registry with the Go runtime and process collectors, the Temporal
// SDK's metrics (fed through TemporalHandler) and Rollin's own metric families.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		sdk: newSDKCollector(),
		callDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rollin_external_call_duration_seconds",
			Help:    "Duration of HTTP calls to the external systems, by system, method and outcome (status class 2xx..5xx or error).",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"system", "method", "outcome"}),
		callErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollin_external_call_errors_total",
			Help: "HTTP calls to the external systems that failed: a 4xx or 5xx answer or no answer (error), by system and outcome.",
		}, []string{"system", "outcome"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rollin_step_duration_seconds",
			Help:    "Time from a step's last start (running or waiting) to its end, by step and outcome (done, skipped); human steps include the wait for the person.",
			Buckets: stepBuckets,
		}, []string{"step", "outcome"}),
		incidents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollin_incidents_total",
			Help: "Steps that became incidents (their tries were spent), by step.",
		}, []string{"step"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.sdk, m.callDuration, m.callErrors, m.stepDuration, m.incidents,
	)
	return m
}

// Handler serves the registry in the Prometheus text format, for GET /metrics. A
// collector that fails (e.g. the runs query) is reported in the answer and the rest is
// still served.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Mount adds GET /metrics to mux, so the health server of a worker and the API server
// expose the same endpoint.
func (m *Metrics) Mount(mux *http.ServeMux) {
	if m != nil {
		mux.Handle("GET /metrics", m.Handler())
	}
}

// ObserveStep records that step ended (outcome done or skipped) d after it last started.
func (m *Metrics) ObserveStep(step, outcome string, d time.Duration) {
	if m == nil || d < 0 {
		return
	}
	m.stepDuration.WithLabelValues(step, outcome).Observe(d.Seconds())
}

// Incident records that step became an incident.
func (m *Metrics) Incident(step string) {
	if m != nil {
		m.incidents.WithLabelValues(step).Inc()
	}
}

// RunsByState adds the gauge rollin_runs{state}, read from count at each scrape (with a
// 5-second timeout), so it shows the read model's truth rather than what this process saw.
// Register it in one kind of process only (the API servers), since every process would
// report the same numbers.
func (m *Metrics) RunsByState(count func(context.Context) (map[string]int64, error)) error {
	if m == nil {
		return nil
	}
	return m.reg.Register(&runsCollector{count: count})
}

var runsDesc = prometheus.NewDesc("rollin_runs", "Roll-ins in the read model by state.", []string{"state"}, nil)

type runsCollector struct {
	count func(context.Context) (map[string]int64, error)
}

func (c *runsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- runsDesc }

func (c *runsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(runsDesc, err)
		return
	}
	if counts == nil {
		counts = map[string]int64{}
	}
	// Every state is reported, 0 too, so that dashboards and alerts see a series.
	for _, state := range []domain.RunState{domain.RunRunning, domain.RunWaiting, domain.RunIncident, domain.RunBlocked, domain.RunLive, domain.RunCancelled} {
		if _, ok := counts[string(state)]; !ok {
			counts[string(state)] = 0
		}
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.GaugeValue, float64(n), state)
	}
}
