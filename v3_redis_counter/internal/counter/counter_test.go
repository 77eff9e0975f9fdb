package counter

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

const key = "test:count"

// newCounter returns a Counter on an in-memory Redis, that Redis, and the
// Counter's metrics.
func newCounter(t *testing.T) (*Counter, *miniredis.Miniredis, *Metrics) {
	t.Helper()
	mini := miniredis.RunT(t)
	c, metrics := newCounterOn(t, mini.Addr())
	return c, mini, metrics
}

// newCounterOn returns a Counter on the Redis at addr, and its metrics.
func newCounterOn(t *testing.T, addr string) (*Counter, *Metrics) {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	metrics := NewMetrics(prometheus.NewRegistry())
	client.AddHook(metrics.Hook())
	c := New(client, key, 500*time.Millisecond, metrics)
	t.Cleanup(c.Close)
	return c, metrics
}

func TestNextCountsUpFromOne(t *testing.T) {
	c, mini, _ := newCounter(t)
	for want := int64(1); want <= 5; want++ {
		got, err := c.Next(context.Background())
		if err != nil || got != want {
			t.Fatalf("Next = %d, %v; want %d", got, err, want)
		}
	}
	if got, _ := mini.Get(key); got != "5" {
		t.Errorf("Redis holds %q, want \"5\"", got)
	}
}

// TestNextIsUniqueUnderConcurrency is the property the coalescing must keep:
// however the requests are batched, each gets its own number, and together
// they get exactly 1..n.
func TestNextIsUniqueUnderConcurrency(t *testing.T) {
	c, mini, _ := newCounter(t)
	assertUnique(t, []*Counter{c}, 50, 40)
	if got, _ := mini.Get(key); got != "2000" {
		t.Errorf("Redis holds %q after 2000 pings, want \"2000\"", got)
	}
}

// assertUnique runs clients goroutines that each ping times times, spread
// over the counters, and fails unless the answers are exactly
// 1..clients*times, each once.
func assertUnique(t *testing.T, counters []*Counter, clients, times int) {
	t.Helper()
	n := clients * times
	seen := make([]int, n+1)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range clients {
		c := counters[i%len(counters)]
		wg.Go(func() {
			for range times {
				got, err := c.Next(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if got >= 1 && got <= int64(n) {
					seen[got]++
				} else {
					t.Errorf("count %d is outside 1..%d", got, n)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for count := 1; count <= n; count++ {
		if seen[count] != 1 {
			t.Errorf("count %d was handed out %d times, want exactly once", count, seen[count])
		}
	}
}

func TestCurrentAndReset(t *testing.T) {
	c, _, _ := newCounter(t)
	ctx := context.Background()
	if got, err := c.Current(ctx); err != nil || got != 0 {
		t.Fatalf("Current before any ping = %d, %v; want 0", got, err)
	}
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

func TestErrorsWhenRedisIsDown(t *testing.T) {
	c, mini, _ := newCounter(t)
	ctx := context.Background()
	if _, err := c.Next(ctx); err != nil {
		t.Fatal(err)
	}
	mini.Close()
	start := time.Now()
	if _, err := c.Next(ctx); err == nil {
		t.Fatal("Next succeeded with Redis down")
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Next took %s to fail, want about the 500ms timeout at most", elapsed)
	}
	if err := c.Ping(ctx); err == nil {
		t.Error("Ping succeeded with Redis down")
	}
	if _, err := c.Current(ctx); err == nil {
		t.Error("Current succeeded with Redis down")
	}
	if err := c.Reset(ctx); err == nil {
		t.Error("Reset succeeded with Redis down")
	}
}

func TestNextRespectsCancelledContext(t *testing.T) {
	c, mini, _ := newCounter(t)
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
	c, _, _ := newCounter(t)
	c.Close()
	if _, err := c.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close: err = %v, want ErrClosed", err)
	}
}

func TestMetricsCountPingsAndRedisErrors(t *testing.T) {
	c, mini, metrics := newCounter(t)
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
