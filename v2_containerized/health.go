package main

import (
	"errors"
	"sync/atomic"
)

// readiness is whether this instance should be sent traffic. It turns false
// as soon as shutdown begins, so that load balancers stop sending new
// requests before the server stops accepting them.
type readiness struct {
	shuttingDown atomic.Bool
}

func (r *readiness) check() error {
	if r.shuttingDown.Load() {
		return errors.New("shutting down")
	}
	return nil
}
