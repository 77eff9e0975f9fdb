package e2e

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"pingpong/test/harness"
)

// TestNetworkPolicies proves that the NetworkPolicies isolate the release, with the node's
// kube-router enforcing them: probe pods try to open a connection and report whether they could.
// Default deny: a pod in the release's namespace that no policy opens reaches nothing, not even
// the app. Redis: a pod without the app's labels, or with them in another namespace, is blocked;
// a pod with them in the namespace connects, and the app counts through Redis. The app's egress:
// a pod with its labels reaches Redis and DNS, not the Ingress controller. The HTTP port is open
// to the Ingress controller's namespaces (traefik, and kube-system where k3s runs it). The admin
// port (/metrics) is closed to an unlabelled pod and to a pod labelled as Prometheus outside the
// monitoring namespace, open to one inside it, and a real Prometheus there scrapes every app pod.
// The control: once the release's policies are deleted, the blocked probes connect, so each
// probe can tell the difference. Run for k8s/ (its monitoring namespace "monitoring" renamed in
// the test's copy) and for the chart (networkPolicy.prometheusNamespace set to another).
func TestNetworkPolicies(t *testing.T) {
	c := setup(t)
	const other = "pingpong-netpol-other"
	c.emptyNamespace(t, other)

	t.Run("k8s", func(t *testing.T) {
		const ns, monitoring = "pingpong-netpol", "pingpong-netpol-k8s-monitoring"
		c.emptyNamespace(t, monitoring)
		// The manifests name the namespace "monitoring", where the monitoring README's stack may
		// run meanwhile: the test's copy names its own, as a learner's copy may (the "test"
		// operation fails the apply if the manifest no longer says "monitoring" there).
		c.applyK8s(t, ns, func(k map[string]any) {
			const path = "/spec/ingress/1/from/0/namespaceSelector/matchLabels/kubernetes.io~1metadata.name"
			patches, _ := k["patches"].([]any)
			k["patches"] = append(patches, map[string]any{
				"target": map[string]any{"kind": "NetworkPolicy", "name": "pingpong"},
				"patch": `[{"op": "test", "path": "` + path + `", "value": "monitoring"},` +
					`{"op": "replace", "path": "` + path + `", "value": "` + monitoring + `"}]`,
			})
		})
		c.k(t, "-n", ns, "rollout", "status", "deployment/pingpong", "--timeout=3m")
		// The manifests' default deny covers every pod of the namespace: a bare one too.
		c.checkIsolation(t, isolated{ns, "app.kubernetes.io/name=pingpong,app.kubernetes.io/instance=pingpong,app.kubernetes.io/component=app",
			"", "redis", "pingpong", monitoring}, other)
	})

	t.Run("chart", func(t *testing.T) {
		const ns, release, monitoring = "pingpong-netpol-chart", "np", "pingpong-netpol-monitoring"
		c.emptyNamespace(t, monitoring)
		c.freshNamespace(t, ns)
		c.dumpOnFailure(t, ns)
		t.Cleanup(func() { _, _ = command(2*time.Minute, c.repo, c.helm, "uninstall", release, "-n", ns, "--wait") })
		// The policies are on by default: no value switches them on.
		c.run(t, c.helm, "install", release, "helm/pingpong", "-n", ns, "--wait", "--timeout=4m",
			"--set", "networkPolicy.prometheusNamespace="+monitoring)
		// A chart's default deny covers the release's own pods, not its neighbours': a pod with the
		// release's labels and no component of its own is one.
		c.checkIsolation(t, isolated{ns, "app.kubernetes.io/name=pingpong,app.kubernetes.io/instance=" + release + ",app.kubernetes.io/component=app",
			"app.kubernetes.io/name=pingpong,app.kubernetes.io/instance=" + release,
			release + "-pingpong-redis", release + "-pingpong", monitoring}, other)
	})
}

// isolated is one installation whose policies are checked.
type isolated struct {
	ns, appLabels            string // the namespace, and the labels that let a pod reach Redis
	deniedLabels             string // a pod with these, in the namespace, is under the default deny only
	redisService, appService string
	monitoring               string // the namespace whose Prometheus may scrape the admin port
}

// checkIsolation runs the probes against one installation; other is a namespace of its own.
func (c *cluster) checkIsolation(t *testing.T, in isolated, other string) {
	t.Helper()
	ns := in.ns
	redis := fmt.Sprintf("%s.%s:6379", in.redisService, ns)
	appLabels := in.appLabels
	svc := c.k(t, "-n", ns, "get", "service", in.appService, "-o", "jsonpath={.spec.clusterIP}") + ":80"
	podIP := c.k(t, "-n", ns, "get", "pods", "-l", appLabels, "-o", "jsonpath={.items[0].status.podIP}")
	admin := podIP + ":9797"
	ingressController := c.ingress + ":80"
	if got := eventuallyCount(t, "http://"+svc+"/ping", "", time.Minute); got < 1 {
		t.Fatalf("the app does not count through Redis: %d", got)
	}
	t.Logf("the app pods count through Redis with the policies on")

	type probe struct {
		name, namespace, labels, target string
		connects                        bool
	}
	// blocked are the probes that the policies stop: the control runs them again without.
	blocked := []probe{
		{"a pod under the default deny only, to the app's HTTP port", ns, in.deniedLabels, svc, false},
		{"an unlabelled pod in another namespace, to Redis", other, "", redis, false},
		{"a pod with the app's labels in another namespace, to Redis", other, appLabels, redis, false},
		{"a pod with the app's labels in the namespace, to the Ingress controller (egress)", ns, appLabels, ingressController, false},
		{"an unlabelled pod in another namespace, to an app pod's admin port", other, "", admin, false},
		{"a pod labelled as Prometheus outside " + in.monitoring + ", to an app pod's admin port", other, prometheusLabel, admin, false},
	}
	allowed := []probe{
		{"a pod with the app's labels in the namespace, to Redis", ns, appLabels, redis, true},
		{"a pod in the ingress controller's namespace, to the app's HTTP port", "traefik", "", svc, true},
		{"a pod in kube-system (k3s's Traefik), to the app's HTTP port", "kube-system", "", svc, true},
		{"a pod labelled as Prometheus in " + in.monitoring + ", to an app pod's admin port", in.monitoring, prometheusLabel, admin, true},
	}
	run := func(probes []probe, connects func(probe) bool) {
		t.Helper()
		// The probes run side by side: each tries until it sees what it should, for up to a minute.
		pods := make([]probePod, len(probes))
		for i, p := range probes {
			pods[i] = c.startProbe(t, p.namespace, p.labels, p.target, connects(p))
		}
		for i, p := range probes {
			want := connects(p)
			got, early := c.probeConnected(t, pods[i])
			switch {
			case got != want:
				t.Errorf("%s → %s: connected %v, want %v", p.name, p.target, got, want)
			case early > 0:
				t.Logf("%s → %s: blocked, as it should, once the firewall knew the pod (%d tries connected before)", p.name, p.target, early)
			default:
				t.Logf("%s → %s: %s, as it should", p.name, p.target, map[bool]string{true: "connected", false: "blocked"}[got])
			}
		}
	}
	run(append(slices.Clone(blocked), allowed...), func(p probe) bool { return p.connects })

	c.checkPrometheusScrapesEveryPod(t, ns, appLabels, in.monitoring)

	// The control: without the release's policies, every probe that was blocked connects.
	c.k(t, "-n", ns, "delete", "networkpolicy", "--all")
	t.Logf("the control: the policies of %s deleted", ns)
	run(blocked, func(probe) bool { return true })
}

// probePod is a probe started in a namespace: a pod of that name.
type probePod struct{ namespace, name string }

// probeScript is what a probe runs, given the target's host and port and what it should see,
// "connected" or "blocked". A firewall learns of a new pod a moment after the pod starts (on CI's
// node kube-router programs it in a full sync, seconds later when the machine is busy), and until
// then its traffic passes: so a probe that should be blocked tries once a second until
// five tries in a row are refused, and prints "blocked" and how many tries connected before; one
// that should connect prints "connected" at its first connection. Either prints the other answer
// if a minute passes first.
const probeScript = `want=%s; end=$(($(date +%%s) + 60)); refused=0; early=0
while [ "$(date +%%s)" -lt "$end" ]; do
	if nc -w 2 %s %s </dev/null 2>/dev/null; then
		if [ "$want" = connected ]; then echo connected; exit 0; fi
		early=$((early + 1)); refused=0
	else
		refused=$((refused + 1))
		if [ "$want" = blocked ] && [ "$refused" -ge 5 ]; then echo "blocked $early"; exit 0; fi
	fi
	sleep 1
done
if [ "$want" = connected ]; then echo blocked 0; else echo connected; fi`

// startProbe starts a pod with the given labels in namespace that runs probeScript against target
// (host:port); probeConnected reports what it saw. The pod meets the restricted Pod Security
// Standard, which the release namespaces enforce.
func (c *cluster) startProbe(t *testing.T, namespace, labels, target string, connects bool) probePod {
	t.Helper()
	name := fmt.Sprintf("probe-%d", time.Now().UnixNano())
	host, port, _ := strings.Cut(target, ":")
	script := fmt.Sprintf(probeScript, map[bool]string{true: "connected", false: "blocked"}[connects], host, port)
	overrides := fmt.Sprintf(`{"spec":{"securityContext":{"runAsNonRoot":true,"runAsUser":65532,"seccompProfile":{"type":"RuntimeDefault"}},`+
		`"containers":[{"name":"%s","image":"busybox:1.37","command":["sh","-c",%q],`+
		`"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}`, name, script)
	args := []string{"-n", namespace, "run", name, "--restart=Never", "--image=busybox:1.37", "--overrides=" + overrides}
	if labels != "" {
		args = append(args, "--labels="+labels)
	}
	c.k(t, args...)
	return probePod{namespace, name}
}

// probeConnected waits for the probe to end, reads what it printed, and deletes it. It returns
// whether the probe connected, and, when it was blocked, how many of its tries connected before.
func (c *cluster) probeConnected(t *testing.T, p probePod) (connected bool, early int) {
	t.Helper()
	defer c.k(t, "-n", p.namespace, "delete", "pod", p.name, "--wait=false")
	c.k(t, "-n", p.namespace, "wait", "pod/"+p.name, "--for=jsonpath={.status.phase}=Succeeded", "--timeout=3m")
	out := strings.TrimSpace(c.k(t, "-n", p.namespace, "logs", p.name))
	if out == "connected" {
		return true, 0
	}
	if _, err := fmt.Sscanf(out, "blocked %d", &early); err != nil {
		t.Fatalf("probe %s printed %q", p.name, out)
	}
	return false, early
}

// prometheusLabel is what the policies let in to the admin port: kube-prometheus-stack's
// Prometheus pods carry it.
const prometheusLabel = "app.kubernetes.io/name=prometheus"

// prometheusManifest is a real Prometheus (the node's prom/prometheus image) in namespace
// {{.Namespace}}, labelled as kube-prometheus-stack labels its own (the policies admit it by that
// label), behind the Service prometheus, with one scrape job, pingpong, set by {{.Job}}.
// The stand-in image's Prometheus is Debian's, built without Kubernetes service discovery: the
// tests find the pods themselves, as that discovery would.
const prometheusManifest = `
apiVersion: v1
kind: ConfigMap
metadata: {name: prometheus, namespace: {{.Namespace}}}
data:
  prometheus.yml: |
    global: {scrape_interval: 2s}
    scrape_configs:
      - {job_name: pingpong, {{.Job}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: prometheus
  namespace: {{.Namespace}}
  labels: {app.kubernetes.io/name: prometheus}
spec:
  containers:
    - name: prometheus
      image: prom/prometheus:v2.53.4
      args: [--config.file=/etc/prometheus/prometheus.yml, --storage.tsdb.path=/prometheus]
      readinessProbe: {httpGet: {path: /-/ready, port: 9090}}
      volumeMounts:
        - {name: config, mountPath: /etc/prometheus}
        - {name: data, mountPath: /prometheus}
  volumes:
    - {name: config, configMap: {name: prometheus}}
    - {name: data, emptyDir: {}}
---
apiVersion: v1
kind: Service
metadata: {name: prometheus, namespace: {{.Namespace}}}
spec:
  selector: {app.kubernetes.io/name: prometheus}
  ports: [{port: 9090}]
`

// startPrometheus runs prometheusManifest in namespace with the scrape job's settings (the entries
// of a YAML flow mapping), waits until it is ready, and deletes it when the test ends. It returns
// the pod's address, as the host reaches it.
func (c *cluster) startPrometheus(t *testing.T, namespace, job string) string {
	t.Helper()
	var manifest strings.Builder
	if err := template.Must(template.New("").Parse(prometheusManifest)).Execute(&manifest,
		map[string]string{"Namespace": namespace, "Job": job}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "prometheus.yaml")
	if err := os.WriteFile(file, []byte(manifest.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	c.k(t, "apply", "-f", file)
	t.Cleanup(func() { c.k(t, "-n", namespace, "delete", "pod,configmap,service", "prometheus", "--wait=false") })
	c.k(t, "-n", namespace, "wait", "pod/prometheus", "--for=condition=Ready", "--timeout=2m")
	return "http://" + c.k(t, "-n", namespace, "get", "pod", "prometheus", "-o", "jsonpath={.status.podIP}") + ":9090"
}

// checkPrometheusScrapesEveryPod runs a Prometheus in namespace monitoring that scrapes the app's
// pods in ns where their prometheus.io annotations say, and waits until it scrapes every one
// of them, through the policies.
func (c *cluster) checkPrometheusScrapesEveryPod(t *testing.T, ns, appLabels, monitoring string) {
	t.Helper()
	want := map[string]bool{}
	path := ""
	pods := c.k(t, "-n", ns, "get", "pods", "-l", appLabels, "-o",
		`jsonpath={range .items[*]}{.status.podIP} {.metadata.annotations.prometheus\.io/scrape} {.metadata.annotations.prometheus\.io/port} {.metadata.annotations.prometheus\.io/path}{"\n"}{end}`)
	for line := range strings.Lines(pods) {
		fields := strings.Fields(line)
		if len(fields) != 4 || fields[1] != "true" {
			t.Fatalf("an app pod does not announce its metrics with prometheus.io annotations: %q", line)
		}
		want[fields[0]+":"+fields[2]] = true
		path = fields[3]
	}
	api := c.startPrometheus(t, monitoring, fmt.Sprintf("metrics_path: %s, static_configs: [{targets: [%s]}]",
		path, `"`+strings.Join(slices.Sorted(maps.Keys(want)), `", "`)+`"`))

	var up map[string]bool
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Second) {
		up = scrapedUp(t, api)
		if maps.Equal(up, want) || time.Now().After(deadline) {
			break
		}
	}
	if !maps.Equal(up, want) {
		t.Fatalf("Prometheus in %s scrapes %v up, want every app pod where its annotations say: %v", monitoring, slices.Sorted(maps.Keys(up)), slices.Sorted(maps.Keys(want)))
	}
	t.Logf("Prometheus in %s (labelled %s) scrapes all %d app pods up at %s, through the policies: %v", monitoring, prometheusLabel, len(up), path, slices.Sorted(maps.Keys(up)))
}

// scrapedUp returns the targets of the pingpong job whose last scrape succeeded.
func scrapedUp(t *testing.T, api string) map[string]bool {
	t.Helper()
	targets, err := harness.ActiveTargets(api)
	if err != nil {
		t.Logf("Prometheus targets: %v", err)
		return nil
	}
	up := map[string]bool{}
	for _, target := range targets {
		if target.Labels["job"] == "pingpong" && target.Health == "up" {
			up[target.Labels["instance"]] = true
		}
	}
	return up
}
