package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pingpong/test/harness"
)

// TestNetworkPolicies proves that the NetworkPolicies isolate Redis, with the
// node's kube-router enforcing them: probe pods try to open a connection to
// Redis and report whether they could. A pod without the app's labels, or
// with them but in another namespace, is blocked; a pod with the app's labels
// in the release's namespace connects, the app counts through Redis, and a
// pod in the ingress controller's namespace reaches the app's HTTP port. The
// control: once the Redis policy is deleted, the same unlabelled probe
// connects, so the probe can tell the difference. Run for k8s/ and for the
// chart.
func TestNetworkPolicies(t *testing.T) {
	c := setup(t)
	const other = "pingpong-netpol-other"
	c.deleteNamespace(t, other)
	c.k(t, "create", "namespace", other)
	t.Cleanup(func() { c.deleteNamespace(t, other) })

	t.Run("k8s", func(t *testing.T) {
		const ns = "pingpong-netpol"
		c.deleteNamespace(t, ns)
		t.Cleanup(func() { c.deleteNamespace(t, ns) })
		c.dumpOnFailure(t, ns)
		c.k(t, "apply", "-k", harness.CopyK8s(t, func(k map[string]any) { k["namespace"] = ns }))
		c.k(t, "-n", ns, "rollout", "status", "statefulset/redis", "--timeout=3m")
		c.k(t, "-n", ns, "rollout", "status", "deployment/pingpong", "--timeout=3m")
		c.checkIsolation(t, isolated{ns, "app.kubernetes.io/name=pingpong,app.kubernetes.io/instance=pingpong",
			"redis", "pingpong", "redis"}, other)
	})

	t.Run("chart", func(t *testing.T) {
		const ns, release = "pingpong-netpol-chart", "np"
		c.freshNamespace(t, ns)
		c.dumpOnFailure(t, ns)
		t.Cleanup(func() { _, _ = command(2*time.Minute, c.repo, c.helm, "uninstall", release, "-n", ns, "--wait") })
		c.run(t, c.helm, "install", release, "helm/pingpong", "-n", ns, "--wait", "--timeout=4m",
			"--set", "networkPolicy.enabled=true")
		c.checkIsolation(t, isolated{ns, "app.kubernetes.io/name=pingpong,app.kubernetes.io/instance=" + release,
			release + "-pingpong-redis", release + "-pingpong", release + "-pingpong-redis"}, other)
	})
}

// isolated is one installation whose Redis the policies guard.
type isolated struct {
	ns, appLabels            string // the namespace, and the labels that let a pod reach Redis
	redisService, appService string
	redisPolicy              string // the NetworkPolicy that guards Redis
}

// checkIsolation runs the probes against one installation; other is a namespace of its own.
func (c *cluster) checkIsolation(t *testing.T, in isolated, other string) {
	t.Helper()
	ns := in.ns
	redis := fmt.Sprintf("%s.%s:6379", in.redisService, ns)
	appLabels := in.appLabels
	svc := c.k(t, "-n", ns, "get", "service", in.appService, "-o", "jsonpath={.spec.clusterIP}")
	if got := eventuallyCount(t, "http://"+svc+"/ping", "", time.Minute); got < 1 {
		t.Fatalf("the app does not count through Redis: %d", got)
	}
	t.Logf("the app pods count through Redis with the policies on")

	for _, p := range []struct {
		name, namespace, labels, target string
		connects                        bool
	}{
		{"an unlabelled pod in the namespace", ns, "", redis, false},
		{"a pod with the app's labels in another namespace", other, appLabels, redis, false},
		{"a pod with the app's labels in the namespace", ns, appLabels, redis, true},
		{"a pod in the ingress controller's namespace, to the app's HTTP port", "traefik", "", svc + ":80", true},
	} {
		if got := c.probe(t, p.namespace, p.labels, p.target); got != p.connects {
			t.Errorf("%s → %s: connected %v, want %v", p.name, p.target, got, p.connects)
		} else {
			t.Logf("%s → %s: %s, as it should", p.name, p.target, map[bool]string{true: "connected", false: "blocked"}[got])
		}
	}

	c.k(t, "-n", ns, "delete", "networkpolicy", in.redisPolicy)
	if !c.probe(t, ns, "", redis) {
		t.Fatalf("the control: with the %s policy deleted, the unlabelled probe still cannot connect to %s: the probe proves nothing", in.redisPolicy, redis)
	}
	t.Logf("the control: with the %s policy deleted, the unlabelled pod → %s connected", in.redisPolicy, redis)
}

// probe runs a pod with the given labels in namespace that tries, five times a second apart,
// to open a TCP connection to target (host:port), and reports whether one opened. The
// policies reach a new pod within a few seconds, hence the tries. The pod meets the
// restricted Pod Security Standard, which the release namespaces enforce.
func (c *cluster) probe(t *testing.T, namespace, labels, target string) bool {
	t.Helper()
	name := fmt.Sprintf("probe-%d", time.Now().UnixNano())
	host, port, _ := strings.Cut(target, ":")
	script := fmt.Sprintf(`for i in 1 2 3 4 5; do if nc -w 2 %s %s </dev/null; then echo connected; exit 0; fi; sleep 1; done; echo blocked`, host, port)
	overrides := fmt.Sprintf(`{"spec":{"securityContext":{"runAsNonRoot":true,"runAsUser":65532,"seccompProfile":{"type":"RuntimeDefault"}},`+
		`"containers":[{"name":"%s","image":"busybox:1.37","command":["sh","-c",%q],`+
		`"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}`, name, script)
	args := []string{"-n", namespace, "run", name, "--restart=Never", "--image=busybox:1.37", "--overrides=" + overrides}
	if labels != "" {
		args = append(args, "--labels="+labels)
	}
	c.k(t, args...)
	defer c.k(t, "-n", namespace, "delete", "pod", name, "--wait=false")
	c.k(t, "-n", namespace, "wait", "pod/"+name, "--for=jsonpath={.status.phase}=Succeeded", "--timeout=2m")
	out := strings.TrimSpace(c.k(t, "-n", namespace, "logs", name))
	if out != "connected" && out != "blocked" {
		t.Fatalf("probe %s printed %q", name, out)
	}
	return out == "connected"
}
