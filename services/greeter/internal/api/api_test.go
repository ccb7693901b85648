package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/go-platform/go-platform/services/greeter/internal/telemetry"
)

// testAPI is the API handler as main builds it, with its metrics and logs
// captured.
type testAPI struct {
	handler  http.Handler
	registry *prometheus.Registry
	logs     bytes.Buffer
}

func newTestAPI(t *testing.T, tp trace.TracerProvider) *testAPI {
	t.Helper()
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	a := &testAPI{registry: prometheus.NewRegistry()}
	a.handler = New(telemetry.NewLogger(&a.logs, slog.LevelDebug), a.registry, tp)
	return a
}

func (a *testAPI) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	a.handler.ServeHTTP(w, r)
	return w
}

func (a *testAPI) get(target string) *httptest.ResponseRecorder {
	return a.serve(httptest.NewRequest(http.MethodGet, target, nil))
}

// logLines decodes the JSON log lines written so far.
func (a *testAPI) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var lines []map[string]any
	dec := json.NewDecoder(&a.logs)
	for {
		var line map[string]any
		if err := dec.Decode(&line); err == io.EOF {
			return lines
		} else if err != nil {
			t.Fatalf("log output is not JSON lines: %v", err)
		}
		lines = append(lines, line)
	}
}

func TestHandlers(t *testing.T) {
	const jsonType = "application/json"
	tests := []struct {
		name        string
		method      string
		target      string
		contentType string
		body        string
		wantStatus  int
		wantBody    string // JSON, compared structurally
		wantHeader  http.Header
	}{
		{
			name: "greet by path", method: "GET", target: "/v1/greetings/Ada",
			wantStatus: 200, wantBody: `{"name":"Ada","lang":"en","message":"Hello, Ada!"}`,
		},
		{
			// The server drops the body of a HEAD response; the handler need not.
			name: "HEAD a greeting", method: "HEAD", target: "/v1/greetings/Ada",
			wantStatus: 200, wantBody: `{"name":"Ada","lang":"en","message":"Hello, Ada!"}`,
		},
		{
			name: "greet by path in German", method: "GET", target: "/v1/greetings/Ada?lang=de",
			wantStatus: 200, wantBody: `{"name":"Ada","lang":"de","message":"Hallo, Ada!"}`,
		},
		{
			name: "greet an escaped name", method: "GET", target: "/v1/greetings/Jos%C3%A9%20Mar%C3%ADa?lang=es",
			wantStatus: 200, wantBody: `{"name":"José María","lang":"es","message":"¡Hola, José María!"}`,
		},
		{
			name: "unsupported language", method: "GET", target: "/v1/greetings/Ada?lang=xx",
			wantStatus: 400, wantBody: `{"error":"lang: \"xx\" is not supported; use one of de, en, es, fr"}`,
		},
		{
			name: "invalid name", method: "GET", target: "/v1/greetings/R2D2",
			wantStatus: 400, wantBody: `{"error":"name: '2' is not allowed; use letters, spaces, hyphens, apostrophes or periods"}`,
		},
		{
			name: "slash encoded in name", method: "GET", target: "/v1/greetings/a%2Fb",
			wantStatus: 400, wantBody: `{"error":"name: '/' is not allowed; use letters, spaces, hyphens, apostrophes or periods"}`,
		},
		{
			name: "missing name", method: "GET", target: "/v1/greetings/",
			wantStatus: 404, wantBody: `{"error":"not found"}`,
		},
		{
			name: "greet by body", method: "POST", target: "/v1/greetings",
			contentType: jsonType, body: `{"name":"Grace","lang":"fr"}`,
			wantStatus: 200, wantBody: `{"name":"Grace","lang":"fr","message":"Bonjour, Grace !"}`,
		},
		{
			name: "greet by body with charset", method: "POST", target: "/v1/greetings",
			contentType: "application/json; charset=utf-8", body: ` {"name": "Grace"} ` + "\n",
			wantStatus: 200, wantBody: `{"name":"Grace","lang":"en","message":"Hello, Grace!"}`,
		},
		{
			name: "body without content type", method: "POST", target: "/v1/greetings",
			body:       `{"name":"Grace"}`,
			wantStatus: 415, wantBody: `{"error":"Content-Type must be application/json"}`,
			wantHeader: http.Header{"Accept-Post": {jsonType}},
		},
		{
			name: "body of the wrong type", method: "POST", target: "/v1/greetings",
			contentType: "text/plain", body: `{"name":"Grace"}`,
			wantStatus: 415, wantBody: `{"error":"Content-Type must be application/json"}`,
		},
		{
			name: "empty body", method: "POST", target: "/v1/greetings", contentType: jsonType,
			wantStatus: 400, wantBody: `{"error":"request body must not be empty"}`,
		},
		{
			name: "truncated JSON", method: "POST", target: "/v1/greetings", contentType: jsonType,
			body:       `{"name":`,
			wantStatus: 400, wantBody: `{"error":"request body must be valid JSON"}`,
		},
		{
			name: "not JSON", method: "POST", target: "/v1/greetings", contentType: jsonType,
			body:       `name=Grace`,
			wantStatus: 400, wantBody: `{"error":"request body must be valid JSON"}`,
		},
		{
			name: "field of the wrong type", method: "POST", target: "/v1/greetings", contentType: jsonType,
			body:       `{"name":42}`,
			wantStatus: 400, wantBody: `{"error":"name: must be a string"}`,
		},
		{
			name: "not an object", method: "POST", target: "/v1/greetings", contentType: jsonType,
			body:       `["Grace"]`,
			wantStatus: 400, wantBody: `{"error":"request body must be a JSON object"}`,
		},
		{
			name: "unknown field", method: "POST", target: "/v1/greetings", contentType: jsonType,
			body:       `{"name":"Grace","title":"Rear Admiral"}`,
			wantStatus: 400, wantBody: `{"error":"unknown field \"title\""}`,
		},
		{
			name: "two objects", method: "POST", target: "/v1/greetings", contentType: jsonType,
			body:       `{"name":"Grace"} {"name":"Ada"}`,
			wantStatus: 400, wantBody: `{"error":"request body must hold a single JSON object"}`,
		},
		{
			name: "trailing garbage", method: "POST", target: "/v1/greetings", contentType: jsonType,
			body:       `{"name":"Grace"} x`,
			wantStatus: 400, wantBody: `{"error":"request body must be valid JSON"}`,
		},
		{
			name: "empty name in body", method: "POST", target: "/v1/greetings", contentType: jsonType,
			body:       `{"lang":"de"}`,
			wantStatus: 400, wantBody: `{"error":"name: must not be empty"}`,
		},
		{
			name: "body too large", method: "POST", target: "/v1/greetings", contentType: jsonType,
			body:       `{"name":"` + strings.Repeat("a", maxBodyBytes) + `"}`,
			wantStatus: 413, wantBody: `{"error":"request body must be at most 4096 bytes"}`,
		},
		{
			name: "languages", method: "GET", target: "/v1/languages",
			wantStatus: 200,
			wantBody: `{"languages":[{"code":"de","name":"German"},{"code":"en","name":"English"},` +
				`{"code":"es","name":"Spanish"},{"code":"fr","name":"French"}]}`,
		},
		{
			name: "wrong method on a greeting", method: "DELETE", target: "/v1/greetings/Ada",
			wantStatus: 405, wantBody: `{"error":"method not allowed; use GET, HEAD"}`,
			wantHeader: http.Header{"Allow": {"GET, HEAD"}},
		},
		{
			name: "wrong method on greetings", method: "GET", target: "/v1/greetings",
			wantStatus: 405, wantBody: `{"error":"method not allowed; use POST"}`,
			wantHeader: http.Header{"Allow": {"POST"}},
		},
		{
			name: "wrong method on languages", method: "POST", target: "/v1/languages",
			contentType: jsonType, body: `{}`,
			wantStatus: 405, wantBody: `{"error":"method not allowed; use GET, HEAD"}`,
			wantHeader: http.Header{"Allow": {"GET, HEAD"}},
		},
		{
			name: "unknown path", method: "GET", target: "/v2/greetings/Ada",
			wantStatus: 404, wantBody: `{"error":"not found"}`,
		},
		// The admin endpoints live on the admin port only.
		{name: "no metrics here", method: "GET", target: "/metrics", wantStatus: 404, wantBody: `{"error":"not found"}`},
		{name: "no healthz here", method: "GET", target: "/healthz", wantStatus: 404, wantBody: `{"error":"not found"}`},
		{name: "no readyz here", method: "GET", target: "/readyz", wantStatus: 404, wantBody: `{"error":"not found"}`},
		{name: "no pprof here", method: "GET", target: "/debug/pprof/", wantStatus: 404, wantBody: `{"error":"not found"}`},
	}
	a := newTestAPI(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			w := a.serve(r)

			if w.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			if ct := w.Header().Get("Content-Type"); ct != jsonType {
				t.Errorf("Content-Type = %q, want %q", ct, jsonType)
			}
			var got, want any
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q is not JSON: %v", w.Body, err)
			}
			if err := json.Unmarshal([]byte(tt.wantBody), &want); err != nil {
				t.Fatalf("bad wantBody: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body = %s, want %s", w.Body, tt.wantBody)
			}
			for name, values := range tt.wantHeader {
				if got := w.Header().Values(name); !reflect.DeepEqual(got, values) {
					t.Errorf("header %s = %q, want %q", name, got, values)
				}
			}
		})
	}
}
