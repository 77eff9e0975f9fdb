package counter

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

// newCoalescer returns a Coalescer on an in-memory Redis, that Redis, and
// the Coalescer's metrics.
func newCoalescer(t *testing.T) (*Coalescer, *miniredis.Miniredis, *Metrics) {
	t.Helper()
	mini := miniredis.RunT(t)
	c, metrics := newCoalescerOn(t, newClient(t, mini.Addr()))
	return c, mini, metrics
}

// newCoalescerOn returns a Coalescer counting through client, and its
// metrics.
func newCoalescerOn(t *testing.T, client *redis.Client) (*Coalescer, *Metrics) {
	t.Helper()
	metrics := NewMetrics(prometheus.NewRegistry())
	client.AddHook(metrics.Hook())
	c := NewCoalescer(New(client, key, 500*time.Millisecond), metrics)
	t.Cleanup(c.Close)
	return c, metrics
}

// TestCoalescedNextIsUniqueUnderConcurrency is the property the coalescing
// must keep: however the requests are batched, each gets its own number, and
// together they get exactly 1..n.
func TestCoalescedNextIsUniqueUnderConcurrency(t *testing.T) {
	c, mini, _ := newCoalescer(t)
	assertUnique(t, []nexter{c}, 50, 40)
	if got, _ := mini.Get(key); got != "2000" {
		t.Errorf("Redis holds %q after 2000 pings, want \"2000\"", got)
	}
}

// TestQueuedPingsShareOneIncrBy is the coalescing itself, made
// deterministic: it holds one Redis round trip, lets pings queue behind it,
// then releases it and checks that a single INCRBY served every queued ping.
// testing/synctest's Wait tells when every queued ping is really waiting, so
// no sleep decides the outcome.
func TestQueuedPingsShareOneIncrBy(t *testing.T) {
	const queued = 20
	synctest.Test(t, func(t *testing.T) {
		mini := miniredis.NewMiniRedis() // reached through in-memory pipes: real sockets can't be used in a bubble
		defer mini.Close()
		client := redis.NewClient(&redis.Options{
			Dialer:     func(context.Context, string, string) (net.Conn, error) { return mini.Dial() },
			MaxRetries: -1,
		})
		defer client.Close()
		hold := &holdFirst{arrived: make(chan struct{}), release: make(chan struct{})}
		client.AddHook(hold)
		c := NewCoalescer(New(client, key, time.Minute), NewMetrics(prometheus.NewRegistry()))
		defer c.Close()

		counts := make(chan int64, queued+1)
		ping := func() {
			n, err := c.Next(context.Background())
			if err != nil {
				t.Error(err)
			}
			counts <- n
		}
		go ping()
		<-hold.arrived // the first ping's round trip is under way, and held
		for range queued {
			go ping()
		}
		synctest.Wait() // every queued ping now waits for the worker
		close(hold.release)

		seen := map[int64]bool{}
		for range queued + 1 {
			n := <-counts
			if seen[n] || n < 1 || n > queued+1 {
				t.Errorf("count %d repeated or outside 1..%d", n, queued+1)
			}
			seen[n] = true
		}
		if got := hold.increments.Load(); got != 2 {
			t.Errorf("%d increments for %d pings, want 2: one for the first ping, one INCRBY for the %d queued behind it",
				got, queued+1, queued)
		}
		if got, _ := mini.Get(key); got != "21" {
			t.Errorf("Redis holds %q, want \"21\"", got)
		}
	})
}

// holdFirst is a go-redis hook that counts increments and holds the first
// one until release is closed.
type holdFirst struct {
	arrived, release chan struct{}
	increments       atomic.Int64
}

func (h *holdFirst) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *holdFirst) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name == "incr" || name == "incrby" {
			if h.increments.Add(1) == 1 {
				close(h.arrived)
				<-h.release
			}
		}
		return next(ctx, cmd)
	}
}

func (h *holdFirst) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func TestCoalescerKeepsCurrentAndReset(t *testing.T) {
	c, _, _ := newCoalescer(t)
	ctx := context.Background()
	for range 3 {
		if _, err := c.Next(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := c.Current(ctx); err != nil || got != 3 {
		t.Fatalf("Current = %d, %v; want 3", got, err)
	}
	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Next(ctx); err != nil || got != 1 {
		t.Fatalf("Next after Reset = %d, %v; want 1", got, err)
	}
}

func TestCoalescedNextFailsFastWhenRedisIsDown(t *testing.T) {
	c, mini, _ := newCoalescer(t)
	if _, err := c.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	mini.Close()
	start := time.Now()
	if _, err := c.Next(context.Background()); err == nil {
		t.Fatal("Next succeeded with Redis down")
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Next took %s to fail, want about the 500ms timeout at most", elapsed)
	}
}

func TestNextRespectsCancelledContext(t *testing.T) {
	c, mini, _ := newCoalescer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next with a cancelled context: err = %v, want context.Canceled", err)
	}
	if mini.Exists(key) {
		t.Error("a cancelled request spent a count")
	}
}

func TestNextAfterClose(t *testing.T) {
	c, _, _ := newCoalescer(t)
	c.Close()
	if _, err := c.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close: err = %v, want ErrClosed", err)
	}
}

func TestMetricsCountPingsAndRedisErrors(t *testing.T) {
	c, mini, metrics := newCoalescer(t)
	for range 3 {
		if _, err := c.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := testutil.ToFloat64(metrics.pings); got != 3 {
		t.Errorf("pingpong_pings_total = %v, want 3", got)
	}
	if got := testutil.ToFloat64(metrics.commands.WithLabelValues("incrby")); got < 1 {
		t.Errorf("incrby commands = %v, want at least 1", got)
	}
	mini.Close()
	_, _ = c.Next(context.Background())
	if got := testutil.ToFloat64(metrics.errors.WithLabelValues("incrby")); got != 1 {
		t.Errorf("incrby errors = %v, want 1", got)
	}
	if got := testutil.ToFloat64(metrics.pings); got != 3 {
		t.Errorf("pingpong_pings_total = %v after a failed ping, want still 3", got)
	}
}
