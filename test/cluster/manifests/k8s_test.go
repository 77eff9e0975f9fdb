package manifests

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"pingpong/test/harness"
)

// Every file under k8s/ holds exactly one object of one kind, which decodes strictly.
func TestK8sFilesDecodeStrictly(t *testing.T) {
	files := k8sFiles(t)
	if len(files) < 15 {
		t.Fatalf("found only %d manifests under k8s/: %v", len(files), files)
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(repoPath(t, "k8s", file))
			if err != nil {
				t.Fatal(err)
			}
			if objects := decode(t, file, data); len(objects) != 1 {
				t.Errorf("%s holds %d objects, want one per file: %v", file, len(objects), kindsOf(t, objects))
			}
		})
	}
}

// `kubectl apply -k k8s` renders every base file once, plus the component the kustomization
// picks; swapping the component for the Gateway API one renders a Gateway and an HTTPRoute.
// Kustomize runs as a library here, the same one kubectl embeds.
func TestKustomization(t *testing.T) {
	base := []string{
		"ConfigMap/pingpong", "Deployment/pingpong", "HorizontalPodAutoscaler/pingpong",
		"Namespace/pingpong", "NetworkPolicy/default-deny", "NetworkPolicy/pingpong",
		"NetworkPolicy/pingpong-admin", "NetworkPolicy/redis",
		"PodDisruptionBudget/pingpong", "Secret/pingpong", "Service/pingpong", "Service/redis",
		"ServiceAccount/pingpong", "StatefulSet/redis",
	}
	tests := []struct {
		component string
		extra     []string
	}{
		{"ingress", []string{"Ingress/pingpong"}},
		{"gateway-api", []string{"Gateway/pingpong", "HTTPRoute/pingpong"}},
	}
	for _, tt := range tests {
		t.Run(tt.component, func(t *testing.T) {
			dir := kustomizationWith(t, tt.component)
			objects := decode(t, "kustomize build", kustomize(t, dir))
			want := slices.Sorted(slices.Values(append(slices.Clone(base), tt.extra...)))
			if got := kindsOf(t, objects); !slices.Equal(got, want) {
				t.Errorf("rendered objects:\n got %v\nwant %v", got, want)
			}
			for _, obj := range objects {
				m, _ := meta.Accessor(obj)
				if _, isNS := obj.(*corev1.Namespace); !isNS && m.GetNamespace() != "pingpong" {
					t.Errorf("%T %s is in namespace %q, want pingpong", obj, m.GetName(), m.GetNamespace())
				}
			}
		})
	}
}

// ingress/kustomization.yaml tells a learner whose controller has another class to uncomment its
// patch (remove "# "): uncommented, it renders the Ingress with the class my-class; left
// commented (the control), the class stays traefik.
func TestIngressClassPatch(t *testing.T) {
	for _, tt := range []struct {
		uncomment bool
		class     string
	}{{false, "traefik"}, {true, "my-class"}} {
		t.Run(tt.class, func(t *testing.T) {
			dir := kustomizationWith(t, "ingress")
			if tt.uncomment {
				uncommentPatch(t, filepath.Join(dir, "ingress", "kustomization.yaml"))
			}
			ingress := find[*networkingv1.Ingress](t, decode(t, "kustomize build", kustomize(t, dir)), "pingpong")
			if got := ingress.Spec.IngressClassName; got == nil || *got != tt.class {
				t.Errorf("ingressClassName = %v, want %s", got, tt.class)
			}
		})
	}
}

// uncommentPatch does what a learner does to the commented patch of a kustomization: removes
// "# " from the lines from "# patches:" on.
func uncommentPatch(t *testing.T, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	start := slices.Index(lines, "# patches:")
	if start < 0 {
		t.Fatalf("%s has no commented patches: block", file)
	}
	for i := start; i < len(lines) && strings.HasPrefix(lines[i], "# "); i++ {
		lines[i] = strings.TrimPrefix(lines[i], "# ")
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// kustomize renders a kustomization folder as `kubectl kustomize` does.
func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := resources.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// kustomizationWith copies k8s/ to a temporary folder whose kustomization.yaml uses only the
// given component, so the test renders exactly what a learner who picked it would apply.
func kustomizationWith(t *testing.T, component string) string {
	t.Helper()
	return harness.CopyK8s(t, func(k map[string]any) {
		components, _ := k["components"].([]any)
		if len(components) != 1 {
			t.Fatalf("kustomization.yaml should pick exactly one component, has %v", components)
		}
		k["components"] = []string{component}
	})
}

// Every top-level manifest is listed in kustomization.yaml: a file that is not applied is a
// file a learner reads for nothing.
func TestKustomizationListsEveryFile(t *testing.T) {
	var k struct {
		Resources []string `yaml:"resources"`
	}
	harness.ReadYAML(t, repoPath(t, "k8s", "kustomization.yaml"), &k)
	for _, file := range k8sFiles(t) {
		if strings.Contains(file, "/") {
			continue // components and the admin Job
		}
		if !slices.Contains(k.Resources, file) {
			t.Errorf("%s is not listed in k8s/kustomization.yaml", file)
		}
	}
}

// The pod templates of k8s/ pass the "restricted" Pod Security Standard and carry probes and
// resources. The cluster enforces the standard for real on the namespace; this test says which
// field is wrong without one.
func TestK8sPodsAreRestricted(t *testing.T) {
	for _, file := range k8sFiles(t) {
		data, err := os.ReadFile(repoPath(t, "k8s", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, obj := range decode(t, file, data) {
			spec, long := podSpec(obj)
			if spec == nil {
				continue
			}
			t.Run(file, func(t *testing.T) { checkPod(t, spec, long) })
		}
	}
}

// The app Deployment keeps serving through a rollout and a shutdown.
func TestK8sDeploymentRollsWithoutDrops(t *testing.T) {
	data, err := os.ReadFile(repoPath(t, "k8s", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d := find[*appsv1.Deployment](t, decode(t, "deployment.yaml", data), "pingpong")
	data, err = os.ReadFile(repoPath(t, "k8s", "configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cm := find[*corev1.ConfigMap](t, decode(t, "configmap.yaml", data), "pingpong")
	checkDeployment(t, d, 0, cm) // the HorizontalPodAutoscaler owns the count
	data, err = os.ReadFile(repoPath(t, "k8s", "service.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	checkPorts(t, d, decode(t, "service.yaml", data))
}

// The Redis password and the admin token live in the Secret, never in the ConfigMap.
func TestK8sSecretsStayInTheSecret(t *testing.T) {
	data, err := os.ReadFile(repoPath(t, "k8s", "configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cm := find[*corev1.ConfigMap](t, decode(t, "configmap.yaml", data), "pingpong")
	for key, value := range cm.Data {
		for _, secret := range []string{"PASSWORD", "TOKEN"} {
			if strings.Contains(strings.ToUpper(key+value), secret) {
				t.Errorf("ConfigMap key %q holds a %s; it belongs in the Secret", key, strings.ToLower(secret))
			}
		}
	}
	data, err = os.ReadFile(repoPath(t, "k8s", "secret.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := find[*corev1.Secret](t, decode(t, "secret.yaml", data), "pingpong")
	if s.StringData["redis-password"] == "" {
		t.Errorf("Secret has no redis-password")
	}
	// A token in the repository is a token everyone knows: secret.yaml ships none, and the app
	// takes it from the Secret pingpong-admin that the README makes, if it exists.
	for key := range s.StringData {
		if strings.Contains(key, "token") {
			t.Errorf("secret.yaml ships an admin token (%s: %q): a token everyone can read", key, s.StringData[key])
		}
	}
	data, err = os.ReadFile(repoPath(t, "k8s", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d := find[*appsv1.Deployment](t, decode(t, "deployment.yaml", data), "pingpong")
	var token *corev1.EnvVar
	for i, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "ADMIN_TOKEN" {
			token = &d.Spec.Template.Spec.Containers[0].Env[i]
		}
	}
	if token == nil || token.ValueFrom == nil || token.ValueFrom.SecretKeyRef == nil ||
		token.ValueFrom.SecretKeyRef.Name != "pingpong-admin" || token.ValueFrom.SecretKeyRef.Key != "admin-token" ||
		token.ValueFrom.SecretKeyRef.Optional == nil || !*token.ValueFrom.SecretKeyRef.Optional {
		t.Errorf("ADMIN_TOKEN = %+v, want the key admin-token of the optional Secret pingpong-admin", token)
	}
}

// The admin Job runs the binary's one-off reset command with the Redis settings of the app.
func TestK8sResetJob(t *testing.T) {
	data, err := os.ReadFile(repoPath(t, "k8s", "admin", "reset-job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objects := decode(t, "reset-job.yaml", data)
	job, ok := objects[0].(*batchv1.Job)
	if !ok {
		t.Fatalf("reset-job.yaml holds a %T", objects[0])
	}
	if job.GenerateName == "" {
		t.Error("the Job needs generateName so that `kubectl create` can run it again")
	}
	c := job.Spec.Template.Spec.Containers[0]
	if !slices.Equal(c.Args, []string{"reset"}) {
		t.Errorf("args = %v, want [reset]", c.Args)
	}
	for _, name := range []string{"REDIS_ADDR", "REDIS_PASSWORD_FILE", "COUNTER_KEY"} {
		if envVar(c, name) == nil {
			t.Errorf("the reset container has no %s", name)
		}
	}
}

// k8sFiles lists the YAML files under k8s/ except the kustomizations, kind-config.yaml (a
// kind config, not a Kubernetes object: TestKindConfig reads it) and traefik-values.yaml (values
// for Traefik's chart), relative to k8s/.
func k8sFiles(t *testing.T) []string {
	t.Helper()
	root := repoPath(t, "k8s")
	var files []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".yaml" ||
			d.Name() == "kustomization.yaml" || d.Name() == "kind-config.yaml" || d.Name() == "traefik-values.yaml" {
			return err
		}
		rel, err := filepath.Rel(root, path)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// podSpec returns the pod template of a workload, and whether its pods run for long
// (and so need probes).
func podSpec(obj runtime.Object) (*corev1.PodSpec, bool) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &o.Spec.Template.Spec, true
	case *appsv1.StatefulSet:
		return &o.Spec.Template.Spec, true
	case *batchv1.Job:
		return &o.Spec.Template.Spec, false
	case *corev1.Pod:
		return &o.Spec, false
	}
	return nil, false
}

func checkPod(t *testing.T, spec *corev1.PodSpec, long bool) {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod securityContext.seccompProfile is not RuntimeDefault")
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken is not false")
	}
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("container %s has no securityContext", c.Name)
			continue
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("container %s: allowPrivilegeEscalation is not false", c.Name)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("container %s: readOnlyRootFilesystem is not true", c.Name)
		case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
			t.Errorf("container %s: capabilities must drop ALL and add none", c.Name)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("container %s: needs a CPU request and a memory limit", c.Name)
		}
		if c.ImagePullPolicy != corev1.PullIfNotPresent {
			t.Errorf("container %s: imagePullPolicy %q, want IfNotPresent (images are loaded into the cluster)", c.Name, c.ImagePullPolicy)
		}
		if long && (c.ReadinessProbe == nil || c.LivenessProbe == nil) {
			t.Errorf("container %s: needs readiness and liveness probes", c.Name)
		}
	}
}

// checkDeployment checks what makes a rollout and a shutdown drop no request.
// replicas 0 means none: a HorizontalPodAutoscaler owns the count. Environment
// values from configMapKeyRef are looked up in cm.
func checkDeployment(t *testing.T, d *appsv1.Deployment, replicas int32, cm *corev1.ConfigMap) {
	t.Helper()
	switch {
	case replicas == 0 && d.Spec.Replicas != nil:
		t.Errorf("replicas = %d beside the autoscaler: every apply would undo what it decided", *d.Spec.Replicas)
	case replicas != 0 && (d.Spec.Replicas == nil || *d.Spec.Replicas != replicas):
		t.Errorf("replicas = %v, want %d", d.Spec.Replicas, replicas)
	}
	ru := d.Spec.Strategy.RollingUpdate
	if ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Error("rollingUpdate.maxUnavailable must be 0")
	}
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	if c.Name != "pingpong" {
		t.Errorf("container name %q, want pingpong (the alerting rules select it)", c.Name)
	}
	if c.StartupProbe == nil || c.ReadinessProbe == nil || c.LivenessProbe == nil {
		t.Fatal("the app needs startup, readiness and liveness probes")
	}
	if got := c.ReadinessProbe.HTTPGet.Path; got != "/readyz" {
		t.Errorf("readiness probe path %q, want /readyz", got)
	}
	if got := c.LivenessProbe.HTTPGet.Path; got != "/healthz" {
		t.Errorf("liveness probe path %q, want /healthz", got)
	}
	// The drain is the app's own (SHUTDOWN_DELAY): it must be on, and the
	// kubelet must wait longer than the drain and the shutdown together.
	delay := durationSeconds(t, c, "SHUTDOWN_DELAY", cm)
	if delay <= 0 {
		t.Errorf("SHUTDOWN_DELAY is %ds: terminating pods would not drain their keep-alive clients", delay)
	}
	shutdown := durationSeconds(t, c, "SHUTDOWN_TIMEOUT", cm)
	if grace := spec.TerminationGracePeriodSeconds; grace == nil || *grace <= delay+shutdown {
		t.Errorf("terminationGracePeriodSeconds %v is not above SHUTDOWN_DELAY %ds + SHUTDOWN_TIMEOUT %ds", grace, delay, shutdown)
	}
	for _, name := range []string{"POD_NAME", "POD_NAMESPACE", "POD_IP"} {
		if e := envVar(c, name); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil {
			t.Errorf("%s does not come from the downward API", name)
		}
	}
}

// checkPorts checks that the app listens where its container ports say, that Prometheus is told
// to scrape the admin port, and that no Service among objects routes to the admin port: the
// metrics and the reset stay off the public path.
func checkPorts(t *testing.T, d *appsv1.Deployment, objects []runtime.Object) {
	t.Helper()
	c := d.Spec.Template.Spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for name, variable := range map[string]string{"http": "PORT", "admin": "ADMIN_PORT"} {
		port, ok := ports[name]
		if !ok {
			t.Errorf("no container port named %s", name)
			continue
		}
		if e := envVar(c, variable); e == nil || e.Value != strconv.Itoa(int(port)) {
			t.Errorf("%s = %v, want the %s container port %d", variable, e, name, port)
		}
	}
	if a := d.Spec.Template.Annotations; a["prometheus.io/scrape"] == "true" && a["prometheus.io/port"] != strconv.Itoa(int(ports["admin"])) {
		t.Errorf("prometheus.io/port %q, want the admin port %d", a["prometheus.io/port"], ports["admin"])
	}
	services := 0
	for _, obj := range objects {
		svc, ok := obj.(*corev1.Service)
		if !ok {
			continue
		}
		services++
		for _, p := range svc.Spec.Ports {
			if p.TargetPort.String() == "admin" || p.TargetPort.IntValue() == int(ports["admin"]) {
				t.Errorf("service %s routes port %d to the admin port", svc.Name, p.Port)
			}
		}
	}
	if services == 0 {
		t.Error("no Service to check")
	}
}

// durationSeconds reads a Go duration from a container's environment, in whole seconds.
func durationSeconds(t *testing.T, c corev1.Container, name string, cm *corev1.ConfigMap) int64 {
	t.Helper()
	e := envVar(c, name)
	if e == nil {
		t.Fatalf("container %s has no %s", c.Name, name)
	}
	value := e.Value
	if ref := e.ValueFrom; ref != nil && ref.ConfigMapKeyRef != nil && cm != nil {
		value = cm.Data[ref.ConfigMapKeyRef.Key]
	}
	d, err := time.ParseDuration(value)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, value, err)
	}
	return int64(d.Seconds())
}

func envVar(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// TestK8sNetworkPolicies: the namespace denies everything by default, and the policies open only
// the paths the README names: the admin port to Prometheus in the namespace monitoring, the app's
// egress to Redis and DNS. The control: without the default deny, nothing selects a pod that
// carries none of the app's labels.
func TestK8sNetworkPolicies(t *testing.T) {
	objects := decode(t, "kustomize build", kustomize(t, kustomizationWith(t, "ingress")))
	deny := find[*networkingv1.NetworkPolicy](t, objects, "default-deny")
	if len(deny.Spec.PodSelector.MatchLabels) != 0 || len(deny.Spec.PodSelector.MatchExpressions) != 0 ||
		len(deny.Spec.PolicyTypes) != 2 || len(deny.Spec.Ingress) != 0 || len(deny.Spec.Egress) != 0 {
		t.Errorf("default-deny: %+v, want every pod, both directions, no rule", deny.Spec)
	}
	stranger := map[string]string{"run": "probe"}
	var selecting []string
	for _, obj := range objects {
		if np, ok := obj.(*networkingv1.NetworkPolicy); ok && np.Name != "default-deny" && selects(t, &np.Spec.PodSelector, stranger) {
			selecting = append(selecting, np.Name)
		}
	}
	if len(selecting) != 0 {
		t.Errorf("policies other than default-deny select a stranger's pod: %v", selecting)
	}
	app := find[*networkingv1.NetworkPolicy](t, objects, "pingpong")
	admin := app.Spec.Ingress[1]
	if len(admin.From) != 1 || admin.From[0].NamespaceSelector == nil ||
		admin.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "monitoring" {
		t.Errorf("the admin port is open to %+v, want Prometheus in the namespace monitoring only", admin.From)
	}
	for _, name := range []string{"pingpong", "pingpong-admin"} {
		if egress := find[*networkingv1.NetworkPolicy](t, objects, name).Spec.Egress; len(egress) != 2 {
			t.Errorf("%s may reach %d kinds of peer, want 2 (Redis, DNS): %+v", name, len(egress), egress)
		}
	}
}
