package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pingpong/test/harness"
)

// TestArgoRolloutsCanary proves the chart's canary on the node's Argo Rollouts: the chart's Rollout
// (rollout.enabled), its traffic split by Traefik's weighted TraefikService behind the chart's
// IngressRoute, and its analysis asking a real Prometheus for the new version's share of 5xx
// answers. Under keep-alive load through Traefik, every answer recorded:
//   - a good version (another tag of the image) goes 20% → 50% → 100%, every measurement of the
//     analysis passing, and not one request fails;
//   - a bad version (REDIS_MIN_REPLICAS=1 on a Redis that has no replica: its pods are ready, and
//     answer 503) is aborted by the analysis alone: traffic back on the stable version, whose pods
//     are never restarted, and the failed requests within the canary's share of the traffic while
//     it had one;
//   - back to the good version: 0 failed;
//   - the control: the same bad version with the analysis off reaches 100% and then fails every
//     request.
func TestArgoRolloutsCanary(t *testing.T) {
	c := setup(t)
	const ns, monitoring, release, host = "pingpong-canary", "pingpong-canary-monitoring", "cn", "canary.pingpong.local"
	const name = release + "-pingpong" // the Rollout, the TraefikService, the stable Service
	c.freshNamespace(t, ns)
	c.emptyNamespace(t, monitoring)
	c.dumpOnFailure(t, ns)
	t.Cleanup(func() { _, _ = command(2*time.Minute, c.repo, c.helm, "uninstall", release, "-n", ns, "--wait") })
	// The analysis asks a Prometheus that finds the app's pods with their version's hash (served
	// by the test, as Kubernetes discovery would), admitted to the pods' admin port by the policies.
	c.startPrometheus(t, monitoring, fmt.Sprintf("http_sd_configs: [{url: %q, refresh_interval: 2s}]", c.podDiscovery(t, ns)))
	prometheus := fmt.Sprintf("http://prometheus.%s:9090", monitoring)

	// No --wait: Helm does not know when a Rollout is done; its status says. Client-side apply, as
	// the chart's README says: the controller owns the Services' selectors once it has added each
	// version's hash to them, and Helm 4's server-side apply would refuse every upgrade after.
	c.run(t, c.helm, "install", release, "helm/pingpong", "-n", ns, "--server-side=false",
		"--set", "rollout.enabled=true",
		"--set", "rollout.analysis.prometheusAddress="+prometheus,
		"--set", "networkPolicy.prometheusNamespace="+monitoring,
		"--set", "ingress.enabled=true,ingress.className=traefik",
		"--set", "ingress.hosts[0].host="+host,
		"--set", "ingress.hosts[0].paths[0].path=/,ingress.hosts[0].paths[0].pathType=Prefix")
	r := rolloutOf(c, ns, name)
	first := r.waitPromoted(t, "")
	eventuallyCount(t, "http://"+c.ingress+"/ping", host, time.Minute)
	addr := c.ingress + ":80"
	upgrade := func(args ...string) {
		c.run(t, c.helm, append([]string{"upgrade", release, "helm/pingpong", "-n", ns, "--reuse-values"}, args...)...)
	}
	const bad = `config.extraEnv=[{"name":"REDIS_MIN_REPLICAS","value":"1"}]`

	t.Run("a good version canaried 20% → 50% → 100%, the analysis passing: 0 failed", func(t *testing.T) {
		var weights []weightChange
		var hash string
		result := underLoadHost(t, addr, host, func(t *testing.T) {
			stop := r.watchWeights(t)
			upgrade("--set", "image.tag=v3-rollout")
			hash = r.waitPromoted(t, first)
			weights = stop()
		})
		assertNoneFailed(t, result)
		t.Logf("the canary's weight: %s", formatWeights(weights))
		if !slices.Equal(distinctWeights(weights), []int{0, 20, 50, 100, 0}) &&
			!slices.Equal(distinctWeights(weights), []int{0, 20, 50, 0}) {
			t.Errorf("the canary's weight went %v, want 20, then 50, then (all of it, or promoted) back to 0", distinctWeights(weights))
		}
		run := r.analysisRun(t, hash)
		if run.phase != "Successful" || run.failed != 0 || run.successful < 3 {
			t.Errorf("the analysis of %s: %+v; want Successful with 3 or more measurements, none failed", hash, run)
		}
		t.Logf("the analysis of %s: %+v", hash, run)
	})

	t.Run("a bad version aborted by the analysis: failures within the canary's share, stable pods unrestarted", func(t *testing.T) {
		stable := r.stableRS(t)
		podsBefore := c.pods(t, ns, "rollouts-pod-template-hash="+stable)
		var weights []weightChange
		var aborted time.Time
		result := underLoadHost(t, addr, host, func(t *testing.T) {
			stop := r.watchWeights(t)
			upgrade("--set-json", bad)
			aborted = r.waitAborted(t)
			r.waitWeight(t, 0)
			weights = stop()
		})
		t.Logf("the canary's weight: %s", formatWeights(weights))
		if slices.Contains(distinctWeights(weights), 50) {
			t.Errorf("the bad version reached 50%% before the abort: %v", distinctWeights(weights))
		}
		// The canary had traffic from its first weight above 0 until the abort set it back to 0,
		// and a few seconds more while Traefik follows (and the requests then in flight finish).
		from, back := canaryWindow(weights)
		if from.IsZero() || back.IsZero() {
			t.Fatalf("the canary's weight never went up and back to 0 (%s): the test proves nothing", formatWeights(weights))
		}
		until := back.Add(5 * time.Second)
		var failed, during int
		for _, a := range result.Answers {
			inWindow := !a.Sent.Before(from.Add(-2*time.Second)) && a.Sent.Before(until)
			if inWindow {
				during++
			}
			if a.Status != 200 {
				failed++
				if !inWindow {
					t.Errorf("a request sent at %s failed (status %d) outside the canary's window %s – %s",
						a.Sent.Format(time.StampMilli), a.Status, from.Format(time.StampMilli), until.Format(time.StampMilli))
				}
			}
		}
		// Traefik's weighted round robin sends 20% of the requests to the canary; 5 points of
		// slack for the requests sent while the weight changed.
		const share, slack = 0.20, 0.05
		bound := int((share + slack) * float64(during))
		t.Logf("%d of the %d requests sent while the canary had traffic (%s) failed: %.1f%%, bound %d (%.0f%%); the analysis aborted %s after the canary got its share",
			failed, during, until.Sub(from).Round(time.Second), 100*float64(failed)/float64(max(during, 1)), bound, 100*(share+slack), aborted.Sub(from).Round(time.Second))
		if failed == 0 {
			t.Error("no request failed: the bad version was not bad, and the abort proves nothing")
		}
		if failed > bound {
			t.Errorf("%d failed, over the canary's share (%d)", failed, bound)
		}
		if phase := r.field(t, "{.status.phase}"); phase != "Degraded" {
			t.Errorf("the aborted rollout is %q, want Degraded", phase)
		}
		if now := r.stableRS(t); now != stable {
			t.Errorf("the stable version changed from %s to %s", stable, now)
		}
		if after := c.pods(t, ns, "rollouts-pod-template-hash="+stable); !slices.Equal(after, podsBefore) {
			t.Errorf("the stable pods changed during the abort:\nbefore %v\nafter  %v", podsBefore, after)
		}
	})

	t.Run("back to the good version: 0 failed", func(t *testing.T) {
		stable := r.stableRS(t)
		assertNoneFailed(t, underLoadHost(t, addr, host, func(t *testing.T) {
			upgrade("--set-json", "config.extraEnv=[]")
			if hash := r.waitPromoted(t, ""); hash != stable {
				t.Errorf("the rollout settled on %s, want the stable %s", hash, stable)
			}
		}))
	})

	t.Run("control: without the analysis the bad version reaches 100% and fails every request", func(t *testing.T) {
		stable := r.stableRS(t)
		var weights []weightChange
		var promoted time.Time
		result := underLoadHost(t, addr, host, func(t *testing.T) {
			stop := r.watchWeights(t)
			upgrade("--set", "rollout.analysis.enabled=false", "--set-json", bad)
			r.waitPromoted(t, stable)
			promoted = time.Now()
			weights = stop()
			time.Sleep(15 * time.Second)
		})
		t.Logf("the canary's weight: %s", formatWeights(weights))
		var after, failedAfter int
		for _, a := range result.Answers {
			// Traefik follows the Services' new endpoints within a few seconds.
			if a.Sent.After(promoted.Add(5 * time.Second)) {
				after++
				if a.Status != 200 {
					failedAfter++
				}
			}
		}
		t.Logf("after the bad version became stable: %d of %d requests failed", failedAfter, after)
		if after == 0 || failedAfter != after {
			t.Errorf("%d of %d requests after the promotion failed, want every one: the analysis is what stopped the bad version above", failedAfter, after)
		}
	})
}

// rollout is an Argo Rollouts Rollout of the chart, with its TraefikService of the same name.
type rollout struct {
	c        *cluster
	ns, name string
}

func rolloutOf(c *cluster, ns, name string) rollout { return rollout{c, ns, name} }

// field reads a field of the Rollout by JSONPath.
func (r rollout) field(t *testing.T, path string) string {
	t.Helper()
	return r.c.k(t, "-n", r.ns, "get", "rollout", r.name, "-o", "jsonpath="+path)
}

func (r rollout) stableRS(t *testing.T) string { return r.field(t, "{.status.stableRS}") }

// waitField waits up to 2 minutes until a field of the Rollout reads want.
func (r rollout) waitField(t *testing.T, path, want string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got = r.field(t, path); got == want {
			return
		}
	}
	t.Fatalf("%s of the Rollout is %q after 2 minutes, want %q", path, got, want)
}

// waitPromoted waits until the Rollout is Healthy on a version other than old (any, when old is
// empty) and returns its pod-template hash.
func (r rollout) waitPromoted(t *testing.T, old string) string {
	t.Helper()
	var state string
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		state = r.field(t, "{.status.phase} {.status.stableRS} {.status.currentPodHash}")
		f := strings.Fields(state)
		if len(f) == 3 && f[0] == "Healthy" && f[1] == f[2] && f[1] != old {
			return f[1]
		}
	}
	t.Fatalf("the rollout is not Healthy on a new version after 5 minutes: phase, stable and current version %q", state)
	return ""
}

// waitAborted waits until the controller has aborted the Rollout and returns when it saw it.
func (r rollout) waitAborted(t *testing.T) time.Time {
	t.Helper()
	for deadline := time.Now().Add(4 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if r.field(t, "{.status.abort}") == "true" {
			return time.Now()
		}
	}
	t.Fatalf("the rollout was not aborted within 4 minutes: %s", r.field(t, "{.status.phase}: {.status.message}"))
	return time.Time{}
}

// canaryWeight is the canary Service's weight in the TraefikService (the chart lists it second);
// 0 while the controller has set none.
func (r rollout) canaryWeight(t *testing.T) int {
	t.Helper()
	w := r.c.k(t, "-n", r.ns, "get", "traefikservice", r.name, "-o", "jsonpath={.spec.weighted.services[1].weight}")
	if w == "" {
		return 0
	}
	n, err := strconv.Atoi(w)
	if err != nil {
		t.Fatalf("the canary's weight %q is not a number", w)
	}
	return n
}

func (r rollout) waitWeight(t *testing.T, want int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if r.canaryWeight(t) == want {
			return
		}
	}
	t.Fatalf("the canary's weight is %d a minute later, want %d", r.canaryWeight(t), want)
}

// weightChange is the canary's weight as the TraefikService said it, and from when.
type weightChange struct {
	at     time.Time
	weight int
}

// watchWeights polls the canary's weight until the function it returns is called, which returns
// every change seen, from the first reading to one begun after the call.
func (r rollout) watchWeights(t *testing.T) (stop func() []weightChange) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []weightChange, 1)
	go func() {
		var seen []weightChange
		for {
			last := ctx.Err() != nil // a last reading, begun after the stop
			out, err := command(30*time.Second, r.c.repo, r.c.kubectl, "-n", r.ns, "get", "traefikservice", r.name,
				"-o", "jsonpath={.spec.weighted.services[1].weight}")
			if err == nil {
				w, _ := strconv.Atoi(strings.TrimSpace(out)) // unset: 0
				if len(seen) == 0 || seen[len(seen)-1].weight != w {
					seen = append(seen, weightChange{time.Now(), w})
				}
			}
			if last {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
		done <- seen
	}()
	return func() []weightChange {
		cancel()
		return <-done
	}
}

// distinctWeights is the sequence of weights, each once per run of the same value.
func distinctWeights(changes []weightChange) []int {
	var weights []int
	for _, c := range changes {
		weights = append(weights, c.weight)
	}
	return slices.Compact(weights)
}

// canaryWindow is when the canary's weight first went above 0, and when it was next 0 again.
func canaryWindow(changes []weightChange) (from, back time.Time) {
	for _, c := range changes {
		switch {
		case from.IsZero() && c.weight > 0:
			from = c.at
		case !from.IsZero() && c.weight == 0:
			return from, c.at
		}
	}
	return from, time.Time{}
}

func formatWeights(changes []weightChange) string {
	var parts []string
	for _, c := range changes {
		parts = append(parts, fmt.Sprintf("%d%% at %s", c.weight, c.at.Format("15:04:05.0")))
	}
	return strings.Join(parts, ", ")
}

// analysisResult sums up the AnalysisRun of one version.
type analysisResult struct {
	phase              string
	successful, failed int
}

// analysisRun is the AnalysisRun the controller started for the version hash.
func (r rollout) analysisRun(t *testing.T, hash string) analysisResult {
	t.Helper()
	// A count of 0 is left out of the status: "|" keeps the fields apart.
	out := strings.Split(r.c.k(t, "-n", r.ns, "get", "analysisrun", "-l", "rollouts-pod-template-hash="+hash, "-o",
		"jsonpath={range .items[*]}{.status.phase}|{.status.metricResults[0].successful}|{.status.metricResults[0].failed}{end}"), "|")
	if len(out) != 3 {
		t.Fatalf("want one AnalysisRun for %s with one metric, got %q", hash, out)
	}
	successful, _ := strconv.Atoi(out[1])
	failed, _ := strconv.Atoi(out[2])
	return analysisResult{out[0], successful, failed}
}

// pods lists the pods of ns that match the label selector (all of them when it is empty), each
// with its UID and its containers' restarts.
func (c *cluster) pods(t *testing.T, ns, selector string) []string {
	t.Helper()
	pods := strings.Split(strings.TrimSpace(c.k(t, "-n", ns, "get", "pods", "-l", selector, "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.metadata.uid} restarts={.status.containerStatuses[*].restartCount}{"\n"}{end}`)), "\n")
	slices.Sort(pods)
	return pods
}

// underLoadHost is underLoad through the Ingress controller at addr, for the host it routes.
func underLoadHost(t *testing.T, addr, host string, change func(t *testing.T)) harness.LoadResult {
	t.Helper()
	return underLoadWith(t, func(ctx context.Context) (harness.LoadResult, error) {
		return harness.DriveRecordedHost(ctx, addr, host, "/ping", loadConns, 10*time.Minute, loadBackoff)
	}, change)
}

// podDiscovery serves, for as long as the test runs, the app's pods in ns as Prometheus's HTTP
// service discovery reads them: each pod's metrics address (its prometheus.io annotations) with
// the labels that Kubernetes discovery and the chart's PodMonitor give it (namespace, pod,
// rollouts_pod_template_hash). The node's Prometheus is Debian's build, which has no Kubernetes
// discovery.
func (c *cluster) podDiscovery(t *testing.T, ns string) string {
	t.Helper()
	type group struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	return c.serveToPods(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := command(30*time.Second, c.repo, c.kubectl, "-n", ns, "get", "pods", "-l", "app.kubernetes.io/component=app",
			"--field-selector=status.phase=Running", "-o", `jsonpath={range .items[*]}{.metadata.name} {.status.podIP} `+
				`{.metadata.annotations.prometheus\.io/port} {.metadata.labels.rollouts-pod-template-hash}{"\n"}{end}`)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		groups := []group{}
		for line := range strings.Lines(out) {
			if f := strings.Fields(line); len(f) == 4 {
				groups = append(groups, group{[]string{net.JoinHostPort(f[1], f[2])},
					map[string]string{"namespace": ns, "pod": f[0], "rollouts_pod_template_hash": f[3]}})
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(groups)
	}))
}

// serveToPods serves handler, for as long as the test runs, on the host's address on the node's
// link, which the pods reach, and returns its base URL.
func (c *cluster) serveToPods(t *testing.T, handler http.Handler) string {
	t.Helper()
	probe, err := net.Dial("udp", c.ingress+":80") // no packet is sent: this only picks the route
	if err != nil {
		t.Fatal(err)
	}
	host := probe.LocalAddr().(*net.UDPAddr).IP.String()
	probe.Close()
	listener, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	server := &http.Server{Handler: handler}
	go func() { _ = server.Serve(listener) }()
	t.Cleanup(func() { _ = server.Close() })
	return "http://" + listener.Addr().String() + "/"
}
