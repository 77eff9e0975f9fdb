package harness

import (
	"bytes"
	"fmt"
	"net/http"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is a program a test (or the benchmark) started. Its output is
// kept, and shown when the test fails, so a failure explains itself.
type Process struct {
	Name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

// Start runs the program with the given environment (added to this
// process's own) and stops it when the test ends.
func Start(t testing.TB, env []string, path string, args ...string) *Process {
	t.Helper()
	p, err := Launch(env, true, path, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("output of %s %v:\n%s", path, args, p.Output())
		}
	})
	return p
}

// Launch is Start for a program that has no test to end it: the benchmark,
// which stops what it started itself. The program's stderr is always kept,
// its stdout only when keepStdout is set: a service that logs every request
// would otherwise fill the memory during a benchmark.
func Launch(env []string, keepStdout bool, path string, args ...string) (*Process, error) {
	out := &lockedBuffer{}
	cmd := exec.Command(path, args...)
	cmd.Env = append(cmd.Environ(), env...)
	cmd.Stderr = out
	if keepStdout {
		cmd.Stdout = out
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	p := &Process{Name: path, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Pid is the process's ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output is everything the process has printed so far.
func (p *Process) Output() string { return p.out.String() }

// Exited reports whether the process has ended, and if so with which status.
func (p *Process) Exited() (bool, int) {
	select {
	case <-p.done:
		return true, p.cmd.ProcessState.ExitCode()
	default:
		return false, 0
	}
}

// Stop ends the process if it still runs: SIGTERM, then SIGKILL if it has
// not ended within 10 s, which is an error.
func (p *Process) Stop() error {
	if exited, _ := p.Exited(); exited {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not end within 10s of SIGTERM", p)
	}
}

// WaitHTTP polls url until it answers 200, failing the test after timeout or
// as soon as the process has exited.
func (p *Process) WaitHTTP(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if exited, code := p.Exited(); exited {
			t.Fatalf("%s exited with status %d before %s answered:\n%s", p.Name, code, url, p.Output())
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatalf("%s did not answer 200 within %s:\n%s", url, timeout, p.Output())
}

// lockedBuffer collects a process's output while others read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// String names the process in messages.
func (p *Process) String() string { return fmt.Sprintf("%s (pid %d)", p.Name, p.cmd.Process.Pid) }
