package telemetry

import (
	"context"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/go-platform/go-platform/services/greeter/internal/config"
)

// ServiceName is the default service.name; OTEL_SERVICE_NAME overrides it.
const ServiceName = "greeter"

// Propagator reads and writes W3C trace context and baggage headers.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(
	propagation.TraceContext{}, propagation.Baggage{},
)

// StartTracing returns the tracer provider the service uses and a function
// that flushes and stops it. When cfg.Enabled is false the provider is a
// no-op: nothing is recorded or sent, though an incoming trace context is
// still propagated, so log lines keep the caller's trace id.
//
// When enabled, spans are batched to an OTLP exporter that reads its
// endpoint, headers, TLS and timeout settings from the standard
// OTEL_EXPORTER_OTLP_* variables; the resource takes OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES, and the sampler OTEL_TRACES_SAMPLER; SDK errors
// (a collector that is down) are logged to logger.
//
// For any instrumented library, Propagator is installed as the global
// propagator either way, and an enabled provider as the global provider.
func StartTracing(ctx context.Context, cfg config.Tracing, version string, logger *slog.Logger) (trace.TracerProvider, func(context.Context) error, error) {
	otel.SetTextMapPropagator(Propagator)
	if !cfg.Enabled {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}

	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(ServiceName), semconv.ServiceVersion(version)),
		resource.WithFromEnv(), // last, so the environment wins over the defaults above
	)
	if err != nil {
		return nil, nil, fmt.Errorf("tracing resource: %w", err)
	}
	var exporter sdktrace.SpanExporter
	if cfg.Protocol == config.ProtocolGRPC {
		exporter, err = otlptracegrpc.New(ctx)
	} else {
		exporter, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("OTLP %s trace exporter: %w", cfg.Protocol, err)
	}

	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("opentelemetry", "error", err)
	}))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp, tp.Shutdown, nil
}
