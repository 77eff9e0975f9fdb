package counter

// Step 2: coalescing. With one INCR per ping (counter.go), every ping waits
// for its own Redis round trip, and the service can count no faster than
// round trips come back. The Coalescer keeps the same promise with fewer
// round trips: the pings that arrive while one round trip is under way wait
// together, and the next round trip increments by all of them at once.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// maxBatch bounds how many pings one INCRBY serves.
const maxBatch = 512

// ErrClosed is returned by Coalescer.Next after Close.
var ErrClosed = errors.New("counter closed")

// Coalescer is a Counter whose pings share Redis round trips. Create it with
// NewCoalescer and Close it when done. Current, Reset and Ping are the
// Counter's own.
type Coalescer struct {
	*Counter
	metrics     *Metrics
	replicas    int           // how many replicas must have a batch (step 3, replicas.go)
	waitTimeout time.Duration // how long a batch waits for them
	requests    chan request
	closed      chan struct{}
	close       sync.Once
	worker      sync.WaitGroup
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

// NewCoalescer starts a Coalescer that counts on c's Redis key.
func NewCoalescer(c *Counter, metrics *Metrics) *Coalescer {
	b := &Coalescer{
		Counter:  c,
		metrics:  metrics,
		requests: make(chan request),
		closed:   make(chan struct{}),
	}
	// One worker, so one round trip at a time: while it is under way, the
	// requests that arrive queue up, and the next round trip serves them all.
	// More round trips at once would only split the same pings into smaller
	// batches, each costing Redis and this process the same work as a big one.
	b.worker.Go(b.work)
	return b
}

// Next increments the count and returns the new value, which no other call
// of Next, in this process or any other sharing the key, ever returns.
func (b *Coalescer) Next(ctx context.Context) (int64, error) {
	req := request{ctx: ctx, reply: make(chan result, 1)}
	select {
	case b.requests <- req:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-b.closed:
		return 0, ErrClosed
	}
	res := <-req.reply // the worker always answers
	return res.count, res.err
}

// work gathers waiting requests into batches and increments once per batch.
func (b *Coalescer) work() {
	for {
		var first request
		select {
		case first = <-b.requests:
		case <-b.closed:
			return
		}
		batch := []request{first}
		// Take every request that is already waiting, but do not wait for
		// more: a lone request goes to Redis at once, with no added latency.
	gather:
		for len(batch) < maxBatch {
			select {
			case req := <-b.requests:
				batch = append(batch, req)
			default:
				break gather
			}
		}
		b.serve(batch)
	}
}

// serve increments the count by the number of live requests in batch and
// gives each of them its own number.
//
// Why this is exact: INCRBY n adds n and returns the new value, high, in one
// atomic step, so the n numbers high-n+1 .. high belong to this call alone.
// No other INCRBY or INCR, from this process or another replica, can return
// a value in that range. Handing each request one number of the range
// therefore gives every ping a distinct count, and the key ends equal to the
// number of pings counted.
func (b *Coalescer) serve(batch []request) {
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
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	high, err := b.increment(ctx, int64(len(live)))
	if err != nil {
		err = fmt.Errorf("incrementing %q: %w", b.key, err)
	}
	b.metrics.observeBatch(len(live), err)
	for i, req := range live {
		req.reply <- result{count: high - int64(len(live)) + 1 + int64(i), err: err}
	}
}

// Close stops the worker once the requests under way are answered. Call it
// after the HTTP server has stopped, so no new request arrives. Closing twice
// is harmless.
func (b *Coalescer) Close() {
	b.close.Do(func() { close(b.closed) })
	b.worker.Wait()
}
