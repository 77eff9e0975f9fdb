package e2e

import (
	"context"
	"testing"
	"time"

	"pingpong/test/harness"
)

// loadConns is how many keep-alive connections send pings during a rollout:
// several, each sending its next request as soon as the last is answered.
const loadConns = 8

// loadBackoff is how long a connection waits after a failed request, as a client told
// Retry-After would: an outage (a Redis failover) is then not a busy loop that takes the
// node's cores from what is recovering.
const loadBackoff = 10 * time.Millisecond

// TestRolloutsUnderKeepAliveLoad proves the zero-failure rollout the
// workshop promises: while the pods are replaced, keep-alive clients sending
// straight to the Service (no Ingress controller that might retry for them)
// see every request answered, and no count twice. The pods drain themselves:
// not ready, and "Connection: close" on every answer for SHUTDOWN_DELAY.
// The control turns the drain off and must see requests fail.
func TestRolloutsUnderKeepAliveLoad(t *testing.T) {
	c := setup(t)
	const ns = "pingpong-rollout"
	c.applyK8s(t, ns, nil)
	c.k(t, "-n", ns, "rollout", "status", "deployment/pingpong", "--timeout=3m")
	svc := c.k(t, "-n", ns, "get", "service", "pingpong", "-o", "jsonpath={.spec.clusterIP}") + ":80"
	eventuallyCount(t, "http://"+svc+"/ping", "", time.Minute)

	rollout := func(args ...string) func(t *testing.T) {
		return func(t *testing.T) {
			c.k(t, append([]string{"-n", ns, "rollout"}, args...)...)
			c.k(t, "-n", ns, "rollout", "status", "deployment/pingpong", "--timeout=3m")
		}
	}
	restart := rollout("restart", "deployment/pingpong")

	t.Run("kubectl rollout restart: 0 failed", func(t *testing.T) {
		assertNoneFailed(t, underLoad(t, svc, restart))
	})
	t.Run("kubectl rollout undo: 0 failed", func(t *testing.T) {
		assertNoneFailed(t, underLoad(t, svc, rollout("undo", "deployment/pingpong")))
	})
	t.Run("control: with the drain off, the same restart fails requests", func(t *testing.T) {
		c.k(t, "-n", ns, "patch", "configmap", "pingpong", "--type=merge", "-p", `{"data":{"SHUTDOWN_DELAY":"0s"}}`)
		restart(t) // pods read the ConfigMap when they start: this rollout brings pods without the drain
		result := underLoad(t, svc, restart)
		if result.Errors == 0 {
			t.Fatalf("%d requests and not one failed with SHUTDOWN_DELAY=0: the test cannot tell a drain from none", len(result.Counts))
		}
		if repeated := harness.Repeated(result.Counts); len(repeated) > 0 {
			t.Errorf("counts answered twice: %v", repeated)
		}
	})
}

// underLoad runs change while loadConns keep-alive connections ping addr,
// and returns every answer they got, each with the time it was sent. The load starts a few seconds before the
// change and goes on a few seconds after it, while the last old pods finish.
func underLoad(t *testing.T, addr string, change func(t *testing.T)) harness.LoadResult {
	t.Helper()
	return underLoadWith(t, func(ctx context.Context) (harness.LoadResult, error) {
		return harness.DriveRecorded(ctx, addr, "/ping", loadConns, 10*time.Minute, loadBackoff)
	}, change)
}

// underLoadWith is underLoad with the load that drive sends until ctx is cancelled.
func underLoadWith(t *testing.T, drive func(ctx context.Context) (harness.LoadResult, error), change func(t *testing.T)) harness.LoadResult {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan harness.LoadResult, 1)
	loadErr := make(chan error, 1)
	go func() {
		result, err := drive(ctx)
		loadErr <- err
		done <- result
	}()
	time.Sleep(3 * time.Second)
	started := time.Now()
	change(t)
	took := time.Since(started)
	time.Sleep(5 * time.Second)
	stop()
	if err := <-loadErr; err != nil {
		t.Fatalf("starting the load: %v", err)
	}
	result := <-done
	t.Logf("%d requests over %d keep-alive connections in %s (the change took %s): %d failed (first: %v), %d answered, %d counts repeated",
		len(result.Counts)+result.Errors, result.Conns, result.Elapsed.Round(time.Second), took.Round(time.Second),
		result.Errors, result.FirstErr, len(result.Counts), len(harness.Repeated(result.Counts)))
	return result
}

// assertNoneFailed fails the test unless every request was answered with a
// count of its own.
func assertNoneFailed(t *testing.T, result harness.LoadResult) {
	t.Helper()
	if len(result.Counts) == 0 {
		t.Fatal("no request was answered")
	}
	if result.Errors != 0 {
		t.Errorf("%d requests failed; the first: %v", result.Errors, result.FirstErr)
	}
	if repeated := harness.Repeated(result.Counts); len(repeated) > 0 {
		t.Errorf("counts answered twice: %v", repeated)
	}
}
