package main

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestConnectionCapLeavesAdminPortAnswering: more idle connections than
// MAX_CONNECTIONS fill the public port; the extra ones are refused with a
// JSON log line, and /healthz, /readyz and /metrics still answer on the
// admin port, where the probes go.
func TestConnectionCapLeavesAdminPortAnswering(t *testing.T) {
	a := startApp(t, map[string]string{"MAX_CONNECTIONS": "4"})
	addr := strings.TrimPrefix(a.url, "http://")
	// startApp's own readiness check may still hold a keep-alive connection.
	client.CloseIdleConnections()
	for range 12 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	// A fresh connection beyond the cap is closed without an answer.
	c, err := net.Dial("tcp", addr)
	if err == nil {
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		_, _ = c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
			t.Errorf("the public port answered %s beyond MAX_CONNECTIONS", resp.Status)
		}
		c.Close()
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := client.Get(a.adminURL + path)
		if err != nil {
			t.Fatalf("admin %s with the public port full: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("admin %s with the public port full: %d, want 200", path, resp.StatusCode)
		}
	}
	eventually(t, func() bool {
		return strings.Contains(a.logs.String(), `"msg":"connection refused: MAX_CONNECTIONS reached"`)
	})
}

// TestNoHostInCleanPathRedirect: an absolute-form request ("GET
// http://evil.example//ping") must not get a Location that points at the
// host it named.
func TestNoHostInCleanPathRedirect(t *testing.T) {
	f := newFixture(t, "")
	c, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("GET http://evil.example//ping HTTP/1.1\r\nHost: evil.example\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); strings.Contains(loc, "evil") {
		t.Errorf("%s with Location %q", resp.Status, loc)
	}
}

// TestScannerNoiseAtDebugAndCounted: 404s and 405s are logged at debug (a
// scanner's thousands of them would flood the log at info), and 405s are
// counted in the HTTP metrics like 404s. The control: a 200 at info.
func TestScannerNoiseAtDebugAndCounted(t *testing.T) {
	var logs syncBuffer
	f := newFixture(t, "")
	registry := newRegistry("v", "r")
	h := newServer(deps{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Counter: stubCounter{}, Greeting: func() string { return "hi" }, Ready: f.ready, Registry: registry})
	for _, req := range []*http.Request{
		httptest.NewRequest("GET", "/nope", nil), httptest.NewRequest("DELETE", "/", nil), httptest.NewRequest("GET", "/", nil),
	} {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	if n := strings.Count(logs.String(), `"level":"INFO"`); n != 1 {
		t.Errorf("%d lines at info, want 1 (the 200):\n%s", n, logs.String())
	}
	families, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if mf.GetName() == "pingpong_http_requests_total" && l.GetName() == "code" && l.GetValue() == "405" {
					found = true
				}
			}
		}
	}
	if !found {
		t.Error("no pingpong_http_requests_total series with code 405")
	}
}

// stubCounter counts nothing: for tests of what surrounds the handlers.
type stubCounter struct{}

func (stubCounter) Next(context.Context) (int64, error)    { return 1, nil }
func (stubCounter) Current(context.Context) (int64, error) { return 1, nil }
func (stubCounter) Reset(context.Context) error            { return nil }
