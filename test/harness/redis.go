package harness

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"
)

// Redis is a real redis-server on a loopback port, with its data in a
// folder of the test's own. Stop and Start keep both, so a test can take
// Redis away and bring it back the way an outage would.
type Redis struct {
	Addr string
	path string
	dir  string
	port int
	args []string
	proc *Process
}

// StartRedis starts redis-server with append-only persistence, plus any
// extra arguments (for example "--requirepass", "secret").
func StartRedis(t testing.TB, extraArgs ...string) *Redis {
	t.Helper()
	r := &Redis{path: Require(t, "redis-server"), dir: t.TempDir(), port: FreePort(t), args: extraArgs}
	r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
	r.Start(t)
	return r
}

// URL is the address in the form REDIS_URL takes.
func (r *Redis) URL() string { return "redis://" + r.Addr }

// Start (re)starts the server on the same port and data folder.
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	args := append([]string{
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--appendonly", "yes", "--save", "", "--daemonize", "no",
	}, r.args...)
	r.proc = Start(t, nil, r.path, args...)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if conn, err := net.Dial("tcp", r.Addr); err == nil {
			conn.Close()
			return
		}
		if exited, code := r.proc.Exited(); exited {
			t.Fatalf("redis-server exited with status %d:\n%s", code, r.proc.Output())
		}
	}
	t.Fatalf("redis-server did not listen on %s within 10s:\n%s", r.Addr, r.proc.Output())
}

// Stop shuts the server down (SIGTERM: it finishes writing its data first).
func (r *Redis) Stop(t testing.TB) {
	t.Helper()
	r.proc.Stop(t)
}

func (r *Redis) String() string { return fmt.Sprintf("redis-server on %s", r.Addr) }
