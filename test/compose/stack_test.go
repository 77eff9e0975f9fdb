package compose_test

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pingpong/test/harness"
)

const (
	replicas     = 3
	grafanaImage = "grafana/grafana:11.6.0"
)

// TestStack runs the whole stack of docker-compose.yml at the top: the pings a learner sends
// to the load balancer reach every replica, the replicas share one exact count, and
// Prometheus finds every replica by itself.
func TestStack(t *testing.T) {
	root := harness.RepoRoot(t)
	lbPort, promPort, grafanaPort := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	c := harness.NewCompose(t, root, []string{"--file", "docker-compose.yml"}, []string{
		"HOST_PORT=" + strconv.Itoa(lbPort),
		"PROMETHEUS_PORT=" + strconv.Itoa(promPort),
		"GRAFANA_PORT=" + strconv.Itoa(grafanaPort),
	})

	services := []string{"app", "redis", "nginx", "prometheus"}
	if _, err := harness.TryDocker("image", "inspect", grafanaImage); err == nil {
		services = append(services, "grafana")
	} else {
		// Grafana is left out only where its image cannot be had: no registry can be reached
		// and, unlike the other images, no stand-in can be made (Debian does not package
		// Grafana). Its provisioning files are checked by the monitoring tests.
		t.Logf("%s is not on the engine: starting the stack without Grafana", grafanaImage)
	}
	c.Up(t, services...)
	if ids := c.Containers(t, "app"); len(ids) != replicas {
		t.Fatalf("service app has %d containers, want %d", len(ids), replicas)
	}
	for _, service := range services {
		ids := c.Containers(t, service)
		if len(ids) == 0 {
			t.Fatalf("service %s has no container", service)
		}
		logImageSize(t, ids[0])
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", lbPort)

	t.Run("pings through nginx reach every replica", func(t *testing.T) {
		instances := map[string]int{}
		for want := 1; want <= 30; want++ {
			reply, err := pingJSON(base)
			if err != nil {
				t.Fatal(err)
			}
			if reply.Count != want {
				t.Fatalf("ping %d answered count %d", want, reply.Count)
			}
			instances[reply.Instance]++
		}
		t.Logf("30 pings answered by %v", instances)
		if len(instances) != replicas {
			t.Errorf("30 pings were answered by %d replicas, want %d: %v", len(instances), replicas, instances)
		}
	})

	t.Run("concurrent pings hand out every count once", func(t *testing.T) {
		const workers, each = 6, 20
		var mu sync.Mutex
		var counts []int
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					reply, err := pingJSON(base)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					counts = append(counts, reply.Count)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		slices.Sort(counts)
		for i, n := range counts {
			if n != 31+i {
				t.Fatalf("counts handed out: %v; want each of 31..%d once", counts, 30+workers*each)
			}
		}
		r := mustGet(t, base+"/count", "", http.StatusOK)
		if want := strconv.Itoa(30+workers*each) + "\n"; r.body != want {
			t.Errorf("GET /count = %q, want %q", r.body, want)
		}
	})

	t.Run("the internals are not on the public path", func(t *testing.T) {
		// The app's own JSON 404, so nginx did pass the request on: the app's public port has
		// no such routes. That Prometheus scrapes the same replicas on their admin port (the
		// next test) is the control: the metrics are there, only not here.
		for _, path := range []string{"/metrics", "/admin/reset"} {
			if r := mustGet(t, base+path, "", http.StatusNotFound); r.body != `{"error":"not found"}`+"\n" {
				t.Errorf("GET %s through nginx: %q, want the app's JSON 404", path, r.body)
			}
		}
	})

	t.Run("prometheus scrapes every replica", func(t *testing.T) {
		url := fmt.Sprintf("http://127.0.0.1:%d", promPort)
		var up []string
		// Prometheus looks the service name up every refresh_interval and then scrapes at its
		// scrape_interval; a minute covers both.
		for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
			if up = appTargetsUp(t, url); len(up) == replicas {
				break
			}
		}
		if len(up) != replicas {
			t.Errorf("prometheus scrapes %d healthy app targets, want %d: %v", len(up), replicas, up)
		}
	})
}

// appTargetsUp lists the app targets (the admin port, 9797) that Prometheus scraped successfully.
func appTargetsUp(t *testing.T, base string) []string {
	t.Helper()
	targets, err := harness.ActiveTargets(base)
	if err != nil {
		t.Logf("Prometheus targets: %v", err)
		return nil
	}
	var up []string
	for _, target := range targets {
		if addr := target.Labels["instance"]; strings.HasSuffix(addr, ":9797") && target.Health == "up" {
			up = append(up, addr)
		}
	}
	return up
}
