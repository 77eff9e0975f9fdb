// Package counter hands out ping counts from a Redis key: exact, unique and
// shared by every replica of the service.
//
// The older Flask workshops read the count, added one and wrote it back
// (GET then SET): two requests at the same moment read the same value and
// one ping is lost. Redis's INCRBY adds and answers the new value in one
// atomic step, so it cannot lose or repeat a count, however many replicas
// call it at once.
//
// One INCR per ping would still cap the service at one Redis round trip per
// request. So the Counter coalesces: requests that arrive while a round trip
// is under way wait together, and the next round trip increments by all of
// them at once (see Counter.serve).
package counter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxBatch bounds how many pings one INCRBY serves.
const maxBatch = 512

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("counter closed")

// Counter hands out ping counts. Create it with New and Close it when done.
type Counter struct {
	client   *redis.Client
	key      string
	timeout  time.Duration
	metrics  *Metrics
	requests chan request
	closed   chan struct{}
	close    sync.Once
	worker   sync.WaitGroup
}

// request is one waiting ping: the worker answers on reply.
type request struct {
	ctx   context.Context
	reply chan result
}

type result struct {
	count int64
	err   error
}

// New starts a Counter on key. Each Redis round trip may take at most
// timeout, so that a Redis outage turns into a quick error, never a hang.
func New(client *redis.Client, key string, timeout time.Duration, metrics *Metrics) *Counter {
	c := &Counter{
		client:   client,
		key:      key,
		timeout:  timeout,
		metrics:  metrics,
		requests: make(chan request),
		closed:   make(chan struct{}),
	}
	// One worker, so one round trip at a time: while it is under way, the
	// requests that arrive queue up, and the next round trip serves them all.
	// More round trips at once would only split the same pings into smaller
	// batches, each costing Redis and this process the same work as a big one.
	c.worker.Go(c.work)
	return c
}

// Next increments the count and returns the new value, which no other call
// of Next, in this process or any other sharing the key, ever returns.
func (c *Counter) Next(ctx context.Context) (int64, error) {
	req := request{ctx: ctx, reply: make(chan result, 1)}
	select {
	case c.requests <- req:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-c.closed:
		return 0, ErrClosed
	}
	res := <-req.reply // the worker always answers
	return res.count, res.err
}

// work gathers waiting requests into batches and increments once per batch.
func (c *Counter) work() {
	for {
		var first request
		select {
		case first = <-c.requests:
		case <-c.closed:
			return
		}
		batch := []request{first}
		// Take every request that is already waiting, but do not wait for
		// more: a lone request goes to Redis at once, with no added latency.
	gather:
		for len(batch) < maxBatch {
			select {
			case req := <-c.requests:
				batch = append(batch, req)
			default:
				break gather
			}
		}
		c.serve(batch)
	}
}

// serve increments the count by the number of live requests in batch and
// gives each of them its own number.
//
// Why this is exact: INCRBY n adds n and returns the new value, high, in one
// atomic step, so the n numbers high-n+1 .. high belong to this call alone.
// No other INCRBY, from this process or another replica, can
// return a value in that range. Handing each request one number of the range
// therefore gives every ping a distinct count, and the key ends equal to the
// number of pings counted.
func (c *Counter) serve(batch []request) {
	live := batch[:0]
	for _, req := range batch {
		if err := req.ctx.Err(); err != nil {
			req.reply <- result{err: err} // the client gave up: do not spend a number on it
			continue
		}
		live = append(live, req)
	}
	if len(live) == 0 {
		return
	}
	// The batch's own deadline, not a request's: one client hanging up must
	// not fail the others' pings.
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	high, err := c.client.IncrBy(ctx, c.key, int64(len(live))).Result()
	if err != nil {
		err = fmt.Errorf("incrementing %q: %w", c.key, err)
	}
	c.metrics.observeBatch(len(live), err)
	for i, req := range live {
		req.reply <- result{count: high - int64(len(live)) + 1 + int64(i), err: err}
	}
}

// Current returns the count without changing it; 0 before the first ping.
func (c *Counter) Current(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	n, err := c.client.Get(ctx, c.key).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading %q: %w", c.key, err)
	}
	return n, nil
}

// Reset sets the count back to zero: the next ping answers 1.
func (c *Counter) Reset(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.client.Del(ctx, c.key).Err(); err != nil {
		return fmt.Errorf("resetting %q: %w", c.key, err)
	}
	return nil
}

// Ping checks that Redis answers, for the readiness probe.
func (c *Counter) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Close stops the worker once the requests under way are answered. Call it
// after the HTTP server has stopped, so no new request arrives. Closing twice
// is harmless.
func (c *Counter) Close() {
	c.close.Do(func() { close(c.closed) })
	c.worker.Wait()
}
