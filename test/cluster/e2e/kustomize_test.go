package e2e

import (
	"strings"
	"testing"
	"time"

	"pingpong/test/harness"
)

// The plain manifests, as a learner applies them: every pod becomes Ready, the Service counts
// 1, 2, 3 ... across several pods, the Ingress and then the Gateway API route reach the same
// count, the count survives the loss of the Redis pod, and the admin Job resets it.
func TestKustomize(t *testing.T) {
	c := setup(t)
	const ns, host = "pingpong-e2e", "e2e.pingpong.local"
	c.deleteNamespace(t, ns)
	t.Cleanup(func() { c.deleteNamespace(t, ns) })
	c.dumpOnFailure(t, ns)

	c.k(t, "apply", "-k", c.manifests(t, ns, host, "ingress"))
	c.k(t, "-n", ns, "rollout", "status", "statefulset/redis", "--timeout=3m")
	c.k(t, "-n", ns, "rollout", "status", "deployment/pingpong", "--timeout=3m")
	c.k(t, "-n", ns, "wait", "--for=condition=Ready", "pod", "--all", "--timeout=2m")

	svc := c.serviceURL(t, ns, "pingpong")
	t.Run("the Service counts up from 1", func(t *testing.T) {
		for want := 1; want <= 5; want++ {
			if got := count(t, svc+"/ping", ""); got != want {
				t.Fatalf("ping %d answered %d", want, got)
			}
		}
	})

	t.Run("more than one pod answers", func(t *testing.T) {
		// kube-proxy programs the Service's endpoints a moment after the pods
		// turn ready, so give it up to a minute to spread the requests.
		var seen map[string]int
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Second) {
			seen = hostnames(t, svc, 30)
			if len(seen) >= 2 || time.Now().After(deadline) {
				break
			}
		}
		t.Logf("answers per pod: %v", seen)
		if len(seen) < 2 {
			t.Fatalf("30 requests through the Service reached %d pod(s) for a minute: %v", len(seen), seen)
		}
	})

	last := count(t, svc+"/count", "")
	t.Run("the Ingress reaches the same counter", func(t *testing.T) {
		got := eventuallyCount(t, "http://"+c.ingress+"/ping", host, time.Minute)
		if got != last+1 {
			t.Fatalf("ping through the Ingress answered %d, want %d", got, last+1)
		}
		t.Logf("%s answered %d through the Ingress: Traefik's Service %s:80, its web entry point :8000", host, got, c.ingress)
		last = got
		checkInternalsNotPublic(t, "http://"+c.ingress, host)
		checkInternalsNotPublic(t, svc, "")
	})

	t.Run("the count survives the Redis pod", func(t *testing.T) {
		uid := c.k(t, "-n", ns, "get", "pod", "redis-0", "-o", "jsonpath={.metadata.uid}")
		c.k(t, "-n", ns, "delete", "pod", "redis-0", "--wait=true", "--timeout=2m")
		c.waitReplaced(t, ns, "redis-0", uid)
		// The app's pods report not-ready until they have reconnected; requests that fail
		// meanwhile do not count.
		if got := eventuallyCount(t, svc+"/ping", "", 2*time.Minute); got != last+1 {
			t.Fatalf("after the Redis pod came back, ping answered %d, want %d", got, last+1)
		}
		last++
	})

	t.Run("the Gateway API route replaces the Ingress", func(t *testing.T) {
		c.k(t, "-n", ns, "delete", "ingress", "pingpong")
		c.k(t, "apply", "-k", c.manifests(t, ns, host, "gateway-api"))
		// Traefik accepts a listener only on an entry point's port: 8000 here, as on k3s and
		// with Traefik's chart, behind the Service's port 80.
		c.k(t, "-n", ns, "wait", "--for=condition=Programmed", "gateway/pingpong", "--timeout=1m")
		t.Logf("gateway/pingpong: listener port %s, Accepted=%s, Traefik's Service port %s to entry point %s",
			c.k(t, "-n", ns, "get", "gateway", "pingpong", "-o", "jsonpath={.spec.listeners[0].port}"),
			c.k(t, "-n", ns, "get", "gateway", "pingpong", "-o", `jsonpath={.status.conditions[?(@.type=="Accepted")].status}`),
			c.k(t, "-n", "traefik", "get", "service", "traefik", "-o", "jsonpath={.spec.ports[0].port}"),
			c.k(t, "-n", "traefik", "get", "pod", "-l", "app=traefik", "-o", "jsonpath={.items[0].spec.containers[0].ports[0].containerPort}"))
		if got := eventuallyCount(t, "http://"+c.ingress+"/ping", host, time.Minute); got != last+1 {
			t.Fatalf("ping through the Gateway answered %d, want %d", got, last+1)
		} else {
			t.Logf("%s answered %d through the Gateway's listener on 8000: Traefik's Service %s:80", host, got, c.ingress)
		}
		checkInternalsNotPublic(t, "http://"+c.ingress, host)
	})

	t.Run("the admin Job resets the count", func(t *testing.T) {
		job := strings.TrimSpace(c.k(t, "-n", ns, "create", "-f", "k8s/admin/reset-job.yaml", "-o", "name"))
		c.k(t, "-n", ns, "wait", "--for=condition=Complete", job, "--timeout=2m")
		t.Logf("%s: %s", job, c.k(t, "-n", ns, "logs", job))
		if got := count(t, svc+"/count", ""); got != 0 {
			t.Fatalf("after the reset the count is %d, want 0", got)
		}
		if got := count(t, svc+"/ping", ""); got != 1 {
			t.Fatalf("the first ping after the reset answered %d, want 1", got)
		}
	})
}

// waitReplaced waits until the pod name is back, with another UID, and Ready.
func (c *cluster) waitReplaced(t *testing.T, ns, name, oldUID string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		uid, err := command(30*time.Second, c.repo, c.kubectl, "-n", ns, "get", "pod", name, "-o", "jsonpath={.metadata.uid}")
		if err == nil && uid != "" && uid != oldUID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not replaced within 2m", name)
		}
		time.Sleep(time.Second)
	}
	c.k(t, "-n", ns, "wait", "--for=condition=Ready", "pod/"+name, "--timeout=2m")
}

// manifests copies k8s/ to a temporary folder and changes its kustomization.yaml the way a
// learner's own copy might: another namespace, another host name, one of the two components.
// The test then leaves alone the `pingpong` namespace and the pingpong.local host that the
// commands of k8s/README.md use.
func (c *cluster) manifests(t *testing.T, ns, host, component string) string {
	t.Helper()
	replace := func(kind, path string) map[string]any {
		return map[string]any{
			"target": map[string]any{"kind": kind, "name": "pingpong"},
			"patch":  `[{"op": "replace", "path": "` + path + `", "value": "` + host + `"}]`,
		}
	}
	return harness.CopyK8s(t, func(k map[string]any) {
		k["namespace"] = ns
		k["components"] = []string{component}
		switch component {
		case "ingress":
			k["patches"] = []any{replace("Ingress", "/spec/rules/0/host")}
		case "gateway-api":
			k["patches"] = []any{replace("Gateway", "/spec/listeners/0/hostname"), replace("HTTPRoute", "/spec/hostnames/0")}
		}
	})
}
