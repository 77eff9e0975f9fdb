package main

import (
	"net/http/httptest"
	"strings"
	"testing"
)

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

// FuzzWantsJSON feeds arbitrary Accept headers to the content negotiation:
// it must never panic, and never choose JSON when JSON is not mentioned.
func FuzzWantsJSON(f *testing.F) {
	for _, seed := range []string{"", "*/*", "application/json", "text/plain;q=0.1, application/json;q=0.2", ";;,q=", "application/json;q=1e9"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Accept", accept)
		if wantsJSON(req) && !strings.Contains(strings.ToLower(accept), "json") {
			t.Errorf("wantsJSON(%q) = true without JSON in the header", accept)
		}
	})
}
