package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"pingpong/test/harness"
)

// redisCPU is the CPU time (user and system) Redis has used so far, as its
// INFO command reports it: to the microsecond, where /proc counts in
// hundredths of a second, too coarse for the little CPU Redis uses while the
// service coalesces its increments.
func redisCPU(addr string) (time.Duration, error) {
	info, err := redisInfo(addr, "cpu")
	if err != nil {
		return 0, err
	}
	return parseInfoCPU(info)
}

// redisInfo is one section of what INFO says, from a Redis server or a
// Sentinel.
func redisInfo(addr, section string) (string, error) {
	conn, err := dialRedis(addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "*2\r\n$4\r\nINFO\r\n$%d\r\n%s\r\n", len(section), section); err != nil {
		return "", err
	}
	return readRESPBulk(bufio.NewReader(conn))
}

// waitReplicated waits until the replica has synced with its master and the
// Sentinel sees the master, with one replica: only then does every WAIT 1 of
// a benchmark run find its replica.
func waitReplicated(replica, sentinel, master string) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		replication, err := redisInfo(replica, "replication")
		if err != nil || !strings.Contains(replication, "master_link_status:up") {
			continue
		}
		seen, err := redisInfo(sentinel, "sentinel")
		if err == nil && strings.Contains(seen, "name="+master+",status=ok") && strings.Contains(seen, "slaves=1,") {
			return nil
		}
	}
	return fmt.Errorf("the replica at %s and the Sentinel at %s were not ready within 30s", replica, sentinel)
}

// readRESPBulk reads a bulk string answer: "$<length>\r\n<bytes>\r\n".
func readRESPBulk(r *bufio.Reader) (string, error) {
	header, err := r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading the answer of redis: %w", err)
	}
	header = strings.TrimRight(header, "\r\n")
	if strings.HasPrefix(header, "-") {
		return "", fmt.Errorf("redis: %s", header[1:])
	}
	length, err := strconv.Atoi(strings.TrimPrefix(header, "$"))
	if !strings.HasPrefix(header, "$") || err != nil || length < 0 {
		return "", fmt.Errorf("unexpected answer from redis: %q", header)
	}
	body := make([]byte, length+2)
	if _, err := io.ReadFull(r, body); err != nil {
		return "", fmt.Errorf("reading the answer of redis: %w", err)
	}
	return string(body[:length]), nil
}

// parseInfoCPU adds used_cpu_user and used_cpu_sys, in seconds, from the
// cpu section of INFO.
func parseInfoCPU(info string) (time.Duration, error) {
	var total time.Duration
	found := 0
	for line := range strings.Lines(info) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || (name != "used_cpu_user" && name != "used_cpu_sys") {
			continue
		}
		seconds, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return 0, fmt.Errorf("INFO cpu: %s %q: %w", name, value, err)
		}
		total += time.Duration(seconds * float64(time.Second))
		found++
	}
	if found != 2 {
		return 0, errors.New("INFO cpu lacks used_cpu_user or used_cpu_sys")
	}
	return total, nil
}

// dialRedis opens a connection of its own to Redis for one command, with
// two seconds for the whole exchange.
func dialRedis(addr string) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// redisGet reads an integer key over a connection of its own, in the Redis
// protocol (RESP); a missing key is 0. The benchmark needs nothing more of
// Redis than this and redisCPU, so it needs no client library.
func redisGet(addr, key string) (int64, error) {
	conn, err := dialRedis(addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", len(key), key); err != nil {
		return 0, err
	}
	return parseRESPInteger(bufio.NewReader(conn))
}

// parseRESPInteger reads the answer to GET of a counter key: a bulk string
// holding an integer, a null bulk string for a missing key, or an error.
func parseRESPInteger(r *bufio.Reader) (int64, error) {
	header, err := r.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("reading the answer of redis: %w", err)
	}
	header = strings.TrimRight(header, "\r\n")
	switch {
	case header == "$-1":
		return 0, nil
	case strings.HasPrefix(header, "-"):
		return 0, fmt.Errorf("redis: %s", header[1:])
	case !strings.HasPrefix(header, "$"):
		return 0, fmt.Errorf("unexpected answer from redis: %q", header)
	}
	value, err := r.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("reading the answer of redis: %w", err)
	}
	n, err := strconv.ParseInt(strings.TrimRight(value, "\r\n"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redis holds %q, not a count", value)
	}
	return n, nil
}

// buildApp builds the v3 service the way its Dockerfile does: static, from
// the stage's own module, without paths of the build machine and without
// symbol tables.
func buildApp(root, dir string) (string, error) {
	bin := filepath.Join(dir, "pingpong")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=bench", "-o", bin, ".")
	cmd.Dir = filepath.Join(root, "v3_redis_counter")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off") // the stage's own go.mod, as in the image
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

// buildReference builds one of the reference servers, test/bench/<name>,
// exactly as buildApp builds the service, from the test module.
func buildReference(root, dir, name string) (string, error) {
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./bench/"+name)
	cmd.Dir = filepath.Join(root, "test")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./bench/%s: %w\n%s", name, err, out)
	}
	return bin, nil
}

// server is a running server under test: its /ping at addr, and for the v3
// service its metrics at adminAddr.
type server struct {
	*harness.Process
	addr, adminAddr string
}

// incrbys reads how many INCRBY round trips the v3 service's counter has
// made so far; 0 for a reference server, which has no metrics.
func (s *server) incrbys() (int64, error) {
	if s.adminAddr == "" {
		return 0, nil
	}
	n, err := incrbyCount(s.adminAddr)
	if err != nil {
		return 0, fmt.Errorf("reading the service's metrics: %w", err)
	}
	return n, nil
}

// startApp starts the service on a free port with redisEnv (REDIS_ADDR, or
// the Sentinels' addresses), on cpu alone when it is set, and returns it once
// GET /readyz answers 200, with the time that took from the start of the
// process.
func startApp(bin string, redisEnv []string, logLevel, cpu string) (*server, time.Duration, error) {
	port, err := harness.PickPort()
	if err != nil {
		return nil, 0, err
	}
	adminPort, err := harness.PickPort()
	if err != nil {
		return nil, 0, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	env := append([]string{"PORT=" + strconv.Itoa(port), "ADMIN_PORT=" + strconv.Itoa(adminPort),
		"LOG_LEVEL=" + logLevel}, redisEnv...)
	start := time.Now()
	path, args := onCPU(cpu, bin)
	p, err := harness.Launch(env, false, path, args...)
	if err != nil {
		return nil, 0, err
	}
	a := &server{Process: p, addr: addr, adminAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(adminPort))}
	ready, err := waitReady(a, start)
	if err != nil {
		_ = p.Stop()
		return nil, 0, err
	}
	return a, ready, nil
}

// startReference starts a reference server as startApp starts the service:
// on a free port, against the Redis at redisAddr, with extraEnv, on cpu alone
// when it is set. It has no /readyz: it is ready once its port accepts
// connections.
func startReference(bin, redisAddr, cpu string, extraEnv ...string) (*server, error) {
	port, err := harness.PickPort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	path, args := onCPU(cpu, bin)
	env := append([]string{"PORT=" + strconv.Itoa(port), "REDIS_ADDR=" + redisAddr}, extraEnv...)
	p, err := harness.Launch(env, true, path, args...)
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			return &server{Process: p, addr: addr}, nil
		}
		if exited(p) {
			return nil, fmt.Errorf("%s exited before it listened:\n%s", filepath.Base(bin), p.Output())
		}
	}
	_ = p.Stop()
	return nil, fmt.Errorf("%s did not listen on %s within 10s:\n%s", filepath.Base(bin), addr, p.Output())
}

// waitReady polls /readyz every millisecond, each time on a new connection
// (a refused one costs microseconds), until it answers 200.
func waitReady(a *server, start time.Time) (time.Duration, error) {
	client := &http.Client{
		Timeout:   time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	url := "http://" + a.addr + "/readyz"
	for time.Since(start) < 10*time.Second {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		if exited(a.Process) {
			return 0, fmt.Errorf("the service exited before it was ready:\n%s", a.Output())
		}
		time.Sleep(time.Millisecond)
	}
	return 0, fmt.Errorf("%s did not answer 200 within 10s:\n%s", url, a.Output())
}

// peakRSS is the most memory the process has held in RAM since it started
// (VmHWM, the "high water mark" of its resident set), in bytes.
func peakRSS(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmHWM(status)
}

func parseVmHWM(status []byte) (int64, error) {
	for line := range strings.Lines(string(status)) {
		value, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		fields := strings.Fields(value) // "12345 kB"
		if len(fields) != 2 || fields[1] != "kB" {
			break
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			break
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no VmHWM line in /proc/<pid>/status")
}

// cpuTime is the CPU time (user and system) the process has used so far.
func cpuTime(pid int) (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields from
	// after it. utime and stime are fields 14 and 15 of the whole line.
	_, rest, ok := bytes.Cut(stat, []byte(") "))
	fields := strings.Fields(string(rest))
	if !ok || len(fields) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	// The kernel counts in USER_HZ, which is 100 on every Linux platform Go
	// supports.
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// incrbyCount reads from the service's /metrics (on its admin address) how
// many INCRBY round trips its counter has made so far: the count of the batch
// size histogram.
func incrbyCount(addr string) (int64, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseMetric(resp.Body, "pingpong_counter_batch_size_count")
}

// parseMetric finds an unlabelled sample in the Prometheus text format.
func parseMetric(r io.Reader, name string) (int64, error) {
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		value, ok := strings.CutPrefix(scanner.Text(), name+" ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return 0, fmt.Errorf("%s %q: %w", name, value, err)
		}
		return int64(f), nil
	}
	if err := scanner.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in the metrics", name)
}

// machineBusyTime is the CPU time all the machine's CPUs together have
// spent on anything but idling (steal included: time the hypervisor gave
// to other machines), from the first line of /proc/stat.
func machineBusyTime() (time.Duration, error) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseBusyTime(stat)
}

func parseBusyTime(stat []byte) (time.Duration, error) {
	line, _, _ := strings.Cut(string(stat), "\n")
	fields := strings.Fields(line)
	// cpu user nice system idle iowait irq softirq steal ...
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, errors.New("unexpected /proc/stat")
	}
	var ticks int64
	for i, f := range fields[1:9] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc/stat: %w", err)
		}
		if i != 3 && i != 4 { // idle and iowait
			ticks += n
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// exited reports whether the process has ended.
func exited(p *harness.Process) bool {
	done, _ := p.Exited()
	return done
}

// masterName is the name the Sentinel knows the replicated master by.
const masterName = "pingpong"

// replicated is the Redis of the v3 stage's step 3: a master, one replica
// and a Sentinel that names the master, each with a folder of its own in dir.
type replicated struct {
	master, replica, sentinel *harness.Redis
}

func launchReplicated(dir string) (*replicated, error) {
	folder := func(name string) string { return filepath.Join(dir, name) }
	for _, name := range []string{"", "master", "replica", "sentinel"} {
		if err := os.Mkdir(folder(name), 0o755); err != nil {
			return nil, err
		}
	}
	r := &replicated{}
	var err error
	if r.master, err = harness.LaunchRedis(folder("master")); err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(r.master.Addr)
	if r.replica, err = harness.LaunchRedis(folder("replica"), "--replicaof", host, port); err == nil {
		r.sentinel, err = harness.LaunchSentinel(folder("sentinel"), masterName, r.master.Addr)
	}
	if err == nil {
		err = waitReplicated(r.replica.Addr, r.sentinel.Addr, masterName)
	}
	if err != nil {
		r.stop()
		return nil, err
	}
	return r, nil
}

// stop ends every process of r that was started.
func (r *replicated) stop() {
	for _, p := range []*harness.Redis{r.sentinel, r.replica, r.master} {
		if p != nil {
			_ = p.Stop()
		}
	}
}
