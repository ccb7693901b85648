package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// servers runs the API and admin servers and stops them in the order a
// rolling update needs, so that no request is dropped:
//
//  1. readiness fails, so Kubernetes takes the pod out of its Service's
//     endpoints and the gateway stops sending it new requests;
//  2. for shutdownDelay the API keeps serving whatever still arrives while
//     that news propagates;
//  3. the API stops accepting connections and in-flight requests get up to
//     shutdownTimeout to finish;
//  4. the admin server, which answered probes and scrapes throughout, closes.
type servers struct {
	api, admin      *http.Server
	ready           *atomic.Bool
	shutdownDelay   time.Duration
	shutdownTimeout time.Duration
	logger          *slog.Logger
}

// run serves on the listeners until ctx is cancelled, then shuts down as
// described above. It returns nil after a clean shutdown, or an error if a
// server failed or requests were still running at the timeout.
func (s *servers) run(ctx context.Context, apiLn, adminLn net.Listener) error {
	// Once readiness fails, every response asks the client to close its
	// connection ("Connection: close"), moving clients that hold keep-alive
	// connections (the gateway) on to pods that are still ready, one response
	// at a time. Disabling keep-alives on the server instead would close the
	// idle connections at once, under requests the gateway is already sending
	// on them.
	api := s.api.Handler
	s.api.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			w.Header().Set("Connection", "close")
		}
		api.ServeHTTP(w, r)
	})
	serveErr := make(chan error, 2)
	go func() { serveErr <- s.admin.Serve(adminLn) }()
	go func() { serveErr <- s.api.Serve(apiLn) }()
	s.ready.Store(true)

	select {
	case err := <-serveErr:
		s.ready.Store(false)
		s.api.Close()
		s.admin.Close()
		return fmt.Errorf("server stopped unexpectedly: %w", err)
	case <-ctx.Done():
	}

	s.ready.Store(false)
	s.logger.Info("shutting down: readiness now failing",
		"shutdown_delay", s.shutdownDelay.String(), "shutdown_timeout", s.shutdownTimeout.String())
	time.Sleep(s.shutdownDelay)

	drainCtx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
	defer cancel()
	err := s.api.Shutdown(drainCtx)
	if err != nil {
		s.api.Close()
		err = fmt.Errorf("requests still in flight after SHUTDOWN_TIMEOUT (%s): %w", s.shutdownTimeout, err)
	}
	// Probes, scrapes and profiles are not worth waiting for.
	s.admin.Close()
	return err
}
