package main

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
)

// maxRequestBytes bounds what one request can make the server read: no route
// here takes a body, so anything larger is a mistake or an attack.
const maxRequestBytes = 4 << 10

// Counter is what the API needs from the ping counter.
type Counter interface {
	Next(ctx context.Context) (int64, error)
	Current(ctx context.Context) (int64, error)
	Reset(ctx context.Context) error
}

// deps are everything the API depends on, passed in by main.
type deps struct {
	Logger     *slog.Logger
	Counter    Counter
	Instance   instance
	Greeting   func() string // read on every request: it can change at run time
	AdminToken string        // empty turns the admin API off
	Ready      *readiness
	Registry   *prometheus.Registry // where the HTTP metrics go, and what /metrics shows
}

// newServer builds the whole public HTTP API of this stage from its
// dependencies.
func newServer(d deps) http.Handler {
	// SkipClean: mux would answer "//ping" with a redirect to the cleaned
	// path, absolute, on the host an absolute-form request named.
	router := mux.NewRouter().SkipClean(true)
	addRoutes(router, d)
	router.MethodNotAllowedHandler = instrument(d.Registry, "method_not_allowed", methodNotAllowed(router))
	router.NotFoundHandler = instrument(d.Registry, "not_found", notFound())
	return accessLog(d.Logger, inFlight(d.Registry, closeWhileDraining(d.Ready, http.MaxBytesHandler(router, maxRequestBytes))))
}

// addRoutes lists every route on one screen: this is the API surface. Each
// route's metrics are labelled with its path template, never the raw URL, so
// that no caller can create new time series by inventing paths.
func addRoutes(router *mux.Router, d deps) {
	handle := instrumented(router, d)
	failures := newFailureLog(d.Logger)
	handle("/", handleRoot(d.Instance, d.Greeting), http.MethodGet, http.MethodHead)
	// /ping is GET only, though it changes state, because `curl /ping` is
	// the workshop's whole interface; HEAD is not allowed, so that a link
	// checker cannot count pings.
	handle("/ping", handleCount(d.Counter.Next, d.Instance, failures), http.MethodGet)
	handle("/count", handleCount(d.Counter.Current, d.Instance, failures), http.MethodGet, http.MethodHead)
	handle("/healthz", handleHealthz(), http.MethodGet, http.MethodHead)
	handle("/readyz", handleReadyz(d.Ready, failures), http.MethodGet, http.MethodHead)
}

// notFound answers 404 in the same JSON shape as every other error.
func notFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not found")
	})
}

// methodNotAllowed answers 405 with the Allow header that HTTP requires
// (RFC 9110, section 15.5.6). gorilla/mux knows that the path matched but not
// which methods would have, so we ask each route again with its own methods.
func methodNotAllowed(router *mux.Router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		_ = router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
			methods, err := route.GetMethods()
			if err != nil {
				return nil // a route without a method matcher is never the reason for a 405
			}
			for _, method := range methods {
				probe := r.Clone(r.Context())
				probe.Method = method
				if route.Match(probe, &mux.RouteMatch{}) {
					allowed = append(allowed, method)
				}
			}
			return nil
		})
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	})
}
