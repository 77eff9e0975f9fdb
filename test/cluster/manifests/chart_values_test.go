package manifests

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"pingpong/test/harness"
)

// The chart's unit tests: each one sets a few values, renders the chart with `helm template` and
// checks the objects that those values are meant to change.

func TestChartDeployment(t *testing.T) {
	t.Run("runs three pods of pingpong:v3, pulled only when missing", func(t *testing.T) {
		c := appContainer(t, render(t, ""))
		if c.Image != "pingpong:v3" || c.ImagePullPolicy != corev1.PullIfNotPresent {
			t.Errorf("image %s (%s), want pingpong:v3 (IfNotPresent)", c.Image, c.ImagePullPolicy)
		}
	})
	t.Run("takes the image tag from image.tag", func(t *testing.T) {
		if c := appContainer(t, render(t, "image: {tag: v3.1}")); c.Image != "pingpong:v3.1" {
			t.Errorf("image %s, want pingpong:v3.1", c.Image)
		}
	})
	t.Run("leaves the replica count to the autoscaler when there is one", func(t *testing.T) {
		if d := app(t, render(t, "autoscaling: {enabled: true}")); d.Spec.Replicas != nil {
			t.Errorf("replicas = %d, want none", *d.Spec.Replicas)
		}
	})
	t.Run("gives a terminating pod the drain, the shutdown timeout and a margin", func(t *testing.T) {
		d := app(t, render(t, "shutdown: {delaySeconds: 7, timeoutSeconds: 30}"))
		c := d.Spec.Template.Spec.Containers[0]
		if e := envVar(c, "SHUTDOWN_DELAY"); e == nil || e.Value != "7s" {
			t.Errorf("SHUTDOWN_DELAY = %+v, want 7s", e)
		}
		if e := envVar(c, "SHUTDOWN_TIMEOUT"); e == nil || e.Value != "30s" {
			t.Errorf("SHUTDOWN_TIMEOUT = %+v, want 30s", e)
		}
		if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g != 42 {
			t.Errorf("terminationGracePeriodSeconds = %v, want 7 + 30 + 5", g)
		}
	})
	t.Run("talks to the chart's own Redis, with the password from a file", func(t *testing.T) {
		d := app(t, render(t, ""))
		c := d.Spec.Template.Spec.Containers[0]
		if e := envVar(c, "REDIS_ADDR"); e == nil || e.Value != "pp-pingpong-redis:6379" {
			t.Errorf("REDIS_ADDR = %+v, want pp-pingpong-redis:6379", e)
		}
		if e := envVar(c, "REDIS_PASSWORD_FILE"); e == nil || e.Value != "/etc/pingpong/secrets/redis-password" {
			t.Errorf("REDIS_PASSWORD_FILE = %+v", e)
		}
		checkSecretFiles(t, d, map[string]string{"redis-password": "pp-pingpong/redis-password", "admin-token": "pp-pingpong/admin-token"})
	})
	t.Run("talks to an external Redis through REDIS_URL from the Secret", func(t *testing.T) {
		d := app(t, render(t, "redis: {enabled: false}\nexternalRedis: {url: 'redis://:pw@redis.example:6379'}"))
		c := d.Spec.Template.Spec.Containers[0]
		e := envVar(c, "REDIS_URL")
		if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
			e.ValueFrom.SecretKeyRef.Name != "pp-pingpong" || e.ValueFrom.SecretKeyRef.Key != "redis-url" {
			t.Errorf("REDIS_URL = %+v, want it from Secret pp-pingpong, key redis-url", e)
		}
		for _, name := range []string{"REDIS_ADDR", "REDIS_PASSWORD_FILE"} {
			if envVar(c, name) != nil {
				t.Errorf("%s is set next to REDIS_URL", name)
			}
		}
		checkSecretFiles(t, d, map[string]string{"admin-token": "pp-pingpong/admin-token"})
	})
	t.Run("reads the password and the token from existing Secrets", func(t *testing.T) {
		d := app(t, render(t, `
redis: {auth: {existingSecret: my-redis, existingSecretPasswordKey: password}}
adminToken: {existingSecret: my-admin, existingSecretKey: token}`))
		checkSecretFiles(t, d, map[string]string{"redis-password": "my-redis/password", "admin-token": "my-admin/token"})
	})
	t.Run("rolls the pods when the ConfigMap or the Secret changes", func(t *testing.T) {
		base := app(t, render(t, "adminToken: {value: one}\nredis: {auth: {password: one}}")).Spec.Template.Annotations
		tests := []struct{ values, changed string }{
			{"adminToken: {value: one}\nredis: {auth: {password: one}}\nconfig: {greeting: Hi}", "checksum/config"},
			{"adminToken: {value: two}\nredis: {auth: {password: one}}", "checksum/secret"},
		}
		for _, tt := range tests {
			got := app(t, render(t, tt.values)).Spec.Template.Annotations
			for _, key := range []string{"checksum/config", "checksum/secret"} {
				if base[key] == "" {
					t.Fatalf("no %s annotation", key)
				}
				if changed := got[key] != base[key]; changed != (key == tt.changed) {
					t.Errorf("values %q: %s changed = %v", tt.values, key, changed)
				}
			}
		}
	})
	t.Run("keeps the pods when an upgrade regenerates nothing", func(t *testing.T) {
		// Each render generates new random secrets, as `helm install` does; `helm upgrade`
		// keeps the stored ones. The checksums must not follow the random values, or every
		// upgrade would restart Redis.
		first, second := render(t, ""), render(t, "")
		for _, pods := range []func([]runtime.Object) map[string]string{
			func(o []runtime.Object) map[string]string { return app(t, o).Spec.Template.Annotations },
			func(o []runtime.Object) map[string]string {
				return find[*appsv1.StatefulSet](t, o, "pp-pingpong-redis").Spec.Template.Annotations
			},
		} {
			if a, b := pods(first)["checksum/secret"], pods(second)["checksum/secret"]; a == "" || a != b {
				t.Errorf("checksum/secret differs between two renders of the same values: %q, %q", a, b)
			}
		}
	})
	t.Run("restarts Redis only when its password changes", func(t *testing.T) {
		checksum := func(values string) string {
			s := find[*appsv1.StatefulSet](t, render(t, values), "pp-pingpong-redis")
			return s.Spec.Template.Annotations["checksum/secret"]
		}
		base := checksum("redis: {auth: {password: one}}")
		if checksum("redis: {auth: {password: one}}\nadminToken: {value: new}") != base {
			t.Error("a new admin token restarts Redis")
		}
		if checksum("redis: {auth: {password: two}}") == base {
			t.Error("a new Redis password does not restart Redis")
		}
	})
	t.Run("announces the metrics endpoint, on the admin port, to Prometheus unless told not to", func(t *testing.T) {
		if a := app(t, render(t, "")).Spec.Template.Annotations; a["prometheus.io/scrape"] != "true" {
			t.Errorf("pod annotations %v, want prometheus.io/scrape (checkPorts checks the port)", a)
		}
		if a := app(t, render(t, "metrics: {podAnnotations: false}")).Spec.Template.Annotations; a["prometheus.io/scrape"] != "" {
			t.Errorf("pod annotations %v, want no prometheus.io/scrape", a)
		}
	})
}

func TestChartExposure(t *testing.T) {
	t.Run("routes pingpong.local through the given IngressClass, with TLS", func(t *testing.T) {
		ing := find[*networkingv1.Ingress](t, render(t, `
ingress:
  enabled: true
  className: traefik
  tls: [{secretName: pingpong-tls, hosts: [pingpong.local]}]`), "pp-pingpong")
		if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "traefik" {
			t.Errorf("ingressClassName = %v, want traefik", ing.Spec.IngressClassName)
		}
		rule := ing.Spec.Rules[0]
		if rule.Host != "pingpong.local" || rule.HTTP.Paths[0].Backend.Service.Name != "pp-pingpong" ||
			rule.HTTP.Paths[0].Backend.Service.Port.Name != "http" {
			t.Errorf("rule %+v, want pingpong.local to port http of service pp-pingpong", rule)
		}
		if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != "pingpong-tls" {
			t.Errorf("tls = %+v, want the pingpong-tls certificate", ing.Spec.TLS)
		}
	})
	t.Run("leaves the class to the cluster's default when className is empty", func(t *testing.T) {
		ing := find[*networkingv1.Ingress](t, render(t, "ingress: {enabled: true}"), "pp-pingpong")
		if ing.Spec.IngressClassName != nil {
			t.Errorf("ingressClassName = %q, want none", *ing.Spec.IngressClassName)
		}
	})
	t.Run("attaches an HTTPRoute to the given Gateway", func(t *testing.T) {
		route := find[*gatewayv1.HTTPRoute](t, render(t, `
httpRoute:
  enabled: true
  parentRefs: [{name: shared, namespace: gateways, sectionName: http}]`), "pp-pingpong")
		parent := route.Spec.ParentRefs[0]
		if parent.Name != "shared" || parent.Namespace == nil || *parent.Namespace != "gateways" {
			t.Errorf("parentRef %+v, want gateways/shared", parent)
		}
		if !slices.Equal(route.Spec.Hostnames, []gatewayv1.Hostname{"pingpong.local"}) {
			t.Errorf("hostnames %v, want [pingpong.local]", route.Spec.Hostnames)
		}
		backend := route.Spec.Rules[0].BackendRefs[0]
		if backend.Name != "pp-pingpong" || backend.Port == nil || *backend.Port != 80 {
			t.Errorf("backendRef %+v, want pp-pingpong:80", backend.BackendObjectReference)
		}
	})
}

func TestChartNotes(t *testing.T) {
	tests := []struct {
		values string
		want   []string
	}{
		{"", []string{
			"kubectl -n demo port-forward service/pp-pingpong 8080:80",
			"curl localhost:8080/ping",
			"helm test pp -n demo",
			"kubectl -n demo get secret pp-pingpong -o jsonpath='{.data.admin-token}' | base64 -d",
		}},
		{"ingress: {enabled: true}", []string{"curl http://pingpong.local/ping"}},
		{"httpRoute: {enabled: true, hostnames: [ping.example]}", []string{"curl http://ping.example/ping"}},
	}
	for _, tt := range tests {
		notes := renderNotes(t, tt.values)
		for _, want := range tt.want {
			if !strings.Contains(notes, want) {
				t.Errorf("values %q: NOTES.txt does not say %q:\n%s", tt.values, want, notes)
			}
		}
	}
}

func TestChartRedis(t *testing.T) {
	t.Run("keeps the data on a claim of the default class, behind a password", func(t *testing.T) {
		s := find[*appsv1.StatefulSet](t, render(t, ""), "pp-pingpong-redis")
		c := s.Spec.Template.Spec.Containers[0]
		if c.Image != "redis:7.4-alpine" {
			t.Errorf("image %s, want redis:7.4-alpine", c.Image)
		}
		args := strings.Join(c.Args, " ")
		args += " " + strings.Join(c.Command, " ")
		if !strings.Contains(args, "--appendonly yes") || !strings.Contains(args, "requirepass $REDIS_PASSWORD\n") || strings.Contains(args, "--requirepass") {
			t.Errorf("command %q, want --appendonly yes and the password on standard input, not on the command line", args)
		}
		claim := onlyClaim(t, s)
		if claim.Spec.StorageClassName != nil {
			t.Errorf("storageClassName = %q, want the default class", *claim.Spec.StorageClassName)
		}
		if got := claim.Spec.Resources.Requests[corev1.ResourceStorage]; got.Cmp(resource.MustParse("1Gi")) != 0 {
			t.Errorf("claim size %s, want 1Gi", got.String())
		}
	})
	t.Run("uses the given StorageClass and size", func(t *testing.T) {
		s := find[*appsv1.StatefulSet](t, render(t, "redis: {persistence: {storageClass: fast, size: 5Gi}}"), "pp-pingpong-redis")
		claim := onlyClaim(t, s)
		if claim.Spec.StorageClassName == nil || *claim.Spec.StorageClassName != "fast" {
			t.Errorf("storageClassName = %v, want fast", claim.Spec.StorageClassName)
		}
		if got := claim.Spec.Resources.Requests[corev1.ResourceStorage]; got.Cmp(resource.MustParse("5Gi")) != 0 {
			t.Errorf("claim size %s, want 5Gi", got.String())
		}
	})
	t.Run("keeps the data in the pod without persistence", func(t *testing.T) {
		s := find[*appsv1.StatefulSet](t, render(t, "redis: {persistence: {enabled: false}}"), "pp-pingpong-redis")
		if len(s.Spec.VolumeClaimTemplates) != 0 {
			t.Errorf("volumeClaimTemplates = %v, want none", s.Spec.VolumeClaimTemplates)
		}
		vols := s.Spec.Template.Spec.Volumes
		if len(vols) != 1 || vols[0].Name != "data" || vols[0].EmptyDir == nil {
			t.Errorf("volumes = %+v, want data as an emptyDir", vols)
		}
	})
}

func TestChartSecret(t *testing.T) {
	t.Run("stores the given password and token", func(t *testing.T) {
		s := find[*corev1.Secret](t, render(t, "redis: {auth: {password: s3cret}}\nadminToken: {value: t0ken}"), "pp-pingpong")
		if got := string(s.Data["redis-password"]); got != "s3cret" {
			t.Errorf("redis-password = %q, want s3cret", got)
		}
		if got := string(s.Data["admin-token"]); got != "t0ken" {
			t.Errorf("admin-token = %q, want t0ken", got)
		}
	})
	// Without a cluster (helm template, helm lint, Argo CD) a generated secret would be new at
	// every render: the chart stops with one line naming the values to set. The control: the
	// same render with them set succeeds (the test below).
	t.Run("refuses to generate secrets where no cluster keeps them", func(t *testing.T) {
		for values, want := range map[string][]string{
			"": {"redis.auth.existingSecret", "adminToken.existingSecret"},
			"redis: {enabled: false}\nexternalRedis: {url: 'redis://r:6379'}": {"adminToken.existingSecret"},
			"adminToken: {existingSecret: my-admin}":                          {"redis.auth.existingSecret"},
		} {
			_, stderr, err := tryRun(t, "helm", "template", "pp", chart, "--kube-version", kubeVersion, "-f", writeValues(t, values))
			if err == nil {
				t.Errorf("values %q: helm template generated secrets without a cluster", values)
				continue
			}
			// Helm's own lines aside (symbolic links, --debug), the chart's error is one line.
			var msg string
			for line := range strings.Lines(string(stderr)) {
				if strings.HasPrefix(line, "Error:") {
					msg = strings.TrimSpace(line)
				}
			}
			for _, name := range want {
				if !strings.Contains(msg, name) {
					t.Errorf("values %q: the error does not name %s: %s", values, name, msg)
				}
			}
		}
	})
	// Argo CD renders a chart with `helm template`, where `lookup` finds nothing: a generated
	// secret would be new at every sync. With every secret supplied, two renders must be the
	// same, byte for byte (the test above is the control: without them, they differ).
	t.Run("renders the same twice when every secret is supplied, as GitOps needs", func(t *testing.T) {
		const secrets = "redis: {auth: {password: s3cret}}\nadminToken: {value: t0ken}\n"
		allFeatures, err := os.ReadFile(repoPath(t, "test", "cluster", "manifests", "testdata", "all-features.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for name, values := range map[string]string{
			"as values":           secrets,
			"as existing Secrets": "redis: {auth: {existingSecret: my-redis}}\nadminToken: {existingSecret: my-admin}",
			"with every feature":  string(allFeatures) + "\n" + secrets,
		} {
			first, second := helmTemplate(t, chart, values), helmTemplate(t, chart, values)
			if !bytes.Equal(first, second) {
				t.Errorf("secrets %s: two renders differ", name)
				continue
			}
			t.Logf("secrets %s: two renders of %d bytes are identical", name, len(first))
		}
	})
	t.Run("stores the URL of an external Redis and no password", func(t *testing.T) {
		s := find[*corev1.Secret](t, render(t, "redis: {enabled: false}\nexternalRedis: {url: 'redis://:pw@redis.example:6379'}"), "pp-pingpong")
		if got := string(s.Data["redis-url"]); got != "redis://:pw@redis.example:6379" {
			t.Errorf("redis-url = %q", got)
		}
		if _, ok := s.Data["redis-password"]; ok {
			t.Error("the Secret holds a redis-password for an external Redis")
		}
	})
}

func TestChartOptionalObjects(t *testing.T) {
	t.Run("scales on CPU between the given bounds", func(t *testing.T) {
		hpa := find[*autoscalingv2.HorizontalPodAutoscaler](t, render(t, "autoscaling: {enabled: true, maxReplicas: 10}"), "pp-pingpong")
		if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != 3 || hpa.Spec.MaxReplicas != 10 {
			t.Errorf("replicas %v..%d, want 3..10", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
		}
		if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != "pp-pingpong" {
			t.Errorf("scales %+v, want Deployment pp-pingpong", ref)
		}
	})
	t.Run("lets only the app reach Redis", func(t *testing.T) {
		objects := render(t, "networkPolicy: {enabled: true}")
		redis := find[*networkingv1.NetworkPolicy](t, objects, "pp-pingpong-redis")
		appLabels := app(t, objects).Spec.Template.Labels
		from := redis.Spec.Ingress[0].From
		if len(redis.Spec.Ingress) != 1 || len(from) != 1 || from[0].PodSelector == nil {
			t.Fatalf("ingress %+v, want one rule from the app's pods", redis.Spec.Ingress)
		}
		for key, value := range from[0].PodSelector.MatchLabels {
			if appLabels[key] != value {
				t.Errorf("the rule selects %s=%s, which the app's pods do not carry", key, value)
			}
		}
		if from[0].PodSelector.MatchLabels["app.kubernetes.io/component"] != "app" {
			t.Error("the rule does not select the app component only")
		}
		find[*networkingv1.NetworkPolicy](t, objects, "pp-pingpong")
	})
	t.Run("denies the release's pods everything but the paths it opens, by default", func(t *testing.T) {
		objects := render(t, "networkPolicy: {prometheusNamespace: observability}")
		deny := find[*networkingv1.NetworkPolicy](t, objects, "pp-pingpong-default-deny")
		if len(deny.Spec.Ingress) != 0 || len(deny.Spec.Egress) != 0 || len(deny.Spec.PolicyTypes) != 2 {
			t.Errorf("default deny: %+v, want both directions and no rule", deny.Spec)
		}
		if !selects(t, &deny.Spec.PodSelector, app(t, objects).Spec.Template.Labels) {
			t.Error("the default deny does not select the app's pods")
		}
		policy := find[*networkingv1.NetworkPolicy](t, objects, "pp-pingpong")
		admin := policy.Spec.Ingress[1]
		if len(admin.From) != 1 || admin.From[0].NamespaceSelector == nil ||
			admin.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "observability" ||
			admin.From[0].PodSelector == nil || admin.From[0].PodSelector.MatchLabels["app.kubernetes.io/name"] != "prometheus" {
			t.Errorf("the admin port is open to %+v, want Prometheus in the namespace observability only", admin.From)
		}
		if len(policy.Spec.Egress) != 2 {
			t.Errorf("the app may reach %d kinds of peer, want 2 (its Redis, DNS): %+v", len(policy.Spec.Egress), policy.Spec.Egress)
		}
		test := find[*networkingv1.NetworkPolicy](t, objects, "pp-pingpong-test")
		if to := test.Spec.Egress[0].To; len(to) != 1 || !selects(t, to[0].PodSelector, app(t, objects).Spec.Template.Labels) {
			t.Errorf("helm test's pod may reach %+v, want the app's pods", to)
		}
		// The control: switched off, the chart renders no policy at all.
		for _, obj := range render(t, "networkPolicy: {enabled: false}") {
			if np, ok := obj.(*networkingv1.NetworkPolicy); ok {
				t.Errorf("networkPolicy.enabled=false still renders %s", np.Name)
			}
		}
	})
	t.Run("scrapes the app with the job name the alerting rules expect", func(t *testing.T) {
		objects := render(t, "metrics: {podMonitor: {enabled: true}}")
		pm := find[*monitoringv1.PodMonitor](t, objects, "pp-pingpong")
		if pm.Spec.JobLabel != "app.kubernetes.io/name" {
			t.Errorf("jobLabel %q, want app.kubernetes.io/name (its value is pingpong)", pm.Spec.JobLabel)
		}
		if ep := pm.Spec.PodMetricsEndpoints[0]; ep.Port == nil || *ep.Port != "admin" || ep.Path != "/metrics" {
			t.Errorf("endpoint %v %s, want port admin, path /metrics", ep.Port, ep.Path)
		}
		for key, value := range pm.Spec.Selector.MatchLabels {
			if app(t, objects).Spec.Template.Labels[key] != value {
				t.Errorf("the PodMonitor selects %s=%s, which the app's pods do not carry", key, value)
			}
		}
	})
	t.Run("ships the rules of the monitoring folder", func(t *testing.T) {
		rule := find[*monitoringv1.PrometheusRule](t, render(t, "metrics: {prometheusRule: {enabled: true}}"), "pp-pingpong")
		var file struct {
			Groups []struct {
				Name  string `yaml:"name"`
				Rules []any  `yaml:"rules"`
			} `yaml:"groups"`
		}
		harness.ReadYAML(t, repoPath(t, "monitoring", "prometheus", "rules.yml"), &file)
		if len(file.Groups) == 0 || len(rule.Spec.Groups) != len(file.Groups) {
			t.Fatalf("%d rule groups, want the %d of rules.yml", len(rule.Spec.Groups), len(file.Groups))
		}
		for i, g := range file.Groups {
			if got := rule.Spec.Groups[i]; got.Name != g.Name || len(got.Rules) != len(g.Rules) {
				t.Errorf("group %d: %s with %d rules, want %s with %d", i, got.Name, len(got.Rules), g.Name, len(g.Rules))
			}
		}
	})
	t.Run("ships the dashboard of the monitoring folder for Grafana's sidecar", func(t *testing.T) {
		cm := find[*corev1.ConfigMap](t, render(t, "metrics: {grafanaDashboard: {enabled: true}}"), "pp-pingpong-dashboard")
		if cm.Labels["grafana_dashboard"] != "1" {
			t.Errorf("labels %v, want grafana_dashboard=1", cm.Labels)
		}
		want, err := os.ReadFile(repoPath(t, "monitoring", "grafana", "dashboards", "pingpong.json"))
		if err != nil {
			t.Fatal(err)
		}
		if got := cm.Data["pingpong.json"]; strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
			t.Error("the dashboard in the ConfigMap differs from monitoring/grafana/dashboards/pingpong.json")
		}
	})
}

// render renders the chart as release "pp" in namespace "demo" with the given values (YAML, in
// order; none or empty for the defaults) and decodes every object strictly.
func render(t *testing.T, values ...string) []runtime.Object {
	t.Helper()
	return decode(t, "helm template", helmTemplate(t, chart, values...))
}

// renderNotes renders NOTES.txt, which `helm template` leaves out. A copy of the chart wraps it
// in a named template and puts that into a ConfigMap: the same engine renders the same text with
// the same values.
func renderNotes(t *testing.T, values string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pingpong")
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		data, err := os.ReadFile(repoPath(t, chart, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	files := map[string]string{
		"Chart.yaml":             read("Chart.yaml"),
		"values.yaml":            read("values.yaml"),
		"values.schema.json":     read("values.schema.json"),
		"templates/_helpers.tpl": read("templates/_helpers.tpl"),
		"templates/_notes.tpl":   `{{- define "notes" }}` + read("templates/NOTES.txt") + `{{- end }}`,
		"templates/notes.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n" +
			"data: {NOTES.txt: {{ include \"notes\" . | toJson }}}\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cm := find[*corev1.ConfigMap](t, decode(t, "helm template", helmTemplate(t, dir, values)), "notes")
	return cm.Data["NOTES.txt"]
}

// helmTemplate runs `helm template` on a chart folder with a values file for each of values, in
// order (a later one overrides an earlier one).
func helmTemplate(t *testing.T, chartDir string, values ...string) []byte {
	t.Helper()
	args := []string{"template", "pp", chartDir, "--namespace", "demo", "--kube-version", kubeVersion, "-f", secretsFile(t)}
	for _, v := range values {
		if v != "" {
			args = append(args, "-f", writeValues(t, v))
		}
	}
	return run(t, "helm", args...)
}

func app(t *testing.T, objects []runtime.Object) *appsv1.Deployment {
	t.Helper()
	return find[*appsv1.Deployment](t, objects, "pp-pingpong")
}

func appContainer(t *testing.T, objects []runtime.Object) corev1.Container {
	t.Helper()
	return app(t, objects).Spec.Template.Spec.Containers[0]
}

func onlyClaim(t *testing.T, s *appsv1.StatefulSet) corev1.PersistentVolumeClaim {
	t.Helper()
	if len(s.Spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("%d volumeClaimTemplates, want 1", len(s.Spec.VolumeClaimTemplates))
	}
	return s.Spec.VolumeClaimTemplates[0]
}

// checkSecretFiles checks the files of the app's secrets volume: file name → "secret/key".
func checkSecretFiles(t *testing.T, d *appsv1.Deployment, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name != "secrets" || v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if src.Secret == nil {
				continue
			}
			for _, item := range src.Secret.Items {
				got[item.Path] = src.Secret.Name + "/" + item.Key
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("secret files %v, want %v", got, want)
	}
	for path, ref := range want {
		if got[path] != ref {
			t.Errorf("file %s comes from %q, want %q", path, got[path], ref)
		}
	}
}

// writeValues writes a values file (not under t.TempDir(): helm splits -f at commas).
func writeValues(t *testing.T, values string) string {
	t.Helper()
	f, err := os.CreateTemp("", "values-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(f.Name()) })
	if _, err := f.WriteString(values); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}
