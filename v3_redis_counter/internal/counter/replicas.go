package counter

// Step 3: replication. With Redis Sentinel, a replica takes over when the
// master dies. But replication is asynchronous: the master answers INCRBY
// before any replica has the new value. If it dies right then, the replica
// that takes over is behind, and the numbers the old master already handed
// out are handed out again: the one thing this counter must never do.
//
// The Coalescer can afford to wait for the replicas, because it waits once
// per batch, not once per ping: each batch's INCRBY and a WAIT go to the
// master in one pipeline, on one connection, and the batch's numbers are
// answered only when WAIT says enough replicas have the write. Otherwise the
// batch answers an error (503): its numbers become a harmless gap, skipped,
// never repeated. Sentinel promotes the most up-to-date replica, so after a
// failover the count is at least every number already answered.
//
// What this covers: the master process or its machine dies. What it does
// not: the master and every replica that acknowledged lost together; an old
// master cut off from the others while it still takes writes, when fewer
// replicas than there are must acknowledge; a power loss of every node
// before the append-only file reaches the disk. The servers'
// min-replicas-to-write setting is the second line of defence.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotReplicated is the error of a batch that the master counted but too
// few replicas acknowledged in time: its numbers are never answered.
var ErrNotReplicated = errors.New("too few replicas acknowledged the increment")

// WaitForReplicas makes every batch wait until replicas replicas have its
// increment, for at most timeout. 0 replicas, the default, answers as soon as
// the master has it. Call it before the first Next.
func (b *Coalescer) WaitForReplicas(replicas int, timeout time.Duration) {
	if replicas > 0 && timeout <= 0 {
		panic("counter: WAIT with no timeout blocks for ever") // a programming error: the configuration is checked
	}
	b.replicas, b.waitTimeout = replicas, timeout
}

// increment adds n to the count and returns the new value.
func (b *Coalescer) increment(ctx context.Context, n int64) (int64, error) {
	if b.replicas == 0 {
		return b.client.IncrBy(ctx, b.key, n).Result()
	}
	// One pipeline, not MULTI: inside a transaction WAIT does not wait. On
	// one connection, WAIT covers the INCRBY sent before it.
	var incr *redis.IntCmd
	var wait *redis.Cmd
	if _, err := b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.IncrBy(ctx, b.key, n)
		wait = p.Do(ctx, "wait", b.replicas, b.waitTimeout.Milliseconds())
		return nil
	}); err != nil {
		return 0, err
	}
	acked, err := wait.Int64()
	if err != nil {
		return 0, err
	}
	if acked < int64(b.replicas) {
		return 0, fmt.Errorf("%w: %d of %d within %s", ErrNotReplicated, acked, b.replicas, b.waitTimeout)
	}
	return incr.Val(), nil
}
