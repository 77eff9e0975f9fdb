// Command v3_redis_counter is the third stage of the pingpong workshop: the
// ping counter. Every GET /ping adds one to a count kept in Redis and answers
// it, exactly once per ping however many replicas run. It keeps all of v2 and
// adds metrics, an admin API and commands, and settings changed live.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"pingpong/v3_redis_counter/internal/counter"
)

// Set at build time: go build -ldflags "-X main.version=v1.2.3 -X main.revision=abc123".
var (
	version  = "dev"
	revision = "unknown"
)

const usage = `usage: %s [command]

commands:
  serve        run the HTTP server (the default)
  count        print the current count, read from Redis
  reset        set the count back to zero (the next ping answers 1)
  healthcheck  exit 0 if the server on PORT answers /healthz (for a container health check)
  version      print the build version
  help         print this help
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, restore the default behaviour so that a
		// second one ends the process at once instead of waiting for shutdown.
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args, os.Getenv, os.Stdout)
	if err == nil {
		return
	}
	name := filepath.Base(os.Args[0])
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	if errors.Is(err, errUsage) {
		fmt.Fprintf(os.Stderr, usage, name)
		os.Exit(2)
	}
	var configErr *ConfigError
	if errors.As(err, &configErr) {
		os.Exit(2)
	}
	os.Exit(1)
}

var errUsage = errors.New("unknown command")

// run is the whole program: main only hands it the process's context,
// arguments, environment and output, so tests start the real thing with
// their own.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	command := "serve"
	if len(args) > 1 {
		command = args[1]
	}
	// Commands that need no configuration work whatever the environment holds.
	switch command {
	case "help", "-h", "-help", "--help":
		_, err := fmt.Fprintf(stdout, usage, filepath.Base(args[0]))
		return err
	case "version":
		_, err := fmt.Fprintf(stdout, "%s (%s)\n", version, revision)
		return err
	case "serve", "count", "reset", "healthcheck":
	default:
		return fmt.Errorf("%w %q", errUsage, command)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	switch command {
	case "count", "reset":
		return runAdmin(ctx, command, cfg, stdout)
	case "healthcheck":
		return healthcheck(ctx, cfg.BindAddress, cfg.AdminPort)
	default:
		return runServer(ctx, cfg, stdout)
	}
}

// runServer starts the HTTP server and serves until ctx is cancelled.
func runServer(ctx context.Context, cfg Config, stdout io.Writer) error {
	live, logger, stopWatching, err := liveSettings(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	defer stopWatching()

	registry := newRegistry(version, revision)
	metrics := counter.NewMetrics(registry)
	client, stopEmbedded, err := connectRedis(cfg, logger)
	if err != nil {
		return err
	}
	defer stopEmbedded()
	defer client.Close()
	client.AddHook(metrics.Hook())
	count := counter.NewCoalescer(counter.New(client, cfg.CounterKey, cfg.RedisTimeout), metrics)
	defer count.Close()
	count.WaitForReplicas(cfg.RedisMinReplicas, cfg.RedisWaitTimeout)

	hostname, _ := os.Hostname()
	ready := &readiness{redis: count.Ping}
	deps := deps{
		Logger:  logger,
		Counter: count,
		Instance: instance{
			Hostname: hostname, Version: version,
			PodName: cfg.PodName, PodNamespace: cfg.PodNamespace, PodIP: cfg.PodIP,
		},
		Greeting:   live.Greeting,
		AdminToken: cfg.AdminToken,
		Ready:      ready,
		Registry:   registry,
	}
	public, err := listen(cfg.BindAddress, cfg.Port, newServer(deps), logger)
	if err != nil {
		return err
	}
	// Only the public port is capped: the probes and Prometheus use the
	// admin port, which must answer while the public one is full.
	public.listener = limitConnections(public.listener, cfg.MaxConnections, logger)
	admin, err := listen(cfg.BindAddress, cfg.AdminPort, newAdminServer(deps), logger)
	if err != nil {
		public.listener.Close()
		return err
	}
	logger.Info("listening", "addr", public.listener.Addr().String(), "admin_addr", admin.listener.Addr().String(),
		"version", version, "revision", revision, "admin_api", cfg.AdminToken != "",
		"max_connections", cfg.MaxConnections, "memory_limit", debug.SetMemoryLimit(-1)) // GOMEMLIMIT, or no limit
	return serve(ctx, []endpoint{public, admin}, ready, cfg, logger)
}

// endpoint is one HTTP server and the listener it answers on.
type endpoint struct {
	srv      *http.Server
	listener net.Listener
}

// listen opens port (0 picks a free one) on bind for handler, with the
// limits that keep a slow or hostile client from holding the server's
// resources.
func listen(bind string, port int, handler http.Handler, logger *slog.Logger) (endpoint, error) {
	listener, err := net.Listen("tcp", listenAddr(bind, port))
	if err != nil {
		return endpoint{}, fmt.Errorf("listening: %w", err)
	}
	return endpoint{listener: listener, srv: &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          serverErrorLog(logger),
	}}, nil
}

// healthcheck asks the server on this machine whether it is alive. Container
// images built FROM scratch or distroless have no shell and no curl, so the
// binary checks itself: HEALTHCHECK CMD ["/pingpong", "healthcheck"]. It
// asks the admin port, which answers even when the public port is full.
func healthcheck(ctx context.Context, bind string, port int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if ip := net.ParseIP(bind); ip == nil || ip.IsUnspecified() {
		bind = "127.0.0.1"
	}
	url := "http://" + listenAddr(bind, port) + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check: %s answered %s", url, resp.Status)
	}
	return nil
}
