package manifests

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"pingpong/test/harness"
)

// The redis-ha component, added under components: as k8s/README.md says, replaces the single
// Redis: its objects are gone, the three-pod StatefulSet, its headless Service, its PDB and its
// NetworkPolicy are there, and the app names the Sentinels instead of one Redis. The control is
// the kustomization without the component, where the same checks see the single Redis.
func TestRedisHAComponent(t *testing.T) {
	for _, withHA := range []bool{false, true} {
		t.Run(fmt.Sprintf("redis-ha=%v", withHA), func(t *testing.T) {
			dir := harness.CopyK8s(t, func(k map[string]any) {
				if withHA {
					k["components"] = append(k["components"].([]any), "redis-ha")
				}
			})
			objects := decode(t, "kustomize build", kustomize(t, dir))
			kinds := kindsOf(t, objects)
			single := []string{"StatefulSet/redis", "Service/redis", "NetworkPolicy/redis"}
			ha := []string{"StatefulSet/redis-ha", "Service/redis-ha", "NetworkPolicy/redis-ha", "PodDisruptionBudget/redis-ha"}
			gone, there := ha, single
			if withHA {
				gone, there = single, ha
			}
			for _, kind := range gone {
				if slices.Contains(kinds, kind) {
					t.Errorf("%s is rendered, want it gone", kind)
				}
			}
			for _, kind := range there {
				if !slices.Contains(kinds, kind) {
					t.Errorf("%s is not rendered: %v", kind, kinds)
				}
			}
			cm := find[*corev1.ConfigMap](t, objects, "pingpong")
			app := find[*appsv1.Deployment](t, objects, "pingpong").Spec.Template.Spec.Containers[0]
			_, hasAddr := cm.Data["REDIS_ADDR"]
			if hasAddr == withHA || (envVar(app, "REDIS_ADDR") != nil) == withHA {
				t.Errorf("REDIS_ADDR in the ConfigMap: %v, in the app's environment: %v; want both %v",
					hasAddr, envVar(app, "REDIS_ADDR") != nil, !withHA)
			}
			if !withHA {
				if envVar(app, "REDIS_SENTINELS") != nil {
					t.Error("the app names Sentinels without the component")
				}
				return
			}
			checkRedisHA(t, objects, cm, app)
		})
	}
}

// checkRedisHA checks the component's objects against each other and against the app, which
// reads REDIS_SENTINELS and REDIS_MASTER_NAME from the ConfigMap, as the reset Job does.
func checkRedisHA(t *testing.T, objects []runtime.Object, cm *corev1.ConfigMap, app corev1.Container) {
	t.Helper()
	for _, name := range []string{"REDIS_SENTINELS", "REDIS_MASTER_NAME"} {
		if e := envVar(app, name); e == nil || e.ValueFrom == nil || e.ValueFrom.ConfigMapKeyRef == nil || e.ValueFrom.ConfigMapKeyRef.Key != name {
			t.Errorf("the app does not read %s from the ConfigMap", name)
		}
	}
	job := resetJob(t)
	checkSentinelSet(t, objects, sentinelSet{
		name: "redis-ha", policy: "redis-ha", app: app,
		sentinels: cm.Data["REDIS_SENTINELS"], masterName: cm.Data["REDIS_MASTER_NAME"],
		mayReach: map[string]map[string]string{
			"the app":       find[*appsv1.Deployment](t, objects, "pingpong").Spec.Template.Labels,
			"the reset Job": job.Spec.Template.Labels,
		},
		stranger: map[string]string{"app.kubernetes.io/name": "other", "app.kubernetes.io/instance": "pingpong"},
	})

	// The reset Job reads every key it needs from the rendered ConfigMap, optional or not.
	c := job.Spec.Template.Spec.Containers[0]
	for _, e := range c.Env {
		ref := e.ValueFrom
		if ref == nil || ref.ConfigMapKeyRef == nil {
			continue
		}
		_, ok := cm.Data[ref.ConfigMapKeyRef.Key]
		optional := ref.ConfigMapKeyRef.Optional != nil && *ref.ConfigMapKeyRef.Optional
		if !ok && !optional {
			t.Errorf("the reset Job reads %s, which the ConfigMap does not have: the Job would not start", e.Name)
		}
	}
	for _, name := range []string{"REDIS_SENTINELS", "REDIS_MASTER_NAME"} {
		if envVar(c, name) == nil {
			t.Errorf("the reset Job does not read %s: it would not find the master", name)
		}
	}
}

// sentinelSet is a Redis with Sentinel as k8s/redis-ha and the chart render it, and what the
// app was given to find it.
type sentinelSet struct {
	name, policy          string // the StatefulSet (and its headless Service and PDB); the NetworkPolicy
	app                   corev1.Container
	sentinels, masterName string                       // the app's REDIS_SENTINELS and REDIS_MASTER_NAME
	mayReach              map[string]map[string]string // who, besides the Redis pods, may reach them: labels by name
	stranger              map[string]string            // the labels of a pod that may not
}

// checkSentinelSet checks the StatefulSet, its headless Service, the scripts it mounts, its PDB
// and its NetworkPolicy against each other and against the app.
func checkSentinelSet(t *testing.T, objects []runtime.Object, s sentinelSet) {
	t.Helper()
	set := find[*appsv1.StatefulSet](t, objects, s.name)
	svc := find[*corev1.Service](t, objects, s.name)
	if set.Spec.Replicas == nil || *set.Spec.Replicas != 3 || set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("StatefulSet: replicas %v, podManagementPolicy %q; want 3, Parallel", set.Spec.Replicas, set.Spec.PodManagementPolicy)
	}
	// redis-ha.sh finds the other pods as <pod>.<service>, the Service named as the StatefulSet.
	if set.Spec.ServiceName != svc.Name || svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
		t.Errorf("serviceName %q: want the headless Service %q (clusterIP None, publishNotReadyAddresses)", set.Spec.ServiceName, svc.Name)
	}
	pod := set.Spec.Template
	if !selects(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, pod.Labels) {
		t.Error("the headless Service does not select the Redis pods")
	}

	// The app asks each pod's Sentinel, by the name the headless Service gives it, for the
	// master by the name the Sentinels monitor it by, with the Redis password.
	var want []string
	for i := range *set.Spec.Replicas {
		want = append(want, fmt.Sprintf("%s-%d.%s:26379", set.Name, i, svc.Name))
	}
	if s.sentinels != strings.Join(want, ",") {
		t.Errorf("REDIS_SENTINELS = %q, want %q", s.sentinels, strings.Join(want, ","))
	}
	if s.masterName != "pingpong" {
		t.Errorf("REDIS_MASTER_NAME = %q, want pingpong (the name in redis-ha.sh)", s.masterName)
	}
	if sp, p := envVar(s.app, "REDIS_SENTINEL_PASSWORD_FILE"), envVar(s.app, "REDIS_PASSWORD_FILE"); sp == nil || p == nil || sp.Value != p.Value {
		t.Errorf("REDIS_SENTINEL_PASSWORD_FILE %v, want the file of REDIS_PASSWORD_FILE %v", sp, p)
	}
	if envVar(s.app, "REDIS_ADDR") != nil || envVar(s.app, "REDIS_URL") != nil {
		t.Error("the app names one Redis besides the Sentinels")
	}

	// The scripts ConfigMap the pods mount is rendered, with k8s/redis-ha/redis-ha.sh.
	script, err := os.ReadFile(repoPath(t, "k8s", "redis-ha", "redis-ha.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		found := false
		for _, obj := range objects {
			if c, ok := obj.(*corev1.ConfigMap); ok && c.Name == v.ConfigMap.Name && c.Data["redis-ha.sh"] == string(script) {
				found = true
			}
		}
		if !found {
			t.Errorf("volume %s mounts ConfigMap %q, which is not rendered with k8s/redis-ha/redis-ha.sh", v.Name, v.ConfigMap.Name)
		}
	}

	// Who may reach the Redis pods, on the Redis and the Sentinel port.
	np := find[*networkingv1.NetworkPolicy](t, objects, s.policy)
	if !selects(t, &np.Spec.PodSelector, pod.Labels) {
		t.Errorf("NetworkPolicy %s does not select the Redis pods", np.Name)
	}
	who := map[string]map[string]string{"a Redis pod": pod.Labels}
	maps.Copy(who, s.mayReach)
	for _, port := range []int32{6379, 26379} {
		for _, name := range slices.Sorted(maps.Keys(who)) {
			if !allows(t, np, pod.Spec.Containers, who[name], port) {
				t.Errorf("%s may not reach port %d", name, port)
			}
		}
		if allows(t, np, pod.Spec.Containers, s.stranger, port) {
			t.Errorf("another pod (%v) may reach port %d", s.stranger, port)
		}
	}
	// Both directions: the Redis pods reach each other and DNS, and nothing else.
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Errorf("policyTypes %v, want [Ingress Egress]", np.Spec.PolicyTypes)
	}
	pdb := find[*policyv1.PodDisruptionBudget](t, objects, s.name)
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || !selects(t, pdb.Spec.Selector, pod.Labels) {
		t.Errorf("PodDisruptionBudget %s: want maxUnavailable 1 over the Redis pods", pdb.Name)
	}
}

func resetJob(t *testing.T) *batchv1.Job {
	t.Helper()
	data, err := os.ReadFile(repoPath(t, "k8s", "admin", "reset-job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objects := decode(t, "reset-job.yaml", data)
	job, ok := objects[0].(*batchv1.Job)
	if !ok {
		t.Fatalf("reset-job.yaml holds a %T", objects[0])
	}
	return job
}

// selects reports whether a label selector picks a pod with these labels.
func selects(t *testing.T, selector *metav1.LabelSelector, podLabels map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		t.Fatal(err)
	}
	return !s.Empty() && s.Matches(labels.Set(podLabels))
}

// allows reports whether the policy lets a pod of the policy's own namespace with these labels
// reach port (a number) of the selected pods, whose containers name the ports.
func allows(t *testing.T, np *networkingv1.NetworkPolicy, containers []corev1.Container, from map[string]string, port int32) bool {
	t.Helper()
	for _, rule := range np.Spec.Ingress {
		peerOK := len(rule.From) == 0
		for _, peer := range rule.From {
			if peer.NamespaceSelector == nil && peer.IPBlock == nil && peer.PodSelector != nil && selects(t, peer.PodSelector, from) {
				peerOK = true
			}
		}
		portOK := len(rule.Ports) == 0
		for _, p := range rule.Ports {
			if p.Port == nil {
				portOK = true
				continue
			}
			if p.Port.IntValue() == int(port) {
				portOK = true
			}
			for _, c := range containers {
				for _, cp := range c.Ports {
					if cp.Name == p.Port.String() && cp.ContainerPort == port {
						portOK = true
					}
				}
			}
		}
		if peerOK && portOK {
			return true
		}
	}
	return false
}
