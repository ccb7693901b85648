package api

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/go-platform/go-platform/services/greeter/internal/requestid"
	"github.com/go-platform/go-platform/services/greeter/internal/telemetry"
)

// httpMetrics are the API's request metrics. They are labelled by the route
// pattern that matched, never the raw path: a path label would grow a new
// series for every name ever greeted.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	labels := []string{"route", "method", "code"}
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "API requests served, by route pattern, method and status code.",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to serve an API request, by route pattern, method and status code.",
			Buckets: prometheus.DefBuckets,
		}, labels),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight",
			Help: "API requests being served now.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight)
	return m
}

func (m *httpMetrics) observe(ctx context.Context, route, method string, code int, elapsed time.Duration) {
	labels := []string{route, method, strconv.Itoa(code)}
	m.requests.WithLabelValues(labels...).Inc()
	observer := m.duration.WithLabelValues(labels...)
	// A sampled trace becomes the bucket's exemplar, so a latency panel can
	// jump to an example trace.
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
		observer.(prometheus.ExemplarObserver).ObserveWithExemplar(
			elapsed.Seconds(), prometheus.Labels{"trace_id": sc.TraceID().String()})
		return
	}
	observer.Observe(elapsed.Seconds())
}

// instrument wraps the API router with what every request gets: a request
// id, a server span continuing the caller's W3C trace, metrics, an access
// log line and recovery from panics.
//
// It sits outside the router yet labels by route: ServeMux records the
// pattern it matched in the *http.Request it was given, which is the one
// instrument passes down and reads after the handler returns.
func instrument(router http.Handler, logger *slog.Logger, metrics *httpMetrics, tracer trace.Tracer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		method := methodLabel(r.Method)

		id := requestid.FromHeader(r.Header)
		w.Header().Set(requestid.Header, id)

		ctx := telemetry.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, method,
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(method), semconv.URLPath(r.URL.Path)),
		)
		defer span.End()
		r = r.WithContext(requestid.NewContext(ctx, id))

		metrics.inFlight.Inc()
		defer metrics.inFlight.Dec()
		rec := &responseRecorder{ResponseWriter: w}
		serveRecovering(router, rec, r, logger)

		elapsed := time.Since(start)
		route := routeLabel(r.Pattern)
		status := rec.statusCode()

		span.SetName(spanName(method, route))
		span.SetAttributes(semconv.HTTPRoute(route), semconv.HTTPResponseStatusCode(status))
		metrics.observe(r.Context(), route, method, status, elapsed)

		level := slog.LevelInfo
		if status >= 500 { // only 5xx are the server's errors; 4xx are the client's
			span.SetStatus(codes.Error, http.StatusText(status))
			level = slog.LevelError
		}
		logger.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Int64("bytes", rec.bytes),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		)
	})
}

// serveRecovering turns a handler panic into a logged 500 instead of a
// dropped connection and a stack trace on stderr.
func serveRecovering(h http.Handler, w *responseRecorder, r *http.Request, logger *slog.Logger) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler { // a deliberate abort: let net/http handle it
			panic(v)
		}
		logger.ErrorContext(r.Context(), "handler panicked", "panic", v, "stack", string(debug.Stack()))
		if w.status == 0 { // once the status is sent, the client sees a truncated body
			writeError(w, http.StatusInternalServerError, "internal server error")
		}
	}()
	h.ServeHTTP(w, r)
}

// responseRecorder remembers the status code and body size a handler wrote.
type responseRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (rw *responseRecorder) WriteHeader(code int) {
	if rw.status == 0 && code >= 200 { // 1xx responses are interim
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *responseRecorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	n, err := rw.ResponseWriter.Write(b)
	rw.bytes += int64(n)
	return n, err
}

// Unwrap gives http.ResponseController access to the underlying writer.
func (rw *responseRecorder) Unwrap() http.ResponseWriter {
	return rw.ResponseWriter
}

// statusCode is what the client received: a handler that writes nothing
// gets net/http's implicit 200.
func (rw *responseRecorder) statusCode() int {
	if rw.status == 0 {
		return http.StatusOK
	}
	return rw.status
}

// routeLabel turns the pattern ServeMux matched ("GET /v1/greetings/{name}")
// into the route label ("/v1/greetings/{name}"); the method has its own.
func routeLabel(pattern string) string {
	if _, path, found := strings.Cut(pattern, " "); found {
		return path
	}
	if pattern == "" {
		return "unmatched"
	}
	return pattern
}

// methodLabel keeps label values bounded: a client can send any token as a
// method, so unknown ones are folded into "_OTHER", as OpenTelemetry's HTTP
// conventions do.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "_OTHER"
}

// spanName follows OpenTelemetry's HTTP server convention, "{method} {route}".
func spanName(method, route string) string {
	if method == "_OTHER" {
		method = "HTTP"
	}
	return method + " " + route
}
