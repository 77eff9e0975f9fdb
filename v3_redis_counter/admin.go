package main

// The admin API and the admin commands: reading and resetting the count, on
// a port of its own (ADMIN_PORT) or as a one-off command.

import (
	"context"
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"pingpong/v3_redis_counter/internal/counter"
)

// newAdminServer builds the internal API, served on a port of its own
// (ADMIN_PORT) that nothing public routes to: the metrics, which tell anyone
// who reads them how the service is built and used, and the reset. Prometheus
// scrapes the pods on this port directly; an operator reaches it with
// `kubectl port-forward`.
func newAdminServer(d deps) http.Handler {
	router := mux.NewRouter().SkipClean(true)
	addAdminRoutes(router, d)
	router.MethodNotAllowedHandler = methodNotAllowed(router)
	router.NotFoundHandler = notFound()
	return accessLog(d.Logger, http.MaxBytesHandler(router, maxRequestBytes))
}

func addAdminRoutes(router *mux.Router, d deps) {
	handle := instrumented(router, d)
	handle("/metrics", handleMetrics(d.Registry), http.MethodGet)
	// The probes too, so that a full public port never fails them. Their
	// metrics are the public port's: these are not counted.
	router.Handle("/healthz", handleHealthz()).Methods(http.MethodGet, http.MethodHead)
	router.Handle("/readyz", handleReadyz(d.Ready, newFailureLog(d.Logger))).Methods(http.MethodGet, http.MethodHead)
	handle("/admin/reset", requireToken(d.AdminToken, d.Logger, handleReset(d.Counter, d.Logger, newFailureLog(d.Logger))), http.MethodPost)
}

// handleReset sets the count back to zero.
func handleReset(counter Counter, logger *slog.Logger, failures *failureLog) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := counter.Reset(r.Context()); err != nil {
			failures.counterUnavailable(w, err)
			return
		}
		logger.Warn("counter reset through the admin API", "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, map[string]any{"count": 0, "reset": true})
	})
}

// requireToken lets a request through only with "Authorization: Bearer
// <token>" (the scheme in any case, as RFC 9110 section 11.1 says). With no
// token configured, the admin API is off altogether. A refusal is logged at
// warn with the caller's address: someone is guessing, or a Job has an old
// token.
func requireToken(token string, logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" {
			writeError(w, http.StatusForbidden, "the admin API is off: set ADMIN_TOKEN (or ADMIN_TOKEN_FILE) to turn it on")
			return
		}
		scheme, given, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		// A constant-time comparison, so the time taken does not reveal how
		// much of a guessed token was right.
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(given), []byte(token)) != 1 {
			logger.Warn("admin API: a request without the right token refused", "remote", r.RemoteAddr, "path", r.URL.Path)
			w.Header().Set("WWW-Authenticate", `Bearer realm="pingpong admin"`)
			writeError(w, http.StatusUnauthorized, "a valid bearer token is required")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// runAdmin runs a one-off admin command against the configured Redis: in
// Kubernetes, as a Job with the same image and the same Secret as the app.
func runAdmin(ctx context.Context, command string, cfg Config, stdout io.Writer) error {
	if cfg.RedisURL == "" && cfg.RedisAddr == "" && len(cfg.RedisSentinels) == 0 {
		return fmt.Errorf("%s: no Redis configured: set REDIS_URL, REDIS_ADDR or REDIS_SENTINELS", command)
	}
	// With Sentinel, the same failover client as the server's: a reset
	// always goes to the master, never to a replica.
	client, err := cfg.newRedisClient()
	if err != nil {
		return err
	}
	defer client.Close()
	// One command, one round trip: the plain counter is all it needs.
	c := counter.New(client, cfg.CounterKey, cfg.RedisTimeout)
	if err := waitForRedis(ctx, c, adminWait); err != nil {
		return err
	}
	switch command {
	case "reset":
		if err := c.Reset(ctx); err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "reset %q: the next ping answers 1\n", cfg.CounterKey)
		return err
	default:
		n, err := c.Current(ctx)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, n)
		return err
	}
}

// adminWait is how long a one-off command waits for Redis to answer.
const adminWait = 30 * time.Second

// waitForRedis pings Redis once a second until it answers, for at most limit.
// A one-off command often starts at a moment when Redis cannot be reached
// yet: in a Kubernetes Job, the network policies reach the Job's new pod a
// moment after it starts; Redis may be restarting. The service itself needs
// no such wait: its readiness probe holds traffic back until Redis answers.
func waitForRedis(ctx context.Context, c *counter.Counter, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		err := c.Ping(ctx)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
