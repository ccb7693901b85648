// Command greeter is go-platform's reference Go service: a small JSON
// greeting API that shows, end to end, the contract GoServiceStack expects
// of every service (see README.md).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-platform/go-platform/services/greeter/internal/admin"
	"github.com/go-platform/go-platform/services/greeter/internal/api"
	"github.com/go-platform/go-platform/services/greeter/internal/config"
	"github.com/go-platform/go-platform/services/greeter/internal/telemetry"
)

// version is stamped at build time: go build -ldflags "-X main.version=1.2.3".
var version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // could not start, or did not shut down cleanly
	exitConfig  = 2 // invalid configuration
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	// Once shutdown has begun, a second signal gets the default behaviour:
	// the process dies at once.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run configures and runs the service until ctx is cancelled, and returns
// the process exit code.
func run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "greeter: %v\n", err)
		return exitConfig
	}
	logger := telemetry.NewLogger(stdout, cfg.LogLevel)
	if err := listenAndServe(ctx, cfg, logger); err != nil {
		logger.Error("greeter failed", "error", err)
		return exitFailure
	}
	logger.Info("greeter stopped")
	return exitOK
}

func listenAndServe(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	apiLn, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.Port))
	if err != nil {
		return err
	}
	adminLn, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.AdminPort))
	if err != nil {
		apiLn.Close()
		return err
	}
	return serve(ctx, cfg, logger, apiLn, adminLn)
}

// serve runs the API and admin servers on the given listeners until ctx is
// cancelled, then shuts them down gracefully and flushes pending spans.
func serve(ctx context.Context, cfg config.Config, logger *slog.Logger, apiLn, adminLn net.Listener) error {
	tracerProvider, stopTracing, err := telemetry.StartTracing(ctx, cfg.Tracing, version, logger)
	if err != nil {
		apiLn.Close()
		adminLn.Close()
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(flushCtx); err != nil {
			logger.Warn("flushing traces", "error", err)
		}
	}()

	registry := telemetry.NewRegistry(version)
	errorLog := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	var ready atomic.Bool
	s := &servers{
		api: &http.Server{
			Handler:           api.New(logger, registry, tracerProvider),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			// Longer than the gateway's idle timeout (Traefik: 90s), so the
			// gateway closes idle connections rather than racing us to it.
			IdleTimeout: 120 * time.Second,
			ErrorLog:    errorLog,
		},
		admin: &http.Server{
			Handler:           admin.New(registry, ready.Load),
			ReadHeaderTimeout: 5 * time.Second,
			// No WriteTimeout: a CPU profile streams for as long as it is asked to.
			ErrorLog: errorLog,
		},
		ready:           &ready,
		shutdownDelay:   cfg.ShutdownDelay,
		shutdownTimeout: cfg.ShutdownTimeout,
		logger:          logger,
	}

	logger.Info("greeter starting",
		"version", version,
		"go_version", runtime.Version(),
		"api_addr", apiLn.Addr().String(),
		"admin_addr", adminLn.Addr().String(),
		"log_level", cfg.LogLevel.String(),
		"tracing", cfg.Tracing.Enabled,
	)
	return s.run(ctx, apiLn, adminLn)
}
