package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"pingpong/v3_redis_counter/internal/counter"
)

const adminToken = "s3cret-token"

// fixture is the API on an in-memory Redis, as a test client sees it: the
// public port at url, the admin port at adminURL.
type fixture struct {
	url, adminURL string
	redis         *miniredis.Miniredis
	ready         *readiness
}

func newFixture(t *testing.T, token string) fixture {
	t.Helper()
	mini := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mini.Addr(), MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	registry := newRegistry("v9.9.9", "abc123")
	metrics := counter.NewMetrics(registry)
	client.AddHook(metrics.Hook())
	c := counter.NewCoalescer(counter.New(client, "test:count", 300*time.Millisecond), metrics)
	t.Cleanup(c.Close)
	ready := &readiness{redis: c.Ping}
	deps := deps{
		Logger:     slog.New(slog.DiscardHandler),
		Counter:    c,
		Instance:   instance{Hostname: "host-1", Version: "v9.9.9", PodName: "web-1", PodNamespace: "shop", PodIP: "10.0.0.7"},
		Greeting:   func() string { return "Hi there" },
		AdminToken: token,
		Ready:      ready,
		Registry:   registry,
	}
	public := httptest.NewServer(newServer(deps))
	t.Cleanup(public.Close)
	admin := httptest.NewServer(newAdminServer(deps))
	t.Cleanup(admin.Close)
	return fixture{url: public.URL, adminURL: admin.URL, redis: mini, ready: ready}
}

// response is what a client saw.
type response struct {
	status int
	header http.Header
	body   string
	closed bool // the server answered "Connection: close"
}

// do sends one request to the public port with the given headers ("Name: value").
func (f fixture) do(t *testing.T, method, path string, headers ...string) response {
	t.Helper()
	return send(t, method, f.url+path, headers)
}

// admin sends one request to the admin port.
func (f fixture) admin(t *testing.T, method, path string, headers ...string) response {
	t.Helper()
	return send(t, method, f.adminURL+path, headers)
}

func send(t *testing.T, method, url string, headers []string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		req.Header.Set(name, value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(body), resp.Close}
}

func (r response) assert(t *testing.T, status int, contentType, body string) {
	t.Helper()
	if r.status != status || r.header.Get("Content-Type") != contentType || r.body != body {
		t.Errorf("got %d %q %q\nwant %d %q %q", r.status, r.header.Get("Content-Type"), r.body, status, contentType, body)
	}
}

const (
	plainText = "text/plain; charset=utf-8"
	jsonType  = "application/json"
)

func TestPingCountsUp(t *testing.T) {
	f := newFixture(t, "")
	f.do(t, "GET", "/count").assert(t, 200, plainText, "0\n")
	f.do(t, "GET", "/ping").assert(t, 200, plainText, "1\n")
	f.do(t, "GET", "/ping").assert(t, 200, plainText, "2\n")
	f.do(t, "GET", "/ping", "Accept: application/json").assert(t, 200, jsonType, `{"count":3,"instance":"host-1"}`+"\n")
	f.do(t, "GET", "/count").assert(t, 200, plainText, "3\n")
	f.do(t, "GET", "/count", "Accept: application/json").assert(t, 200, jsonType, `{"count":3,"instance":"host-1"}`+"\n")
	if got, _ := f.redis.Get("test:count"); got != "3" {
		t.Errorf("Redis holds %q, want \"3\"", got)
	}
}

// TestDrainClosesEachConnectionAfterItsAnswer: once shutdown begins, every
// answer carries "Connection: close", so a keep-alive client reconnects (to
// another instance) instead of sending its next request down a connection
// that Shutdown is about to close. Before that, connections are kept.
func TestDrainClosesEachConnectionAfterItsAnswer(t *testing.T) {
	f := newFixture(t, "")
	if r := f.do(t, "GET", "/ping"); r.status != 200 || r.closed {
		t.Errorf("before shutdown: %d, closed %v; want 200 on a kept connection", r.status, r.closed)
	}
	f.ready.shuttingDown.Store(true)
	if r := f.do(t, "GET", "/ping"); r.status != 200 || !r.closed {
		t.Errorf("during the drain: %d, closed %v; want 200 with Connection: close", r.status, r.closed)
	}
}

func TestRoutes(t *testing.T) {
	f := newFixture(t, "")
	f.do(t, "GET", "/").assert(t, 200, plainText, "Hi there\nhostname: host-1\nversion: v9.9.9\npod: shop/web-1 (10.0.0.7)\n")
	f.do(t, "GET", "/healthz").assert(t, 200, plainText, "ok\n")
	f.do(t, "GET", "/readyz").assert(t, 200, plainText, "ready\n")
	f.do(t, "GET", "/nowhere").assert(t, 404, jsonType, `{"error":"not found"}`+"\n")

	notAllowed := f.do(t, "HEAD", "/ping")
	if notAllowed.status != 405 || notAllowed.header.Get("Allow") != "GET" {
		t.Errorf("HEAD /ping = %d, Allow %q; want 405, Allow GET", notAllowed.status, notAllowed.header.Get("Allow"))
	}
	if got, _ := f.redis.Get("test:count"); got != "" {
		t.Errorf("HEAD /ping counted a ping: Redis holds %q", got)
	}
}

// TestInternalsStayOffThePublicPort: the metrics and the reset answer only on
// the admin port, and the admin port serves none of the public API. The
// control is the same request on the other port.
func TestInternalsStayOffThePublicPort(t *testing.T) {
	f := newFixture(t, adminToken)
	notFound := `{"error":"not found"}` + "\n"
	f.do(t, "GET", "/metrics").assert(t, 404, jsonType, notFound)
	f.do(t, "POST", "/admin/reset", "Authorization: Bearer "+adminToken).assert(t, 404, jsonType, notFound)
	if r := f.admin(t, "GET", "/metrics"); r.status != 200 || !strings.Contains(r.body, "pingpong_build_info") {
		t.Errorf("GET /metrics on the admin port = %d, want 200 with the metrics", r.status)
	}
	f.admin(t, "GET", "/ping").assert(t, 404, jsonType, notFound)
	f.do(t, "GET", "/ping").assert(t, 200, plainText, "1\n")
}

func TestRootAnswersJSONWhenAsked(t *testing.T) {
	f := newFixture(t, "")
	r := f.do(t, "GET", "/", "Accept: application/json")
	var got map[string]string
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	want := map[string]string{"greeting": "Hi there", "hostname": "host-1", "version": "v9.9.9",
		"pod_name": "web-1", "pod_namespace": "shop", "pod_ip": "10.0.0.7"}
	for key, value := range want {
		if got[key] != value {
			t.Errorf("%s = %q, want %q", key, got[key], value)
		}
	}
}

func TestAdminReset(t *testing.T) {
	t.Run("off without a token", func(t *testing.T) {
		f := newFixture(t, "")
		r := f.admin(t, "POST", "/admin/reset", "Authorization: Bearer anything")
		if r.status != 403 || !strings.Contains(r.body, "ADMIN_TOKEN") {
			t.Errorf("got %d %q, want 403 saying how to turn it on", r.status, r.body)
		}
	})
	f := newFixture(t, adminToken)
	f.do(t, "GET", "/ping").assert(t, 200, plainText, "1\n")
	for _, auth := range []string{"", "Bearer wrong", "Basic " + adminToken, adminToken} {
		r := f.admin(t, "POST", "/admin/reset", "Authorization: "+auth)
		if r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: got %d, want 401 with WWW-Authenticate", auth, r.status)
		}
	}
	f.do(t, "GET", "/count").assert(t, 200, plainText, "1\n")
	f.admin(t, "POST", "/admin/reset", "Authorization: Bearer "+adminToken).
		assert(t, 200, jsonType, `{"count":0,"reset":true}`+"\n")
	f.do(t, "GET", "/ping").assert(t, 200, plainText, "1\n")
}

func TestRedisOutage(t *testing.T) {
	f := newFixture(t, "")
	f.do(t, "GET", "/ping").assert(t, 200, plainText, "1\n")
	f.redis.Close()

	start := time.Now()
	r := f.do(t, "GET", "/ping")
	if r.status != 503 || r.header.Get("Content-Type") != jsonType || r.header.Get("Retry-After") != "1" {
		t.Errorf("/ping with Redis down = %d %q, Retry-After %q; want 503 JSON, Retry-After 1",
			r.status, r.header.Get("Content-Type"), r.header.Get("Retry-After"))
	}
	// A fixed body: no key, no address, no Go error text.
	if r.body != `{"error":"counter unavailable"}`+"\n" {
		t.Errorf("body = %q, want {\"error\":\"counter unavailable\"}", r.body)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("/ping took %s to fail, want under a second", elapsed)
	}
	if r := f.do(t, "GET", "/count"); r.status != 503 {
		t.Errorf("/count with Redis down = %d, want 503", r.status)
	}
	if r := f.do(t, "GET", "/readyz"); r.status != 503 {
		t.Errorf("/readyz with Redis down = %d, want 503", r.status)
	}
	f.do(t, "GET", "/healthz").assert(t, 200, plainText, "ok\n")

	// The same address again, as a restarted Redis would come back.
	if err := f.redis.Restart(); err != nil {
		t.Fatal(err)
	}
	f.do(t, "GET", "/readyz").assert(t, 200, plainText, "ready\n")
	f.do(t, "GET", "/ping").assert(t, 200, plainText, "2\n")
}

func TestReadyzFailsWhileShuttingDown(t *testing.T) {
	f := newFixture(t, "")
	f.ready.shuttingDown.Store(true)
	r := f.do(t, "GET", "/readyz")
	if r.status != 503 || !strings.Contains(r.body, "shutting down") {
		t.Errorf("got %d %q, want 503 and a reason", r.status, r.body)
	}
	f.do(t, "GET", "/healthz").assert(t, 200, plainText, "ok\n")
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, "")
	f.do(t, "GET", "/ping")
	f.do(t, "GET", "/ping")
	f.do(t, "GET", "/no/such/page")
	f.do(t, "BREW", "/no/such/page")
	f.do(t, "TEAPOT", "/no/such/page")
	r := f.admin(t, "GET", "/metrics")
	for _, want := range []string{
		`pingpong_http_requests_total{code="200",handler="/ping",method="get"} 2`,
		`pingpong_http_requests_total{code="404",handler="not_found",method="get"} 1`,
		// Invented methods share one series: a client cannot make new ones.
		`pingpong_http_requests_total{code="404",handler="not_found",method="unknown"} 2`,
		`pingpong_http_request_duration_seconds_count{code="200",handler="/ping",method="get"} 2`,
		`pingpong_http_requests_in_flight 0`,
		`pingpong_pings_total 2`,
		`pingpong_redis_commands_total{command="incrby"} 2`,
		`pingpong_build_info{goversion="go`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestJSONKeepsCharactersAsWritten: JSON bodies are not HTML-escaped, so an
// error that says "a -> b" reads "a -> b", not "a -\u003e b".
func TestJSONKeepsCharactersAsWritten(t *testing.T) {
	rec := httptest.NewRecorder()
	writeError(rec, http.StatusServiceUnavailable, "dial tcp 127.0.0.1:0->127.0.0.1:6379: <refused> & gone")
	want := `{"error":"dial tcp 127.0.0.1:0->127.0.0.1:6379: <refused> & gone"}` + "\n"
	if got := rec.Body.String(); got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
}
