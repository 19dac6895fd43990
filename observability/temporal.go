package observability

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// TemporalHandler is the client.MetricsHandler to put into client.Options: the SDK's
// metrics (temporal_workflow_task_*, temporal_activity_*, temporal_request*, pollers,
// sticky cache …) land in this registry. Counters get the suffix _total and timers become
// histograms in seconds with the suffix _seconds, as Prometheus names them. A nil
// *Metrics gives the SDK's no-op handler.
func (m *Metrics) TemporalHandler() client.MetricsHandler {
	if m == nil {
		return client.MetricsNopHandler
	}
	return sdkHandler{c: m.sdk}
}

// sdkCollector keeps every series the SDK reported. The SDK does not declare its metrics
// up front and uses different tag sets under one name, so the series are kept by name and
// tags and collected unchecked (Describe sends nothing), which Prometheus allows.
type sdkCollector struct {
	mu     sync.Mutex
	series map[string]prometheus.Collector
}

func newSDKCollector() *sdkCollector { return &sdkCollector{series: map[string]prometheus.Collector{}} }

// Describe sends nothing: the collector is unchecked.
func (c *sdkCollector) Describe(chan<- *prometheus.Desc) {}

// Collect sends every series seen so far.
func (c *sdkCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	all := slices.Collect(maps.Values(c.series))
	c.mu.Unlock()
	for _, s := range all {
		s.Collect(ch)
	}
}

// sdkTimerBuckets cover the SDK's latencies: task processing in milliseconds up to long
// polls (a minute) and schedule-to-start delays.
var sdkTimerBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// get returns the series of kind (counter, gauge, timer) name with tags, creating it.
func (c *sdkCollector) get(kind, name string, tags map[string]string) prometheus.Collector {
	name = promName(name)
	switch kind {
	case "counter":
		if !strings.HasSuffix(name, "_total") {
			name += "_total"
		}
	case "timer":
		name += "_seconds"
	}
	labels := prometheus.Labels{}
	for k, v := range tags {
		labels[promName(k)] = v
	}
	key := name + "\x00" + labelKey(labels)
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.series[key]; ok {
		return s
	}
	help := "Temporal SDK metric " + name + "."
	var s prometheus.Collector
	switch kind {
	case "counter":
		s = prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels})
	case "gauge":
		s = prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels})
	default:
		s = prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, ConstLabels: labels, Buckets: sdkTimerBuckets})
	}
	c.series[key] = s
	return s
}

func labelKey(l prometheus.Labels) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(l)) {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(l[k])
		b.WriteByte(0)
	}
	return b.String()
}

// promName replaces what Prometheus does not allow in a name with _.
func promName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == ':' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// sdkHandler is the client.MetricsHandler over the collector, carrying the tags of
// WithTags.
type sdkHandler struct {
	c    *sdkCollector
	tags map[string]string
}

// WithTags returns a handler whose metrics carry tags in addition to h's.
func (h sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	maps.Copy(merged, h.tags)
	maps.Copy(merged, tags)
	return sdkHandler{c: h.c, tags: merged}
}

// Counter returns the counter name with h's tags.
func (h sdkHandler) Counter(name string) client.MetricsCounter {
	s := h.c.get("counter", name, h.tags).(prometheus.Counter)
	return counterFunc(func(d int64) {
		if d > 0 {
			s.Add(float64(d))
		}
	})
}

// Gauge returns the gauge name with h's tags.
func (h sdkHandler) Gauge(name string) client.MetricsGauge {
	s := h.c.get("gauge", name, h.tags).(prometheus.Gauge)
	return gaugeFunc(s.Set)
}

// Timer returns the timer name with h's tags, a histogram in seconds.
func (h sdkHandler) Timer(name string) client.MetricsTimer {
	s := h.c.get("timer", name, h.tags).(prometheus.Histogram)
	return timerFunc(func(d time.Duration) { s.Observe(d.Seconds()) })
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
