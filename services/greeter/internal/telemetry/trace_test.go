package telemetry

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace/noop"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/go-platform/go-platform/services/greeter/internal/config"
)

var discard = slog.New(slog.DiscardHandler)

func TestStartTracingWithoutEndpointIsNoop(t *testing.T) {
	tp, shutdown, err := StartTracing(t.Context(), config.Tracing{Protocol: config.ProtocolHTTP}, "test", discard)
	if err != nil {
		t.Fatalf("StartTracing: %v", err)
	}
	if _, ok := tp.(noop.TracerProvider); !ok {
		t.Errorf("provider is %T, want the no-op provider", tp)
	}
	_, span := tp.Tracer("test").Start(t.Context(), "op")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Error("a span was recorded without an OTLP endpoint")
	}
	span.End()
	if err := shutdown(t.Context()); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	// Trace context still flows through to logs and downstream calls.
	if fields := otel.GetTextMapPropagator().Fields(); !slices.Contains(fields, "traceparent") {
		t.Errorf("global propagator fields %v, want W3C traceparent", fields)
	}
}

// collector is a stand-in OTLP receiver; it returns the endpoint URL to
// configure and delivers what it receives on the channel.
type collector func(t *testing.T, received chan<- *coltracepb.ExportTraceServiceRequest) string

func httpCollector(t *testing.T, received chan<- *coltracepb.ExportTraceServiceRequest) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := new(coltracepb.ExportTraceServiceRequest)
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(body, req) != nil {
			http.Error(w, "not an OTLP/HTTP trace export", http.StatusBadRequest)
			return
		}
		received <- req
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type grpcTraceService struct {
	coltracepb.UnimplementedTraceServiceServer
	received chan<- *coltracepb.ExportTraceServiceRequest
}

func (s grpcTraceService) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	s.received <- req
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func grpcCollector(t *testing.T, received chan<- *coltracepb.ExportTraceServiceRequest) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, grpcTraceService{received: received})
	go srv.Serve(ln) // returns once srv is stopped
	t.Cleanup(srv.Stop)
	return "http://" + ln.Addr().String() // http: plaintext gRPC
}

func TestStartTracingExportsOverOTLP(t *testing.T) {
	for protocol, start := range map[string]collector{
		config.ProtocolHTTP: httpCollector,
		config.ProtocolGRPC: grpcCollector,
	} {
		t.Run(protocol, func(t *testing.T) {
			received := make(chan *coltracepb.ExportTraceServiceRequest, 10)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", start(t, received))
			t.Setenv("OTEL_SERVICE_NAME", "greeter-test")
			t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=ci,service.name=overridden")

			tp, shutdown, err := StartTracing(t.Context(), config.Tracing{Enabled: true, Protocol: protocol}, "1.2.3", discard)
			if err != nil {
				t.Fatalf("StartTracing: %v", err)
			}
			_, span := tp.Tracer("test").Start(t.Context(), "op")
			span.End()
			if err := shutdown(t.Context()); err != nil { // flushes the batch
				t.Fatalf("shutdown: %v", err)
			}

			var req *coltracepb.ExportTraceServiceRequest
			select {
			case req = <-received:
			default:
				t.Fatal("no spans reached the collector")
			}
			rs := req.GetResourceSpans()[0]
			attrs := map[string]string{}
			for _, kv := range rs.GetResource().GetAttributes() {
				attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
			}
			for k, want := range map[string]string{
				"service.name":                "greeter-test", // OTEL_SERVICE_NAME wins
				"service.version":             "1.2.3",
				"deployment.environment.name": "ci",
				"telemetry.sdk.language":      "go",
			} {
				if attrs[k] != want {
					t.Errorf("resource %s = %q, want %q", k, attrs[k], want)
				}
			}
			if name := rs.GetScopeSpans()[0].GetSpans()[0].GetName(); name != "op" {
				t.Errorf("exported span %q, want op", name)
			}
		})
	}
}
