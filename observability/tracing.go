package observability

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// Tracing exports OpenTelemetry spans of workflow starts, updates, workflows and
// activities (the SDK's tracing interceptor) over OTLP/HTTP. A nil *Tracing is tracing
// turned off: no interceptor, nothing to shut down.
type Tracing struct {
	provider    *sdktrace.TracerProvider
	interceptor interceptor.Interceptor
}

// StartTracing sets up tracing to the collector at endpoint (tracing.otlp_endpoint, e.g.
// http://otel-collector:4318; the path /v1/traces is added when it has none), with spans
// named after service. An empty endpoint returns nil: tracing is off by default, so
// installations without a collector pay nothing. Spans are batched; nothing is sent
// until the first span ends, so an unreachable collector does not stop the process.
func StartTracing(ctx context.Context, endpoint, service, instance string) (*Tracing, error) {
	if endpoint == "" {
		return nil, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("tracing.otlp_endpoint %q: %w", endpoint, err)
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/v1/traces"
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter for %s: %w", u.Redacted(), err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", service), attribute.String("service.instance.id", instance))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	ic, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{Tracer: tp.Tracer("github.com/rollin-efa/rollin")})
	if err != nil {
		_ = tp.Shutdown(ctx)
		return nil, fmt.Errorf("temporal tracing interceptor: %w", err)
	}
	return &Tracing{provider: tp, interceptor: ic}, nil
}

// Interceptors returns what to put into client.Options.Interceptors: the client and every
// worker built on it then trace (nil when tracing is off).
func (t *Tracing) Interceptors() []interceptor.ClientInterceptor {
	if t == nil {
		return nil
	}
	return []interceptor.ClientInterceptor{t.interceptor}
}

// Shutdown sends the spans still buffered and stops the exporter; call it when the
// process stops, after the worker.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	if err := t.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing shutdown: %w", err)
	}
	return nil
}
