package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/go-platform/go-platform/services/greeter/internal/requestid"
)

func decodeLine(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var line map[string]any
	if err := json.Unmarshal(b, &line); err != nil {
		t.Fatalf("log line %q is not JSON: %v", b, err)
	}
	return line
}

func TestLoggerAddsCorrelationIDs(t *testing.T) {
	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID}))
	ctx = requestid.NewContext(ctx, "req-1")

	var buf bytes.Buffer
	NewLogger(&buf, slog.LevelInfo).With("component", "test").InfoContext(ctx, "hello")

	line := decodeLine(t, buf.Bytes())
	for k, want := range map[string]any{
		"msg":        "hello",
		"component":  "test",
		"request_id": "req-1",
		"trace_id":   "4bf92f3577b34da6a3ce929d0e0e4736",
		"span_id":    "00f067aa0ba902b7",
	} {
		if line[k] != want {
			t.Errorf("%s = %v, want %v", k, line[k], want)
		}
	}
}

func TestLoggerOmitsAbsentCorrelationIDs(t *testing.T) {
	var buf bytes.Buffer
	NewLogger(&buf, slog.LevelInfo).InfoContext(context.Background(), "hello")

	line := decodeLine(t, buf.Bytes())
	for _, k := range []string{"request_id", "trace_id", "span_id"} {
		if v, ok := line[k]; ok {
			t.Errorf("%s = %v, want it absent", k, v)
		}
	}
}

func TestLoggerLevel(t *testing.T) {
	var buf bytes.Buffer
	logger := NewLogger(&buf, slog.LevelWarn)
	logger.Info("dropped")
	logger.Warn("kept")

	line := decodeLine(t, buf.Bytes()) // fails if both were written
	if line["msg"] != "kept" {
		t.Errorf("logged %v, want only the warning", line)
	}
}
