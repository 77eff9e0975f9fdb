package main

import (
	"net/http/httptest"
	"strings"
	"testing"
)

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
