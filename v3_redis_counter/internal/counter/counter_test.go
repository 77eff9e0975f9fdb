package counter

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

const key = "test:count"

// nexter is what both steps offer: Counter and Coalescer alike.
type nexter interface {
	Next(ctx context.Context) (int64, error)
}

// newClient returns a go-redis client for the Redis at addr, closed when the
// test ends. Like the service's, it never retries: a retried INCR could count
// a ping twice.
func newClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	return client
}

// newPlain returns a plain Counter on an in-memory Redis, and that Redis.
func newPlain(t *testing.T) (*Counter, *miniredis.Miniredis) {
	t.Helper()
	mini := miniredis.RunT(t)
	return New(newClient(t, mini.Addr()), key, 500*time.Millisecond), mini
}

func TestNextCountsUpFromOne(t *testing.T) {
	c, mini := newPlain(t)
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

// TestNextIsUniqueUnderConcurrency is the lesson of step 1: INCR is atomic,
// so 50 clients pinging at once still get exactly 1..2000, each once.
func TestNextIsUniqueUnderConcurrency(t *testing.T) {
	c, mini := newPlain(t)
	wrong := pingConcurrently(t, []nexter{c}, 50, 40)
	held, _ := mini.Get(key)
	// One line, however many counts went wrong: -v lists them one by one.
	if wrong > 0 || held != "2000" {
		n, _ := strconv.Atoi(held)
		t.Errorf("Redis holds %s after 2000 pings: %d lost", held, 2000-n)
	}
}

// assertUnique fails unless the answers of clients goroutines, each pinging
// times times, spread over the counters, are exactly 1..clients*times, each
// once.
func assertUnique(t *testing.T, counters []nexter, clients, times int) {
	t.Helper()
	if wrong := pingConcurrently(t, counters, clients, times); wrong > 0 {
		t.Errorf("%d of the %d counts were not handed out exactly once (-v lists them)", wrong, clients*times)
	}
}

// pingConcurrently runs clients goroutines that each ping times times, spread
// over the counters, and returns how many of the counts 1..clients*times were
// not handed out exactly once. With -v it lists each of them.
func pingConcurrently(t *testing.T, counters []nexter, clients, times int) (wrong int) {
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
			wrong++
			if testing.Verbose() {
				t.Logf("count %d was handed out %d times, want exactly once", count, seen[count])
			}
		}
	}
	return wrong
}

func TestCurrentAndReset(t *testing.T) {
	c, _ := newPlain(t)
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
	c, mini := newPlain(t)
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
