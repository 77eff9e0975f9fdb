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
	"sync"
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
// token. Wrong tokens spend a budget (guessBudget): once it is spent, every
// request waits, the right token's too, so guessing runs at a few tokens a
// second instead of thousands.
func requireToken(token string, logger *slog.Logger, next http.Handler) http.Handler {
	budget := newGuessBudget(time.Now())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" {
			writeError(w, http.StatusForbidden, "the admin API is off: set ADMIN_TOKEN (or ADMIN_TOKEN_FILE) to turn it on")
			return
		}
		if !budget.open(time.Now()) {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusTooManyRequests, "too many wrong tokens: try again in a second")
			return
		}
		scheme, given, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		// A constant-time comparison, so the time taken does not reveal how
		// much of a guessed token was right.
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(given), []byte(token)) != 1 {
			budget.spend()
			logger.Warn("admin API: a request without the right token refused", "remote", r.RemoteAddr, "path", r.URL.Path)
			w.Header().Set("WWW-Authenticate", `Bearer realm="pingpong admin"`)
			writeError(w, http.StatusUnauthorized, "a valid bearer token is required")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// The budget of wrong tokens on the admin port: a burst, then a steady rate.
// At 10 a second, guessing even the shortest token allowed (16 characters)
// takes longer than anyone waits.
const (
	wrongTokenBurst      = 10
	wrongTokensPerSecond = 10
)

// guessBudget is a token bucket of wrong tokens: each wrong token takes one,
// and they come back at wrongTokensPerSecond, up to wrongTokenBurst.
type guessBudget struct {
	mu   sync.Mutex
	left float64
	last time.Time
}

func newGuessBudget(now time.Time) *guessBudget {
	return &guessBudget{left: wrongTokenBurst, last: now}
}

// open reports whether a token may be compared at now: false while the
// budget is spent.
func (b *guessBudget) open(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.left = min(wrongTokenBurst, b.left+now.Sub(b.last).Seconds()*wrongTokensPerSecond)
	b.last = now
	return b.left >= 1
}

// spend takes one wrong token from the budget.
func (b *guessBudget) spend() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.left--
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
