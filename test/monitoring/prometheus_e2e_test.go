package monitoring_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"pingpong/test/harness"
)

// testInterval replaces the shipped scrape and evaluation intervals, so that a few seconds of
// traffic give every rate() window enough samples.
const testInterval = "1s"

// rateInterval stands for Grafana's $__rate_interval. Grafana makes it at least four scrape
// intervals; a little more absorbs a scrape that a busy machine delays.
const rateInterval = "10s"

// TestPrometheusEndToEnd runs the shipped rules and every dashboard query against a real
// Prometheus that scrapes two real replicas of the v3 binary sharing a real Redis, and takes
// Redis away for a while to see the alert about it go off.
func TestPrometheusEndToEnd(t *testing.T) {
	harness.Require(t, "prometheus")
	redis := harness.StartRedis(t)
	bin := harness.BuildV3(t)
	var apps []*harness.App
	for range 2 {
		apps = append(apps, harness.StartApp(t, bin, "REDIS_ADDR="+redis.Addr))
	}
	appTargets := make([]string, len(apps))
	for i, a := range apps {
		appTargets[i] = a.AdminAddr // the metrics are on the admin port
	}

	promPort := harness.FreePort(t)
	config := writeTestConfig(t, map[string][]string{
		"pingpong":   appTargets,
		"prometheus": {net.JoinHostPort("127.0.0.1", strconv.Itoa(promPort))},
	})
	prom := harness.StartPrometheus(t, config, promPort)
	api := newPromAPI(prom.URL)

	traffic := startTraffic(t, apps)
	defer func() { t.Logf("traffic sent, by status: %v", traffic.stop()) }()

	up := t.Run("every target is up", func(t *testing.T) {
		err := eventually(30*time.Second, func() error {
			targets, err := api.targets()
			if err != nil {
				return err
			}
			if len(targets) != len(appTargets)+1 {
				return fmt.Errorf("%d active targets, want %d: %+v", len(targets), len(appTargets)+1, targets)
			}
			for _, tg := range targets {
				if tg.Health != "up" {
					return fmt.Errorf("target %s is %q: %s", tg.ScrapeURL, tg.Health, tg.LastError)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if !up {
		t.FailNow() // nothing below can have data
	}

	if err := redis.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	t.Run("PingpongRedisUnavailable goes off while Redis is down", func(t *testing.T) {
		var raised []promAlert
		err := eventually(45*time.Second, func() error {
			alerts, err := api.alerts()
			if err != nil {
				return err
			}
			raised = raised[:0]
			for _, a := range alerts {
				if a.Labels["alertname"] == "PingpongRedisUnavailable" && (a.State == "pending" || a.State == "firing") {
					raised = append(raised, a)
				}
			}
			if len(raised) != len(apps) {
				return fmt.Errorf("PingpongRedisUnavailable is pending or firing for %d replicas, want %d: %+v",
					len(raised), len(apps), alerts)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("PingpongRedisUnavailable %s for every replica %s after Redis stopped",
			raised[0].State, time.Since(stopped).Round(100*time.Millisecond))
		for _, a := range raised {
			for name, text := range a.Annotations {
				if strings.Contains(text, "error expanding template") || strings.Contains(text, "<no value>") {
					t.Errorf("annotation %s of %v did not render: %q", name, a.Labels, text)
				}
			}
		}
	})
	redis.Start(t)
	for _, a := range apps {
		a.WaitHTTP(t, a.URL+"/readyz", 20*time.Second) // the replicas recover by themselves
	}

	// Every series the rules and panels read must now exist, the error series included.
	t.Run("every rule loads, evaluates and has data", func(t *testing.T) {
		checkRules(t, api)
	})
	t.Run("every dashboard query has data", func(t *testing.T) {
		checkDashboard(t, api, appTargets)
	})
}

// writeTestConfig writes a copy of the shipped prometheus.yml with only the intervals and the
// targets changed: Compose's DNS discovery cannot work here, so each job gets a static list of
// the loopback addresses in targets instead. rules.yml is copied beside it unchanged.
func writeTestConfig(t *testing.T, targets map[string][]string) string {
	t.Helper()
	var cfg map[string]any
	harness.ReadYAML(t, monitoringPath(t, "prometheus", "prometheus.yml"), &cfg)

	global, _ := cfg["global"].(map[string]any)
	if global == nil {
		t.Fatal("prometheus.yml has no global section")
	}
	global["scrape_interval"] = testInterval
	global["evaluation_interval"] = testInterval

	jobs, _ := cfg["scrape_configs"].([]any)
	for _, j := range jobs {
		job := j.(map[string]any)
		name, _ := job["job_name"].(string)
		addrs, ok := targets[name]
		if !ok {
			t.Fatalf("prometheus.yml has a job %q that this test has no targets for", name)
		}
		delete(targets, name)
		for key := range job {
			if key == "static_configs" || strings.HasSuffix(key, "_sd_configs") {
				delete(job, key)
			}
		}
		if _, set := job["scrape_interval"]; set {
			job["scrape_interval"] = testInterval
		}
		job["static_configs"] = []any{map[string]any{"targets": addrs}}
	}
	if len(targets) > 0 {
		t.Fatalf("prometheus.yml has no job for %v", targets)
	}

	dir := t.TempDir()
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile(monitoringPath(t, "prometheus", "rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"prometheus.yml": out, "rules.yml": rules} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "prometheus.yml")
}

// checkRules checks that Prometheus loaded rules.yml as written, that every rule evaluates
// without error, and that every rule outside the Kubernetes group has data behind it.
func checkRules(t *testing.T, api promAPI) {
	deadline := time.Now().Add(20 * time.Second)
	loaded, err := api.rules()
	if err != nil {
		t.Fatal(err)
	}
	health := map[string]string{}
	for _, g := range loaded {
		for _, r := range g.Rules {
			key := g.Name + "/" + r.Name
			if r.Health == "err" || r.LastError != "" {
				t.Errorf("rule %s: health %q, error %q", key, r.Health, r.LastError)
			}
			health[key] = r.Health
		}
	}

	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			key := g.Name + "/" + r.Name()
			if _, ok := health[key]; !ok {
				t.Errorf("rule %s is in rules.yml but Prometheus did not load it", key)
				continue
			}
			if g.Name == kubernetesGroup {
				// kube-state-metrics runs only in a cluster. Prometheus has loaded and evaluated
				// this rule (above); rules_test.yml proves what it does.
				t.Logf("%s: no kube-state-metrics outside a cluster, checked by promtool test rules only", key)
				continue
			}
			queries := []string{dataQuery(r.Expr)}
			if r.Record != "" {
				queries = append(queries, r.Record) // the rule has run and stored its result
			}
			for _, q := range queries {
				if err := hasData(api, q, deadline); err != nil {
					t.Errorf("rule %s: %v", key, err)
				}
			}
		}
	}
}

// checkDashboard runs every panel query with the variables set as Grafana would set them: all
// replicas, then each replica alone.
func checkDashboard(t *testing.T, api promAPI, appTargets []string) {
	deadline := time.Now().Add(20 * time.Second)
	d := loadDashboard(t)

	inst := d.variable(t, "instance")
	metric, label, ok := labelValuesQuery(inst.QueryString())
	if !ok {
		t.Fatalf("instance variable: cannot read query %q", inst.QueryString())
	}
	instances, err := api.labelValues(label, metric)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(instances)
	want := slices.Sorted(slices.Values(appTargets))
	if !slices.Equal(instances, want) {
		t.Fatalf("instance variable lists %v, want the replicas %v", instances, want)
	}

	all := inst.AllValue
	if all == "" {
		all = multiValue(instances)
	}
	selections := map[string]string{"all replicas": all}
	for _, i := range instances {
		selections[i] = multiValue([]string{i})
	}
	for selection, value := range selections {
		vars := map[string]string{
			"instance":        value,
			"__rate_interval": rateInterval,
			"__interval":      testInterval,
			"__range":         "5m",
		}
		for _, p := range allPanels(d.Panels) {
			for _, q := range p.Targets {
				expr := expandVariables(q.Expr, vars)
				if err := hasData(api, expr, deadline); err != nil {
					t.Errorf("panel %d %q query %s, %s: %v", p.ID, p.Title, q.RefID, selection, err)
				}
			}
		}
	}
}

// hasData fails unless the query parses and answers at least one series. A query that does not
// parse fails at once; an empty answer is asked again until deadline, since the rules are
// evaluated every second and a result may take a moment to appear. All queries share the one
// deadline, so that many missing series cannot make the test run for long.
func hasData(api promAPI, expr string, deadline time.Time) error {
	for {
		series, err := api.query(expr)
		switch {
		case err != nil:
			return err
		case len(series) > 0:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("no series for %s", expr)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// traffic sends requests to every replica until stopped, so that every route, status class and
// Redis command shows up in the metrics.
type traffic struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	codes  map[int]int
}

// trafficRequests are what each worker sends in turn: every route, a 404, and, on the admin
// port, a reset without the admin token (refused, so the count is not touched).
var trafficRequests = []struct {
	method, path, accept string
	admin                bool
}{
	{"GET", "/ping", "", false},
	{"GET", "/ping", "application/json", false},
	{"GET", "/count", "", false},
	{"GET", "/", "", false},
	{"GET", "/healthz", "", false},
	{"GET", "/readyz", "", false},
	{"POST", "/admin/reset", "", true},
	{"GET", "/no-such-page", "", false},
}

// startTraffic starts two workers per replica. They stop when stop is called, when the test ends,
// or after a bounded number of requests, whichever comes first.
func startTraffic(t *testing.T, apps []*harness.App) *traffic {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tr := &traffic{cancel: cancel, codes: map[int]int{}}
	client := &http.Client{Timeout: 2 * time.Second}
	for _, app := range apps {
		for range 2 {
			tr.wg.Add(1)
			go func() {
				defer tr.wg.Done()
				for i := 0; i < 100_000 && ctx.Err() == nil; i++ {
					r := trafficRequests[i%len(trafficRequests)]
					base := app.URL
					if r.admin {
						base = app.AdminURL
					}
					req, err := http.NewRequestWithContext(ctx, r.method, base+r.path, nil)
					if err != nil {
						return
					}
					if r.accept != "" {
						req.Header.Set("Accept", r.accept)
					}
					code := 0 // no answer at all
					if resp, err := client.Do(req); err == nil {
						code = resp.StatusCode
						resp.Body.Close()
					}
					tr.mu.Lock()
					tr.codes[code]++
					tr.mu.Unlock()
					time.Sleep(5 * time.Millisecond)
				}
			}()
		}
	}
	t.Cleanup(func() { tr.stop() })
	return tr
}

// stop ends the workers, waits for them, and returns how many answers of each status they got.
func (tr *traffic) stop() map[int]int {
	tr.cancel()
	tr.wg.Wait()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return maps.Clone(tr.codes)
}
