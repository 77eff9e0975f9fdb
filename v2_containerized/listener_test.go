package main

import (
	"bufio"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestNoHostInCleanPathRedirect: an absolute-form request ("GET
// http://evil.example//ping") must not get a Location that points at the
// host it named.
func TestNoHostInCleanPathRedirect(t *testing.T) {
	srv := httptest.NewServer(newServer(deps{Logger: slog.New(slog.DiscardHandler), Greeting: "hi", Ready: &readiness{}}))
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
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

// TestScannerNoiseAtDebug: 404s and 405s are logged at debug; the control,
// a 200, at info.
func TestScannerNoiseAtDebug(t *testing.T) {
	var logs strings.Builder
	h := newServer(deps{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Greeting: "hi", Ready: &readiness{}})
	for _, req := range []*http.Request{
		httptest.NewRequest("GET", "/nope", nil), httptest.NewRequest("DELETE", "/", nil), httptest.NewRequest("GET", "/", nil),
	} {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	if n := strings.Count(logs.String(), `"level":"INFO"`); n != 1 {
		t.Errorf("%d lines at info, want 1 (the 200):\n%s", n, logs.String())
	}
}

// TestConnectionCap: beyond MAX_CONNECTIONS a connection is closed without
// an answer and the refusal logged in JSON; once one closes, a new one is
// served again (the control).
func TestConnectionCap(t *testing.T) {
	var logs syncWriter
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: newServer(deps{Logger: logger, Greeting: "hi", Ready: &readiness{}}), ErrorLog: serverErrorLog(logger)}
	go func() { _ = srv.Serve(limitConnections(l, 2, logger)) }()
	defer srv.Close()
	get := func(c net.Conn) error {
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if err := get(c); err != nil {
			t.Fatalf("a connection within the cap: %v", err)
		}
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := get(extra); err == nil {
		t.Error("a third connection was answered with MAX_CONNECTIONS=2")
	}
	extra.Close()
	if !strings.Contains(logs.String(), `"msg":"connection refused: MAX_CONNECTIONS reached"`) {
		t.Errorf("no refusal in the log:\n%s", logs.String())
	}
	held[0].Close()
	time.Sleep(100 * time.Millisecond)
	again, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if err := get(again); err != nil {
		t.Errorf("a connection after one closed: %v", err)
	}
	held[1].Close()
}

// TestBindAddressAndMaxConnectionsSettings: loopback by default, 1024
// connections; bad values stop start-up.
func TestBindAddressAndMaxConnectionsSettings(t *testing.T) {
	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil || cfg.BindAddress != "127.0.0.1" || cfg.MaxConnections != 1024 {
		t.Errorf("defaults %q %d %v", cfg.BindAddress, cfg.MaxConnections, err)
	}
	for _, kv := range [][2]string{{"BIND_ADDRESS", "everywhere"}, {"MAX_CONNECTIONS", "0"}} {
		if _, err := loadConfig(func(k string) string {
			if k == kv[0] {
				return kv[1]
			}
			return ""
		}); err == nil || !strings.Contains(err.Error(), kv[0]) {
			t.Errorf("%s=%s: %v, want an error naming it", kv[0], kv[1], err)
		}
	}
}

// syncWriter is a strings.Builder that the server and the test can share.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
