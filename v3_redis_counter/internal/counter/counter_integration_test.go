package counter

import (
	"context"
	"testing"
	"time"

	"pingpong/v3_redis_counter/internal/redistest"
)

// TestNextIsUniqueOnRealRedis drives a real redis-server from several
// Coalescers at once, as several replicas of the service would: 10,000 pings
// from 100 concurrent clients must get exactly 1..10,000, each once.
func TestNextIsUniqueOnRealRedis(t *testing.T) {
	server := redistest.Start(t)
	replicas := []nexter{}
	for range 3 {
		c, _ := newCoalescerOn(t, newClient(t, server.Addr))
		replicas = append(replicas, c)
	}
	assertUnique(t, replicas, 100, 100)
	if got, err := New(newClient(t, server.Addr), key, time.Second).Current(context.Background()); err != nil || got != 10_000 {
		t.Errorf("Redis holds %d, %v after 10,000 pings, want 10000", got, err)
	}
}
