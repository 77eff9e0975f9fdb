package manifests

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

const chart = "helm/pingpong"

// kubeVersion is the Kubernetes release the chart is checked against: the one the cluster tests
// run. Without it a Helm built with `go install` assumes an old release and the chart's
// kubeVersion constraint refuses it.
const kubeVersion = "1.34.4"

// The chart passes `helm lint --strict` with its defaults and with every feature on.
func TestHelmLint(t *testing.T) {
	testdata := filepath.Join("test", "cluster", "manifests", "testdata")
	for _, values := range []string{"", filepath.Join(testdata, "all-features.yaml"), filepath.Join(testdata, "sentinel.yaml"),
		filepath.Join("gitops", "values.yaml")} {
		t.Run("values="+values, func(t *testing.T) {
			args := []string{"lint", "--strict", "--kube-version", kubeVersion, chart, "-f", secretsFile(t)}
			if values != "" {
				args = append(args, "-f", repoPath(t, values))
			}
			run(t, "helm", args...)
		})
	}
}

// `helm template` renders, for each set of values, exactly the expected objects, every one of
// which decodes strictly, and every pod passes the restricted Pod Security Standard.
func TestHelmTemplate(t *testing.T) {
	always := []string{
		"ConfigMap/pp-pingpong", "Deployment/pp-pingpong", "Pod/pp-pingpong-test-ping",
		"PodDisruptionBudget/pp-pingpong", "Service/pp-pingpong", "ServiceAccount/pp-pingpong",
		// The policies are on by default: a default deny, then the app's and the test pod's paths.
		"NetworkPolicy/pp-pingpong", "NetworkPolicy/pp-pingpong-default-deny", "NetworkPolicy/pp-pingpong-test",
	}
	ownRedis := []string{"Service/pp-pingpong-redis", "StatefulSet/pp-pingpong-redis", "NetworkPolicy/pp-pingpong-redis"}
	tests := []struct {
		values string
		want   []string
	}{
		{"", append([]string{"Secret/pp-pingpong"}, ownRedis...)},
		{"all-features.yaml", append([]string{
			"Secret/pp-pingpong", "ConfigMap/pp-pingpong-dashboard", "HTTPRoute/pp-pingpong",
			"HorizontalPodAutoscaler/pp-pingpong", "Ingress/pp-pingpong", "PrometheusRule/pp-pingpong",
			"PodMonitor/pp-pingpong",
		}, ownRedis...)},
		{"external-redis.yaml", []string{"Secret/pp-pingpong"}},
		{"existing-secrets.yaml", ownRedis},
		{"sentinel.yaml", []string{
			"Secret/pp-pingpong", "ConfigMap/pp-pingpong-redis-ha-scripts",
			"NetworkPolicy/pp-pingpong-redis", "PodDisruptionBudget/pp-pingpong-redis-ha",
			"Service/pp-pingpong-redis-ha", "StatefulSet/pp-pingpong-redis-ha",
		}},
	}
	for _, tt := range tests {
		t.Run("values="+tt.values, func(t *testing.T) {
			objects := decode(t, "helm template", template(t, tt.values))
			want := slices.Sorted(slices.Values(append(slices.Clone(always), tt.want...)))
			if got := kindsOf(t, objects); !slices.Equal(got, want) {
				t.Errorf("rendered objects:\n got %v\nwant %v", got, want)
			}
			for _, obj := range objects {
				if spec, long := podSpec(obj); spec != nil {
					checkPod(t, spec, long)
				}
			}
			d := find[*appsv1.Deployment](t, objects, "pp-pingpong")
			if tt.values != "all-features.yaml" { // the autoscaler owns the replica count there
				checkDeployment(t, d, 3, nil)
			}
			checkPorts(t, d, objects)
		})
	}
}

// The values schema turns a typo or a wrong type into an error at install time.
func TestHelmValuesSchema(t *testing.T) {
	tests := []struct {
		set  string
		want string
	}{
		{"replicaCount=three", "replicaCount"},
		{"ingres.enabled=true", "ingres"},
		{"image.pullPolicy=Sometimes", "pullPolicy"},
		{"config.logLevel=loud", "logLevel"},
		{"config.redisTimeout=soon", "redisTimeout"},
		{"externalRedis.url=http://redis:6379", "url"},
		{"redis.persistence.size=big", "size"},
		{"redis.architecture=cluster", "architecture"},
		{"rollout.analysis.maxErrorRatio=2", "maxErrorRatio"},
		{"rollout.steps[0].setWieght=20", "setWieght"},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			_, stderr, err := tryRun(t, "helm", "template", "pp", chart, "--kube-version", kubeVersion, "-f", secretsFile(t), "--set", tt.set)
			if err == nil {
				t.Fatalf("helm template --set %s succeeded; the schema should refuse it", tt.set)
			}
			if !strings.Contains(string(stderr), tt.want) {
				t.Errorf("the error does not name %q:\n%s", tt.want, stderr)
			}
		})
	}
}

// Without a Redis of its own and without an external one, every pod would count on its own:
// the chart refuses that.
func TestHelmRequiresARedis(t *testing.T) {
	_, stderr, err := tryRun(t, "helm", "template", "pp", chart, "--kube-version", kubeVersion, "-f", secretsFile(t), "--set", "redis.enabled=false")
	if err == nil || !strings.Contains(string(stderr), "externalRedis") {
		t.Fatalf("want an error naming externalRedis, got %v:\n%s", err, stderr)
	}
}

// The test pod runs whichever Redis the release uses.
func TestHelmTestPodAlwaysRuns(t *testing.T) {
	for _, values := range []string{"", "external-redis.yaml", "sentinel.yaml"} {
		objects := decode(t, "helm template", template(t, values))
		pod := find[*corev1.Pod](t, objects, "pp-pingpong-test-ping")
		if pod.Annotations["helm.sh/hook"] != "test" {
			t.Errorf("values=%s: the test pod is not a test hook", values)
		}
	}
}

// template renders the chart as release "pp" in namespace "demo" with a values file from
// testdata (none for the defaults).
func template(t *testing.T, values string) []byte {
	t.Helper()
	args := []string{"template", "pp", chart, "--namespace", "demo", "--kube-version", kubeVersion, "-f", secretsFile(t)}
	if values != "" {
		args = append(args, "-f", repoPath(t, "test", "cluster", "manifests", "testdata", values))
	}
	return run(t, "helm", args...)
}

// secretsFile is the values file that gives every secret, for renders without a cluster.
func secretsFile(t *testing.T) string {
	return repoPath(t, "test", "cluster", "manifests", "testdata", "secrets.yaml")
}
