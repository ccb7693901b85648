package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-platform/go-platform/services/greeter/internal/config"
	"github.com/go-platform/go-platform/services/greeter/internal/telemetry"
)

func TestRunExitsWith2OnInvalidConfig(t *testing.T) {
	for name, value := range map[string]string{
		"PORT":                        "eighty",
		"ADMIN_PORT":                  "99999",
		"LOG_LEVEL":                   "trace",
		"SHUTDOWN_DELAY":              "5",
		"SHUTDOWN_TIMEOUT":            "-20s",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "tempo:4317",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			getenv := func(key string) string {
				if key == name {
					return value
				}
				return ""
			}

			code := run(t.Context(), getenv, &stdout, &stderr)

			if code != exitConfig {
				t.Errorf("exit code = %d, want %d", code, exitConfig)
			}
			msg := stderr.String()
			if !strings.HasPrefix(msg, "greeter: invalid configuration: "+name+"=") || strings.Count(msg, "\n") != 1 {
				t.Errorf("stderr = %q, want one line naming %s", msg, name)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

// lockedBuffer is a log destination that server goroutines and the test
// can share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines(t *testing.T) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var lines []map[string]any
	for l := range strings.Lines(b.buf.String()) {
		var line map[string]any
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		lines = append(lines, line)
	}
	return lines
}

// TestServe runs the service as main does, on loopback listeners, and
// checks that the pieces are wired to the right ports.
func TestServe(t *testing.T) {
	apiLn, adminLn := listen(t), listen(t)
	apiURL, adminURL := "http://"+apiLn.Addr().String(), "http://"+adminLn.Addr().String()
	cfg := config.Config{LogLevel: slog.LevelInfo, ShutdownDelay: 100 * time.Millisecond, ShutdownTimeout: time.Second}
	var logs lockedBuffer
	ctx, sigterm := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, telemetry.NewLogger(&logs, cfg.LogLevel), apiLn, adminLn) }()
	waitForStatus(t, adminURL+"/readyz", http.StatusOK)

	r := get(apiURL+"/v1/greetings/Ada?lang=fr", "X-Request-ID", "e2e-1")
	if r.status != http.StatusOK || !strings.Contains(r.body, `"message":"Bonjour, Ada !"`) {
		t.Errorf("greeting: %d %q (%v)", r.status, r.body, r.err)
	}
	if id := r.header.Get("X-Request-ID"); id != "e2e-1" {
		t.Errorf("X-Request-ID = %q, want e2e-1 echoed", id)
	}

	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/debug/pprof/"} {
		if r := get(apiURL + path); r.status != http.StatusNotFound {
			t.Errorf("API port serves %s: %d, want 404", path, r.status)
		}
	}
	if r := get(adminURL + "/v1/greetings/Ada"); r.status != http.StatusNotFound {
		t.Errorf("admin port serves the API: %d, want 404", r.status)
	}
	if r := get(adminURL + "/debug/pprof/cmdline"); r.status != http.StatusOK {
		t.Errorf("admin /debug/pprof/cmdline = %d, want 200", r.status)
	}
	metrics := get(adminURL + "/metrics").body
	for _, want := range []string{
		`http_requests_total{code="200",method="GET",route="/v1/greetings/{name}"} 1`,
		`version="dev"} 1`,
		"go_goroutines ",
		"process_open_fds ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("admin /metrics lacks %q", want)
		}
	}

	sigterm()
	waitForStatus(t, adminURL+"/readyz", http.StatusServiceUnavailable)
	if err := <-done; err != nil {
		t.Fatalf("serve = %v, want nil after a clean shutdown", err)
	}

	var sawStart, sawRequest, sawShutdown bool
	for _, line := range logs.lines(t) {
		switch line["msg"] {
		case "greeter starting":
			sawStart = line["version"] == "dev" && line["tracing"] == false
		case "request":
			sawRequest = sawRequest || line["request_id"] == "e2e-1"
		case "shutting down: readiness now failing":
			sawShutdown = true
		}
	}
	if !sawStart || !sawRequest || !sawShutdown {
		t.Errorf("logs lack start (%v), request e2e-1 (%v) or shutdown (%v) lines", sawStart, sawRequest, sawShutdown)
	}
}
