package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// The chart, as a learner installs it: `helm install` into a fresh namespace, `helm test`,
// a `helm upgrade` to a new image tag while a client pings without pause (not one request may
// fail), a second release that uses the first one's Redis as an external Redis, and the
// generated password surviving the upgrade.
func TestHelm(t *testing.T) {
	c := setup(t)
	const ns, release = "pingpong-helm", "pp"
	c.freshNamespace(t, ns)
	c.dumpOnFailure(t, ns)
	t.Cleanup(func() { _, _ = command(2*time.Minute, c.repo, c.helm, "uninstall", release, "-n", ns, "--wait") })

	c.run(t, c.helm, "install", release, "helm/pingpong", "-n", ns, "--wait", "--timeout=4m",
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
	})

	password := c.k(t, "-n", ns, "get", "secret", "pp-pingpong", "-o", "jsonpath={.data.redis-password}")
	if password == "" {
		t.Fatal("the release's Secret holds no redis-password")
	}

	t.Run("an upgrade to a new image drops no request", func(t *testing.T) {
		p := startPinger(svc + "/ping")
		c.run(t, c.helm, "upgrade", release, "helm/pingpong", "-n", ns, "--reuse-values",
			"--set", "image.tag=v3-rollout", "--wait", "--timeout=4m")
		c.k(t, "-n", ns, "rollout", "status", "deployment/pp-pingpong", "--timeout=3m")
		// Keep pinging while the last old pods finish terminating.
		time.Sleep(8 * time.Second)
		ok, failures := p.stop()
		t.Logf("%d pings during the rollout, %d failed", ok+len(failures), len(failures))
		if len(failures) > 0 {
			t.Errorf("%d of %d pings failed during the rollout; the first ones:\n%s",
				len(failures), ok+len(failures), strings.Join(failures[:min(5, len(failures))], "\n"))
		}
		if ok < 20 {
			t.Errorf("only %d pings answered during the rollout; the check proves little", ok)
		}
		images := c.k(t, "-n", ns, "get", "pods", "-l", "app.kubernetes.io/component=app",
			"-o", "jsonpath={range .items[*]}{.spec.containers[0].image}{\"\\n\"}{end}")
		for _, image := range strings.Fields(images) {
			if image != "pingpong:v3-rollout" {
				t.Errorf("a pod still runs %s after the upgrade", image)
			}
		}
		if now := c.k(t, "-n", ns, "get", "secret", "pp-pingpong", "-o", "jsonpath={.data.redis-password}"); now != password {
			t.Error("helm upgrade changed the generated Redis password")
		}
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

// pinger sends GET requests one after another until stopped, and remembers every failure and
// every count that did not go up.
type pinger struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	ok       int
	failures []string
}

func startPinger(url string) *pinger {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pinger{cancel: cancel}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		last := 0
		for ctx.Err() == nil {
			n, err := tryCount(url, "")
			switch {
			case err != nil:
				p.failures = append(p.failures, fmt.Sprintf("%s: %v", time.Now().Format(time.TimeOnly), err))
			case n <= last:
				p.failures = append(p.failures, fmt.Sprintf("count went from %d to %d", last, n))
			default:
				p.ok++
				last = n
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return p
}

func (p *pinger) stop() (ok int, failures []string) {
	p.cancel()
	p.wg.Wait()
	return p.ok, p.failures
}
