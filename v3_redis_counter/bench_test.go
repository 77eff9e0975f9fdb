package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"pingpong/v3_redis_counter/internal/counter"
)

// These benchmarks time the whole handler path of GET /ping, middleware and
// all, on an in-memory Redis, for quick profiling:
//
//	go test -run '^$' -bench Ping -benchmem -cpuprofile cpu.out .
//	go tool pprof -top cpu.out
//
// They call the handler directly, without a network in between, so they
// show the service's own cost per request. The end-to-end numbers, over real
// connections to a real redis-server, come from `make bench`.

// benchHandler is the API as main builds it, on a fresh in-memory Redis, with
// the access log at the given level (info logs every request, as deployed).
func benchHandler(b *testing.B, logLevel slog.Level) (http.Handler, *miniredis.Miniredis) {
	b.Helper()
	mini := miniredis.RunT(b)
	client := redis.NewClient(&redis.Options{Addr: mini.Addr(), MaxRetries: -1})
	b.Cleanup(func() { client.Close() })
	registry := newRegistry("bench", "bench")
	metrics := counter.NewMetrics(registry)
	client.AddHook(metrics.Hook())
	c := counter.NewCoalescer(counter.New(client, "bench:count", time.Second), metrics)
	b.Cleanup(c.Close)
	logger := slog.New(slog.NewJSONHandler(discard{}, &slog.HandlerOptions{Level: logLevel}))
	return newServer(deps{
		Logger:   logger,
		Counter:  c,
		Instance: instance{Hostname: "bench", Version: "bench"},
		Greeting: func() string { return "Hello!" },
		Ready:    &readiness{redis: c.Ping},
		Registry: registry,
	}), mini
}

// discard is io.Discard without its ReadFrom shortcut: the JSON handler
// still formats every line, as it would for stdout.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkPing sends GET /ping from one goroutine at a time: every INCRBY
// serves a single ping, the latency path.
func BenchmarkPing(b *testing.B) {
	handler, mini := benchHandler(b, slog.LevelInfo)
	for b.Loop() {
		ping(b, handler)
	}
	b.StopTimer()
	assertCounted(b, mini, int64(b.N))
}

// BenchmarkPingParallel sends GET /ping from many goroutines at once, as
// concurrent clients do: the counter coalesces their increments, so this is
// the throughput path.
func BenchmarkPingParallel(b *testing.B) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
		b.Run("log="+level.String(), func(b *testing.B) {
			handler, mini := benchHandler(b, level)
			b.SetParallelism(25) // 25 × GOMAXPROCS goroutines: 50 on two cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ping(b, handler)
				}
			})
			b.StopTimer()
			assertCounted(b, mini, int64(b.N))
		})
	}
}

func ping(b *testing.B, handler http.Handler) {
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ping", nil))
	if rec.Code != http.StatusOK {
		b.Errorf("GET /ping: %d %s", rec.Code, rec.Body) // Fatalf may not be called from RunParallel's goroutines
	}
}

// assertCounted fails the benchmark unless Redis counted every ping: a fast
// counter that loses counts is no counter.
func assertCounted(b *testing.B, mini *miniredis.Miniredis, want int64) {
	b.Helper()
	got, err := mini.Get("bench:count")
	if err != nil {
		b.Fatalf("reading the count: %v", err)
	}
	if got != strconv.FormatInt(want, 10) {
		b.Fatalf("Redis counted %s after %d pings", got, want)
	}
}
