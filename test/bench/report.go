package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"pingpong/test/harness"
)

// The targets the service is held to. Each performance target is a ratio to
// a reference server measured in the same run, on the same CPUs, so that it
// means the same on a laptop as on a server.
const (
	targetConns      = 50
	targetVsPeer     = 1.25 // /ping req/s ÷ the peer's, at targetConns
	targetRedisAt50  = 5    // pings per Redis CPU-second ÷ the peer's, at targetConns
	targetRedisConns = 200
	targetRedisAt200 = 10                   // the same, at targetRedisConns
	targetP99        = 5 * time.Millisecond // at targetConns
	targetRSS        = 30_000_000           // bytes, peak, under load
	targetReadyTime  = 100 * time.Millisecond
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
		for _, run := range []Run{l.Service, l.Peer, l.Ceiling} {
			if run.Load.Elapsed > 0 {
				most = max(most, run.OtherCPU.Seconds()/run.Load.Elapsed.Seconds())
			}
		}
	}
	return most
}

// ImageInfo is the v3 image's size, or why it is unknown.
type ImageInfo struct {
	Bytes int64
	Note  string
}

// Level is one concurrency level: the three servers, one after the other,
// the service and the peer again against a Redis with a replica, waiting for
// it, and Redis alone.
type Level struct {
	Conns                  int
	Service, Peer, Ceiling Run
	ServiceWait, PeerWait  Run // WAIT 1 per batch, WAIT 1 per ping
	RedisBench             RedisBenchResult
}

// Run is one server driven with GET /ping at one level.
type Run struct {
	Load   harness.LoadResult
	Counts bool      // the server answers counts: the service and the peer
	Exact  Exactness // of those counts; zero for the ceiling
	// CPU time used while /ping was driven, by the server, by Redis, by
	// this program's load generator, and by everything else: on a small
	// machine they all share the cores.
	AppCPU, RedisCPU, ClientCPU, OtherCPU time.Duration
	Incrbys                               int64 // the service's INCRBY round trips for the pings; 0 for the others
}

// answered is how many pings the server answered successfully.
func (r Run) answered() int { return len(r.Load.Latencies) }

// CPUPerPing is the server's CPU time per answered ping.
func (r Run) CPUPerPing() time.Duration {
	if r.answered() == 0 {
		return 0
	}
	return r.AppCPU / time.Duration(r.answered())
}

// PingsPerRedisSecond is how many pings one second of Redis's CPU served:
// the pings answered ÷ the CPU time Redis used meanwhile. 0 when Redis used
// none that could be measured.
func (r Run) PingsPerRedisSecond() float64 {
	if r.RedisCPU <= 0 {
		return 0
	}
	return float64(r.answered()) / r.RedisCPU.Seconds()
}

// ReplicasPerRedisCore is how many replicas like this one, each answering
// as many pings per second as this one did, one Redis core could serve:
// PingsPerRedisSecond ÷ this replica's req/s.
func (r Run) ReplicasPerRedisCore() float64 {
	if r.Load.Rate() == 0 {
		return 0
	}
	return r.PingsPerRedisSecond() / r.Load.Rate()
}

// PingsPerIncrby is how many pings one round trip to Redis served on average:
// 1 would be one round trip per ping.
func (r Run) PingsPerIncrby() float64 {
	if r.Incrbys == 0 {
		return 0
	}
	return float64(r.Exact.Successes) / float64(r.Incrbys)
}

func (r Run) summary() string {
	s := fmt.Sprintf("%s req/s, p99 %s, %d errors", thousands(r.Load.Rate()), ms(percentile(r.Load.Latencies, 99)), r.Load.Errors)
	if r.Counts {
		s += ", " + r.Exact.describe()
	}
	if r.Load.FirstErr != nil {
		s += "; first error: " + r.Load.FirstErr.Error()
	}
	return s
}

// ratio is a ÷ b, or 0 when b is 0: nothing was measured.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// VsPeer is /ping req/s ÷ the peer's.
func (l Level) VsPeer() float64 { return ratio(l.Service.Load.Rate(), l.Peer.Load.Rate()) }

// WaitVsPeer is the same as VsPeer with a replica to wait for: /ping with
// WAIT 1 per batch ÷ the peer with WAIT 1 per ping.
func (l Level) WaitVsPeer() float64 { return ratio(l.ServiceWait.Load.Rate(), l.PeerWait.Load.Rate()) }

// VsCeiling is /ping req/s ÷ the ceiling's.
func (l Level) VsCeiling() float64 { return ratio(l.Service.Load.Rate(), l.Ceiling.Load.Rate()) }

// VsIncr is /ping req/s ÷ redis-benchmark INCR ops/s.
func (l Level) VsIncr() float64 { return ratio(l.Service.Load.Rate(), l.RedisBench.Rate) }

// RedisVsPeer is the service's pings per Redis CPU-second ÷ the peer's: how
// many times further one Redis goes behind the service.
func (l Level) RedisVsPeer() float64 {
	return ratio(l.Service.PingsPerRedisSecond(), l.Peer.PingsPerRedisSecond())
}

func (l Level) summary() string {
	return fmt.Sprintf("redis-benchmark INCR %s ops/s; /ping ÷ peer %.2f×, ÷ ceiling %.2f×, ÷ INCR %.2f×; pings per Redis CPU-second %.1f× the peer's; with WAIT 1, /ping ÷ peer %.2f×",
		thousands(l.RedisBench.Rate), l.VsPeer(), l.VsCeiling(), l.VsIncr(), l.RedisVsPeer(), l.WaitVsPeer())
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
		if l.Conns == conns {
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
	at, ok := r.level(targetConns)
	atGoal := func(goal string, conns int) string { return fmt.Sprintf("%s at %d connections", goal, conns) }
	redisTarget := func(conns int, times float64) Target {
		l, ok := r.level(conns)
		return Target{
			Goal: atGoal(fmt.Sprintf("pings per Redis CPU-second ≥ %g × the peer's", times), conns),
			Measured: fmt.Sprintf("%.1f× (%s vs %s)", l.RedisVsPeer(),
				thousands(l.Service.PingsPerRedisSecond()), thousands(l.Peer.PingsPerRedisSecond())),
			Met:        l.RedisVsPeer() >= times,
			Measurable: ok && l.Service.RedisCPU > 0 && l.Peer.RedisCPU > 0,
		}
	}
	targets := []Target{
		{
			Goal:       atGoal(fmt.Sprintf("/ping ≥ %g × the peer's req/s", targetVsPeer), targetConns),
			Measured:   fmt.Sprintf("%.2f× (%s vs %s req/s)", at.VsPeer(), thousands(at.Service.Load.Rate()), thousands(at.Peer.Load.Rate())),
			Met:        at.VsPeer() >= targetVsPeer,
			Measurable: ok && at.Peer.Load.Rate() > 0,
		},
		redisTarget(targetConns, targetRedisAt50),
		redisTarget(targetRedisConns, targetRedisAt200),
		{
			Goal:       atGoal("/ping p99 ≤ "+ms(targetP99), targetConns),
			Measured:   ms(percentile(at.Service.Load.Latencies, 99)),
			Met:        percentile(at.Service.Load.Latencies, 99) <= targetP99,
			Measurable: ok && len(at.Service.Load.Latencies) > 0,
		},
	}
	var errs [3]int
	var lost [2]int // levels with a count lost or repeated, as make bench fails on them
	for _, l := range r.Levels {
		for i, run := range []Run{l.Service, l.Peer, l.Ceiling} {
			errs[i] += run.Load.Errors
		}
		for i, run := range []Run{l.Service, l.Peer} {
			if run.Exact.LostOrRepeated(run.Load.Errors) {
				lost[i]++
			}
		}
	}
	targets = append(targets,
		Target{
			Goal:       "no errors, at every level, from the service, the peer or the ceiling",
			Measured:   fmt.Sprintf("%d / %d / %d", errs[0], errs[1], errs[2]),
			Met:        errs == [3]int{},
			Measurable: len(r.Levels) > 0,
		},
		Target{
			Goal:       "0 lost or duplicated counts, at every level, from the service or the peer",
			Measured:   fmt.Sprintf("%d / %d of %d levels with a count lost or repeated", lost[0], lost[1], len(r.Levels)),
			Met:        lost == [2]int{},
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
	fmt.Fprintf(&b, "`make bench` on %s: GET /ping on three servers, one after the other, each alone on the same CPU and against the same redis-server %s, "+
		"over loopback, %s per server per level: the v3 service (built with `-trimpath -ldflags \"-s -w\"`, LOG_LEVEL=%s); "+
		"the peer, net/http + go-redis with one INCR per ping (test/bench/peer); and the ceiling, net/http answering `pong` without Redis (test/bench/ceiling). "+
		"Then the service and the peer again, against a master with one replica and a Sentinel: the service asks the Sentinel for the master "+
		"and waits for the replica with one WAIT 1 per batch, the peer with one WAIT 1 per ping, so the price of synchronous replication "+
		"shows with and without coalescing (their Redis CPU is the master's). "+
		"Then `redis-benchmark -t incr` against the first Redis.\n\n",
		r.Date.Format("2006-01-02 15:04 UTC"), r.Machine.Redis, r.Duration, r.LogLevel)

	b.WriteString("| connections | server | req/s | p50 | p90 | p99 | errors | counts | cores used: server / Redis / load generator / other programs |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|---|---:|\n")
	for _, l := range r.Levels {
		for _, row := range []struct {
			name string
			run  Run
		}{{"/ping (v3)", l.Service}, {"peer", l.Peer}, {"ceiling", l.Ceiling},
			{"/ping (v3), Sentinel, WAIT 1 per batch", l.ServiceWait}, {"peer, INCR + WAIT 1 per ping", l.PeerWait}} {
			ru := row.run
			counts := "– (answers `pong`)"
			switch {
			case ru.Counts && ru.Exact.Exact():
				counts = fmt.Sprintf("exact: %s, all distinct", thousands(float64(ru.Exact.Successes)))
			case ru.Counts && !ru.Exact.LostOrRepeated(ru.Load.Errors):
				counts = fmt.Sprintf("%s, all distinct; %d skipped by failed pings", thousands(float64(ru.Exact.Successes)), ru.Exact.Missing)
			case ru.Counts:
				counts = fmt.Sprintf("**%d missing, %d duplicated, %d out of range**", ru.Exact.Missing, ru.Exact.Duplicates, ru.Exact.OutOfRange)
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %d | %s | %s / %s / %s / %s |\n",
				l.Conns, row.name, thousands(ru.Load.Rate()),
				ms(percentile(ru.Load.Latencies, 50)), ms(percentile(ru.Load.Latencies, 90)), ms(percentile(ru.Load.Latencies, 99)),
				ru.Load.Errors, counts,
				cores(ru.AppCPU, ru.Load.Elapsed), cores(ru.RedisCPU, ru.Load.Elapsed), cores(ru.ClientCPU, ru.Load.Elapsed), cores(ru.OtherCPU, ru.Load.Elapsed))
		}
		fmt.Fprintf(&b, "| %d | redis-benchmark INCR | %s | %s | – | %s | – | – | – |\n",
			l.Conns, thousands(l.RedisBench.Rate), ms(l.RedisBench.P50), ms(l.RedisBench.P99))
	}

	b.WriteString("\n| connections | /ping ÷ peer | /ping ÷ ceiling | /ping ÷ INCR | pings per INCRBY | server CPU per ping: /ping / peer / ceiling | with WAIT 1: /ping ÷ peer | with WAIT 1: /ping ÷ without |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range r.Levels {
		fmt.Fprintf(&b, "| %d | %.2f× | %.2f× | %.2f× | %.1f | %s / %s / %s | %.2f× | %.2f× |\n",
			l.Conns, l.VsPeer(), l.VsCeiling(), l.VsIncr(), l.Service.PingsPerIncrby(),
			micros(l.Service.CPUPerPing()), micros(l.Peer.CPUPerPing()), micros(l.Ceiling.CPUPerPing()),
			l.WaitVsPeer(), ratio(l.ServiceWait.Load.Rate(), l.Service.Load.Rate()))
	}

	b.WriteString("\n| connections | pings per Redis CPU-second: /ping | peer | /ping ÷ peer | replicas one Redis core serves: /ping | peer |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range r.Levels {
		fmt.Fprintf(&b, "| %d | %s | %s | %.1f× | %s | %s |\n",
			l.Conns, thousands(l.Service.PingsPerRedisSecond()), thousands(l.Peer.PingsPerRedisSecond()), l.RedisVsPeer(),
			replicas(l.Service.ReplicasPerRedisCore()), replicas(l.Peer.ReplicasPerRedisCore()))
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
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), shared by the servers, Redis and the load generator; "+
		"load average %s before and %s after (1, 5, 15 min); %s.\n\n",
		r.Machine.CPUs, r.Machine.CPUModel, r.Machine.LoadBefore, r.Machine.LoadAfter, r.Machine.Go)
	fmt.Fprintf(&b, "CPUs: %s.\n\n", r.Machine.Pinning)
	if others := r.othersCores(); r.Machine.busy() || others > busyOthers {
		fmt.Fprintf(&b, "**Other programs were using the machine**: a load average of %s (1, 5, 15 min) at the start on %d CPUs, "+
			"and up to %.2f cores taken by others while /ping was driven. The servers, Redis and the load generator "+
			"got only part of the machine, so the rates are lower and the latencies higher than on an idle one.\n\n",
			r.Machine.LoadBefore, r.Machine.CPUs, others)
	}
	fmt.Fprintf(&b, "![GET /ping on the ceiling, the v3 service and the peer, and redis-benchmark INCR, per second, by connections](%s)\n", chart)
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

// micros formats a CPU time per ping in microseconds.
func micros(d time.Duration) string {
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}

// replicas formats a number of replicas: whole above 10, to the tenth below.
func replicas(n float64) string {
	if n >= 10 {
		return thousands(n)
	}
	return fmt.Sprintf("%.1f", n)
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
