package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRoutes(t *testing.T) {
	tests := []struct {
		method, path string
		wantStatus   int
		wantBody     string
		wantAllow    string
	}{
		{http.MethodGet, "/", http.StatusOK, "Hello!\n", ""},
		{http.MethodGet, "/ping", http.StatusOK, "pong\n", ""},
		{http.MethodHead, "/ping", http.StatusOK, "", ""},
		{http.MethodGet, "/nope", http.StatusNotFound, "404 page not found\n", ""},
		{http.MethodPost, "/ping", http.StatusMethodNotAllowed, "method not allowed\n", "GET, HEAD"},
		{http.MethodDelete, "/", http.StatusMethodNotAllowed, "method not allowed\n", "GET, HEAD"},
	}
	srv := httptest.NewServer(newServer())
	defer srv.Close()
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if got := resp.Header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
		})
	}
}
