package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newTestServer(t *testing.T, ready *readiness) *httptest.Server {
	t.Helper()
	info := instance{Hostname: "host-1", Version: "v9.9.9", PodName: "web-1", PodNamespace: "shop", PodIP: "10.0.0.7"}
	srv := httptest.NewServer(newServer(deps{Logger: slog.New(slog.DiscardHandler), Instance: info, Greeting: "Hi there", Ready: ready}))
	t.Cleanup(srv.Close)
	return srv
}

// get sends one request and returns the status, the Content-Type and the body.
func get(t *testing.T, method, url, accept string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
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
	return resp.StatusCode, resp.Header, string(body)
}

func TestRoutes(t *testing.T) {
	srv := newTestServer(t, &readiness{})
	tests := []struct {
		method, path, accept string
		wantStatus           int
		wantType             string
		wantBody             string
	}{
		{"GET", "/ping", "", 200, "text/plain; charset=utf-8", "pong\n"},
		{"GET", "/", "", 200, "text/plain; charset=utf-8",
			"Hi there\nhostname: host-1\nversion: v9.9.9\npod: shop/web-1 (10.0.0.7)\n"},
		{"GET", "/healthz", "", 200, "text/plain; charset=utf-8", "ok\n"},
		{"GET", "/readyz", "", 200, "text/plain; charset=utf-8", "ready\n"},
		{"POST", "/ping", "", 405, "application/json", `{"error":"method not allowed"}` + "\n"},
		{"GET", "/missing", "", 404, "application/json", `{"error":"not found"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			status, header, body := get(t, tt.method, srv.URL+tt.path, tt.accept)
			if status != tt.wantStatus || header.Get("Content-Type") != tt.wantType || body != tt.wantBody {
				t.Errorf("got %d %q %q\nwant %d %q %q", status, header.Get("Content-Type"), body,
					tt.wantStatus, tt.wantType, tt.wantBody)
			}
		})
	}
}

func TestMethodNotAllowedListsAllowedMethods(t *testing.T) {
	srv := newTestServer(t, &readiness{})
	_, header, _ := get(t, "DELETE", srv.URL+"/healthz", "")
	if got := header.Get("Allow"); got != "GET, HEAD" {
		t.Errorf("Allow = %q, want %q", got, "GET, HEAD")
	}
}

func TestRootAnswersJSONWhenAsked(t *testing.T) {
	srv := newTestServer(t, &readiness{})
	status, header, body := get(t, "GET", srv.URL+"/", "application/json")
	if status != 200 || header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q", status, header.Get("Content-Type"))
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	want := map[string]string{"greeting": "Hi there", "hostname": "host-1", "version": "v9.9.9",
		"pod_name": "web-1", "pod_namespace": "shop", "pod_ip": "10.0.0.7"}
	for key, value := range want {
		if got[key] != value {
			t.Errorf("%s = %q, want %q", key, got[key], value)
		}
	}
}

func TestReadyzFailsWhileShuttingDown(t *testing.T) {
	ready := &readiness{}
	srv := newTestServer(t, ready)
	ready.shuttingDown.Store(true)
	status, _, body := get(t, "GET", srv.URL+"/readyz", "")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Errorf("got %d %q, want 503 and a reason", status, body)
	}
	if status, _, _ := get(t, "GET", srv.URL+"/healthz", ""); status != http.StatusOK {
		t.Errorf("/healthz = %d while shutting down, want 200: liveness must not fail", status)
	}
}

func TestWantsJSON(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{"", false},
		{"*/*", false},
		{"text/plain", false},
		{"application/json", true},
		{"application/json, text/plain", false},
		{"text/plain;q=0.5, application/json", true},
		{"application/json;q=0.9, */*;q=1", false},
		{"application/json;q=abc", false},
		{"application/json;q=2", false},
		{"text/html, application/json", true},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Accept", tt.accept)
		if got := wantsJSON(req); got != tt.want {
			t.Errorf("wantsJSON(Accept: %q) = %v, want %v", tt.accept, got, tt.want)
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
