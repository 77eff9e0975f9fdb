// Command peer is the benchmark's yardstick for the v3 service: the ping
// counter as a careful beginner writes it with net/http and go-redis. One
// shared client, one INCR per request, the count as text, and 503 when Redis
// fails. Nothing more: no access log, no metrics, no coalescing of INCRs.
//
// It counts in the service's own key, so it is a drop-in replacement and the
// benchmark checks its counts exactly as it checks the service's.
//
//	PORT=5000 REDIS_ADDR=127.0.0.1:6379 go run ./bench/peer
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
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

	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		// INCR is atomic in Redis: no two requests get the same number.
		n, err := rdb.Incr(r.Context(), counterKey).Result()
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
