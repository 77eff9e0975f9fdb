package main

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAccessLogLevels: one line per request at info level, except the probes
// and the Prometheus scrapes, which come every few seconds and are logged at
// debug level only.
func TestAccessLogLevels(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h := accessLog(logger, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	for _, path := range []string{"/ping", "/healthz", "/readyz", "/metrics"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"path":"/ping","status":418`) {
		t.Errorf("info-level log = %q, want the one line of GET /ping with its status", lines)
	}
}

// TestAccessLogKeepsResponseController: the access log wraps the
// ResponseWriter, and http.ResponseController must still reach the real one.
func TestAccessLogKeepsResponseController(t *testing.T) {
	h := accessLog(slog.New(slog.DiscardHandler), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush through the access log: %v", err)
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/ping", nil))
}
