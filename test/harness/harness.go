// Package harness starts the real components that the end-to-end tests run
// against: redis-server, the v3 binary, and whatever else a test needs, each
// on a loopback port of its own and each stopped again, by its own PID (other
// copies of redis-server may run on the machine), when the test ends. The
// benchmark (test/bench), a program and not a test, starts
// redis-server and the v3 binary with the same helpers.
package harness

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// InCI reports whether the tests run in CI, where a missing component is an
// error and not a reason to skip.
func InCI() bool {
	return os.Getenv("CI") == "true"
}

// Require returns the path of a program the test needs. When the program is
// missing, the test is skipped on a developer's machine but fails in CI: a
// test that silently does not run proves nothing.
func Require(t testing.TB, program string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err == nil {
		return path
	}
	if InCI() {
		t.Fatalf("%s is required and was not found: %v", program, err)
	}
	t.Skipf("%s not found (%v); install it to run this test", program, err)
	return ""
}

// RepoRoot is the repository's top folder, found from this source file, so
// tests can run from any package directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the harness source file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// FreePort asks the kernel for a loopback port that nothing listens on, for
// a program that cannot pick its own and say which: redis-server,
// Prometheus, a port Docker publishes. The port is free when FreePort
// returns; the program must take it before anything else does. The v3
// binary picks its own instead (see StartApp).
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := PickPort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// PickPort is FreePort for a program that has no test to fail: the
// benchmark.
func PickPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("asking for a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
