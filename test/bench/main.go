// Command bench measures the v3 ping counter end to end, beside two
// reference servers and Redis itself.
//
// In one run it builds the v3 service as its Dockerfile does, and two
// reference servers from test/bench: the peer (./peer), the same counter
// written the plain way with net/http and go-redis, one INCR per ping; and
// the ceiling (./ceiling), net/http answering "pong" with no Redis at all.
// It starts a real redis-server and the three servers on loopback, each
// pinned like the others, and for each concurrency level drives GET /ping
// on each over keep-alive connections for a fixed time. For the service and
// the peer it checks that every answered count is distinct and that Redis
// counted exactly the successful pings. At the same level it runs
// `redis-benchmark -t incr` against the same Redis. It then prints a
// markdown report with the targets, and writes it with a chart to
// bench/results/.
//
//	go run ./test/bench                 # from the repository's top folder
//	go run ./test/bench -duration 3s -conns 1,50
//
// It exits 1 when a count was lost or handed out twice, or the benchmark
// could not run; a missed performance target is reported, not fatal, since
// it depends on the machine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"pingpong/test/harness"
)

// counterKey is the service's default COUNTER_KEY, in which the peer counts
// too.
const counterKey = "pingpong:count"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the command line's settings.
type options struct {
	duration    time.Duration
	conns       []int
	out         string
	logLevel    string
	readyStarts int
	bin         string
	pin         bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	conns := fs.String("conns", "1,50,200", "concurrent keep-alive connections, one level each, comma-separated")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "how long to drive /ping on each server, and redis-benchmark, at each level")
	fs.StringVar(&o.out, "out", "bench/results", "folder for latest.md and latest.png, relative to the repository's top folder")
	fs.StringVar(&o.logLevel, "log-level", "info", "the service's LOG_LEVEL: info writes one access log line per request, as deployed")
	fs.IntVar(&o.readyStarts, "ready-starts", 5, "how many times to start the service to time start-up")
	fs.StringVar(&o.bin, "bin", "", "benchmark this service binary instead of building v3_redis_counter, to compare a change")
	fs.BoolVar(&o.pin, "pin", true, "give the server under test a CPU of its own, and the load generator another (needs 2 CPUs and taskset)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, field := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n < 1 || n > 10_000 {
			return o, fmt.Errorf("-conns: %q is not a number of connections from 1 to 10000", field)
		}
		o.conns = append(o.conns, n)
	}
	if o.duration < 100*time.Millisecond || o.duration > 10*time.Minute {
		return o, fmt.Errorf("-duration: %s is not between 100ms and 10m", o.duration)
	}
	if o.readyStarts < 1 || o.readyStarts > 100 {
		return o, fmt.Errorf("-ready-starts: %d is not from 1 to 100", o.readyStarts)
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	for _, program := range []string{"redis-server", "redis-benchmark"} {
		if _, err := exec.LookPath(program); err != nil {
			return fmt.Errorf("%s is needed: it comes with Redis (on Debian or Ubuntu: apt-get install redis-server redis-tools): %w", program, err)
		}
	}
	// The repository is needed to build the servers and to find the
	// default output folder.
	root, err := repoRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "pingpong-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	progress := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	report := Report{Date: time.Now().UTC(), Duration: o.duration, LogLevel: o.logLevel}
	report.Machine = describeMachine()
	report.Machine.LoadBefore = loadAverage() // before the build and the benchmark add their own
	if report.Machine.busy() {
		progress("the machine is busy (load average %s on %d CPUs): expect low figures", report.Machine.LoadBefore, report.Machine.CPUs)
	}

	bin := o.bin
	if bin == "" {
		progress("building the v3 service (-trimpath -ldflags \"-s -w\")")
		if bin, err = buildApp(root, work); err != nil {
			return err
		}
	}
	progress("building the peer and the ceiling, the same way")
	peerBin, err := buildReference(root, work, "peer")
	if err != nil {
		return err
	}
	ceilingBin, err := buildReference(root, work, "ceiling")
	if err != nil {
		return err
	}
	// Pin after the build, which is better off with every CPU. Redis, and
	// everything else this program starts, inherit its CPU.
	pin := choosePinning(o.pin)
	if pin.pinned() {
		if err := move(os.Getpid(), pin.client); err != nil {
			return err
		}
	}
	report.Machine.Pinning = pin.note
	if err := os.Mkdir(filepath.Join(work, "redis"), 0o755); err != nil {
		return err
	}
	redis, err := harness.LaunchRedis(filepath.Join(work, "redis"))
	if err != nil {
		return err
	}
	defer redis.Stop()
	redisAddr := redis.Addr
	report.Machine.Redis = redisVersion()

	// Time the start-up a few times: one start says little on a busy
	// machine. The last instance started is the one benchmarked.
	var svc *server
	for i := range o.readyStarts {
		a, ready, err := startApp(bin, []string{"REDIS_ADDR=" + redisAddr}, o.logLevel, pin.server)
		if err != nil {
			return err
		}
		report.Ready = append(report.Ready, ready)
		if i < o.readyStarts-1 {
			_ = a.Stop()
			continue
		}
		svc = a
	}
	defer svc.Stop()
	slices.Sort(report.Ready)
	progress("ready %s after the start (median of %d starts)", ms(report.readyMedian()), len(report.Ready))
	// The references run exactly as the service does: on the same CPU,
	// against the same Redis. Only the server being driven has work.
	peer, err := startReference(peerBin, redisAddr, pin.server)
	if err != nil {
		return err
	}
	defer peer.Stop()
	ceiling, err := startReference(ceilingBin, redisAddr, pin.server)
	if err != nil {
		return err
	}
	defer ceiling.Stop()
	// The price of synchronous replication (the v3 stage's step 3): a master
	// with one replica and a Sentinel; the service asks the Sentinel for the
	// master and sends a WAIT 1 with each batch, the peer one with each ping.
	progress("starting a Redis master, its replica and a Sentinel")
	repl, err := launchReplicated(filepath.Join(work, "replicated"))
	if err != nil {
		return err
	}
	defer repl.stop()
	svcWait, _, err := startApp(bin, []string{"REDIS_SENTINELS=" + repl.sentinel.Addr, "REDIS_MASTER_NAME=" + masterName}, o.logLevel, pin.server)
	if err != nil {
		return err
	}
	defer svcWait.Stop()
	peerWait, err := startReference(peerBin, repl.master.Addr, pin.server, "REDIS_WAIT_REPLICAS=1")
	if err != nil {
		return err
	}
	defer peerWait.Stop()

	for _, conns := range o.conns {
		level := Level{Conns: conns}
		for _, m := range []struct {
			name   string
			srv    *server
			counts bool
			redis  string // where the server counts
			run    *Run
		}{
			{"/ping", svc, true, redisAddr, &level.Service},
			{"peer", peer, true, redisAddr, &level.Peer},
			{"ceiling", ceiling, false, redisAddr, &level.Ceiling},
			{"/ping, WAIT 1 per batch", svcWait, true, repl.master.Addr, &level.ServiceWait},
			{"peer, WAIT 1 per ping", peerWait, true, repl.master.Addr, &level.PeerWait},
		} {
			if err := ctx.Err(); err != nil {
				return err
			}
			if *m.run, err = measureRun(ctx, m.srv, m.counts, m.redis, conns, o.duration); err != nil {
				return fmt.Errorf("%s at %d connections: %w", m.name, conns, err)
			}
			progress("%d conns, %s: %s", conns, m.name, m.run.summary())
		}
		if level.RedisBench, err = measureRedisBenchmark(ctx, redis, redisAddr, conns, o.duration, pin); err != nil {
			return err
		}
		progress("%d conns: %s", conns, level.summary())
		report.Levels = append(report.Levels, level)
	}
	report.Machine.LoadAfter = loadAverage()
	if report.PeakRSS, err = peakRSS(svc.Pid()); err != nil {
		return fmt.Errorf("reading the service's peak memory: %w", err)
	}
	report.Image = imageSize(ctx, "pingpong:v3")

	markdown := report.Markdown("latest.png")
	fmt.Fprint(stdout, markdown)
	dir := filepath.FromSlash(o.out)
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.md"), []byte(markdown), 0o644); err != nil {
		return err
	}
	if err := writeChart(filepath.Join(dir, "latest.png"), report); err != nil {
		return fmt.Errorf("drawing the chart: %w", err)
	}
	progress("wrote latest.md and latest.png in %s", o.out)

	for _, level := range report.Levels {
		for _, c := range []struct {
			name string
			run  Run
		}{{"the service", level.Service}, {"the peer", level.Peer},
			{"the service with WAIT 1", level.ServiceWait}, {"the peer with WAIT 1", level.PeerWait}} {
			if c.run.Exact.LostOrRepeated(c.run.Load.Errors) {
				return fmt.Errorf("at %d connections, %s lost or repeated counts: %s", level.Conns, c.name, c.run.Exact.describe())
			}
		}
	}
	return nil
}

// measureRun drives GET /ping on srv at one concurrency, and measures the
// CPU that srv, Redis, this program and the rest of the machine used
// meanwhile. When counts is set, the answers are counts, checked against
// Redis's key; otherwise every answer must be "pong".
func measureRun(ctx context.Context, srv *server, counts bool, redisAddr string, conns int, duration time.Duration) (Run, error) {
	before, err := redisGet(redisAddr, counterKey)
	if err != nil {
		return Run{}, fmt.Errorf("reading the count: %w", err)
	}
	incrbysBefore, err := srv.incrbys()
	if err != nil {
		return Run{}, err
	}
	pids := []int{srv.Pid(), os.Getpid()}
	redisBefore, err := redisCPU(redisAddr)
	if err != nil {
		return Run{}, fmt.Errorf("reading Redis's CPU time: %w", err)
	}
	cpuBefore, busyBefore := cpuTimes(pids), machineBusy()
	var load harness.LoadResult
	if counts {
		load, err = harness.Drive(ctx, srv.addr, "/ping", conns, duration)
	} else {
		load, err = harness.DriveFixed(ctx, srv.addr, "/ping", "pong\n", conns, duration)
	}
	if err != nil {
		return Run{}, err
	}
	cpuAfter, busyAfter := cpuTimes(pids), machineBusy()
	redisAfter, err := redisCPU(redisAddr)
	if err != nil {
		return Run{}, fmt.Errorf("reading Redis's CPU time: %w", err)
	}
	after, err := redisGet(redisAddr, counterKey)
	if err != nil {
		return Run{}, fmt.Errorf("reading the count: %w", err)
	}
	incrbysAfter, err := srv.incrbys()
	if err != nil {
		return Run{}, err
	}
	r := Run{
		Load:      load,
		Counts:    counts,
		AppCPU:    cpuAfter[0] - cpuBefore[0],
		RedisCPU:  redisAfter - redisBefore,
		ClientCPU: cpuAfter[1] - cpuBefore[1],
		Incrbys:   incrbysAfter - incrbysBefore,
	}
	if counts {
		r.Exact = checkExact(load.Counts, before, after)
	} else if after != before {
		return Run{}, fmt.Errorf("the count moved from %d to %d while only a server without Redis was driven", before, after)
	}
	// What the machine did besides the three: other programs, the kernel's
	// own threads, or other virtual machines on the same host.
	r.OtherCPU = max(0, busyAfter-busyBefore-r.AppCPU-r.RedisCPU-r.ClientCPU)
	return r, nil
}

// measureRedisBenchmark runs redis-benchmark at one concurrency, with Redis
// as the server under test on the CPU the servers had.
func measureRedisBenchmark(ctx context.Context, redis *harness.Redis, redisAddr string, conns int, duration time.Duration, pin pinning) (RedisBenchResult, error) {
	if pin.pinned() {
		if err := move(redis.Pid(), pin.server); err != nil {
			return RedisBenchResult{}, err
		}
	}
	result, err := redisBenchmark(ctx, redisAddr, conns, duration)
	if err != nil {
		return RedisBenchResult{}, err
	}
	if pin.pinned() {
		if err := move(redis.Pid(), pin.client); err != nil {
			return RedisBenchResult{}, err
		}
	}
	return result, nil
}

// cpuTimes reads the CPU time each process has used so far; 0 when it
// cannot be read, which only makes the CPU figures of the report less useful.
func cpuTimes(pids []int) []time.Duration {
	times := make([]time.Duration, len(pids))
	for i, pid := range pids {
		times[i], _ = cpuTime(pid)
	}
	return times
}

// machineBusy is machineBusyTime, or 0 when it cannot be read.
func machineBusy() time.Duration {
	t, _ := machineBusyTime()
	return t
}

// repoRoot is the folder holding go.work, found from the working directory
// up, so the program runs from anywhere inside the repository.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work in this folder or above it: run the benchmark inside the repository")
		}
		dir = parent
	}
}

// describeMachine says what the numbers were measured on: on a shared or
// busy machine they mean little without it.
func describeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(info)) {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				m.CPUModel = strings.Join(strings.Fields(value), " ")
				break
			}
		}
	}
	return m
}

// loadAverage is the 1, 5 and 15 minute load averages.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(data))
	if len(fields) < 3 {
		return "unknown"
	}
	return strings.Join(fields[:3], " ")
}

// redisVersion is what `redis-server --version` says, e.g. "7.0.15".
func redisVersion() string {
	out, err := exec.Command("redis-server", "--version").Output()
	if err != nil {
		return "unknown"
	}
	for _, field := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(field, "v="); ok {
			return v
		}
	}
	return strings.TrimSpace(string(out))
}

// imageSize asks the Docker engine at DOCKER_HOST for the size of image, or
// says why there is no figure.
func imageSize(ctx context.Context, image string) ImageInfo {
	if os.Getenv("DOCKER_HOST") == "" {
		return ImageInfo{Note: "DOCKER_HOST is not set: no Docker engine to ask"}
	}
	if _, err := exec.LookPath("docker"); err != nil {
		return ImageInfo{Note: "the docker command is not installed"}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Size}}", image).Output()
	if err != nil {
		return ImageInfo{Note: fmt.Sprintf("no image %s on the engine (build it first: docker build -t %s v3_redis_counter)", image, image)}
	}
	size, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return ImageInfo{Note: fmt.Sprintf("docker answered %q for the size", out)}
	}
	return ImageInfo{Bytes: size}
}
