package e2e

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pingpong/test/harness"
)

// The chart, as a learner installs it: `helm install` into a fresh namespace, `helm test`;
// under keep-alive load (not one request may fail) a `helm upgrade` to a new image tag, an
// upgrade to a release that never gets ready, which must fail while the old pods serve, and a
// `helm rollback`; a second release that uses the first one's Redis as an external Redis, and
// the generated password surviving the upgrade.
func TestHelm(t *testing.T) {
	c := setup(t)
	const ns, release = "pingpong-helm", "pp"
	c.freshNamespace(t, ns)
	c.dumpOnFailure(t, ns)
	t.Cleanup(func() { _, _ = command(2*time.Minute, c.repo, c.helm, "uninstall", release, "-n", ns, "--wait") })

	t.Logf("helm: %s", strings.TrimSpace(c.run(t, c.helm, "version", "--short")))
	// The second release below uses this one's Redis: its namespace is let in.
	c.run(t, c.helm, "install", release, "helm/pingpong", "-n", ns, "--wait", "--timeout=4m",
		"--set-json", `networkPolicy.redisFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"pingpong-helm-external"}}}]`,
		"--set", "ingress.enabled=true,ingress.className=traefik",
		"--set", "ingress.hosts[0].host=helm.pingpong.local",
		"--set", "ingress.hosts[0].paths[0].path=/,ingress.hosts[0].paths[0].pathType=Prefix")
	c.run(t, c.helm, "test", release, "-n", ns, "--logs", "--timeout=2m")

	svc := c.serviceURL(t, ns, "pp-pingpong")
	t.Run("the chart's Ingress reaches the release", func(t *testing.T) {
		before := count(t, svc+"/count", "")
		if got := eventuallyCount(t, "http://"+c.ingress+"/ping", "helm.pingpong.local", time.Minute); got != before+1 {
			t.Fatalf("ping through the Ingress answered %d, want %d", got, before+1)
		}
		checkInternalsNotPublic(t, "http://"+c.ingress, "helm.pingpong.local")
		checkInternalsNotPublic(t, svc, "")
	})

	password := c.k(t, "-n", ns, "get", "secret", "pp-pingpong", "-o", "jsonpath={.data.redis-password}")
	if password == "" {
		t.Fatal("the release's Secret holds no redis-password")
	}

	addr := strings.TrimPrefix(svc, "http://") + ":80"
	upgrade := func(args ...string) func(t *testing.T) {
		return func(t *testing.T) {
			c.run(t, c.helm, append([]string{"upgrade", release, "helm/pingpong", "-n", ns, "--reuse-values", "--wait", "--timeout=4m"}, args...)...)
		}
	}

	t.Run("helm upgrade to a new image: 0 failed under keep-alive load", func(t *testing.T) {
		assertNoneFailed(t, underLoad(t, addr, upgrade("--set", "image.tag=v3-rollout")))
		// The old pods drain, then stop: give them the grace period to be gone.
		var images []string
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
			images = strings.Fields(c.k(t, "-n", ns, "get", "pods", "-l", "app.kubernetes.io/component=app",
				"-o", "jsonpath={range .items[*]}{.spec.containers[0].image}{\"\\n\"}{end}"))
			if !slices.ContainsFunc(images, func(image string) bool { return image != "pingpong:v3-rollout" }) {
				break
			}
		}
		for _, image := range images {
			if image != "pingpong:v3-rollout" {
				t.Errorf("a pod still runs %s a minute after the upgrade", image)
			}
		}
		if now := c.k(t, "-n", ns, "get", "secret", "pp-pingpong", "-o", "jsonpath={.data.redis-password}"); now != password {
			t.Error("helm upgrade changed the generated Redis password")
		}
		c.run(t, c.helm, "test", release, "-n", ns, "--logs", "--timeout=2m")
	})

	t.Run("a broken upgrade fails and the old pods keep serving: 0 failed", func(t *testing.T) {
		// A value the service refuses at start-up (REDIS_TIMEOUT must be above zero): the new
		// pod never gets ready, so with maxUnavailable 0 no old pod is taken down, and
		// `helm upgrade --wait` gives up.
		var upgradeErr error
		result := underLoad(t, addr, func(t *testing.T) {
			_, upgradeErr = command(3*time.Minute, c.repo, c.helm, "upgrade", release, "helm/pingpong", "-n", ns,
				"--reuse-values", "--wait", "--timeout=45s", "--set", "config.redisTimeout=0s")
		})
		if upgradeErr == nil {
			t.Fatal("helm upgrade to a release that never gets ready succeeded")
		}
		t.Logf("the broken upgrade failed as it should: %v", strings.SplitN(upgradeErr.Error(), "\n", 2)[0])
		assertNoneFailed(t, result)
	})

	t.Run("helm rollback: 0 failed under keep-alive load", func(t *testing.T) {
		assertNoneFailed(t, underLoad(t, addr, func(t *testing.T) {
			c.run(t, c.helm, "rollback", release, "-n", ns, "--wait", "--timeout=4m")
			c.k(t, "-n", ns, "rollout", "status", "deployment/pp-pingpong", "--timeout=3m")
		}))
		c.run(t, c.helm, "test", release, "-n", ns, "--logs", "--timeout=2m")
	})

	t.Run("a release with an external Redis passes helm test and shares the count", func(t *testing.T) {
		const extNS = "pingpong-helm-external"
		c.freshNamespace(t, extNS)
		c.dumpOnFailure(t, extNS)
		t.Cleanup(func() { _, _ = command(2*time.Minute, c.repo, c.helm, "uninstall", "ext", "-n", extNS, "--wait") })
		raw, err := base64.StdEncoding.DecodeString(password)
		if err != nil {
			t.Fatal(err)
		}
		url := fmt.Sprintf("redis://:%s@pp-pingpong-redis.%s.svc.cluster.local:6379/0", raw, ns)
		c.run(t, c.helm, "install", "ext", "helm/pingpong", "-n", extNS, "--wait", "--timeout=4m",
			"--set", "redis.enabled=false", "--set", "externalRedis.url="+url, "--set", "replicaCount=1")
		c.run(t, c.helm, "test", "ext", "-n", extNS, "--logs", "--timeout=2m")
		before := count(t, svc+"/count", "")
		if got := count(t, c.serviceURL(t, extNS, "ext-pingpong")+"/ping", ""); got != before+1 {
			t.Fatalf("the external-Redis release answered %d, want %d (the first release's count + 1)", got, before+1)
		}
	})
}

// The chart with redis.architecture=sentinel, behind its NetworkPolicies: `helm install`, `helm
// test`, then the Redis master pod deleted under keep-alive load (another pod takes over, no
// count is answered twice) and `helm test` again. The failover itself is proven in depth on
// k8s/redis-ha (TestRedisHAFailover), which runs the same script.
func TestHelmSentinel(t *testing.T) {
	c := setup(t)
	const release = "pp"
	ha := redisHA{ns: "pingpong-helm-sentinel", set: "pp-pingpong-redis-ha"}
	c.freshNamespace(t, ha.ns)
	c.dumpOnFailure(t, ha.ns)
	t.Cleanup(func() { _, _ = command(2*time.Minute, c.repo, c.helm, "uninstall", release, "-n", ha.ns, "--wait") })

	c.run(t, c.helm, "install", release, "helm/pingpong", "-n", ha.ns, "--wait", "--timeout=5m",
		"--set", "redis.architecture=sentinel", "--set", "networkPolicy.enabled=true")
	c.waitForSentinels(t, ha)
	c.run(t, c.helm, "test", release, "-n", ha.ns, "--logs", "--timeout=2m")

	svc := strings.TrimPrefix(c.serviceURL(t, ha.ns, "pp-pingpong"), "http://") + ":80"
	c.deleteMasterUnderLoad(t, ha, svc)
	c.run(t, c.helm, "test", release, "-n", ha.ns, "--logs", "--timeout=2m")
}

// Helm 3, which learners who installed Helm before Helm 4 still run (as helm3 here): the same
// chart installs, passes `helm test`, upgrades to a new image and rolls back, counting on.
func TestHelm3(t *testing.T) {
	c := setup(t)
	helm3 := harness.Require(t, "helm3")
	const ns, release = "pingpong-helm3", "pp3"
	c.freshNamespace(t, ns)
	c.dumpOnFailure(t, ns)
	t.Cleanup(func() { _, _ = command(2*time.Minute, c.repo, helm3, "uninstall", release, "-n", ns, "--wait") })

	version := strings.TrimSpace(c.run(t, helm3, "version", "--short"))
	t.Logf("helm3: %s", version)
	if !strings.HasPrefix(version, "v3.") {
		t.Fatalf("helm3 is %s, want Helm 3", version)
	}
	c.run(t, helm3, "install", release, "helm/pingpong", "-n", ns, "--wait", "--timeout=4m")
	c.run(t, helm3, "test", release, "-n", ns, "--logs", "--timeout=2m")
	svc := c.serviceURL(t, ns, release+"-pingpong")
	// Each step keeps the count: the next ping answers one more than /count (helm test pings too).
	countsOn := func(step string) {
		t.Helper()
		before := count(t, svc+"/count", "")
		if got := eventuallyCount(t, svc+"/ping", "", time.Minute); got != before+1 {
			t.Fatalf("after %s ping answered %d, want %d", step, got, before+1)
		}
		if before < 1 {
			t.Fatalf("after %s the count is %d: the release's Redis lost it", step, before)
		}
	}
	countsOn("the install")

	image := func() string {
		return c.k(t, "-n", ns, "get", "deployment", release+"-pingpong", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
	}
	c.run(t, helm3, "upgrade", release, "helm/pingpong", "-n", ns, "--reuse-values", "--wait", "--timeout=4m",
		"--set", "image.tag=v3-rollout")
	if got := image(); got != "pingpong:v3-rollout" {
		t.Fatalf("after helm3 upgrade the Deployment runs %s, want pingpong:v3-rollout", got)
	}
	c.run(t, helm3, "test", release, "-n", ns, "--logs", "--timeout=2m")
	countsOn("the upgrade")

	c.run(t, helm3, "rollback", release, "-n", ns, "--wait", "--timeout=4m")
	if got := image(); got != "pingpong:v3" {
		t.Fatalf("after helm3 rollback the Deployment runs %s, want pingpong:v3", got)
	}
	c.run(t, helm3, "test", release, "-n", ns, "--logs", "--timeout=2m")
	countsOn("the rollback")
	t.Logf("helm3 history:\n%s", c.run(t, helm3, "history", release, "-n", ns))
}
