package compose_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"pingpong/test/harness"
)

// maxV3ImageSize is the size the v3 image must stay within.
const maxV3ImageSize = 15_000_000

// TestV3Compose runs v3's compose.yaml the way its README says (with .env copied from
// .env.example) and checks what the README does not: the image's size and hardening, twenty
// counts in a row, the count kept across a restart of Redis alone (the app reconnects by itself),
// and, while Redis is stopped, a 503 within a second, /healthz still ok and /readyz not ready.
// The README's own steps (down and up keep the count, down -v removes it, 503 then recovery)
// are run by test/readme.
func TestV3Compose(t *testing.T) {
	dir := filepath.Join(harness.RepoRoot(t), "v3_redis_counter")
	port := harness.FreePort(t)
	// --env-file reads the committed example in place of a learner's copy of it.
	c := harness.NewCompose(t, dir, []string{"--env-file", ".env.example"}, []string{"HOST_PORT=" + strconv.Itoa(port)})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	c.Up(t)
	ids := c.Containers(t, "app")
	if len(ids) != 1 {
		t.Fatalf("service app has %d containers, want 1", len(ids))
	}
	// The image the container runs: the tag may have moved on since, to another build.
	if size := logImageSize(t, ids[0]); size > maxV3ImageSize {
		t.Errorf("image pingpong:v3 is %d bytes, more than %d", size, maxV3ImageSize)
	}
	checkHardened(t, ids[0])

	// Each step starts from the count the one before left, so the first failure ends the test.
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"twenty pings count 1 to 20", func(t *testing.T) {
			for want := 1; want <= 20; want++ {
				if got := ping(t, base); got != want {
					t.Fatalf("ping %d answered %d", want, got)
				}
			}
		}},
		{"the count survives a restart of redis", func(t *testing.T) {
			c.Run(t, "restart", "redis")
			expectNext(t, base, 21)
		}},
		{"503 while redis is stopped, then recovers", func(t *testing.T) {
			c.Run(t, "stop", "redis")
			r, err := get(base+"/ping", "")
			if err != nil {
				t.Fatalf("GET /ping with redis stopped: %v", err)
			}
			t.Logf("GET /ping with redis stopped: %d in %s", r.status, r.elapsed.Round(time.Millisecond))
			if r.status != http.StatusServiceUnavailable {
				t.Errorf("GET /ping with redis stopped: status %d, want 503; body %q", r.status, r.body)
			}
			if r.elapsed > time.Second {
				t.Errorf("GET /ping with redis stopped took %s, want at most 1s", r.elapsed)
			}
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error == "" {
				t.Errorf("GET /ping with redis stopped: body %q, want a JSON error", r.body)
			}
			// Liveness does not depend on Redis: the platform must not restart the app for it.
			mustGet(t, base+"/healthz", "", http.StatusOK)
			mustGet(t, base+"/readyz", "", http.StatusServiceUnavailable)

			c.Run(t, "start", "redis")
			r = eventually(t, base+"/ping", http.StatusOK, 30*time.Second)
			if r.body != "22\n" {
				t.Errorf("first ping after redis came back = %q, want 22", r.body)
			}
		}},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.run) {
			return
		}
	}
}

// expectNext waits until /ping answers again (Redis may still be starting) and checks the
// count it hands out. A ping refused with 503 does not count.
func expectNext(t *testing.T, base string, want int) {
	t.Helper()
	r := eventually(t, base+"/ping", http.StatusOK, 30*time.Second)
	if got := r.body; got != strconv.Itoa(want)+"\n" {
		t.Fatalf("next ping = %q, want %d", got, want)
	}
}
