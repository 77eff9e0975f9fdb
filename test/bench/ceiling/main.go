// Command ceiling is the benchmark's upper bound for any /ping over HTTP on
// this machine: net/http answering "pong", with no Redis, no log and no
// metrics. What the v3 service does beyond it (count, log, measure) is the
// gap between the two.
//
//	PORT=5000 go run ./bench/ceiling
package main

import (
	"io"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "pong\n")
	})
	srv := &http.Server{
		Addr:              ":" + os.Getenv("PORT"),
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
	}
	log.Fatal(srv.ListenAndServe())
}
