package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-platform/go-platform/services/greeter/internal/admin"
)

// listen returns a listener on a free loopback port.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

type response struct {
	status int
	header http.Header
	body   string
	closed bool // the server asked to close the connection
	err    error
}

// get does one request on a fresh keep-alive connection, so that what it
// sees does not depend on connections other requests left open.
func get(url string, header ...string) response {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return response{err: err}
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	client := &http.Client{Timeout: 5 * time.Second, Transport: transport}
	resp, err := client.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(body), closed: resp.Close, err: err}
}

// waitForStatus polls url until it answers with status.
func waitForStatus(t *testing.T, url string, status int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := get(url)
		if r.err == nil && r.status == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still %d (err %v), want %d", url, r.status, r.err, status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type testServers struct {
	apiURL, adminURL string
	sigterm          context.CancelFunc // what SIGTERM does in main
	done             chan error         // servers.run's result
}

// startServers runs api and the real admin handler on loopback ports and
// waits until they report ready.
func startServers(t *testing.T, api http.Handler, delay, timeout time.Duration) *testServers {
	t.Helper()
	apiLn, adminLn := listen(t), listen(t)
	var ready atomic.Bool
	s := &servers{
		api:             &http.Server{Handler: api},
		admin:           &http.Server{Handler: admin.New(prometheus.NewRegistry(), ready.Load)},
		ready:           &ready,
		shutdownDelay:   delay,
		shutdownTimeout: timeout,
		logger:          slog.New(slog.DiscardHandler),
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ts := &testServers{
		apiURL:   "http://" + apiLn.Addr().String(),
		adminURL: "http://" + adminLn.Addr().String(),
		sigterm:  cancel,
		done:     make(chan error, 1),
	}
	go func() { ts.done <- s.run(ctx, apiLn, adminLn) }()
	waitForStatus(t, ts.adminURL+"/readyz", http.StatusOK)
	return ts
}

// blockingAPI serves /slow, which signals started and then waits for
// release, and /fast.
func blockingAPI() (h http.Handler, started, release chan struct{}) {
	started, release = make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "slow done")
	})
	mux.HandleFunc("/fast", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "fast done")
	})
	return mux, started, release
}

func TestShutdownFailsReadinessFirstThenDrains(t *testing.T) {
	api, started, release := blockingAPI()
	// Long enough for the checks "within the delay" below on a loaded machine
	// under -race; the in-flight request is released by the test itself.
	const delay = 2 * time.Second
	ts := startServers(t, api, delay, 5*time.Second)

	inFlight := make(chan response, 1)
	go func() { inFlight <- get(ts.apiURL + "/slow") }()
	<-started
	ts.sigterm()

	// Readiness fails at once; the process stays alive.
	waitForStatus(t, ts.adminURL+"/readyz", http.StatusServiceUnavailable)
	if r := get(ts.adminURL + "/healthz"); r.status != http.StatusOK {
		t.Errorf("/healthz while draining = %d (%v), want 200", r.status, r.err)
	}
	// Within the delay, requests routed before the endpoint update still
	// succeed, and are told not to keep the connection.
	if r := get(ts.apiURL + "/fast"); r.status != http.StatusOK || !r.closed {
		t.Errorf("request during the delay: %d, connection closed %v (%v); want 200 and closed", r.status, r.closed, r.err)
	}

	select {
	case r := <-inFlight:
		t.Fatalf("in-flight request ended before it was released: %+v", r)
	case err := <-ts.done:
		t.Fatalf("run returned with a request in flight: %v", err)
	default:
	}

	close(release)
	if r := <-inFlight; r.status != http.StatusOK || r.body != "slow done" {
		t.Errorf("in-flight request got %d %q (%v), want 200 slow done", r.status, r.body, r.err)
	}
	if err := <-ts.done; err != nil {
		t.Errorf("run = %v, want nil after a clean shutdown", err)
	}
	if r := get(ts.apiURL + "/fast"); r.err == nil {
		t.Errorf("API still answers after shutdown: %d", r.status)
	}
}

func TestShutdownGivesUpAtTheTimeout(t *testing.T) {
	api, started, release := blockingAPI()
	defer close(release)
	ts := startServers(t, api, 0, 50*time.Millisecond)

	inFlight := make(chan response, 1)
	go func() { inFlight <- get(ts.apiURL + "/slow") }()
	<-started
	ts.sigterm()

	if err := <-ts.done; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("run = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	if r := <-inFlight; r.err == nil {
		t.Errorf("request still running at the timeout got %d, want its connection closed", r.status)
	}
}

func TestServersStopWhenOneFails(t *testing.T) {
	apiLn, adminLn := listen(t), listen(t)
	adminLn.Close() // the admin server cannot serve
	var ready atomic.Bool
	s := &servers{
		api:             &http.Server{Handler: http.NotFoundHandler()},
		admin:           &http.Server{Handler: http.NotFoundHandler()},
		ready:           &ready,
		shutdownTimeout: time.Second,
		logger:          slog.New(slog.DiscardHandler),
	}

	if err := s.run(t.Context(), apiLn, adminLn); err == nil {
		t.Fatal("run = nil, want the admin server's error")
	}
	if ready.Load() {
		t.Error("still ready after a server failed")
	}
	if r := get("http://" + apiLn.Addr().String()); r.err == nil {
		t.Errorf("API still answers after the admin server failed: %d", r.status)
	}
}

// A keep-alive connection the gateway holds when SIGTERM arrives stays open
// through the delay: its next request is answered on it, and only that
// response asks to close it. Closing idle connections at once instead would
// race requests the gateway is already sending on them.
func TestAnIdleKeepAliveConnectionServesOneMoreRequestWhileDraining(t *testing.T) {
	api, _, _ := blockingAPI()
	ts := startServers(t, api, 500*time.Millisecond, 5*time.Second)
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	client := &http.Client{Timeout: 5 * time.Second, Transport: transport}
	fetch := func() (status int, reused, closed bool) {
		req, err := http.NewRequest(http.MethodGet, ts.apiURL+"/fast", nil)
		if err != nil {
			t.Fatal(err)
		}
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
		resp, err := client.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
		if err != nil {
			t.Fatalf("GET /fast: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, reused, resp.Close
	}

	if status, _, closed := fetch(); status != http.StatusOK || closed {
		t.Fatalf("before SIGTERM: %d, closed %v; want 200 on a kept connection", status, closed)
	}
	ts.sigterm()
	waitForStatus(t, ts.adminURL+"/readyz", http.StatusServiceUnavailable)

	status, reused, closed := fetch()
	if status != http.StatusOK || !reused || !closed {
		t.Errorf("during the delay: %d, reused the idle connection %v, asked to close %v; want 200, true, true",
			status, reused, closed)
	}
	if err := <-ts.done; err != nil {
		t.Errorf("run: %v", err)
	}
}
