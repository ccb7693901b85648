package config

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func TestLoadDefaults(t *testing.T) {
	got, err := Load(env(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Config{
		Port:            8080,
		AdminPort:       9090,
		LogLevel:        slog.LevelInfo,
		ShutdownDelay:   5 * time.Second,
		ShutdownTimeout: 20 * time.Second,
		Tracing:         Tracing{Enabled: false, Protocol: ProtocolGRPC},
	}
	if got != want {
		t.Errorf("Load() = %+v, want %+v", got, want)
	}
}

func TestLoadReadsEveryVariable(t *testing.T) {
	got, err := Load(env(map[string]string{
		"PORT":                        "3000",
		"ADMIN_PORT":                  "3001",
		"LOG_LEVEL":                   "WARN",
		"SHUTDOWN_DELAY":              "0s",
		"SHUTDOWN_TIMEOUT":            "45s",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://tempo.observability:4318",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_RESOURCE_ATTRIBUTES":    "deployment.environment.name=dev,team=platform%20core",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Config{
		Port:            3000,
		AdminPort:       3001,
		LogLevel:        slog.LevelWarn,
		ShutdownDelay:   0,
		ShutdownTimeout: 45 * time.Second,
		Tracing:         Tracing{Enabled: true, Protocol: ProtocolHTTP},
	}
	if got != want {
		t.Errorf("Load() = %+v, want %+v", got, want)
	}
}

func TestLoadTracing(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want Tracing
	}{
		{"off without an endpoint", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, Tracing{false, ProtocolHTTP}},
		{"general endpoint, gRPC by default", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://tempo.monitoring:4317"}, Tracing{true, ProtocolGRPC}},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://otlp.example.com"}, Tracing{true, ProtocolGRPC}},
		{"general protocol", map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
			"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		}, Tracing{true, ProtocolHTTP}},
		{"traces protocol wins", map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://collector:4318",
			"OTEL_EXPORTER_OTLP_PROTOCOL":        "grpc",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
		}, Tracing{true, ProtocolHTTP}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Tracing != tt.want {
				t.Errorf("Tracing = %+v, want %+v", cfg.Tracing, tt.want)
			}
		})
	}
}

func TestLoadRejectsInvalidValues(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
	}{
		{"port not a number", map[string]string{"PORT": "http"}, "PORT"},
		{"port zero", map[string]string{"PORT": "0"}, "PORT"},
		{"port too high", map[string]string{"PORT": "65536"}, "PORT"},
		{"admin port negative", map[string]string{"ADMIN_PORT": "-1"}, "ADMIN_PORT"},
		{"admin port equals port", map[string]string{"PORT": "9090"}, "ADMIN_PORT"},
		{"unknown log level", map[string]string{"LOG_LEVEL": "verbose"}, "LOG_LEVEL"},
		{"delay without unit", map[string]string{"SHUTDOWN_DELAY": "5"}, "SHUTDOWN_DELAY"},
		{"negative delay", map[string]string{"SHUTDOWN_DELAY": "-1s"}, "SHUTDOWN_DELAY"},
		{"zero timeout", map[string]string{"SHUTDOWN_TIMEOUT": "0s"}, "SHUTDOWN_TIMEOUT"},
		{"timeout not a duration", map[string]string{"SHUTDOWN_TIMEOUT": "soon"}, "SHUTDOWN_TIMEOUT"},
		{"endpoint without scheme", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"endpoint with other scheme", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://collector"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"traces endpoint without host", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{"unsupported protocol", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{"unsupported traces protocol", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "thrift"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		{"resource attribute without value", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=a,region"}, "OTEL_RESOURCE_ATTRIBUTES"},
		{"resource attribute without key", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "=a"}, "OTEL_RESOURCE_ATTRIBUTES"},
		{"resource attribute badly encoded", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=100%"}, "OTEL_RESOURCE_ATTRIBUTES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env))
			var cfgErr *Error
			if !errors.As(err, &cfgErr) {
				t.Fatalf("Load() error = %v, want *config.Error", err)
			}
			if len(cfgErr.Problems) != 1 || cfgErr.Problems[0].Var != tt.wantVar {
				t.Fatalf("problems = %+v, want exactly one naming %s", cfgErr.Problems, tt.wantVar)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantVar+"=") || strings.Contains(msg, "\n") {
				t.Errorf("message %q should be one line naming %s", msg, tt.wantVar)
			}
		})
	}
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	_, err := Load(env(map[string]string{"PORT": "x", "LOG_LEVEL": "loud", "SHUTDOWN_TIMEOUT": "-1s"}))
	var cfgErr *Error
	if !errors.As(err, &cfgErr) {
		t.Fatalf("Load() error = %v, want *config.Error", err)
	}
	var got []string
	for _, p := range cfgErr.Problems {
		got = append(got, p.Var)
	}
	if want := "PORT LOG_LEVEL SHUTDOWN_TIMEOUT"; strings.Join(got, " ") != want {
		t.Errorf("problems name %v, want %s", got, want)
	}
	want := `invalid configuration: PORT="x": must be a port number from 1 to 65535; ` +
		`LOG_LEVEL="loud": must be one of debug, info, warn, error; ` +
		`SHUTDOWN_TIMEOUT="-1s": must be at least 1ms`
	if err.Error() != want {
		t.Errorf("message = %q\nwant      %q", err.Error(), want)
	}
}
