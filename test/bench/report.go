package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"pingpong/test/harness"
)

// The targets the service is held to. The Flask figure is the original
// workshop's, measured once on a 2-core machine with 50 connections: it
// cannot be rerun here, so it is a constant.
const (
	flaskRate       = 1700 // req/s of Flask + gunicorn (4 workers) + Redis
	targetVsFlask   = 25   // times flaskRate, at targetConns
	targetVsRedis   = 0.8  // times redis-benchmark INCR, at targetConns
	targetConns     = 50
	targetP99       = 5 * time.Millisecond // at targetConns
	targetRSS       = 30_000_000           // bytes, peak, under load
	targetReadyTime = 100 * time.Millisecond
)

// Report is everything one run measured.
type Report struct {
	Date     time.Time
	Duration time.Duration // per level
	LogLevel string
	Machine  Machine
	Levels   []Level
	PeakRSS  int64           // bytes
	Ready    []time.Duration // one per start, sorted
	Image    ImageInfo
}

// Machine is what the numbers were measured on.
type Machine struct {
	CPUs                  int
	CPUModel              string
	Go, Redis             string
	LoadBefore, LoadAfter string
	Pinning               string // which CPUs ran what
}

// busy reports whether more was running than the machine has CPUs for
// when the benchmark started (the 1-minute load average). The load after
// the run says little: it includes the benchmark's own.
func (m Machine) busy() bool {
	fields := strings.Fields(m.LoadBefore)
	if len(fields) == 0 {
		return false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	return err == nil && v > float64(m.CPUs)
}

// busyOthers is the share of the machine that other programs may take
// before the report says the figures are depressed by them: a quarter of
// a core, more than a desktop's background work.
const busyOthers = 0.25

// othersCores is the most CPU, in cores, that other programs used during
// any level.
func (r Report) othersCores() float64 {
	most := 0.0
	for _, l := range r.Levels {
		if l.Load.Elapsed > 0 {
			most = max(most, l.OtherCPU.Seconds()/l.Load.Elapsed.Seconds())
		}
	}
	return most
}

// ImageInfo is the v3 image's size, or why it is unknown.
type ImageInfo struct {
	Bytes int64
	Note  string
}

// Level is one concurrency level: the service, and Redis alone.
type Level struct {
	Load  harness.LoadResult
	Exact Exactness
	// CPU time used while /ping was driven, by the service, by Redis, by
	// this program's load generator, and by everything else: on a small
	// machine they all share the cores.
	AppCPU, RedisCPU, ClientCPU, OtherCPU time.Duration
	RedisBench                            RedisBenchResult
	Incrbys                               int64 // INCRBY round trips the counter made for the pings
}

// PingsPerIncrby is how many pings one round trip to Redis served on average:
// 1 would be one round trip per ping.
func (l Level) PingsPerIncrby() float64 {
	if l.Incrbys == 0 {
		return 0
	}
	return float64(l.Exact.Successes) / float64(l.Incrbys)
}

// Ratio is /ping req/s ÷ redis-benchmark INCR ops/s.
func (l Level) Ratio() float64 {
	if l.RedisBench.Rate == 0 {
		return 0
	}
	return l.Load.Rate() / l.RedisBench.Rate
}

func (l Level) summary() string {
	s := fmt.Sprintf("%d conns: /ping %s req/s, p99 %s, %d errors, %s; redis-benchmark INCR %s ops/s (%.2f×)",
		l.Load.Conns, thousands(l.Load.Rate()), ms(percentile(l.Load.Latencies, 99)), l.Load.Errors,
		l.Exact.describe(), thousands(l.RedisBench.Rate), l.Ratio())
	if l.Load.FirstErr != nil {
		s += "; first error: " + l.Load.FirstErr.Error()
	}
	return s
}

// describe says in a few words whether the counts were exact, and if not how.
func (e Exactness) describe() string {
	if e.Exact() {
		return fmt.Sprintf("exact (%d pings, Redis +%d)", e.Successes, e.Counted)
	}
	return fmt.Sprintf("NOT exact: %d answered, Redis +%d, %d missing, %d duplicated, %d out of range",
		e.Successes, e.Counted, e.Missing, e.Duplicates, e.OutOfRange)
}

func (r Report) readyMedian() time.Duration {
	if len(r.Ready) == 0 {
		return 0
	}
	return r.Ready[(len(r.Ready)-1)/2]
}

func (r Report) level(conns int) (Level, bool) {
	for _, l := range r.Levels {
		if l.Load.Conns == conns {
			return l, true
		}
	}
	return Level{}, false
}

// Target is one of the service's goals and whether this run met it.
type Target struct {
	Goal, Measured string
	Met            bool
	Measurable     bool
}

func (t Target) result() string {
	switch {
	case !t.Measurable:
		return "not measured"
	case t.Met:
		return "pass"
	default:
		return "**fail**"
	}
}

// Targets checks the run against the goals the benchmark exists for.
func (r Report) Targets() []Target {
	var targets []Target
	at, ok := r.level(targetConns)
	atGoal := func(goal string) string { return fmt.Sprintf(goal+" at %d connections", targetConns) }
	targets = append(targets,
		Target{
			Goal:       atGoal(fmt.Sprintf("/ping ≥ %.1f × redis-benchmark INCR", targetVsRedis)),
			Measured:   fmt.Sprintf("%.2f×", at.Ratio()),
			Met:        at.Ratio() >= targetVsRedis,
			Measurable: ok,
		},
		Target{
			Goal:       atGoal(fmt.Sprintf("/ping ≥ %d × Flask's %s req/s = %s req/s", targetVsFlask, thousands(flaskRate), thousands(targetVsFlask*flaskRate))),
			Measured:   fmt.Sprintf("%s req/s (%.1f×)", thousands(at.Load.Rate()), at.Load.Rate()/flaskRate),
			Met:        at.Load.Rate() >= targetVsFlask*flaskRate,
			Measurable: ok,
		},
		Target{
			Goal:       atGoal("p99 ≤ " + ms(targetP99)),
			Measured:   ms(percentile(at.Load.Latencies, 99)),
			Met:        percentile(at.Load.Latencies, 99) <= targetP99,
			Measurable: ok && len(at.Load.Latencies) > 0,
		},
	)
	errs, wrong := 0, 0
	for _, l := range r.Levels {
		errs += l.Load.Errors
		if !l.Exact.Exact() {
			wrong++
		}
	}
	targets = append(targets,
		Target{Goal: "no errors, at every level", Measured: strconv.Itoa(errs), Met: errs == 0, Measurable: len(r.Levels) > 0},
		Target{
			Goal:       "0 lost or duplicated counts, at every level",
			Measured:   fmt.Sprintf("%d of %d levels inexact", wrong, len(r.Levels)),
			Met:        wrong == 0,
			Measurable: len(r.Levels) > 0,
		},
		Target{
			Goal:       fmt.Sprintf("service peak RSS ≤ %s under load", megabytes(targetRSS)),
			Measured:   megabytes(r.PeakRSS),
			Met:        r.PeakRSS <= targetRSS,
			Measurable: r.PeakRSS > 0,
		},
		Target{
			Goal:       "ready ≤ " + ms(targetReadyTime) + " after the process starts",
			Measured:   fmt.Sprintf("%s (median of %d starts; slowest %s)", ms(r.readyMedian()), len(r.Ready), ms(r.slowestReady())),
			Met:        r.slowestReady() <= targetReadyTime,
			Measurable: len(r.Ready) > 0,
		},
	)
	return targets
}

func (r Report) slowestReady() time.Duration {
	if len(r.Ready) == 0 {
		return 0
	}
	return r.Ready[len(r.Ready)-1]
}

// Markdown is the report as the README shows it; chart is the PNG's file
// name, beside the markdown file.
func (r Report) Markdown(chart string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmark: latest results\n\n")
	fmt.Fprintf(&b, "`make bench` on %s: GET /ping on the v3 service (built with `-trimpath -ldflags \"-s -w\"`, LOG_LEVEL=%s) "+
		"and `redis-benchmark -t incr` against the same redis-server %s, over loopback, %s per level.\n\n",
		r.Date.Format("2006-01-02 15:04 UTC"), r.LogLevel, r.Machine.Redis, r.Duration)

	b.WriteString("| connections | /ping req/s | p50 | p90 | p99 | errors | counts | redis-benchmark INCR ops/s | INCR p50 | INCR p99 | /ping ÷ INCR | pings per INCRBY | cores used: service / Redis / load generator / other programs |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range r.Levels {
		counts := fmt.Sprintf("exact: %s, all distinct", thousands(float64(l.Exact.Successes)))
		if !l.Exact.Exact() {
			counts = fmt.Sprintf("**%d missing, %d duplicated, %d out of range**", l.Exact.Missing, l.Exact.Duplicates, l.Exact.OutOfRange)
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %d | %s | %s | %s | %s | %.2f× | %.1f | %s / %s / %s / %s |\n",
			l.Load.Conns, thousands(l.Load.Rate()),
			ms(percentile(l.Load.Latencies, 50)), ms(percentile(l.Load.Latencies, 90)), ms(percentile(l.Load.Latencies, 99)),
			l.Load.Errors, counts,
			thousands(l.RedisBench.Rate), ms(l.RedisBench.P50), ms(l.RedisBench.P99), l.Ratio(), l.PingsPerIncrby(),
			cores(l.AppCPU, l.Load.Elapsed), cores(l.RedisCPU, l.Load.Elapsed), cores(l.ClientCPU, l.Load.Elapsed), cores(l.OtherCPU, l.Load.Elapsed))
	}

	b.WriteString("\n| target | measured | result |\n|---|---|---|\n")
	for _, t := range r.Targets() {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Goal, t.Measured, t.result())
	}

	image := "n/a: " + r.Image.Note
	if r.Image.Note == "" {
		image = megabytes(r.Image.Bytes)
	}
	fmt.Fprintf(&b, "\nImage `pingpong:v3`: %s.\n\n", image)
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), shared by the service, Redis and the load generator; "+
		"load average %s before and %s after (1, 5, 15 min); %s.\n\n",
		r.Machine.CPUs, r.Machine.CPUModel, r.Machine.LoadBefore, r.Machine.LoadAfter, r.Machine.Go)
	fmt.Fprintf(&b, "CPUs: %s.\n\n", r.Machine.Pinning)
	if others := r.othersCores(); r.Machine.busy() || others > busyOthers {
		fmt.Fprintf(&b, "**Other programs were using the machine**: a load average of %s (1, 5, 15 min) at the start on %d CPUs, "+
			"and up to %.2f cores taken by others while /ping was driven. The service, Redis and the load generator "+
			"got only part of the machine, so the rates are lower and the latencies higher than on an idle one.\n\n",
			r.Machine.LoadBefore, r.Machine.CPUs, others)
	}
	fmt.Fprintf(&b, "![/ping and redis-benchmark INCR per second, by connections](%s)\n", chart)
	return b.String()
}

// ms formats a latency in milliseconds, to the hundredth below 10 ms.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	if v < 10 {
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// megabytes formats bytes in MB (10⁶ bytes), the unit of the targets.
func megabytes(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// cores is CPU time as a share of elapsed time: 1.0 is one core kept busy.
func cores(cpu, elapsed time.Duration) string {
	if elapsed <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", cpu.Seconds()/elapsed.Seconds())
}

// thousands rounds v and groups its digits by three: 41234.6 → "41,235".
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, digit := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(digit)
	}
	return b.String()
}
