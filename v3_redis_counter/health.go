package main

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
)

// readiness is whether this instance should be sent traffic. It turns false
// as soon as shutdown begins, so that load balancers stop sending new
// requests before the server stops accepting them, and while Redis does not
// answer, since every ping would fail. Liveness (/healthz) checks neither.
type readiness struct {
	shuttingDown atomic.Bool
	redis        func(context.Context) error // pings Redis on every probe
}

func (r *readiness) check(ctx context.Context) error {
	if r.shuttingDown.Load() {
		return errors.New("shutting down")
	}
	return r.redis(ctx)
}

// closeWhileDraining asks every client to close its connection once shutdown
// has begun. A keep-alive client would otherwise go on sending its requests
// down its connection to this instance until Shutdown closes it, and a
// request sent just as it closes is lost. With "Connection: close" each busy
// connection gets one more answer, then the client opens a new one, which
// the load balancer gives to an instance that stays.
func closeWhileDraining(ready *readiness, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ready.shuttingDown.Load() {
			w.Header().Set("Connection", "close") // net/http closes the connection after this answer
		}
		next.ServeHTTP(w, r)
	})
}
