package main

import (
	"math"
	"slices"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value that at least p% of the values do
// not exceed. It is always one of the measured values, never an
// interpolation between two of them. An empty slice has no percentile: 0.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Exactness is what the counter owes the benchmark: each successful ping got
// its own number, and Redis counted exactly those pings, no more, no fewer.
type Exactness struct {
	Successes  int   // pings answered 200 with a count
	Counted    int64 // how much the Redis key grew meanwhile
	Duplicates int   // answers that repeat a number already handed out
	OutOfRange int   // answers outside the numbers Redis counted meanwhile
	Missing    int64 // numbers Redis counted that no successful ping received
}

// Exact reports whether no count was lost, repeated or invented.
func (e Exactness) Exact() bool {
	return e.Duplicates == 0 && e.OutOfRange == 0 && e.Missing == 0
}

// LostOrRepeated reports whether a count was repeated or invented, or lost: a number Redis
// counted that no answer holds and that none of the failed pings accounts for. A ping that
// failed after its increment reached Redis leaves a gap in the numbers, which is no lost count:
// the service answers a batch whose WAIT the replica did not acknowledge in time with a 503, and
// skips its numbers, by design.
func (e Exactness) LostOrRepeated(failed int) bool {
	return e.Duplicates > 0 || e.OutOfRange > 0 || e.Missing > int64(failed)
}

// checkExact compares the counts the pings received with the key's value
// before and after them: exact means the counts are before+1 .. after, each
// exactly once. A ping that failed after its INCRBY reached Redis shows as
// a missing number; a number handed out twice as a duplicate, and as a
// missing one too, since the two pings counted twice in Redis.
func checkExact(counts []int64, before, after int64) Exactness {
	sorted := slices.Clone(counts)
	slices.Sort(sorted)
	e := Exactness{Successes: len(counts), Counted: after - before}
	distinct := int64(0)
	for i, c := range sorted {
		switch {
		case i > 0 && c == sorted[i-1]:
			e.Duplicates++
		case c <= before || c > after:
			e.OutOfRange++
		default:
			distinct++
		}
	}
	e.Missing = e.Counted - distinct
	return e
}
