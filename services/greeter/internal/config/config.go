// Package config reads the service's configuration from environment
// variables and validates it before anything starts.
package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the validated runtime configuration.
type Config struct {
	Port            int           // PORT: public API
	AdminPort       int           // ADMIN_PORT: health, readiness, metrics, pprof
	LogLevel        slog.Level    // LOG_LEVEL
	ShutdownDelay   time.Duration // SHUTDOWN_DELAY: readiness fails this long before draining
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT: in-flight requests get this long to finish
	Tracing         Tracing
}

// Tracing says whether and how spans are exported. The OTLP exporters read
// the endpoint, headers, TLS and timeout variables themselves; Load only
// decides whether tracing is on and checks that what it reads is usable.
type Tracing struct {
	Enabled  bool   // an OTLP endpoint is set; otherwise tracing is a no-op
	Protocol string // ProtocolGRPC unless OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL says otherwise
}

// Protocols the OTLP trace exporters understand.
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// Problem is one invalid environment variable.
type Problem struct {
	Var    string // the variable's name, e.g. "PORT"
	Value  string
	Reason string
}

// Error lists every invalid variable found by Load. Its message is one line.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = fmt.Sprintf("%s=%q: %s", p.Var, p.Value, p.Reason)
	}
	return "invalid configuration: " + strings.Join(parts, "; ")
}

// Load reads the configuration through getenv (os.Getenv in production).
// An unset or empty variable takes its default. When any value is invalid,
// Load returns an *Error naming every offending variable.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	cfg := Config{
		Port:            p.port("PORT", 8080),
		AdminPort:       p.port("ADMIN_PORT", 9090),
		LogLevel:        p.logLevel("LOG_LEVEL", slog.LevelInfo),
		ShutdownDelay:   p.duration("SHUTDOWN_DELAY", 5*time.Second, 0),
		ShutdownTimeout: p.duration("SHUTDOWN_TIMEOUT", 20*time.Second, time.Millisecond),
		Tracing:         p.tracing(),
	}
	p.resourceAttributes("OTEL_RESOURCE_ATTRIBUTES")
	if cfg.Port != 0 && cfg.Port == cfg.AdminPort { // 0: invalid, already reported
		p.fail("ADMIN_PORT", strconv.Itoa(cfg.AdminPort), "must differ from PORT")
	}
	if len(p.problems) > 0 {
		return Config{}, &Error{Problems: p.problems}
	}
	return cfg, nil
}

// parser reads variables and collects every problem instead of stopping at
// the first, so one failed start reports all of them.
type parser struct {
	getenv   func(string) string
	problems []Problem
}

func (p *parser) fail(name, value, reason string) {
	p.problems = append(p.problems, Problem{Var: name, Value: value, Reason: reason})
}

func (p *parser) port(name string, def int) int {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		p.fail(name, v, "must be a port number from 1 to 65535")
		return 0
	}
	return n
}

func (p *parser) duration(name string, def, minimum time.Duration) time.Duration {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.fail(name, v, "must be a duration such as 500ms, 5s or 1m")
		return 0
	}
	if d < minimum {
		p.fail(name, v, fmt.Sprintf("must be at least %s", minimum))
		return 0
	}
	return d
}

var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

func (p *parser) logLevel(name string, def slog.Level) slog.Level {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	level, ok := logLevels[strings.ToLower(v)]
	if !ok {
		p.fail(name, v, "must be one of debug, info, warn, error")
	}
	return level
}

// tracing follows the OpenTelemetry environment specification, where the
// traces-specific variable wins over the general one, with one exception:
// the protocol defaults to gRPC, not http/protobuf, because the endpoint
// go-platform hands its services is an OTLP/gRPC receiver.
func (p *parser) tracing() Tracing {
	enabled := false
	for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		if v := p.getenv(name); v != "" {
			enabled = true
			p.endpoint(name, v)
		}
	}

	protocol := ProtocolGRPC
	for _, name := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		switch v := p.getenv(name); v {
		case "":
		case ProtocolHTTP, ProtocolGRPC:
			protocol = v
		default:
			p.fail(name, v, "must be http/protobuf or grpc")
		}
	}
	return Tracing{Enabled: enabled, Protocol: protocol}
}

func (p *parser) endpoint(name, v string) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(name, v, "must be an http:// or https:// URL with a host, e.g. http://otel-collector:4317")
	}
}

// resourceAttributes checks the key=value,... list that the SDK would
// otherwise accept only partially, dropping attributes without a word.
func (p *parser) resourceAttributes(name string) {
	v := p.getenv(name)
	if strings.TrimSpace(v) == "" {
		return
	}
	for pair := range strings.SplitSeq(v, ",") {
		key, value, found := strings.Cut(pair, "=")
		if !found || strings.TrimSpace(key) == "" {
			p.fail(name, v, "must be a comma-separated list of key=value pairs")
			return
		}
		if _, err := url.PathUnescape(strings.TrimSpace(value)); err != nil {
			p.fail(name, v, fmt.Sprintf("value of %q must be percent-encoded", strings.TrimSpace(key)))
			return
		}
	}
}
