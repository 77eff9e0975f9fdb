package manifests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"pingpong/test/gomod"
)

// argoRolloutsVersion is the Argo Rollouts release whose CRDs the chart's Rollout and
// AnalysisTemplate are checked against: the one stage 8 installs.
const argoRolloutsVersion = "v1.10.1"

// With rollout.enabled the chart runs the same pods as a Rollout, and every custom resource it
// renders (the Rollout, the AnalysisTemplate, Traefik's TraefikService and IngressRoute) passes
// the checks the API server makes against the CRDs of the releases the workshop installs.
func TestChartRollout(t *testing.T) {
	objects := renderCustom(t, rolloutValues(t), "autoscaling: {enabled: true}")
	kinds := kindsOf(t, objects)
	for _, want := range []string{"Rollout/pp-pingpong", "AnalysisTemplate/pp-pingpong-error-ratio",
		"TraefikService/pp-pingpong", "IngressRoute/pp-pingpong", "Service/pp-pingpong", "Service/pp-pingpong-canary"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("no %s in %v", want, kinds)
		}
	}
	for _, absent := range []string{"Deployment/pp-pingpong", "Ingress/pp-pingpong"} {
		if slices.Contains(kinds, absent) {
			t.Errorf("%s rendered beside the Rollout and its IngressRoute", absent)
		}
	}

	rollout := findCustom(t, objects, "Rollout", "pp-pingpong")
	// The same pods as the Deployment of stage 6, with the same values.
	deployment := app(t, render(t, rolloutValues(t), "rollout: {enabled: false}"))
	gotTemplate, _, _ := unstructured.NestedMap(rollout.Object, "spec", "template")
	var pods corev1.PodTemplateSpec
	strictJSON(t, gotTemplate, &pods)
	if !equality.Semantic.DeepEqual(pods, deployment.Spec.Template) {
		t.Errorf("the Rollout's pod template differs from the Deployment's:\n%+v\nwant\n%+v", pods, deployment.Spec.Template)
	}

	canary, _, _ := unstructured.NestedMap(rollout.Object, "spec", "strategy", "canary")
	services := map[string]bool{}
	for _, obj := range objects {
		if s, ok := obj.(*corev1.Service); ok {
			services[s.Name] = true
		}
	}
	for _, key := range []string{"stableService", "canaryService"} {
		if name, _ := canary[key].(string); !services[name] {
			t.Errorf("canary.%s names %q, which is not one of the Services %v", key, name, services)
		}
	}
	router, _, _ := unstructured.NestedString(canary, "trafficRouting", "traefik", "weightedTraefikServiceName")
	weighted := findCustom(t, objects, "TraefikService", router)
	var backends []string
	list, _, _ := unstructured.NestedSlice(weighted.Object, "spec", "weighted", "services")
	for _, s := range list {
		backends = append(backends, s.(map[string]any)["name"].(string))
		if _, set := s.(map[string]any)["weight"]; set {
			t.Errorf("the TraefikService sets a weight for %v: the controller sets them", s)
		}
	}
	want := []string{canary["canaryService"].(string), canary["stableService"].(string)}
	slices.Sort(backends)
	slices.Sort(want)
	if !slices.Equal(backends, want) {
		t.Errorf("the TraefikService balances %v, want the canary and stable Services", backends)
	}
	route := findCustom(t, objects, "IngressRoute", "pp-pingpong")
	routes, _, _ := unstructured.NestedSlice(route.Object, "spec", "routes")
	if len(routes) != 1 {
		t.Fatalf("%d routes, want 1", len(routes))
	}
	r := routes[0].(map[string]any)
	to := r["services"].([]any)[0].(map[string]any)
	if r["match"] != "Host(`pingpong.local`) && PathPrefix(`/`)" || to["kind"] != "TraefikService" || to["name"] != router {
		t.Errorf("the IngressRoute routes %v to %v, want pingpong.local/ to TraefikService %s", r["match"], to, router)
	}

	hpa := find[*autoscalingv2.HorizontalPodAutoscaler](t, objects, "pp-pingpong")
	if ref := hpa.Spec.ScaleTargetRef; ref.APIVersion != "argoproj.io/v1alpha1" || ref.Kind != "Rollout" || ref.Name != "pp-pingpong" {
		t.Errorf("the autoscaler scales %+v, want the Rollout", ref)
	}
	monitor := find[*monitoringv1.PodMonitor](t, objects, "pp-pingpong")
	if !slices.Contains(monitor.Spec.PodTargetLabels, "rollouts-pod-template-hash") {
		t.Errorf("the PodMonitor keeps %v: the analysis needs rollouts-pod-template-hash", monitor.Spec.PodTargetLabels)
	}
	analysis, _, _ := unstructured.NestedSlice(canary, "analysis", "templates")
	if len(analysis) != 1 || analysis[0].(map[string]any)["templateName"] != "pp-pingpong-error-ratio" {
		t.Errorf("the canary's analysis uses %v, want the chart's AnalysisTemplate", analysis)
	}
}

// The analysis's query is PromQL that Prometheus accepts (promtool checks it as a recording
// rule's expression), and it selects the canary's pods by the label the PodMonitor keeps.
func TestChartRolloutQuery(t *testing.T) {
	template := findCustom(t, renderCustom(t, rolloutValues(t)), "AnalysisTemplate", "pp-pingpong-error-ratio")
	metrics, _, _ := unstructured.NestedSlice(template.Object, "spec", "metrics")
	query, _, _ := unstructured.NestedString(metrics[0].(map[string]any), "provider", "prometheus", "query")
	if !strings.Contains(query, `rollouts_pod_template_hash="{{args.canary-hash}}"`) {
		t.Errorf("the query does not select the canary's pods by their hash:\n%s", query)
	}
	expr := strings.ReplaceAll(query, "{{args.canary-hash}}", "5d8f7c9b4")
	rule, err := json.Marshal(map[string]any{"groups": []any{map[string]any{
		"name": "analysis", "rules": []any{map[string]any{"record": "pingpong:canary_errors:ratio", "expr": expr}}}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "analysis.yml")
	if err := os.WriteFile(file, rule, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "promtool", "check", "rules", file)

	// The control: promtool refuses a query with a syntax error.
	broken := filepath.Join(t.TempDir(), "broken.yml")
	if err := os.WriteFile(broken, bytes.Replace(rule, []byte("/"), []byte("/ /"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tryRun(t, "promtool", "check", "rules", broken); err == nil {
		t.Error("promtool accepted a broken query: the check above proves nothing")
	}
}

// Without Traefik, the canary's share of the traffic follows its share of the pods: no second
// Service, no TraefikService, and the Ingress stays.
func TestChartRolloutByReplicas(t *testing.T) {
	objects := renderCustom(t, rolloutValues(t), "rollout: {traefik: {enabled: false}}")
	kinds := kindsOf(t, objects)
	for _, absent := range []string{"TraefikService/pp-pingpong", "IngressRoute/pp-pingpong", "Service/pp-pingpong-canary"} {
		if slices.Contains(kinds, absent) {
			t.Errorf("%s rendered without rollout.traefik", absent)
		}
	}
	if !slices.Contains(kinds, "Ingress/pp-pingpong") {
		t.Errorf("no Ingress in %v", kinds)
	}
	canary, _, _ := unstructured.NestedMap(findCustom(t, objects, "Rollout", "pp-pingpong").Object, "spec", "strategy", "canary")
	if _, routed := canary["trafficRouting"]; routed {
		t.Errorf("the canary routes traffic without Traefik: %v", canary["trafficRouting"])
	}
}

// The HTTPRoute cannot reach the TraefikService: the chart says so instead of routing every
// request of the Gateway around the canary.
func TestChartRolloutRefusesHTTPRoute(t *testing.T) {
	_, stderr, err := tryRun(t, "helm", "template", "pp", chart, "--kube-version", kubeVersion, "-f", secretsFile(t),
		"--set", "rollout.enabled=true", "--set", "httpRoute.enabled=true")
	if err == nil || !strings.Contains(string(stderr), "httpRoute.enabled=false") {
		t.Errorf("helm template with a Rollout and an HTTPRoute: %v\n%s", err, stderr)
	}
}

// A GitOps controller renders the chart on every refresh and applies what changed: with the
// secrets given as Secrets of their own, two renders are the same to the byte, so nothing is
// ever out of sync by itself. (Without them `helm template` stops: TestChartSecret.)
func TestChartRendersTheSame(t *testing.T) {
	// Stage 8's values, which Argo CD renders the chart with: they name the Secrets.
	first := helmTemplate(t, chart, rolloutValues(t))
	second := helmTemplate(t, chart, rolloutValues(t))
	if !bytes.Equal(first, second) {
		t.Errorf("two renders with the same values differ:\n%s", lineDiff(first, second))
	}
	objects, err := DecodeWith(first, customResourceDefinitions(t))
	if err != nil {
		t.Fatal(err)
	}
	if kinds := kindsOf(t, objects); slices.Contains(kinds, "Secret/pp-pingpong") {
		t.Errorf("stage 8's values render the chart's own Secret: %v", kinds)
	}

	// The control: a chart that generates a value (as this one would a password, without the
	// existing Secrets) renders differently every time, and the comparison sees it.
	dir := t.TempDir()
	for name, content := range map[string]string{
		"Chart.yaml":            "apiVersion: v2\nname: generated\nversion: 0.1.0\n",
		"templates/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: generated}\nstringData: {password: {{ randAlphaNum 16 | quote }}}\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := run(t, "helm", "template", "g", dir), run(t, "helm", "template", "g", dir); bytes.Equal(a, b) {
		t.Error("two renders of a generated password are the same: the comparison above proves nothing")
	}
}

// The control of the CRD checks: a misspelt field and a value of the wrong type in the Rollout
// are refused, with the field named.
func TestCRDChecksRefuse(t *testing.T) {
	rendered := helmTemplate(t, chart, rolloutValues(t))
	if _, err := DecodeWith(rendered, customResourceDefinitions(t)); err != nil {
		t.Fatalf("the chart's own render: %v", err)
	}
	checkRefusals(t, rendered, []refusal{
		{"weightedTraefikServiceName:", "weightedTraefikService:", "weightedTraefikService"},
		{"maxUnavailable: 0\n      # From", "maxUnavailable: [0]\n      # From", "maxUnavailable"},
		{"- setWeight: 20", "- setWeight: twenty", "setWeight"},
	})
}

// refusal is a change to a manifest that the CRD checks must refuse, with an error naming want.
type refusal struct{ old, new, want string }

// checkRefusals makes each change to data, on its own, and checks that DecodeWith refuses it.
func checkRefusals(t *testing.T, data []byte, changes []refusal) {
	t.Helper()
	for _, tt := range changes {
		t.Run(tt.want, func(t *testing.T) {
			broken := bytes.Replace(data, []byte(tt.old), []byte(tt.new), 1)
			if bytes.Equal(broken, data) {
				t.Fatalf("%q is not in the manifest", tt.old)
			}
			_, err := DecodeWith(broken, customResourceDefinitions(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %s", err, tt.want)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// rolloutValues are the values of stage 8 (gitops/values.yaml).
func rolloutValues(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(repoPath(t, "gitops", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// renderCustom renders the chart with values and decodes it, custom resources included.
func renderCustom(t *testing.T, values ...string) []runtime.Object {
	t.Helper()
	objects, err := DecodeWith(helmTemplate(t, chart, values...), customResourceDefinitions(t))
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	return objects
}

// findCustom returns the only custom resource of this kind and name.
func findCustom(t *testing.T, objects []runtime.Object, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, obj := range objects {
		if u, ok := obj.(*unstructured.Unstructured); ok && u.GetKind() == kind && u.GetName() == name {
			found = append(found, u)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s named %q, want 1", len(found), kind, name)
	}
	return found[0]
}

// strictJSON decodes a decoded object into a typed one, refusing unknown fields.
func strictJSON(t *testing.T, from map[string]any, to any) {
	t.Helper()
	data, err := json.Marshal(from)
	if err != nil {
		t.Fatal(err)
	}
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(to); err != nil {
		t.Fatalf("%T: %v", to, err)
	}
}

// lineDiff lists the lines of b that are not the same line of a.
func lineDiff(a, b []byte) string {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	var out []string
	for i := range max(len(la), len(lb)) {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			out = append(out, "- "+x, "+ "+y)
		}
	}
	return strings.Join(out, "\n")
}

var crdCache struct {
	once sync.Once
	crds CRDs
	err  error
}

// customResourceDefinitions loads the CRDs of Argo Rollouts, Traefik and Argo CD from their Go
// modules (which ship them), at the releases the workshop installs: Traefik's and Argo CD's are
// the ones that the cluster tests' node runs. They are read once for all the tests.
func customResourceDefinitions(t *testing.T) CRDs {
	t.Helper()
	crdCache.once.Do(func() { crdCache.crds, crdCache.err = loadCRDs(t) })
	if crdCache.err != nil {
		t.Fatal(crdCache.err)
	}
	return crdCache.crds
}

func loadCRDs(t *testing.T) (CRDs, error) {
	script, err := os.ReadFile(repoPath(t, "test", "cluster", "kube-node.sh"))
	if err != nil {
		return nil, err
	}
	node := map[string]string{}
	for _, name := range []string{"TRAEFIK_VERSION", "ARGOCD_VERSION", "ARGOCD_GO"} {
		m := regexp.MustCompile(`(?m)^` + name + `=(\S+)$`).FindSubmatch(script)
		if m == nil {
			return nil, fmt.Errorf("test/cluster/kube-node.sh names no %s", name)
		}
		node[name] = string(m[1])
	}
	modules := []struct {
		query string
		env   []string // Argo CD 3.6 is downloaded by the Go it asks for
		files []string
	}{
		{"github.com/argoproj/argo-rollouts@" + argoRolloutsVersion, nil,
			[]string{"manifests/crds/rollout-crd.yaml", "manifests/crds/analysis-template-crd.yaml"}},
		{"github.com/traefik/traefik/v3@" + node["TRAEFIK_VERSION"], nil,
			[]string{"docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml"}},
		{"github.com/argoproj/argo-cd/v3@" + node["ARGOCD_VERSION"], []string{"GOTOOLCHAIN=" + node["ARGOCD_GO"]},
			[]string{"manifests/crds/application-crd.yaml"}},
	}
	var streams [][]byte
	for _, m := range modules {
		downloaded, err := gomod.Download(m.query, m.env...)
		if err != nil {
			return nil, err
		}
		for _, name := range m.files {
			data, err := os.ReadFile(filepath.Join(downloaded.Dir, name))
			if err != nil {
				return nil, err
			}
			streams = append(streams, data)
		}
	}
	return LoadCRDs(streams...)
}
