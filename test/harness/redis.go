package harness

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Redis is a real redis-server on a loopback port, with its data in a
// folder of its own. Stop and Start keep both, so a test can take Redis
// away and bring it back the way an outage would.
type Redis struct {
	*Process // the server running now; each Start replaces it
	Addr     string
	path     string
	dir      string
	port     int
	args     []string
}

// StartRedis starts redis-server with its data in a folder of the test's
// own, plus any extra arguments (for example "--requirepass", "secret"). It
// is stopped when the test ends.
func StartRedis(t testing.TB, extraArgs ...string) *Redis {
	t.Helper()
	r := newRedis(Require(t, "redis-server"), t.TempDir(), FreePort(t), extraArgs)
	r.Start(t)
	return r
}

// LaunchRedis is StartRedis for the benchmark, which has no test: the
// server keeps its data in dir, and the caller stops it.
func LaunchRedis(dir string, extraArgs ...string) (*Redis, error) {
	return launchRedis(dir, func(r *Redis) ([]string, error) {
		r.args = extraArgs
		return r.commandLine(), nil
	})
}

// launchRedis starts redis-server on a free loopback port with the command
// line that args gives, and waits until it listens.
func launchRedis(dir string, args func(r *Redis) ([]string, error)) (*Redis, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, err
	}
	port, err := PickPort()
	if err != nil {
		return nil, err
	}
	r := newRedis(path, dir, port, nil)
	commandLine, err := args(r)
	if err != nil {
		return nil, err
	}
	if r.Process, err = Launch(nil, true, r.path, commandLine...); err != nil {
		return nil, err
	}
	if err := r.waitListening(); err != nil {
		_ = r.Stop()
		return nil, err
	}
	return r, nil
}

// LaunchSentinel starts a Sentinel on a loopback port, with its
// configuration file in dir, watching the master at masterAddr under the
// name master; one Sentinel is enough to agree (quorum 1). The caller stops
// it.
func LaunchSentinel(dir, master, masterAddr string) (*Redis, error) {
	host, masterPort, err := net.SplitHostPort(masterAddr)
	if err != nil {
		return nil, err
	}
	return launchRedis(dir, func(r *Redis) ([]string, error) {
		// A Sentinel rewrites its configuration file, so it gets one of its own.
		conf := filepath.Join(dir, "sentinel.conf")
		config := fmt.Sprintf("port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\nsentinel monitor %s %s %s 1\n",
			r.port, dir, master, host, masterPort)
		return []string{conf, "--sentinel"}, os.WriteFile(conf, []byte(config), 0o600)
	})
}

func newRedis(path, dir string, port int, extraArgs []string) *Redis {
	return &Redis{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		path: path, dir: dir, port: port, args: extraArgs,
	}
}

// URL is the address in the form REDIS_URL takes.
func (r *Redis) URL() string { return "redis://" + r.Addr }

// Start (re)starts the server on the same port and data folder.
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	r.Process = Start(t, nil, r.path, r.commandLine()...)
	if err := r.waitListening(); err != nil {
		t.Fatal(err)
	}
}

// commandLine runs the server as the workshop's compose file does, with
// append-only persistence, on loopback only and in the foreground, so that
// it is stopped by its own PID.
func (r *Redis) commandLine() []string {
	return append([]string{
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--appendonly", "yes", "--save", "", "--daemonize", "no",
	}, r.args...)
}

func (r *Redis) waitListening() error {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if conn, err := net.Dial("tcp", r.Addr); err == nil {
			conn.Close()
			return nil
		}
		if exited, code := r.Exited(); exited {
			return fmt.Errorf("redis-server exited with status %d:\n%s", code, r.Output())
		}
	}
	return fmt.Errorf("redis-server did not listen on %s within 10s:\n%s", r.Addr, r.Output())
}

func (r *Redis) String() string { return fmt.Sprintf("redis-server on %s", r.Addr) }
