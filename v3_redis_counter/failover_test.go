package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pingpong/v3_redis_counter/internal/redistest"
)

// These tests run the service on a Redis that fails over: a master, two
// replicas and three Sentinels, all real redis-server processes. The service
// finds the master through the Sentinels (REDIS_SENTINELS) and answers a
// batch of counts only once REDIS_MIN_REPLICAS replicas have it.

// TestFailoverHandsOutNoNumberTwice kills the master (SIGKILL, as a crash)
// under load from many clients: no count is answered twice, the new master
// holds at least every count answered, and the service answers again within
// seconds, by itself.
func TestFailoverHandsOutNoNumberTwice(t *testing.T) {
	ha := redistest.StartHA(t)
	a := startApp(t, map[string]string{"REDIS_SENTINELS": ha.SentinelAddrs(), "REDIS_MASTER_NAME": ha.MasterName})
	load := startLoad(a, 16)
	time.Sleep(time.Second)

	old := ha.MasterAddr(t)
	if got := metric(t, a, "pingpong_redis_master_info"); !strings.Contains(got, `addr="`+old+`"`) {
		t.Errorf("before the failover, the master the metrics name is %q, want %s", got, old)
	}
	ha.Servers[0].Signal(t, syscall.SIGKILL)
	killed := time.Now()
	newMaster := ha.WaitForNewMaster(t, old)
	recovered := load.waitFor200After(t, killed, 10*time.Second)
	time.Sleep(time.Second)
	answers := load.stop()

	report := answers.check(t)
	t.Logf("master %s killed; Sentinel promoted %s; first 200 again %s after the kill; %s",
		old, newMaster, recovered.Round(time.Millisecond), report)
	if repeated := report.repeated; len(repeated) > 0 {
		t.Errorf("counts answered twice: %v", repeated)
	}
	if recovered > 10*time.Second {
		t.Errorf("the service answered 200 again %s after the kill, want within 10s", recovered)
	}
	if n := currentCount(t, newMaster); n < report.highest {
		t.Errorf("the new master's count is %d, below the highest count answered, %d", n, report.highest)
	}
	// The dashboard sees the failover, and every WAIT of the pipelines.
	if got := metric(t, a, "pingpong_redis_master_info"); !strings.Contains(got, `addr="`+newMaster+`"`) {
		t.Errorf("after the failover, the master the metrics name is %q, want %s", got, newMaster)
	}
	if got := metric(t, a, `pingpong_redis_commands_total{command="wait"}`); got == "" {
		t.Error("the metrics count no WAIT: the pipelined commands are not seen")
	}
}

// TestFailoverWithReplicasCutOff is the control that shows the test above
// can fail, and what WAIT is for. The replicas are frozen and their links to
// the master dropped, so the writes that follow reach the master alone; the
// master then dies, and the replicas come back to be promoted. Without WAIT
// (REDIS_MIN_REPLICAS=0) the new master is behind and hands out again counts
// the old one had answered; with it, those writes were never answered.
func TestFailoverWithReplicasCutOff(t *testing.T) {
	for _, tt := range []struct {
		minReplicas  string
		wantRepeated bool
	}{
		{"0", true},
		{"1", false},
	} {
		t.Run("REDIS_MIN_REPLICAS="+tt.minReplicas, func(t *testing.T) {
			ha := redistest.StartHA(t)
			a := startApp(t, map[string]string{"REDIS_SENTINELS": ha.SentinelAddrs(), "REDIS_MASTER_NAME": ha.MasterName,
				"REDIS_MIN_REPLICAS": tt.minReplicas})
			load := startLoad(a, 16)
			time.Sleep(500 * time.Millisecond)

			old := ha.MasterAddr(t)
			master, replicas := ha.Servers[0], ha.Servers[1:]
			for _, r := range replicas {
				r.Signal(t, syscall.SIGSTOP)
			}
			// Frozen replicas still take the stream into their sockets and catch
			// up later; drop the links so the next writes cannot reach them.
			if err := redistest.Client(t, master.Addr).Do(context.Background(), "client", "kill", "type", "replica").Err(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond) // the master alone takes the pings
			master.Signal(t, syscall.SIGKILL)
			killed := time.Now()
			for _, r := range replicas {
				r.Signal(t, syscall.SIGCONT)
			}
			ha.WaitForNewMaster(t, old)
			recovered := load.waitFor200After(t, killed, 20*time.Second)
			time.Sleep(time.Second)
			report := load.stop().check(t)
			t.Logf("REDIS_MIN_REPLICAS=%s: first 200 again %s after the kill; %s", tt.minReplicas, recovered.Round(time.Millisecond), report)
			if got := len(report.repeated) > 0; got != tt.wantRepeated {
				t.Errorf("repeated counts %v, want repeated: %v", report.repeated, tt.wantRepeated)
			}
			// With WAIT, the batches the master alone counted were refused, and counted as such.
			refused := metric(t, a, "pingpong_counter_unreplicated_batches_total")
			t.Logf("%s", refused)
			if got := !strings.HasSuffix(refused, " 0"); got == tt.wantRepeated {
				t.Errorf("%s: want refused batches only with REDIS_MIN_REPLICAS=1", refused)
			}
		})
	}
}

// load is many keep-alive clients pinging at once, each recording every
// answer it gets.
type load struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	answers answers
}

// answer is one response to GET /ping: its status and, for a 200, its count.
type answer struct {
	at     time.Time
	status int // 0: no response at all
	count  int64
}

type answers []answer

func startLoad(a *app, clients int) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel}
	transport := &http.Transport{MaxIdleConnsPerHost: clients}
	c := &http.Client{Transport: transport, Timeout: 5 * time.Second}
	for range clients {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				ans := answer{at: time.Now()}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.url+"/ping", nil)
				if resp, err := c.Do(req); err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					ans.status = resp.StatusCode
					if ans.status == http.StatusOK {
						ans.count, _ = strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
					}
				}
				if ctx.Err() != nil && ans.status == 0 {
					return // cut off by stop, not an answer
				}
				l.mu.Lock()
				l.answers = append(l.answers, ans)
				l.mu.Unlock()
				if ans.status != http.StatusOK {
					// A client backs off a little on an error (the 503 says Retry-After),
					// so that an outage is not a busy loop that starves the Sentinels.
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	return l
}

// waitFor200After waits until a 200 was answered to a request sent after t0,
// and returns how long after t0 that request was sent.
func (l *load) waitFor200After(t *testing.T, t0 time.Time, limit time.Duration) time.Duration {
	t.Helper()
	for deadline := time.Now().Add(limit + 5*time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		l.mu.Lock()
		for _, a := range l.answers {
			if a.status == http.StatusOK && a.at.After(t0) {
				l.mu.Unlock()
				return a.at.Sub(t0)
			}
		}
		l.mu.Unlock()
	}
	t.Fatalf("no 200 within %s of %s", limit+5*time.Second, t0.Format(time.StampMilli))
	return 0
}

func (l *load) stop() answers {
	l.cancel()
	l.wg.Wait()
	return l.answers
}

// report is what every answer of a run adds up to.
type report struct {
	byStatus map[int]int
	highest  int64
	repeated []int64
}

func (r report) String() string {
	return fmt.Sprintf("answers by status %v, highest count %d, %d counts answered twice", r.byStatus, r.highest, len(r.repeated))
}

// check tallies the answers: every one is a 200 with a count or a 503, and
// the 200s' counts are listed when they repeat.
func (as answers) check(t *testing.T) report {
	t.Helper()
	r := report{byStatus: map[int]int{}}
	var counts []int64
	for _, a := range as {
		r.byStatus[a.status]++
		switch a.status {
		case http.StatusOK:
			counts = append(counts, a.count)
			r.highest = max(r.highest, a.count)
		case http.StatusServiceUnavailable:
		default:
			t.Errorf("an answer with status %d: want 200 or 503 only", a.status)
		}
	}
	slices.Sort(counts)
	for i := 1; i < len(counts); i++ {
		if counts[i] == counts[i-1] && (len(r.repeated) == 0 || r.repeated[len(r.repeated)-1] != counts[i]) {
			r.repeated = append(r.repeated, counts[i])
		}
	}
	if r.byStatus[http.StatusOK] == 0 {
		t.Error("no ping was answered 200")
	}
	return r
}

// metric returns the lines of the app's /metrics (on its admin port) that
// start with name, joined; empty when there are none.
func metric(t *testing.T, a *app, name string) string {
	t.Helper()
	resp, err := client.Get(a.adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var lines []string
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, name) {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	return strings.Join(lines, "; ")
}

// currentCount reads the counter key on one Redis server.
func currentCount(t *testing.T, addr string) int64 {
	t.Helper()
	n, err := redistest.Client(t, addr).Get(context.Background(), "pingpong:count").Int64()
	if err != nil {
		t.Fatalf("reading the count on %s: %v", addr, err)
	}
	return n
}
