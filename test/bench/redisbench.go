package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// RedisBenchResult is what redis-benchmark measured for INCR.
type RedisBenchResult struct {
	Conns    int
	Requests int
	Rate     float64 // INCR commands per second
	P50, P99 time.Duration
}

// redisBenchmark runs `redis-benchmark -t incr` with conns clients, each
// sending one command and waiting for its answer before the next (no
// pipelining), as the service's own connections to Redis would. It has no
// duration option, so a short first run finds the rate, and the second one
// sends as many commands as that rate gets through in duration.
func redisBenchmark(ctx context.Context, addr string, conns int, duration time.Duration) (RedisBenchResult, error) {
	probe, err := runRedisBenchmark(ctx, addr, conns, max(2000, 100*conns))
	if err != nil {
		return RedisBenchResult{}, err
	}
	requests := max(int(probe.Rate*duration.Seconds()), 1000)
	return runRedisBenchmark(ctx, addr, conns, requests)
}

func runRedisBenchmark(ctx context.Context, addr string, conns, requests int) (RedisBenchResult, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return RedisBenchResult{}, err
	}
	cmd := exec.CommandContext(ctx, "redis-benchmark", "-h", host, "-p", port, "-t", "incr",
		"-c", strconv.Itoa(conns), "-n", strconv.Itoa(requests), "--csv")
	out, err := cmd.Output()
	if err != nil {
		return RedisBenchResult{}, fmt.Errorf("redis-benchmark: %w\n%s", err, out)
	}
	result, err := parseRedisBenchmarkCSV(string(out))
	result.Conns, result.Requests = conns, requests
	return result, err
}

// parseRedisBenchmarkCSV reads the INCR line of `redis-benchmark --csv`:
//
//	"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
//	"INCR","45000.00","1.0","0.1","0.5","1.5","2.0","9.0"
func parseRedisBenchmarkCSV(out string) (RedisBenchResult, error) {
	records, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		return RedisBenchResult{}, fmt.Errorf("reading redis-benchmark's CSV: %w", err)
	}
	if len(records) < 2 {
		return RedisBenchResult{}, fmt.Errorf("redis-benchmark printed no result:\n%s", out)
	}
	column := map[string]int{}
	for i, name := range records[0] {
		column[name] = i
	}
	for _, record := range records[1:] {
		if record[0] != "INCR" {
			continue
		}
		var values [3]float64
		for i, name := range []string{"rps", "p50_latency_ms", "p99_latency_ms"} {
			c, ok := column[name]
			if !ok || c >= len(record) {
				return RedisBenchResult{}, fmt.Errorf("redis-benchmark's CSV has no %s column:\n%s", name, out)
			}
			if values[i], err = strconv.ParseFloat(record[c], 64); err != nil {
				return RedisBenchResult{}, fmt.Errorf("redis-benchmark's %s %q: %w", name, record[c], err)
			}
		}
		return RedisBenchResult{
			Rate: values[0],
			P50:  time.Duration(values[1] * float64(time.Millisecond)),
			P99:  time.Duration(values[2] * float64(time.Millisecond)),
		}, nil
	}
	return RedisBenchResult{}, fmt.Errorf("redis-benchmark printed no INCR result:\n%s", out)
}
