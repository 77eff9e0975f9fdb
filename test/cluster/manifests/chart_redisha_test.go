package manifests

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// redis.architecture=sentinel renders what k8s/redis-ha adds, with the same script, and the
// app asks the Sentinels for the master. The control is the default architecture, standalone,
// where the same release renders one Redis and no Sentinel.
func TestChartRedisSentinel(t *testing.T) {
	sentinelObjects := []string{
		"ConfigMap/pp-pingpong-redis-ha-scripts", "PodDisruptionBudget/pp-pingpong-redis-ha",
		"Service/pp-pingpong-redis-ha", "StatefulSet/pp-pingpong-redis-ha",
	}
	standaloneObjects := []string{"Service/pp-pingpong-redis", "StatefulSet/pp-pingpong-redis"}
	for _, architecture := range []string{"standalone", "sentinel"} {
		t.Run(architecture, func(t *testing.T) {
			objects := render(t, "redis: {architecture: "+architecture+"}\nnetworkPolicy: {enabled: true}")
			kinds := kindsOf(t, objects)
			there, gone := standaloneObjects, sentinelObjects
			if architecture == "sentinel" {
				there, gone = gone, there
			}
			for _, kind := range there {
				if !slices.Contains(kinds, kind) {
					t.Errorf("%s is not rendered: %v", kind, kinds)
				}
			}
			for _, kind := range gone {
				if slices.Contains(kinds, kind) {
					t.Errorf("%s is rendered, want it gone", kind)
				}
			}
			c := appContainer(t, objects)
			if architecture == "standalone" {
				if envVar(c, "REDIS_SENTINELS") != nil || envVar(c, "REDIS_ADDR") == nil {
					t.Error("standalone: want the app to dial REDIS_ADDR and name no Sentinel")
				}
				return
			}
			value := func(name string) string {
				if e := envVar(c, name); e != nil {
					return e.Value
				}
				return ""
			}
			checkSentinelSet(t, objects, sentinelSet{
				name: "pp-pingpong-redis-ha", policy: "pp-pingpong-redis", app: c,
				sentinels: value("REDIS_SENTINELS"), masterName: value("REDIS_MASTER_NAME"),
				mayReach: map[string]map[string]string{"the app": app(t, objects).Spec.Template.Labels},
				stranger: map[string]string{"app.kubernetes.io/name": "pingpong", "app.kubernetes.io/instance": "pp", "app.kubernetes.io/component": "test"},
			})
			// Both containers of a Redis pod read the password from the release's Secret.
			for _, rc := range find[*appsv1.StatefulSet](t, objects, "pp-pingpong-redis-ha").Spec.Template.Spec.Containers {
				if e := envVar(rc, "REDIS_PASSWORD"); e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
					e.ValueFrom.SecretKeyRef.Name != "pp-pingpong" || e.ValueFrom.SecretKeyRef.Key != "redis-password" {
					t.Errorf("container %s: REDIS_PASSWORD %+v, want the release Secret's redis-password", rc.Name, e)
				}
			}
		})
	}
}
