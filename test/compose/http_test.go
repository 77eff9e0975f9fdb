// Package compose_test runs each stage's containers the way the READMEs tell a learner to, on a
// real Docker engine (DOCKER_HOST): `docker run` in v2, `docker compose up` in v3, and the whole
// stack of docker-compose.yml at the top, and checks what the READMEs do not, which test/readme
// runs as printed: the kernel's view of the container's user, the health check, the image size,
// Redis restarted and stopped under the app, exact counts under concurrency, and Prometheus
// finding every replica.
//
// The engine must hold the base images the Dockerfiles and compose files name; where no
// registry can be reached, test/standins seeds stand-ins for them.
package compose_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

var client = &http.Client{Timeout: 5 * time.Second}

// response is what a request got back, and how long it took.
type response struct {
	status  int
	body    string
	elapsed time.Duration
}

func get(url, accept string) (response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return response{}, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: string(body), elapsed: time.Since(start)}, err
}

// mustGet fails the test unless url answers with status want.
func mustGet(t *testing.T, url, accept string, want int) response {
	t.Helper()
	r, err := get(url, accept)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if r.status != want {
		t.Fatalf("GET %s: status %d, want %d; body %q", url, r.status, want, r.body)
	}
	return r
}

// ping asks v3 for the next count, as text ("N\n").
func ping(t *testing.T, base string) int {
	t.Helper()
	r := mustGet(t, base+"/ping", "", http.StatusOK)
	n, err := strconv.Atoi(strings.TrimSuffix(r.body, "\n"))
	if err != nil {
		t.Fatalf("GET /ping: body %q is not a count", r.body)
	}
	return n
}

// countReply is v3's JSON answer to /ping.
type countReply struct {
	Count    int    `json:"count"`
	Instance string `json:"instance"`
}

func pingJSON(base string) (countReply, error) {
	r, err := get(base+"/ping", "application/json")
	if err != nil {
		return countReply{}, err
	}
	if r.status != http.StatusOK {
		return countReply{}, fmt.Errorf("GET /ping: status %d, body %q", r.status, r.body)
	}
	var c countReply
	if err := json.Unmarshal([]byte(r.body), &c); err != nil {
		return countReply{}, fmt.Errorf("GET /ping: body %q: %w", r.body, err)
	}
	return c, nil
}

// eventually polls url until it answers want, failing the test after timeout. It returns
// the first answer with that status.
func eventually(t *testing.T, url string, want int, timeout time.Duration) response {
	t.Helper()
	var last string
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		r, err := get(url, "")
		if err == nil && r.status == want {
			return r
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("status %d, body %q", r.status, r.body)
		}
	}
	t.Fatalf("GET %s did not answer %d within %s; last: %s", url, want, timeout, last)
	return response{}
}
