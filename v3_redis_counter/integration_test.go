package main

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pingpong/v3_redis_counter/internal/redistest"
)

// These tests run the service against a real redis-server, started by the
// test on a free loopback port.

// TestConcurrentPingsGetEveryCountOnce is the bug of the original workshop
// turned into a test: 100 clients ping at once, and the 10,000 answers must
// be exactly 1..10,000, none lost and none twice.
func TestConcurrentPingsGetEveryCountOnce(t *testing.T) {
	const clients, pingsPerClient = 100, 100
	redis := redistest.Start(t)
	// A generous timeout: this test is about exactness, and the race
	// detector on a busy machine can make a round trip take seconds.
	a := startApp(t, map[string]string{"REDIS_URL": redis.URL(), "REDIS_TIMEOUT": "10s"})

	transport := &http.Transport{MaxIdleConnsPerHost: clients}
	defer transport.CloseIdleConnections()
	keepAlive := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	counts := make(chan int64, clients*pingsPerClient)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range pingsPerClient {
				resp, err := keepAlive.Get(a.url + "/ping")
				if err != nil {
					t.Error(err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET /ping: %d %s", resp.StatusCode, body)
					return
				}
				n, err := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
				if err != nil {
					t.Errorf("GET /ping answered %q, want a count", body)
					return
				}
				counts <- n
			}
		})
	}
	wg.Wait()
	close(counts)

	got := slices.Sorted(func(yield func(int64) bool) {
		for n := range counts {
			if !yield(n) {
				return
			}
		}
	})
	if len(got) != clients*pingsPerClient {
		t.Fatalf("%d answers, want %d", len(got), clients*pingsPerClient)
	}
	for i, n := range got {
		if n != int64(i+1) {
			t.Fatalf("sorted counts[%d] = %d, want %d: a count was lost or given twice", i, n, i+1)
		}
	}
	if status, body := a.get(t, "/count"); strings.TrimSpace(body) != "10000" {
		t.Errorf("GET /count = %d %q, want 10000", status, body)
	}
}

// TestRedisOutageAnswers503AndRecovers stops Redis under a running service:
// pings must fail fast with 503 and a JSON error, readiness must drop while
// liveness stays, and everything must come back with the count intact.
func TestRedisOutageAnswers503AndRecovers(t *testing.T) {
	redis := redistest.Start(t)
	a := startApp(t, map[string]string{"REDIS_URL": redis.URL(), "REDIS_TIMEOUT": "500ms"})
	for range 3 {
		a.ping(t)
	}

	redis.Stop(t)
	start := time.Now()
	status, body := a.get(t, "/ping")
	if elapsed := time.Since(start); elapsed > 1500*time.Millisecond {
		t.Errorf("GET /ping took %v with Redis down, want about a second at most", elapsed)
	}
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"error":"counter unavailable`) {
		t.Errorf("GET /ping with Redis down = %d %q, want 503 with a JSON error", status, body)
	}
	if status, _ := a.get(t, "/readyz"); status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz with Redis down = %d, want 503", status)
	}
	if status, _ := a.get(t, "/healthz"); status != http.StatusOK {
		t.Errorf("GET /healthz with Redis down = %d, want 200: a restart would not help", status)
	}

	redis.Start(t)
	eventually(t, func() bool { status, _ := a.get(t, "/readyz"); return status == http.StatusOK })
	if got := a.ping(t); got != 4 {
		t.Errorf("first ping after the outage answered %d, want 4", got)
	}
}

// TestCountContinuesAfterAnAppRestart: the count lives in Redis, not in the
// process.
func TestCountContinuesAfterAnAppRestart(t *testing.T) {
	redis := redistest.Start(t)
	env := map[string]string{"REDIS_URL": redis.URL()}
	first := startApp(t, env)
	for range 5 {
		first.ping(t)
	}
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	if got := startApp(t, env).ping(t); got != 6 {
		t.Errorf("first ping of the restarted app answered %d, want 6", got)
	}
}

// TestAdminCommandsAndAPI drives the one-off commands a Kubernetes Job runs
// and the reset API, against the same Redis as a running server.
func TestAdminCommandsAndAPI(t *testing.T) {
	redis := redistest.Start(t)
	env := map[string]string{"REDIS_URL": redis.URL(), "ADMIN_TOKEN": "s3cret-admin-token-0123"}
	a := startApp(t, env)
	for range 7 {
		a.ping(t)
	}
	command := func(name string) string {
		t.Helper()
		var out strings.Builder
		if err := run(context.Background(), []string{"pingpong", name}, environment(env), &out); err != nil {
			t.Fatalf("pingpong %s: %v", name, err)
		}
		return out.String()
	}
	if got := command("count"); got != "7\n" {
		t.Errorf("pingpong count printed %q, want \"7\\n\"", got)
	}
	if got := command("reset"); !strings.Contains(got, "the next ping answers 1") {
		t.Errorf("pingpong reset printed %q", got)
	}
	if got := a.ping(t); got != 1 {
		t.Errorf("ping after reset answered %d, want 1", got)
	}

	reset := func(token string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, a.adminURL+"/admin/reset", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := reset("wrong"); status != http.StatusUnauthorized {
		t.Errorf("reset with a wrong token: %d, want 401", status)
	}
	if got := a.ping(t); got != 2 {
		t.Errorf("a rejected reset changed the count: ping answered %d, want 2", got)
	}
	if status := reset("s3cret-admin-token-0123"); status != http.StatusOK {
		t.Errorf("reset with the token: %d, want 200", status)
	}
	if got := a.ping(t); got != 1 {
		t.Errorf("ping after the API reset answered %d, want 1", got)
	}

	// Against a closed port, the command waits for Redis (up to adminWait),
	// then fails; a stop signal (the context) ends the wait sooner.
	env["REDIS_URL"] = "redis://127.0.0.1:1"
	var out strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := run(ctx, []string{"pingpong", "count"}, environment(env), &out); err == nil {
		t.Errorf("pingpong count against a closed port succeeded: %q", out.String())
	}
}

// TestAdminCommandWaitsForRedis: a one-off command started while Redis cannot
// be reached yet (a Job's pod before its network policies apply, a Redis
// restarting) waits for it instead of failing at once.
func TestAdminCommandWaitsForRedis(t *testing.T) {
	redis := redistest.Start(t)
	redis.Stop(t)
	type result struct {
		out    string
		err    error
		waited time.Duration
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		var out strings.Builder
		err := run(context.Background(), []string{"pingpong", "reset"}, environment(map[string]string{"REDIS_URL": redis.URL()}), &out)
		done <- result{out.String(), err, time.Since(start)}
	}()
	time.Sleep(2 * time.Second)
	redis.Start(t)
	r := <-done
	if r.err != nil {
		t.Fatalf("pingpong reset with Redis back after 2s: %v", r.err)
	}
	if r.waited < 2*time.Second {
		t.Errorf("pingpong reset succeeded after %s, before Redis was back: the test proves nothing", r.waited)
	}
	if !strings.Contains(r.out, "the next ping answers 1") {
		t.Errorf("pingpong reset printed %q", r.out)
	}
}
