// Package api is the greeter's public HTTP API: greetings in a few
// languages, as JSON.
package api

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/go-platform/go-platform/services/greeter/internal/greeting"
)

const tracerName = "github.com/go-platform/go-platform/services/greeter/internal/api"

// New returns the API handler. Every response, 404s and 405s included, is
// JSON and carries an X-Request-ID; every request is traced, counted, timed
// in metrics registered with reg, and logged.
func New(logger *slog.Logger, reg prometheus.Registerer, tp trace.TracerProvider) http.Handler {
	return instrument(routes(), logger, newHTTPMetrics(reg), tp.Tracer(tracerName))
}

func routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/greetings/{name}", getGreeting)
	mux.HandleFunc("POST /v1/greetings", postGreeting)
	mux.HandleFunc("GET /v1/languages", listLanguages)

	// ServeMux answers unknown paths and methods in plain text; these
	// catch-alls, less specific than the routes above, answer in JSON.
	mux.HandleFunc("/v1/greetings/{name}", methodNotAllowed(http.MethodGet, http.MethodHead))
	mux.HandleFunc("/v1/greetings", methodNotAllowed(http.MethodPost))
	mux.HandleFunc("/v1/languages", methodNotAllowed(http.MethodGet, http.MethodHead))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not found")
	})
	return mux
}

// getGreeting serves GET /v1/greetings/{name}?lang=xx.
func getGreeting(w http.ResponseWriter, r *http.Request) {
	respondGreeting(w, r.PathValue("name"), r.URL.Query().Get("lang"))
}

type greetingRequest struct {
	Name string `json:"name"`
	Lang string `json:"lang"`
}

// postGreeting serves POST /v1/greetings with a {"name", "lang"} body, for
// names that are awkward in a URL.
func postGreeting(w http.ResponseWriter, r *http.Request) {
	var req greetingRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	respondGreeting(w, req.Name, req.Lang)
}

func respondGreeting(w http.ResponseWriter, name, lang string) {
	g, err := greeting.Greet(name, lang)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, g)
}

type languagesResponse struct {
	Languages []greeting.Language `json:"languages"`
}

// listLanguages serves GET /v1/languages.
func listLanguages(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, languagesResponse{Languages: greeting.Languages()})
}

func methodNotAllowed(allowed ...string) http.HandlerFunc {
	allow := strings.Join(allowed, ", ")
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "method not allowed; use "+allow)
	}
}
