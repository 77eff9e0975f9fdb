// Command peer is the benchmark's yardstick for the v3 service: the ping
// counter as a careful beginner writes it with net/http and go-redis. One
// shared client, one INCR per request, the count as text, and 503 when Redis
// fails. Nothing more: no access log, no metrics, no coalescing of INCRs.
//
// It counts in the service's own key, so it is a drop-in replacement and the
// benchmark checks its counts exactly as it checks the service's.
//
// With REDIS_WAIT_REPLICAS=n, each request sends its INCR and a WAIT n in one
// pipeline, on one connection, so that the WAIT covers that INCR, and answers
// only once n replicas have it (503 otherwise): synchronous replication, one
// round trip per ping.
//
//	PORT=5000 REDIS_ADDR=127.0.0.1:6379 go run ./bench/peer
package main

import (
	"cmp"
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

const counterKey = "pingpong:count"

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	// One client for the whole process: it holds a pool of connections that
	// every request shares.
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("REDIS_ADDR")})
	defer rdb.Close()

	replicas, err := strconv.Atoi(cmp.Or(os.Getenv("REDIS_WAIT_REPLICAS"), "0"))
	if err != nil {
		return fmt.Errorf("REDIS_WAIT_REPLICAS: %w", err)
	}
	// INCR is atomic in Redis: no two requests get the same number.
	incr := func(ctx context.Context) (int64, error) { return rdb.Incr(ctx, counterKey).Result() }
	if replicas > 0 {
		incr = func(ctx context.Context) (int64, error) {
			pipe := rdb.Pipeline()
			n := pipe.Incr(ctx, counterKey)
			wait := pipe.Do(ctx, "wait", replicas, 1000) // at most a second
			if _, err := pipe.Exec(ctx); err != nil {
				return 0, err
			}
			if acked, err := wait.Int64(); err != nil || acked < int64(replicas) {
				return 0, fmt.Errorf("%d of %d replicas have the write (%v)", acked, replicas, err)
			}
			return n.Val(), nil
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		n, err := incr(r.Context())
		if err != nil {
			http.Error(w, "counter unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, n)
	})
	srv := &http.Server{
		Addr:              ":" + os.Getenv("PORT"),
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
	}
	return srv.ListenAndServe()
}
