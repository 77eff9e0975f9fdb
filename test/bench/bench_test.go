package main

import (
	"bufio"
	"slices"
	"strings"
	"testing"
	"time"

	"pingpong/test/harness"
)

func TestPercentile(t *testing.T) {
	ten := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value is every percentile", []time.Duration{7}, 99, 7},
		{"median of ten is the fifth", ten, 50, 5},
		{"p90 of ten is the ninth", ten, 90, 9},
		{"p99 of ten is the largest", ten, 99, 10},
		{"p100 is the largest", ten, 100, 10},
		{"a tiny p is the smallest", ten, 0.1, 1},
		{"p50 of an odd count is the middle", []time.Duration{1, 2, 3}, 50, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

func TestCheckExact(t *testing.T) {
	for _, tc := range []struct {
		name          string
		counts        []int64
		before, after int64
		want          Exactness
		exact         bool
	}{
		{"every count once, in any order", []int64{13, 11, 12}, 10, 13, Exactness{Successes: 3, Counted: 3}, true},
		{"nothing happened", nil, 5, 5, Exactness{}, true},
		{"a count handed out twice", []int64{11, 12, 12}, 10, 13, Exactness{Successes: 3, Counted: 3, Duplicates: 1, Missing: 1}, false},
		{"Redis counted a ping nobody got", []int64{11, 12}, 10, 13, Exactness{Successes: 2, Counted: 3, Missing: 1}, false},
		{"a count Redis never gave", []int64{11, 12, 99}, 10, 12, Exactness{Successes: 3, Counted: 2, OutOfRange: 1}, false},
		{"a count from before the run", []int64{10, 11}, 10, 12, Exactness{Successes: 2, Counted: 2, OutOfRange: 1, Missing: 1}, false},
		{"a duplicate out of range counts once, as a duplicate", []int64{11, 99, 99}, 10, 11, Exactness{Successes: 3, Counted: 1, Duplicates: 1, OutOfRange: 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := checkExact(tc.counts, tc.before, tc.after)
			if got != tc.want || got.Exact() != tc.exact {
				t.Errorf("checkExact(%v, %d, %d) = %+v (exact %v), want %+v (exact %v)",
					tc.counts, tc.before, tc.after, got, got.Exact(), tc.want, tc.exact)
			}
		})
	}
}

func TestParseRedisBenchmarkCSV(t *testing.T) {
	out := `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"INCR","22291.57","1.415","0.184","0.951","4.207","5.951","53.791"
`
	got, err := parseRedisBenchmarkCSV(out)
	if err != nil {
		t.Fatal(err)
	}
	want := RedisBenchResult{Rate: 22291.57, P50: 951 * time.Microsecond, P99: 5951 * time.Microsecond}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "\"test\",\"rps\"\n", "\"test\",\"rps\"\n\"SET\",\"1\"\n", "ERROR: connection refused\n"} {
		if _, err := parseRedisBenchmarkCSV(bad); err == nil {
			t.Errorf("parseRedisBenchmarkCSV(%q) succeeded", bad)
		}
	}
}

func TestParseRESPInteger(t *testing.T) {
	for _, tc := range []struct {
		raw     string
		want    int64
		wantErr bool
	}{
		{"$3\r\n123\r\n", 123, false},
		{"$-1\r\n", 0, false},
		{"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", 0, true},
		{"$5\r\nhello\r\n", 0, true},
		{":5\r\n", 0, true},
	} {
		got, err := parseRESPInteger(bufio.NewReader(strings.NewReader(tc.raw)))
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("parseRESPInteger(%q) = %d, %v; want %d, error %v", tc.raw, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseVmHWM(t *testing.T) {
	status := "Name:\tpingpong\nVmPeak:\t 1261932 kB\nVmHWM:\t   21480 kB\nVmRSS:\t   20012 kB\n"
	if got, err := parseVmHWM([]byte(status)); err != nil || got != 21480*1024 {
		t.Errorf("parseVmHWM = %d, %v; want %d", got, err, 21480*1024)
	}
	if _, err := parseVmHWM([]byte("Name:\tpingpong\n")); err == nil {
		t.Error("parseVmHWM found a peak in a status without one")
	}
}

func TestAllowedCPUs(t *testing.T) {
	for _, tc := range []struct {
		list    string
		want    []int
		wantErr bool
	}{
		{list: "0-1", want: []int{0, 1}},
		{list: "3", want: []int{3}},
		{list: "0,2-3,8", want: []int{0, 2, 3, 8}},
		{list: "1-0", wantErr: true},
		{list: "a-b", wantErr: true},
	} {
		status := "Name:\tbench\nCpus_allowed:\tff\nCpus_allowed_list:\t" + tc.list + "\nMems_allowed:\t1\n"
		got, err := allowedCPUs([]byte(status))
		if !slices.Equal(got, tc.want) || (err != nil) != tc.wantErr {
			t.Errorf("allowedCPUs(%q) = %v, %v; want %v, error %v", tc.list, got, err, tc.want, tc.wantErr)
		}
	}
	if _, err := allowedCPUs([]byte("Name:\tbench\n")); err == nil {
		t.Error("allowedCPUs found CPUs in a status without a Cpus_allowed_list line")
	}
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999.4: "999", 999.5: "1,000", 42500: "42,500", 1234567: "1,234,567"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
}

// madeUpRun is a made-up Run: pings answered in one second, each in p99, with
// Redis using redisCPU meanwhile.
func madeUpRun(pings int, p99, redisCPU time.Duration, errors int, exact bool) Run {
	r := Run{
		Load:     harness.LoadResult{Conns: targetConns, Elapsed: time.Second, Errors: errors, Counts: make([]int64, pings), Latencies: make([]time.Duration, pings)},
		Counts:   true,
		Exact:    Exactness{Successes: pings, Counted: int64(pings)},
		RedisCPU: redisCPU,
	}
	for i := range r.Load.Latencies {
		r.Load.Latencies[i] = p99
	}
	if !exact {
		r.Exact.Duplicates = 1
	}
	return r
}

// TestTargets checks the pass/fail verdicts against hand-made reports, one
// just inside and one just outside every target. The durations are powers
// of two of a second, so that the ratios are exact in floating point.
func TestTargets(t *testing.T) {
	const peerRate = 10_000
	level := func(conns int, vsPeer float64, redisTimes float64, p99 time.Duration, errors int, exact bool) Level {
		// The peer: peerRate pings on one second of Redis. The service:
		// vsPeer times as many pings, on the Redis CPU that makes its
		// pings per Redis CPU-second redisTimes the peer's.
		pings := int(vsPeer * peerRate)
		redisCPU := time.Duration(float64(pings) / (redisTimes * peerRate) * float64(time.Second))
		ceiling := madeUpRun(2*pings, time.Millisecond, 0, errors, true)
		ceiling.Counts, ceiling.Exact = false, Exactness{}
		return Level{
			Conns:   conns,
			Service: madeUpRun(pings, p99, redisCPU, errors, exact),
			Peer:    madeUpRun(peerRate, p99, time.Second, errors, exact),
			Ceiling: ceiling,
		}
	}
	good := Report{
		Levels: []Level{
			level(targetConns, targetVsPeer, targetRedisAt50, targetP99, 0, true),
			level(targetRedisConns, targetVsPeer, targetRedisAt200, targetP99, 0, true),
		},
		PeakRSS: targetRSS,
		Ready:   []time.Duration{targetReadyTime / 2, targetReadyTime},
	}
	bad := Report{
		Levels: []Level{
			level(targetConns, targetVsPeer-0.0001, targetRedisAt50*0.999, targetP99+time.Microsecond, 1, false),
			level(targetRedisConns, targetVsPeer, targetRedisAt200*0.999, targetP99, 1, false),
		},
		PeakRSS: targetRSS + 1,
		Ready:   []time.Duration{targetReadyTime / 2, targetReadyTime + time.Millisecond},
	}
	if got := good.Levels[0].VsPeer(); got != targetVsPeer {
		t.Fatalf("the just-inside report has /ping ÷ peer = %v, not exactly %v", got, targetVsPeer)
	}
	for i, want := range []float64{targetRedisAt50, targetRedisAt200} {
		if got := good.Levels[i].RedisVsPeer(); got != want {
			t.Fatalf("the just-inside report has pings per Redis CPU-second %v × the peer's, not exactly %v", got, want)
		}
	}
	for _, tc := range []struct {
		name   string
		report Report
		met    bool
	}{{"just inside", good, true}, {"just outside", bad, false}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, target := range tc.report.Targets() {
				if !target.Measurable || target.Met != tc.met {
					t.Errorf("%s: measured %s, met = %v (measurable %v), want %v", target.Goal, target.Measured, target.Met, target.Measurable, tc.met)
				}
			}
		})
	}

	// Each server's errors and each counter's exactness count: one error
	// from the ceiling alone, or one repeated count from the peer alone,
	// fails its target.
	verdict := func(r Report, goal string) Target {
		for _, target := range r.Targets() {
			if strings.HasPrefix(target.Goal, goal) {
				return target
			}
		}
		t.Fatalf("no target %q", goal)
		return Target{}
	}
	ceilingErr := good
	ceilingErr.Levels = slices.Clone(good.Levels)
	ceilingErr.Levels[1].Ceiling.Load.Errors = 1
	if target := verdict(ceilingErr, "no errors"); target.Met {
		t.Errorf("one error from the ceiling: %s: %s passes", target.Goal, target.Measured)
	}
	peerRepeats := good
	peerRepeats.Levels = slices.Clone(good.Levels)
	peerRepeats.Levels[0].Peer.Exact.Duplicates = 1
	if target := verdict(peerRepeats, "0 lost or duplicated"); target.Met {
		t.Errorf("a repeated count from the peer: %s: %s passes", target.Goal, target.Measured)
	}

	// Without the levels, or without Redis CPU to divide by, a target is
	// not measured rather than failed or passed.
	for _, target := range (Report{}).Targets() {
		if target.Measurable {
			t.Errorf("an empty report measured %q: %s", target.Goal, target.Measured)
		}
	}
	noRedisCPU := good
	noRedisCPU.Levels = slices.Clone(good.Levels)
	noRedisCPU.Levels[0].Peer.RedisCPU = 0
	if target := verdict(noRedisCPU, "pings per Redis CPU-second"); target.Measurable {
		t.Errorf("with no Redis CPU measured for the peer, %s was measured: %s", target.Goal, target.Measured)
	}
}

// TestRunFigures checks the per-ping figures on a made-up run: 10,000 pings
// in one second, on half a second of the server's CPU and a quarter of a
// second of Redis's.
func TestRunFigures(t *testing.T) {
	r := madeUpRun(10_000, time.Millisecond, time.Second/4, 0, true)
	r.AppCPU = time.Second / 2
	r.Incrbys = 500
	if got, want := r.CPUPerPing(), 50*time.Microsecond; got != want {
		t.Errorf("CPU per ping = %v, want %v", got, want)
	}
	if got, want := r.PingsPerRedisSecond(), 40_000.0; got != want {
		t.Errorf("pings per Redis CPU-second = %v, want %v", got, want)
	}
	// Redis was a quarter busy for one replica: one Redis core serves four.
	if got, want := r.ReplicasPerRedisCore(), 4.0; got != want {
		t.Errorf("replicas per Redis core = %v, want %v", got, want)
	}
	if got, want := r.PingsPerIncrby(), 20.0; got != want {
		t.Errorf("pings per INCRBY = %v, want %v", got, want)
	}
	var idle Run
	if idle.CPUPerPing() != 0 || idle.PingsPerRedisSecond() != 0 || idle.ReplicasPerRedisCore() != 0 {
		t.Errorf("a run with nothing measured has figures: %v, %v, %v", idle.CPUPerPing(), idle.PingsPerRedisSecond(), idle.ReplicasPerRedisCore())
	}
}

func TestParseInfoCPU(t *testing.T) {
	info := "# CPU\r\nused_cpu_sys:1.250000\r\nused_cpu_user:0.500000\r\nused_cpu_sys_children:9.000000\r\n" +
		"used_cpu_user_children:9.000000\r\nused_cpu_sys_main_thread:1.000000\r\nused_cpu_user_main_thread:0.400000\r\n"
	if got, err := parseInfoCPU(info); err != nil || got != 1750*time.Millisecond {
		t.Errorf("parseInfoCPU = %v, %v; want 1.75s", got, err)
	}
	if _, err := parseInfoCPU("# CPU\r\nused_cpu_sys:1.250000\r\n"); err == nil {
		t.Error("parseInfoCPU added up an INFO without used_cpu_user")
	}
	for _, tc := range []struct {
		raw     string
		want    string
		wantErr bool
	}{
		{"$5\r\nhello\r\n", "hello", false},
		{"$0\r\n\r\n", "", false},
		{"-ERR unknown command\r\n", "", true},
		{":5\r\n", "", true},
		{"$10\r\nshort\r\n", "", true},
	} {
		got, err := readRESPBulk(bufio.NewReader(strings.NewReader(tc.raw)))
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("readRESPBulk(%q) = %q, %v; want %q, error %v", tc.raw, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestMachineBusy(t *testing.T) {
	for _, tc := range []struct {
		before, after string
		busy          bool
	}{
		{"0.50 0.40 0.30", "1.90 0.80 0.40", false},
		{"2.50 0.40 0.30", "0.10 0.10 0.10", true},
		{"0.10 0.10 0.10", "3.00 1.00 0.50", false}, // the benchmark's own load
		{"unknown", "unknown", false},
	} {
		m := Machine{CPUs: 2, LoadBefore: tc.before, LoadAfter: tc.after}
		if got := m.busy(); got != tc.busy {
			t.Errorf("busy() with load %q then %q on 2 CPUs = %v, want %v", tc.before, tc.after, got, tc.busy)
		}
	}
}

func TestParseBusyTime(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	stat := "cpu  100 5 50 9000 40 1 2 30 0 0\ncpu0 50 2 25 4500 20 0 1 15 0 0\n"
	want := (100 + 5 + 50 + 1 + 2 + 30) * 10 * time.Millisecond
	if got, err := parseBusyTime([]byte(stat)); err != nil || got != want {
		t.Errorf("parseBusyTime = %v, %v; want %v", got, err, want)
	}
	if _, err := parseBusyTime([]byte("intr 1 2 3\n")); err == nil {
		t.Error("parseBusyTime read a line that is not the cpu line")
	}
}

// TestMarkdownShowsWhatWentWrong renders a run with a counting bug on a
// busy machine: the report must say so in words, not only in numbers.
func TestMarkdownShowsWhatWentWrong(t *testing.T) {
	broken := Run{
		Load:     harness.LoadResult{Conns: 50, Elapsed: time.Second, Counts: []int64{1, 2, 2}, Latencies: []time.Duration{1, 1, time.Millisecond}},
		Counts:   true,
		Exact:    checkExact([]int64{1, 2, 2}, 0, 3),
		OtherCPU: time.Second,
		AppCPU:   30 * time.Millisecond,
		RedisCPU: 3 * time.Millisecond,
	}
	peer := madeUpRun(2, time.Millisecond, 4*time.Millisecond, 0, true)
	ceiling := Run{Load: harness.LoadResult{Conns: 50, Elapsed: time.Second, Errors: 2, Latencies: []time.Duration{1, 1, 1, 1, 1, 1}}}
	level := Level{Conns: 50, Service: broken, Peer: peer, Ceiling: ceiling, RedisBench: RedisBenchResult{Rate: 10}}
	md := Report{
		Duration: time.Second,
		Machine:  Machine{CPUs: 2, LoadBefore: "0.10 0.10 0.10"},
		Levels:   []Level{level},
		Image:    ImageInfo{Note: "DOCKER_HOST is not set"},
	}.Markdown("chart.png")
	for _, want := range []string{
		"| 50 | /ping (v3) | 3 |",
		"**1 missing, 1 duplicated, 0 out of range**",
		"| 50 | peer | 2 |",
		"| 50 | ceiling | 6 | 0.00 ms | 0.00 ms | 0.00 ms | 2 | – (answers `pong`) |",
		"| 50 | redis-benchmark INCR | 10 |",
		"| 50 | 1.50× | 0.50× | 0.30× |",          // ÷ peer, ÷ ceiling, ÷ INCR
		"| 10000.0 µs / 0.0 µs / 0.0 µs |",        // 30 ms of CPU for 3 pings
		"| 50 | 1,000 | 500 | 2.0× | 333 | 250 |", // 3 pings on 3 ms of Redis, 2 on 4 ms
		"| no errors, at every level, from the service, the peer or the ceiling | 0 / 0 / 2 | **fail** |",
		"| 0 lost or duplicated counts, at every level, from the service or the peer | 1 / 0 of 1 levels with a count lost or repeated | **fail** |",
		"Image `pingpong:v3`: n/a: DOCKER_HOST is not set.",
		"**Other programs were using the machine**",
		"up to 1.00 cores taken by others",
		"](chart.png)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
}

// TestMarkdownTellsAGapFromALostCount renders a level where a ping failed after its increment
// reached Redis (a number skipped: no answer holds it, the failed ping accounts for it) and one
// where a number is missing with no failed ping to account for it: the first is no lost count,
// the second is.
func TestMarkdownTellsAGapFromALostCount(t *testing.T) {
	for _, tc := range []struct {
		name   string
		errors int
		want   []string
	}{
		{"a failed ping accounts for the gap", 1, []string{
			"| 1 | 2, all distinct; 1 skipped by failed pings |",
			"| 0 lost or duplicated counts, at every level, from the service or the peer | 0 / 0 of 1 levels with a count lost or repeated | pass |",
		}},
		{"no failed ping accounts for it", 0, []string{
			"| 0 | **1 missing, 0 duplicated, 0 out of range** |",
			"| 0 lost or duplicated counts, at every level, from the service or the peer | 1 / 0 of 1 levels with a count lost or repeated | **fail** |",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Redis counted 3; the pings that succeeded hold 11 and 13.
			service := madeUpRun(2, time.Millisecond, time.Millisecond, tc.errors, true)
			service.Load.Counts = []int64{11, 13}
			service.Exact = checkExact(service.Load.Counts, 10, 13)
			level := Level{Conns: 50, Service: service, Peer: madeUpRun(2, time.Millisecond, time.Millisecond, 0, true)}
			md := Report{Machine: Machine{CPUs: 2}, Levels: []Level{level}}.Markdown("chart.png")
			for _, want := range tc.want {
				if !strings.Contains(md, want) {
					t.Errorf("the report lacks %q:\n%s", want, md)
				}
			}
		})
	}
}

// TestMarkdownShowsTheReplicatedRows checks the rows and ratios of the
// service and the peer against a Redis with a replica, waiting for it.
func TestMarkdownShowsTheReplicatedRows(t *testing.T) {
	level := Level{
		Conns:       50,
		Service:     madeUpRun(8, time.Millisecond, time.Millisecond, 0, true),
		Peer:        madeUpRun(6, time.Millisecond, time.Millisecond, 0, true),
		ServiceWait: madeUpRun(4, 2*time.Millisecond, time.Millisecond, 0, true),
		PeerWait:    madeUpRun(2, 4*time.Millisecond, time.Millisecond, 0, false),
	}
	md := Report{Machine: Machine{CPUs: 2}, Levels: []Level{level}}.Markdown("chart.png")
	for _, want := range []string{
		"| 50 | /ping (v3), Sentinel, WAIT 1 per batch | 4 | 2.00 ms |",
		"| 50 | peer, INCR + WAIT 1 per ping | 2 | 4.00 ms |",
		"**0 missing, 1 duplicated, 0 out of range**", // the peer with WAIT
		"| 2.00× | 0.50× |\n",                         // with WAIT 1: ÷ the peer with WAIT 1, ÷ the service without
		"with one WAIT 1 per batch, the peer with one WAIT 1 per ping",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
}

// A gap that failed pings account for is no lost count; a number that none accounts for, or one
// handed out twice, is.
func TestLostOrRepeated(t *testing.T) {
	for _, tc := range []struct {
		name   string
		counts []int64
		after  int64
		failed int
		want   bool
	}{
		{"exact", []int64{1, 2, 3}, 3, 0, false},
		{"a gap, one failed ping", []int64{1, 3}, 3, 1, false},
		{"a gap, no failed ping", []int64{1, 3}, 3, 0, true},
		{"two gaps, one failed ping", []int64{1, 4}, 4, 1, true},
		{"a repeat, one failed ping", []int64{1, 2, 2}, 3, 1, true},
	} {
		if got := checkExact(tc.counts, 0, tc.after).LostOrRepeated(tc.failed); got != tc.want {
			t.Errorf("%s: LostOrRepeated = %v, want %v", tc.name, got, tc.want)
		}
	}
}
