package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestBearerSchemeAndFailedAttemptsLogged: the scheme is case-insensitive
// (RFC 9110, 11.1), and a 401 is logged with the caller's address.
func TestBearerSchemeAndFailedAttemptsLogged(t *testing.T) {
	var logs syncBuffer
	h := requireToken(adminToken, slog.New(slog.NewJSONHandler(&logs, nil)), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, tt := range []struct {
		auth string
		want int
	}{
		{"Bearer " + adminToken, 204}, {"bearer " + adminToken, 204}, {"BEARER " + adminToken, 204},
		{"Bearer " + adminToken + "x", 401}, {"Bearer", 401}, {adminToken, 401},
	} {
		req := httptest.NewRequest("POST", "/admin/reset", nil)
		req.RemoteAddr = "192.0.2.7:4242"
		req.Header.Set("Authorization", tt.auth)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("Authorization %q: %d, want %d", tt.auth, rec.Code, tt.want)
		}
	}
	if n := strings.Count(logs.String(), `"remote":"192.0.2.7:4242"`); n != 3 {
		t.Errorf("%d 401s logged with the caller's address, want 3:\n%s", n, logs.String())
	}
}

// TestRedisFailureAnswersAFixedBody: the public answer says only that the
// counter is unavailable; the cause goes to the log at warn, at most one
// line a second, with the number of failures it stands for.
func TestRedisFailureAnswersAFixedBody(t *testing.T) {
	var logs bytes.Buffer
	f := newFailureLog(slog.New(slog.NewJSONHandler(&logs, nil)))
	now := time.Unix(1000, 0)
	f.now = func() time.Time { return now }
	cause := &testError{`incrementing "secret:key": dial tcp 10.1.2.3:6379: connect: connection refused`}
	for i := range 5 {
		rec := httptest.NewRecorder()
		f.counterUnavailable(rec, cause)
		if rec.Code != 503 || rec.Body.String() != `{"error":"counter unavailable"}`+"\n" || rec.Header().Get("Retry-After") != "1" {
			t.Fatalf("answer %d: %d %q", i, rec.Code, rec.Body.String())
		}
	}
	now = now.Add(1100 * time.Millisecond)
	f.counterUnavailable(httptest.NewRecorder(), cause)
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines for 6 failures in 1.1 s, want 2:\n%s", len(lines), logs.String())
	}
	var second map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if second["level"] != "WARN" || !strings.Contains(second["error"].(string), "10.1.2.3") || second["suppressed"] != float64(4) {
		t.Errorf("second line %v: want WARN with the cause and suppressed=4", second)
	}
}

type testError struct{ s string }

func (e *testError) Error() string { return e.s }

// TestWrongTokensAreSlowedDown: guessing the admin token is held to a few
// wrong tokens a second on the whole admin port, however many requests are
// sent; the rest wait (429 with Retry-After) without their token being
// compared, and the right token works again once the budget refills. The
// count is never reset by a refused request.
func TestWrongTokensAreSlowedDown(t *testing.T) {
	f := newFixture(t, adminToken)
	f.do(t, "GET", "/ping").assert(t, 200, plainText, "1\n")
	started := time.Now()
	refused, waited := 0, 0
	const guesses = 60
	for i := range guesses {
		r := f.admin(t, "POST", "/admin/reset", fmt.Sprintf("Authorization: Bearer guess-%04d-of-the-token", i))
		switch {
		case r.status == 401:
			refused++
		case r.status == 429 && r.header.Get("Retry-After") != "":
			waited++
		default:
			t.Fatalf("guess %d: %d %q", i, r.status, r.body)
		}
	}
	elapsed := time.Since(started)
	// What the budget allows in that time: the burst, then the rate.
	allowed := wrongTokenBurst + int(elapsed.Seconds()*wrongTokensPerSecond) + 1
	if refused > allowed || waited == 0 {
		t.Errorf("%d guesses in %v: %d compared (401), %d told to wait (429); at most %d may be compared",
			guesses, elapsed.Round(time.Millisecond), refused, waited, allowed)
	}
	f.do(t, "GET", "/ping").assert(t, 200, plainText, "2\n")

	// Once the budget has refilled, the right token resets the count.
	time.Sleep(time.Second + time.Second/wrongTokensPerSecond)
	f.admin(t, "POST", "/admin/reset", "Authorization: Bearer "+adminToken).
		assert(t, 200, jsonType, `{"count":0,"reset":true}`+"\n")
	f.do(t, "GET", "/ping").assert(t, 200, plainText, "1\n")
}
