package main

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
)

// maxRequestBytes bounds what one request can make the server read: no route
// here takes a body, so anything larger is a mistake or an attack.
const maxRequestBytes = 4 << 10

// deps are everything the API depends on, passed in by main.
type deps struct {
	Logger   *slog.Logger
	Instance instance
	Greeting string
	Ready    *readiness
}

// newServer builds the whole HTTP API of this stage from its dependencies.
func newServer(d deps) http.Handler {
	// SkipClean: mux would answer "//ping" with a redirect to the cleaned
	// path, absolute, on the host an absolute-form request named.
	router := mux.NewRouter().SkipClean(true)
	addRoutes(router, d)
	router.MethodNotAllowedHandler = methodNotAllowed(router)
	router.NotFoundHandler = notFound()
	return accessLog(d.Logger, closeWhileDraining(d.Ready, http.MaxBytesHandler(router, maxRequestBytes)))
}

// addRoutes lists every route on one screen: this is the API surface.
func addRoutes(router *mux.Router, d deps) {
	router.Handle("/", handleRoot(d.Instance, d.Greeting)).Methods(http.MethodGet, http.MethodHead)
	router.Handle("/ping", handlePing()).Methods(http.MethodGet, http.MethodHead)
	router.Handle("/healthz", handleHealthz()).Methods(http.MethodGet, http.MethodHead)
	router.Handle("/readyz", handleReadyz(d.Ready)).Methods(http.MethodGet, http.MethodHead)
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
