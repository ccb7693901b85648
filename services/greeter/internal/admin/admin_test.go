package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-platform/go-platform/services/greeter/internal/telemetry"
)

func get(h http.Handler, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	return w
}

func TestHealthAndReadiness(t *testing.T) {
	var ready atomic.Bool
	h := New(telemetry.NewRegistry("test"), ready.Load)

	for _, step := range []struct {
		ready                   bool
		wantHealthz, wantReadyz int
	}{
		{false, 200, 503}, // starting
		{true, 200, 200},  // serving
		{false, 200, 503}, // draining: alive, but no new traffic please
	} {
		ready.Store(step.ready)
		if got := get(h, "/healthz").Code; got != step.wantHealthz {
			t.Errorf("ready=%v: /healthz = %d, want %d", step.ready, got, step.wantHealthz)
		}
		if got := get(h, "/readyz").Code; got != step.wantReadyz {
			t.Errorf("ready=%v: /readyz = %d, want %d", step.ready, got, step.wantReadyz)
		}
	}
}

func TestMetrics(t *testing.T) {
	h := New(telemetry.NewRegistry("1.2.3"), func() bool { return true })
	w := get(h, "/metrics")
	if w.Code != http.StatusOK {
		t.Fatalf("/metrics = %d, want 200", w.Code)
	}
	for _, want := range []string{
		`build_info{goversion="go`,
		`version="1.2.3"} 1`,
		"go_goroutines ",
		"go_gc_duration_seconds",
		"process_cpu_seconds_total ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestPprof(t *testing.T) {
	h := New(telemetry.NewRegistry("test"), func() bool { return true })
	for _, tt := range []struct {
		target     string
		wantStatus int
		wantBody   string
	}{
		{"/debug/pprof/", 200, "goroutine"},
		{"/debug/pprof/goroutine?debug=1", 200, "goroutine profile:"},
		{"/debug/pprof/heap?debug=1", 200, "heap profile:"},
		{"/debug/pprof/symbol", 200, "num_symbols:"},
		{"/debug/pprof/cmdline", 200, ""},
		{"/debug/pprof/trace?seconds=0.01", 200, "go 1."}, // an execution trace's header
	} {
		w := get(h, tt.target)
		if w.Code != tt.wantStatus || !strings.Contains(w.Body.String(), tt.wantBody) {
			t.Errorf("%s = %d, want %d with %q", tt.target, w.Code, tt.wantStatus, tt.wantBody)
		}
	}
}
