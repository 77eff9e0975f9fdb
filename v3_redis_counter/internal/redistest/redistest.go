// Package redistest runs a real redis-server for integration tests: on a
// free loopback port, with its data in the test's own folder, stopped when
// the test ends.
package redistest

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"
)

// Server is one redis-server. Stop and Start keep its port and data, so a
// test can play an outage and the recovery after it.
type Server struct {
	Addr    string
	dir     string
	args    []string // after the port, dir and persistence flags
	command []string // instead of all of them: a Sentinel's
	certs   *Certs   // TLS only, with this certificate; nil: plain TCP
	cmd     *exec.Cmd
}

// Start starts redis-server, or skips the test when it is not installed;
// with CI=true a missing redis-server fails the test instead. args are
// added to its command line, e.g. "--replicaof", "127.0.0.1", "6380".
func Start(t *testing.T, args ...string) *Server {
	t.Helper()
	return start(t, nil, args)
}

// StartTLS starts redis-server as Start does, but speaking TLS only, with
// the server certificate of certs.
func StartTLS(t *testing.T, certs *Certs, args ...string) *Server {
	t.Helper()
	return start(t, certs, args)
}

func start(t *testing.T, certs *Certs, args []string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is required in CI: %v", err)
		}
		t.Skipf("redis-server not installed: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: l.Addr().String(), dir: t.TempDir(), args: args, certs: certs}
	l.Close()
	s.Start(t)
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Port is the server's port, as redis-server's options take it.
func (s *Server) Port() string {
	_, port, _ := net.SplitHostPort(s.Addr)
	return port
}

// URL is the server's address in the form REDIS_URL takes: rediss:// for
// TLS.
func (s *Server) URL() string {
	if s.certs != nil {
		return "rediss://" + s.Addr
	}
	return "redis://" + s.Addr
}

// listenArgs are the options that open the server's port: plain, or TLS only.
func (s *Server) listenArgs() []string {
	if s.certs != nil {
		return s.certs.serverArgs(s.Port())
	}
	return []string{"--port", s.Port()}
}

// Start (re)starts the server with append-only persistence, as in production.
func (s *Server) Start(t *testing.T) {
	t.Helper()
	args := s.command
	if args == nil {
		args = slices.Concat([]string{"--bind", "127.0.0.1", "--dir", s.dir, "--appendonly", "yes", "--save", ""},
			s.listenArgs(), s.args)
	}
	s.cmd = exec.Command("redis-server", args...)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for range 500 {
		if conn, err := net.Dial("tcp", s.Addr); err == nil {
			conn.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("redis-server did not listen on %s within 5s", s.Addr)
}

// Signal sends sig to the server: SIGKILL for a crash, SIGSTOP and SIGCONT
// to freeze and thaw it. After SIGKILL, Stop only reaps it.
func (s *Server) Signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling redis-server on %s: %v", s.Addr, err)
	}
}

// Stop ends the server, which saves its data first, and waits for it.
func (s *Server) Stop(t *testing.T) {
	t.Helper()
	if s.cmd == nil || s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // a frozen server must run to stop
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("stopping redis-server: %v", err)
	}
	_ = s.cmd.Wait()
}
