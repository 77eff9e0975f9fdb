// Package counter hands out ping counts from a Redis key: exact, unique and
// shared by every replica of the service. It is built in three steps, one file
// each, in the order a learner meets them:
//
//  1. counter.go: Counter, the plain atomic counter, one INCR per ping.
//  2. coalesce.go: Coalescer, the same Counter with the pings that arrive
//     together sharing one INCRBY, so that Redis round trips stop being the
//     ceiling.
//  3. replicas.go: the Coalescer waits (WAIT) until enough Redis replicas
//     have each batch before answering it, so that no number is handed out
//     twice across a failover.
package counter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Counter hands out ping counts, one INCR per ping.
//
// The older Flask workshops read the count, added one and wrote it back
// (GET then SET): two requests at the same moment read the same value, both
// write value+1, and one ping is lost while two callers get the same number.
// Redis's INCR adds one and answers the new value in one atomic step, so it
// cannot lose or repeat a count, however many replicas call it at once.
type Counter struct {
	client  *redis.Client
	key     string
	timeout time.Duration
}

// New returns a Counter on key. Each Redis round trip may take at most
// timeout, so that a Redis outage turns into a quick error, never a hang.
func New(client *redis.Client, key string, timeout time.Duration) *Counter {
	return &Counter{client: client, key: key, timeout: timeout}
}

// Next increments the count and returns the new value, which no other call
// of Next, in this process or any other sharing the key, ever returns.
func (c *Counter) Next(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	n, err := c.client.Incr(ctx, c.key).Result()
	if err != nil {
		return 0, fmt.Errorf("incrementing %q: %w", c.key, err)
	}
	return n, nil
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
