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
	// The password docker-compose.yml gives Redis when .env sets none.
	redisPassword   = "pingpong-local"
	grafanaPassword = "grafana-test-password"
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
		"GRAFANA_ADMIN_PASSWORD=" + grafanaPassword,
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

	t.Run("the ports are published on loopback only", func(t *testing.T) {
		for _, service := range services {
			for _, id := range c.Containers(t, service) {
				// Every binding of every published port: "HostIp:HostPort" lines.
				out := harness.Docker(t, "inspect", "--format",
					`{{range $p, $b := .HostConfig.PortBindings}}{{range $b}}{{.HostIp}}:{{.HostPort}}{{"\n"}}{{end}}{{end}}`, id)
				// docker inspect ends its output with a newline; a service that publishes
				// nothing prints only that.
				for _, binding := range strings.Fields(out) {
					if ip, _, _ := strings.Cut(binding, ":"); ip != "127.0.0.1" {
						t.Errorf("%s publishes %q: want it on 127.0.0.1 only", service, binding)
					}
				}
			}
		}
		// The control: the load balancer is published, and answers on loopback.
		mustGet(t, base+"/healthz", "", http.StatusOK)
	})

	t.Run("the Redis password is not on a command line", func(t *testing.T) {
		id := c.Containers(t, "redis")[0]
		args := harness.Docker(t, "inspect", "--format", "{{json .Path}} {{json .Args}}", id)
		ps := harness.Docker(t, "top", id, "-eo", "pid,args")
		if strings.Contains(args+ps, redisPassword) {
			t.Errorf("the Redis password shows in the container's command line:\n%s\n%s", args, ps)
		}
		// The control: the password is the one Redis asks for.
		out, err := harness.TryDocker("exec", id, "redis-cli", "--no-auth-warning", "-a", redisPassword, "ping")
		if err != nil || strings.TrimSpace(out) != "PONG" {
			t.Errorf("redis-cli with the password: %v %q", err, out)
		}
		if out, _ := harness.TryDocker("exec", "-e", "REDISCLI_AUTH=", id, "redis-cli", "ping"); strings.Contains(out, "PONG") {
			t.Errorf("Redis answers without the password: %q", out)
		}
	})

	if slices.Contains(services, "grafana") {
		t.Run("grafana shows nothing without a login", func(t *testing.T) {
			url := fmt.Sprintf("http://127.0.0.1:%d", grafanaPort)
			var r response
			var err error
			for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
				if r, err = get(url+"/api/health", ""); err == nil && r.status == http.StatusOK {
					break
				}
			}
			if r, err = get(url+"/api/search", ""); err != nil || r.status != http.StatusUnauthorized {
				t.Errorf("GET /api/search without a login: %v %d, want 401", err, r.status)
			}
			for _, login := range []struct {
				password string
				want     int
			}{{"admin", http.StatusUnauthorized}, {grafanaPassword, http.StatusOK}} {
				req, _ := http.NewRequest(http.MethodGet, url+"/api/search", nil)
				req.SetBasicAuth("admin", login.password)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != login.want {
					t.Errorf("GET /api/search as admin with password %q: %d, want %d", login.password, resp.StatusCode, login.want)
				}
			}
		})
	}

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
