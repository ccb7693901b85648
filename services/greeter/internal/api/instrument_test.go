package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/go-platform/go-platform/services/greeter/internal/requestid"
)

// A sampled W3C traceparent, as the gateway would send it.
const (
	callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID  = "00f067aa0ba902b7"
	traceparent   = "00-" + callerTraceID + "-" + callerSpanID + "-01"
)

func TestRequestID(t *testing.T) {
	tests := []struct {
		name     string
		incoming string
		keep     bool
	}{
		{"accepts a valid id", "7c9e6679-7425-40de-944b-e07fc1f90ae7", true},
		{"generates a missing id", "", false},
		{"replaces an id with bad characters", "abc def<script>", false},
		{"replaces a too long id", strings.Repeat("a", requestid.MaxLen+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAPI(t, nil)
			r := httptest.NewRequest(http.MethodGet, "/v1/greetings/Ada", nil)
			if tt.incoming != "" {
				r.Header.Set(requestid.Header, tt.incoming)
			}
			w := a.serve(r)

			got := w.Header().Get(requestid.Header)
			if tt.keep && got != tt.incoming {
				t.Errorf("response %s = %q, want the incoming %q", requestid.Header, got, tt.incoming)
			}
			if !tt.keep && (got == tt.incoming || !requestid.Valid(got)) {
				t.Errorf("response %s = %q, want a newly generated id", requestid.Header, got)
			}
			lines := a.logLines(t)
			if len(lines) != 1 || lines[0]["request_id"] != got {
				t.Errorf("log lines %v, want one carrying request_id %q", lines, got)
			}
		})
	}
}

func TestRequestIDOnErrorResponses(t *testing.T) {
	a := newTestAPI(t, nil)
	for _, target := range []string{"/nowhere", "/v1/greetings/R2D2"} {
		if w := a.get(target); !requestid.Valid(w.Header().Get(requestid.Header)) {
			t.Errorf("GET %s: no valid %s in the %d response", target, requestid.Header, w.Code)
		}
	}
}

func TestMetricsAreLabelledByRoutePattern(t *testing.T) {
	a := newTestAPI(t, nil)
	a.get("/v1/greetings/Ada")
	a.get("/v1/greetings/Grace?lang=fr")
	a.get("/v1/greetings/Ada?lang=xx")
	a.get("/v1/languages")
	a.get("/nowhere")
	a.serve(httptest.NewRequest("BREW", "/v1/greetings/Ada", nil))

	want := `
# HELP http_requests_total API requests served, by route pattern, method and status code.
# TYPE http_requests_total counter
http_requests_total{code="200",method="GET",route="/v1/greetings/{name}"} 2
http_requests_total{code="200",method="GET",route="/v1/languages"} 1
http_requests_total{code="400",method="GET",route="/v1/greetings/{name}"} 1
http_requests_total{code="404",method="GET",route="/"} 1
http_requests_total{code="405",method="_OTHER",route="/v1/greetings/{name}"} 1
# HELP http_requests_in_flight API requests being served now.
# TYPE http_requests_in_flight gauge
http_requests_in_flight 0
`
	if err := testutil.GatherAndCompare(a.registry, strings.NewReader(want), "http_requests_total", "http_requests_in_flight"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(a.registry, "http_request_duration_seconds"); n != 5 {
		t.Errorf("http_request_duration_seconds has %d series, want one per route, method and code (5)", n)
	}
}

func TestTracing(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	a := newTestAPI(t, sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))

	r := httptest.NewRequest(http.MethodGet, "/v1/greetings/Ada", nil)
	r.Header.Set("traceparent", traceparent)
	a.serve(r)

	ended := spans.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans ended, want 1", len(ended))
	}
	span := ended[0]
	if span.Name() != "GET /v1/greetings/{name}" || span.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %q of kind %v, want server span GET /v1/greetings/{name}", span.Name(), span.SpanKind())
	}
	if span.SpanContext().TraceID().String() != callerTraceID || span.Parent().SpanID().String() != callerSpanID {
		t.Errorf("span continues trace %s from span %s, want the caller's %s from %s",
			span.SpanContext().TraceID(), span.Parent().SpanID(), callerTraceID, callerSpanID)
	}
	wantAttrs := map[attribute.Key]attribute.Value{
		"http.request.method":       attribute.StringValue("GET"),
		"http.route":                attribute.StringValue("/v1/greetings/{name}"),
		"http.response.status_code": attribute.IntValue(200),
		"url.path":                  attribute.StringValue("/v1/greetings/Ada"),
	}
	for _, kv := range span.Attributes() {
		if want, ok := wantAttrs[kv.Key]; ok {
			if kv.Value != want {
				t.Errorf("attribute %s = %v, want %v", kv.Key, kv.Value.String(), want.String())
			}
			delete(wantAttrs, kv.Key)
		}
	}
	if len(wantAttrs) > 0 {
		t.Errorf("span lacks attributes %v", wantAttrs)
	}

	lines := a.logLines(t)
	if len(lines) != 1 || lines[0]["trace_id"] != callerTraceID || lines[0]["span_id"] != span.SpanContext().SpanID().String() {
		t.Errorf("log lines %v, want one with trace_id %s and span_id %s", lines, callerTraceID, span.SpanContext().SpanID())
	}

	// The sampled trace is the latency histogram's exemplar.
	families, err := a.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var exemplarTraceIDs []string
	for _, f := range families {
		if f.GetName() != "http_request_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, b := range m.GetHistogram().GetBucket() {
				for _, l := range b.GetExemplar().GetLabel() {
					exemplarTraceIDs = append(exemplarTraceIDs, l.GetName()+"="+l.GetValue())
				}
			}
		}
	}
	if len(exemplarTraceIDs) != 1 || exemplarTraceIDs[0] != "trace_id="+callerTraceID {
		t.Errorf("histogram exemplars %v, want one trace_id=%s", exemplarTraceIDs, callerTraceID)
	}

	// A client error is not the server's: the span status stays unset.
	a.get("/v1/greetings/R2D2")
	if ended := spans.Ended(); len(ended) != 2 || ended[1].Status().Code != codes.Unset {
		t.Errorf("span of a 400 has status %v, want Unset", ended[len(ended)-1].Status())
	}
}

func TestNoopTracingStillLogsTheCallersTrace(t *testing.T) {
	a := newTestAPI(t, nil) // no-op tracer provider, as without an OTLP endpoint
	r := httptest.NewRequest(http.MethodGet, "/v1/greetings/Ada", nil)
	r.Header.Set("traceparent", traceparent)
	a.serve(r)

	lines := a.logLines(t)
	if len(lines) != 1 || lines[0]["trace_id"] != callerTraceID {
		t.Errorf("log lines %v, want one with the caller's trace_id %s", lines, callerTraceID)
	}
}

func TestAccessLog(t *testing.T) {
	a := newTestAPI(t, nil)
	a.get("/v1/greetings/Ada?lang=de")

	lines := a.logLines(t)
	if len(lines) != 1 {
		t.Fatalf("got %d log lines, want 1", len(lines))
	}
	line := lines[0]
	want := map[string]any{
		"level":  "INFO",
		"msg":    "request",
		"method": "GET",
		"path":   "/v1/greetings/Ada",
		"route":  "/v1/greetings/{name}",
		"status": float64(200),
		"bytes":  float64(len(`{"name":"Ada","lang":"de","message":"Hallo, Ada!"}`) + 1),
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log %s = %v, want %v", k, line[k], v)
		}
	}
	if _, ok := line["duration_ms"].(float64); !ok {
		t.Errorf("log duration_ms = %v, want a number", line["duration_ms"])
	}
}

func TestPanicBecomesA500(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("kaboom") })
	registry := prometheus.NewRegistry()
	var logs strings.Builder
	h := instrument(mux, slog.New(slog.NewJSONHandler(&logs, nil)), newHTTPMetrics(registry),
		sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)).Tracer("test"))

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/boom", nil))

	if w.Code != http.StatusInternalServerError || w.Body.String() != `{"error":"internal server error"}`+"\n" {
		t.Errorf("response %d %q, want 500 with a JSON error", w.Code, w.Body)
	}
	want := `
# HELP http_requests_total API requests served, by route pattern, method and status code.
# TYPE http_requests_total counter
http_requests_total{code="500",method="GET",route="/boom"} 1
`
	if err := testutil.GatherAndCompare(registry, strings.NewReader(want), "http_requests_total"); err != nil {
		t.Error(err)
	}
	if ended := spans.Ended(); len(ended) != 1 || ended[0].Status().Code != codes.Error {
		t.Errorf("want one span with status Error, got %v", ended)
	}
	if !strings.Contains(logs.String(), `"msg":"handler panicked","panic":"kaboom"`) ||
		!strings.Contains(logs.String(), `"level":"ERROR","msg":"request"`) {
		t.Errorf("logs lack the panic and an error-level request line:\n%s", logs.String())
	}
}

func TestResponseRecorder(t *testing.T) {
	tests := []struct {
		name       string
		write      func(w http.ResponseWriter)
		wantStatus int
		wantBytes  int64
	}{
		{"nothing written", func(http.ResponseWriter) {}, 200, 0},
		{"body only", func(w http.ResponseWriter) { w.Write([]byte("hello")) }, 200, 5},
		{"status then body", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte("hi"))
		}, 201, 2},
		{"interim response first", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusAccepted)
		}, 202, 0},
		{"superfluous status ignored", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusNotFound)
			w.WriteHeader(http.StatusOK)
		}, 404, 0},
	}
	for _, tt := range tests {
		rec := &responseRecorder{ResponseWriter: httptest.NewRecorder()}
		tt.write(rec)
		if rec.statusCode() != tt.wantStatus || rec.bytes != tt.wantBytes {
			t.Errorf("%s: recorded %d and %d bytes, want %d and %d", tt.name, rec.statusCode(), rec.bytes, tt.wantStatus, tt.wantBytes)
		}
	}
}
