package e2e

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pingpong/test/harness"
)

// How long after the master pod is deleted the service may keep failing. Sentinel calls the
// master down after 2 s (down-after-milliseconds in redis-ha.sh), elects a leader among the two
// Sentinels left and promotes a replica: measured here, the switch 4 to 6 s after the deletion.
// Now and then the two vote each for itself at the same moment and no leader is elected: they try
// again 10 s after the first try (twice failover-timeout), as often as it takes. Then the app
// follows at its next dial: measured here, the last 503 within 2 s of the switch.
const (
	switchBound  = 15 * time.Second // from the deletion to the switch, when the first vote elects a leader
	electionLost = 10 * time.Second // added for each vote that elected no leader
	followBound  = 5 * time.Second  // from the switch to the last failed request
)

// TestRedisHAFailover deploys k8s/ with the redis-ha component and deletes the Redis master
// under keep-alive load: another pod becomes the master, the service answers again within
// the bounds above, the new master holds every count already answered, and no count is answered
// twice. Then every Redis pod at once: the count survives on the volumes, still with no count
// twice. The control for "no count twice" is the process-level one (v3's failover_test.go):
// without WAIT the same kill hands out numbers again.
func TestRedisHAFailover(t *testing.T) {
	c := setup(t)
	ha := redisHA{ns: "pingpong-redis-ha", set: "redis-ha"}
	ns := ha.ns
	c.applyK8s(t, ns, func(k map[string]any) {
		components, _ := k["components"].([]any)
		k["components"] = append(components, "redis-ha")
	})
	c.k(t, "-n", ns, "rollout", "status", "deployment/pingpong", "--timeout=3m")
	if out := c.k(t, "-n", ns, "get", "configmap", "pingpong", "-o", "jsonpath={.data}"); strings.Contains(out, "REDIS_ADDR") {
		t.Fatalf("the app's ConfigMap still names one Redis: %s", out)
	}
	c.waitForSentinels(t, ha)
	svc := c.k(t, "-n", ns, "get", "service", "pingpong", "-o", "jsonpath={.spec.clusterIP}") + ":80"
	eventuallyCount(t, "http://"+svc+"/ping", "", time.Minute)

	var answered []int64 // every count answered 200 in the whole test
	highest := func() int64 { return slices.Max(answered) }

	t.Run("delete the master pod", func(t *testing.T) {
		answered = append(answered, c.deleteMasterUnderLoad(t, ha, svc)...)
	})

	t.Run("delete every Redis pod at once", func(t *testing.T) {
		if len(answered) == 0 {
			t.Skip("the failover answered nothing")
		}
		before := highest()
		var deleted time.Time
		result := underLoad(t, svc, func(t *testing.T) {
			deleted = time.Now()
			uids := c.redisPodUIDs(t, ns)
			c.k(t, "-n", ns, "delete", "pod", "-l", "app.kubernetes.io/name=redis-ha", "--wait=false")
			// The new pods have the old names: wait for three new ones, then for them to be ready.
			deadline := time.Now().Add(3 * time.Minute)
			for now := c.redisPodUIDs(t, ns); len(now) != 3 || slices.ContainsFunc(now, func(uid string) bool { return slices.Contains(uids, uid) }); now = c.redisPodUIDs(t, ns) {
				if time.Now().After(deadline) {
					t.Fatalf("the Redis pods were not replaced in 3 minutes: %v, before %v", now, uids)
				}
				time.Sleep(time.Second)
			}
			c.k(t, "-n", ns, "wait", "--for=condition=Ready", "pod", "-l", "app.kubernetes.io/name=redis-ha", "--timeout=3m")
			c.waitForSentinels(t, ha)
			eventuallyCount(t, "http://"+svc+"/ping", "", 2*time.Minute)
		})
		answered = append(answered, result.Counts...)
		logOutage(t, result, deleted)
		after := eventuallyCount(t, "http://"+svc+"/ping", "", time.Minute)
		answered = append(answered, int64(after))
		if int64(after) <= before {
			t.Errorf("after every Redis pod was replaced the count is %d, not above the %d answered before", after, before)
		} else {
			t.Logf("the count went on: %d after the restart, %d was the highest before it", after, before)
		}
		master := c.redisMaster(t, ha, ha.pods()[0])
		if now := c.redisCount(t, ns, master); now < highest() {
			t.Errorf("the master %s holds %d, less than the highest count answered, %d", master, now, highest())
		} else {
			t.Logf("after the restart the master is %s, holding %d", master, now)
		}
	})

	if repeated := harness.Repeated(answered); len(repeated) > 0 {
		t.Errorf("over the whole test, %d counts answered twice, the first: %v", len(repeated), repeated[:min(len(repeated), 10)])
	} else {
		t.Logf("over the whole test, %d counts answered, none twice", len(answered))
	}
}

// deleteMasterUnderLoad deletes the Redis master pod of ha under keep-alive load on svc, as when
// its node is lost: the node is cordoned until another pod is the master, so that the deleted
// pod cannot come back first and stay the master. Then the Sentinels switch within switchBound
// (and electionLost more for each vote that elected no leader), the service answers again within
// followBound of the switch, the new master holds every count answered, and no count is answered
// twice.
// It returns the counts answered.
func (c *cluster) deleteMasterUnderLoad(t *testing.T, ha redisHA, svc string) []int64 {
	t.Helper()
	old := c.redisMaster(t, ha, ha.pods()[0])
	node := c.k(t, "-n", ha.ns, "get", "pod", old, "-o", "jsonpath={.spec.nodeName}")
	t.Cleanup(func() { c.k(t, "uncordon", node) })
	var deleted time.Time
	var promoted string
	result := underLoad(t, svc, func(t *testing.T) {
		c.k(t, "cordon", node)
		deleted = time.Now()
		c.k(t, "-n", ha.ns, "delete", "pod", old, "--wait=false")
		promoted = c.eventuallyNewMaster(t, ha, old)
		t.Logf("%s is the master %s after the deletion", promoted, time.Since(deleted).Round(100*time.Millisecond))
		c.k(t, "uncordon", node)
		c.k(t, "-n", ha.ns, "wait", "--for=condition=Ready", "pod/"+old, "--timeout=3m")
	})
	if len(result.Counts) == 0 {
		t.Fatal("no request was answered")
	}
	logOutage(t, result, deleted)
	switched, lost := c.sentinelElection(t, ha, old, deleted)
	if bound := switchBound + time.Duration(lost)*electionLost; switched.Sub(deleted) > bound {
		t.Errorf("the Sentinels switched %s after the deletion, after %d votes that elected no leader: want at most %s",
			switched.Sub(deleted).Round(100*time.Millisecond), lost, bound)
	}
	if outage := result.Outage(); result.Errors > 0 {
		if late := outage.LastFailed.Sub(switched); late > followBound {
			t.Errorf("the service failed until %s after the switch (%s after the deletion), want at most %s",
				late.Round(100*time.Millisecond), outage.LastFailed.Sub(deleted).Round(100*time.Millisecond), followBound)
		}
		if !outage.LastOK.After(outage.LastFailed) {
			t.Error("no request was answered after the last failure")
		}
	}
	if repeated := harness.Repeated(result.Counts); len(repeated) > 0 {
		t.Errorf("%d counts answered twice, the first: %v", len(repeated), repeated[:min(len(repeated), 10)])
	}
	highest := slices.Max(result.Counts)
	if now := c.redisCount(t, ha.ns, promoted); now < highest {
		t.Errorf("the new master %s holds %d, below the highest count answered, %d", promoted, now, highest)
	} else {
		t.Logf("the new master %s holds %d; the highest count answered was %d", promoted, now, highest)
	}
	return result.Counts
}

// sentinelElection logs what the Sentinels of the pods other than old did after the deletion
// (their failover events, as they logged them) and returns when the first of them switched to the
// new master, and how many votes ended with no leader elected (the most either Sentinel saw).
func (c *cluster) sentinelElection(t *testing.T, ha redisHA, old string, deleted time.Time) (switched time.Time, lost int) {
	t.Helper()
	for _, pod := range ha.pods() {
		if pod == old {
			continue
		}
		// The kubelet's time stamps: the same clock as deleted, in a format of its own.
		out := c.k(t, "-n", ha.ns, "logs", pod, "-c", "sentinel", "--timestamps", "--since-time="+deleted.UTC().Format(time.RFC3339))
		var events []string
		aborted := 0
		for line := range strings.Lines(out) {
			stamp, text, _ := strings.Cut(strings.TrimSpace(line), " ")
			at, err := time.Parse(time.RFC3339Nano, stamp)
			if err != nil || at.Before(deleted) {
				continue
			}
			for _, event := range []string{"+try-failover", "+elected-leader", "-failover-abort-not-elected", "+switch-master"} {
				if !strings.Contains(text, " "+event+" ") {
					continue
				}
				events = append(events, fmt.Sprintf("%s %s", at.Sub(deleted).Round(10*time.Millisecond), event))
				switch {
				case event == "-failover-abort-not-elected":
					aborted++
				case event == "+switch-master" && (switched.IsZero() || at.Before(switched)):
					switched = at
				}
			}
		}
		lost = max(lost, aborted)
		t.Logf("the Sentinel of %s after the deletion: %s", pod, strings.Join(events, ", "))
	}
	if switched.IsZero() {
		t.Fatal("no Sentinel logged +switch-master after the deletion")
	}
	return switched, lost
}

// logOutage logs when, counted from the deletion, the failed requests were sent, and how they failed.
func logOutage(t *testing.T, result harness.LoadResult, deleted time.Time) {
	t.Helper()
	if result.Errors == 0 {
		t.Logf("%d requests, none failed", len(result.Counts))
		return
	}
	outage := result.Outage()
	t.Logf("%d requests: %d answered, %d failed (by status, 0 for none: %v), sent from %s to %s after the deletion; the first failure: %v",
		len(result.Counts)+result.Errors, len(result.Counts), result.Errors, outage.Statuses,
		outage.FirstFailed.Sub(deleted).Round(100*time.Millisecond), outage.LastFailed.Sub(deleted).Round(100*time.Millisecond),
		result.FirstErr)
}

// sentinel runs redis-cli against the Sentinel of pod (the password is in the container's
// REDISCLI_AUTH, as the StatefulSet sets it).
func (c *cluster) sentinel(ns, pod string, args ...string) (string, error) {
	return command(30*time.Second, c.repo, c.kubectl, append([]string{"-n", ns, "exec", pod, "-c", "sentinel", "--",
		"redis-cli", "-p", "26379", "sentinel"}, args...)...)
}

// redisHA is a Redis with Sentinel in a namespace: k8s/redis-ha's, or the chart's.
type redisHA struct {
	ns, set string // the namespace; the StatefulSet, whose pods are <set>-0, -1 and -2
}

func (ha redisHA) pods() []string {
	return []string{ha.set + "-0", ha.set + "-1", ha.set + "-2"}
}

// redisMaster asks the Sentinel of pod which pod is the master.
func (c *cluster) redisMaster(t *testing.T, ha redisHA, pod string) string {
	t.Helper()
	out, err := c.sentinel(ha.ns, pod, "get-master-addr-by-name", "pingpong")
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ := strings.Cut(out, ".") // redis-ha-0.redis-ha
	return host
}

// eventuallyNewMaster waits until the Sentinels of the other pods both name a master other than
// old, and that pod says it is the master.
func (c *cluster) eventuallyNewMaster(t *testing.T, ha redisHA, old string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var named []string
		for _, pod := range ha.pods() {
			if pod == old {
				continue
			}
			if out, err := c.sentinel(ha.ns, pod, "get-master-addr-by-name", "pingpong"); err == nil {
				host, _, _ := strings.Cut(out, ".")
				named = append(named, host)
			}
		}
		if len(named) == 2 && named[0] == named[1] && named[0] != old {
			role, err := command(30*time.Second, c.repo, c.kubectl, "-n", ha.ns, "exec", named[0], "-c", "redis", "--", "redis-cli", "role")
			if err == nil && strings.HasPrefix(role, "master") {
				return named[0]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new master a minute after %s was deleted: the Sentinels name %v", old, named)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitForSentinels waits until every Sentinel knows the two others and two replicas: only then
// can they agree on a failover and pick a replica to promote.
func (c *cluster) waitForSentinels(t *testing.T, ha redisHA) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for _, pod := range ha.pods() {
		for {
			out, err := c.sentinel(ha.ns, pod, "master", "pingpong")
			fields := map[string]string{}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			for i := 0; i+1 < len(lines); i += 2 {
				fields[lines[i]] = lines[i+1]
			}
			if err == nil && fields["num-other-sentinels"] == "2" && fields["num-slaves"] == "2" && fields["flags"] == "master" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the Sentinel of %s does not see 2 other Sentinels, 2 replicas and a master up: %v %v", pod, fields, err)
			}
			time.Sleep(time.Second)
		}
	}
}

// redisPodUIDs lists the UIDs of the Redis pods: a replaced pod has the same name, not the same UID.
func (c *cluster) redisPodUIDs(t *testing.T, ns string) []string {
	t.Helper()
	return strings.Fields(c.k(t, "-n", ns, "get", "pods", "-l", "app.kubernetes.io/name=redis-ha", "-o", "jsonpath={.items[*].metadata.uid}"))
}

// redisCount reads the counter from the Redis of pod.
func (c *cluster) redisCount(t *testing.T, ns, pod string) int64 {
	t.Helper()
	out := c.k(t, "-n", ns, "exec", pod, "-c", "redis", "--", "redis-cli", "get", "pingpong:count")
	n, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		t.Fatal(fmt.Errorf("the count on %s: %q: %w", pod, out, err))
	}
	return n
}
