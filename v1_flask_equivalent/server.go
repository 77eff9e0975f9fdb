package main

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"
)

// newServer builds the whole HTTP API of this stage.
func newServer() http.Handler {
	router := mux.NewRouter()
	addRoutes(router)
	router.MethodNotAllowedHandler = methodNotAllowed(router)
	return router
}

// addRoutes lists every route on one screen: this is the API surface.
func addRoutes(router *mux.Router) {
	router.Handle("/", text("Hello!")).Methods(http.MethodGet, http.MethodHead)
	router.Handle("/ping", text("pong")).Methods(http.MethodGet, http.MethodHead)
}

// text answers with a fixed line of plain text.
func text(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(body + "\n"))
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
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	})
}
