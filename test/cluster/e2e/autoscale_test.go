package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"pingpong/test/harness"
)

// TestAutoscaling proves the HorizontalPodAutoscaler of k8s/ at work, on the
// metrics API that metrics-server serves: under CPU load the Deployment grows
// above its minimum of 3 pods, and once the load stops it shrinks back. The
// test shortens the autoscaler's scale-down stabilization window (5 minutes
// by default) with a patch of its own, so that it ends in minutes; the
// manifests keep the default.
func TestAutoscaling(t *testing.T) {
	c := setup(t)
	if out, err := command(30*time.Second, c.repo, c.kubectl, "get", "apiservice", "v1beta1.metrics.k8s.io",
		"-o", `jsonpath={.status.conditions[?(@.type=="Available")].status}`); err != nil || out != "True" {
		t.Fatalf("the metrics API is not available (metrics-server): %q %v", out, err)
	}
	const ns = "pingpong-hpa"
	c.applyK8s(t, ns, func(k map[string]any) {
		k["patches"] = []any{map[string]any{
			"target": map[string]any{"kind": "HorizontalPodAutoscaler", "name": "pingpong"},
			"patch":  `[{"op": "add", "path": "/spec/behavior", "value": {"scaleDown": {"stabilizationWindowSeconds": 15}}}]`,
		}}
	})

	start := time.Now()
	// watch logs the autoscaler's view every few seconds until done says so.
	watch := func(what string, limit time.Duration, done func(replicas int) bool) {
		t.Helper()
		for deadline := time.Now().Add(limit); ; time.Sleep(5 * time.Second) {
			replicas, _ := strconv.Atoi(c.k(t, "-n", ns, "get", "deployment", "pingpong", "-o", "jsonpath={.status.readyReplicas}"))
			cpu := c.k(t, "-n", ns, "get", "hpa", "pingpong", "-o", "jsonpath={.status.currentMetrics[0].resource.current.averageUtilization}")
			if cpu == "" {
				cpu = "<unknown>" // no figure from the metrics API yet
			} else {
				cpu += "%"
			}
			t.Logf("t+%3ds: CPU %s of the request (target 70%%), %d pods ready", int(time.Since(start).Seconds()), cpu, replicas)
			if done(replicas) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the Deployment did not %s within %s", what, limit)
			}
		}
	}
	watch("reach its minimum of 3 ready pods", 3*time.Minute, func(n int) bool { return n == 3 })
	svc := c.k(t, "-n", ns, "get", "service", "pingpong", "-o", "jsonpath={.spec.clusterIP}") + ":80"
	eventuallyCount(t, "http://"+svc+"/ping", "", time.Minute)

	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	loaded := make(chan harness.LoadResult, 1)
	go func() {
		result, _ := harness.Drive(ctx, svc, "/ping", 16, 10*time.Minute)
		loaded <- result
	}()
	watch("scale above 3 pods under load", 4*time.Minute, func(n int) bool { return n > 3 })
	stopLoad()
	result := <-loaded
	t.Logf("the load: %d pings answered, %d failed", len(result.Counts), result.Errors)
	t.Logf("kubectl top pods:\n%s", c.k(t, "-n", ns, "top", "pods"))
	watch("scale back to 3 pods once the load stopped", 4*time.Minute, func(n int) bool { return n == 3 })
	if desired := strings.TrimSpace(c.k(t, "-n", ns, "get", "hpa", "pingpong", "-o", "jsonpath={.status.desiredReplicas}")); desired != "3" {
		t.Errorf("the autoscaler wants %s pods at rest, want its minimum, 3", desired)
	}
}
