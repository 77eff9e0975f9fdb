package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// serve answers requests on every endpoint until ctx is cancelled (the first
// SIGTERM or SIGINT), then shuts down without dropping a request.
func serve(ctx context.Context, endpoints []endpoint, ready *readiness, cfg Config, logger *slog.Logger) error {
	errc := make(chan error, len(endpoints))
	for _, e := range endpoints {
		go func() { errc <- e.srv.Serve(e.listener) }()
	}

	select {
	case err := <-errc:
		for _, e := range endpoints {
			e.srv.Close()
		}
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}

	// Fail readiness first, so load balancers stop choosing this instance,
	// and from now on answer every request with "Connection: close", so that
	// keep-alive clients move to another instance (closeWhileDraining).
	ready.shuttingDown.Store(true)
	logger.Info("shutting down", "delay", cfg.ShutdownDelay.String(), "timeout", cfg.ShutdownTimeout.String())
	// Keep serving while they notice: Kubernetes removes a pod from its
	// Service endpoints a few seconds after the pod starts terminating. Not
	// srv.SetKeepAlivesEnabled(false) here: it would close the idle
	// connections at once, under a request a client may be sending.
	time.Sleep(cfg.ShutdownDelay)
	// Stop accepting connections, close the idle ones, and let in-flight
	// requests finish in time.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	for _, e := range endpoints {
		if err := e.srv.Shutdown(shutdownCtx); err != nil {
			return fmt.Errorf("shutting down: %w", err)
		}
	}
	for range endpoints {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serving: %w", err)
		}
	}
	logger.Info("stopped")
	return nil
}
