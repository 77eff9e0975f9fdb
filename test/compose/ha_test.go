package compose_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pingpong/test/harness"
)

// TestV3ComposeHA runs v3's compose.ha.yaml (a master, two replicas, three Sentinels) and kills
// the master under keep-alive load from several connections that record every answer: no
// count is answered 200 twice, a Sentinel names another server master, that server holds at
// least every count answered, and the service answers 200 again within 10 seconds of the kill,
// by itself. The control that shows such a run can find repeated counts (the replicas cut off,
// WAIT turned off) is v3's TestFailoverWithReplicasCutOff, on processes.
func TestV3ComposeHA(t *testing.T) {
	const (
		conns       = 8
		beforeKill  = 3 * time.Second
		recoverIn   = 10 * time.Second
		afterKill   = recoverIn + 5*time.Second // the load goes on this long after the kill
		backoff     = 10 * time.Millisecond     // a client's pause after a 503 (the service says Retry-After)
		firstMaster = "redis-1"
	)
	dir := filepath.Join(harness.RepoRoot(t), "v3_redis_counter")
	port := harness.FreePort(t)
	c := harness.NewCompose(t, dir, []string{"--file", "compose.ha.yaml", "--env-file", ".env.example"},
		[]string{"HOST_PORT=" + strconv.Itoa(port)})
	c.Up(t)
	if master := sentinelMaster(t, c); master != firstMaster {
		t.Fatalf("a Sentinel names %s master before the failover, want %s", master, firstMaster)
	}
	// The replicas have the data: otherwise WAIT could not be answered and the test would
	// measure a start-up, not a failover.
	replication := c.Run(t, "exec", "-T", firstMaster, "redis-cli", "info", "replication")
	if online := strings.Count(replication, "state=online"); online != 2 {
		t.Fatalf("%s has %d replicas online, want 2:\n%s", firstMaster, online, replication)
	}

	addr := "127.0.0.1:" + strconv.Itoa(port)
	type outcome struct {
		result harness.LoadResult
		err    error
	}
	done := make(chan outcome, 1)
	go func() {
		result, err := harness.DriveRecorded(context.Background(), addr, "/ping", conns, beforeKill+afterKill, backoff)
		done <- outcome{result, err}
	}()
	time.Sleep(beforeKill)
	killed := time.Now() // when the kill was asked for: the master dies within the command
	c.Run(t, "kill", firstMaster)
	newMaster := waitForNewMaster(t, c, firstMaster, recoverIn)
	t.Logf("Sentinel named %s master %s after the kill", newMaster, time.Since(killed).Round(100*time.Millisecond))
	out := <-done
	if out.err != nil {
		t.Fatal(out.err)
	}
	answers := out.result.Answers

	// The outage starts with the first 503 to a ping sent after the kill, and ends with the
	// first 200 to a ping sent after that.
	var outage, recovered time.Time
	for _, a := range answers {
		if a.Status == http.StatusServiceUnavailable && !a.Sent.Before(killed) && (outage.IsZero() || a.Sent.Before(outage)) {
			outage = a.Sent
		}
	}
	if outage.IsZero() {
		t.Fatalf("no ping was answered 503 after the kill: was %s killed?", firstMaster)
	}
	var before, failed, other int
	var highest int64
	for _, a := range answers {
		switch a.Status {
		case http.StatusOK:
			highest = max(highest, a.Count)
			if a.Sent.Before(killed) {
				before++
			}
			if a.Sent.After(outage) && (recovered.IsZero() || a.Sent.Before(recovered)) {
				recovered = a.Sent
			}
		case http.StatusServiceUnavailable:
			failed++
		default:
			other++ // no answer at all, or another status: the service itself must stay up
		}
	}
	t.Logf("%d requests over %d connections: %d answered 200 before the kill, %d answered 503, %d otherwise; highest count %d",
		len(answers), conns, before, failed, other, highest)
	if before == 0 {
		t.Fatal("no ping was answered 200 before the kill: the load did not run")
	}
	if recovered.IsZero() {
		t.Fatalf("no ping was answered 200 after the outage began, within %s of the kill", afterKill)
	}
	window := recovered.Sub(killed)
	t.Logf("first 503 to a ping sent %s after the kill; first 200 again to one sent %s after the kill (outage %s)",
		outage.Sub(killed).Round(time.Millisecond), window.Round(time.Millisecond), recovered.Sub(outage).Round(time.Millisecond))
	if window > recoverIn {
		t.Errorf("the service answered 200 again %s after the kill, want within %s", window.Round(time.Millisecond), recoverIn)
	}
	if other > 0 {
		t.Errorf("%d requests got neither 200 nor 503 (first error: %v)", other, out.result.FirstErr)
	}
	if repeated := harness.Repeated(out.result.Counts); len(repeated) > 0 {
		t.Errorf("%d counts answered 200 twice: %v", len(repeated), repeated[:min(len(repeated), 20)])
	}
	count := strings.TrimSpace(c.Run(t, "exec", "-T", newMaster, "redis-cli", "get", "pingpong:count"))
	if n, err := strconv.ParseInt(count, 10, 64); err != nil || n < highest {
		t.Errorf("the new master %s holds the count %q, want at least the highest count answered, %d", newMaster, count, highest)
	}
}

// sentinelMaster asks a Sentinel which server is master now: the answer to
// SENTINEL GET-MASTER-ADDR-BY-NAME is its name, then its port.
func sentinelMaster(t *testing.T, c *harness.Compose) string {
	t.Helper()
	out := c.Run(t, "exec", "-T", "sentinel-1", "redis-cli", "-p", "26379", "sentinel", "get-master-addr-by-name", "pingpong")
	name, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	return name
}

// waitForNewMaster waits until a Sentinel names a master other than old.
func waitForNewMaster(t *testing.T, c *harness.Compose, old string, limit time.Duration) string {
	t.Helper()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if master := sentinelMaster(t, c); master != old {
			return master
		}
	}
	t.Fatalf("the Sentinels still name %s master %s after it was killed", old, limit)
	return ""
}
