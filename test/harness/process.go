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

// Process is a program a test started. Its combined output is kept, and
// shown when the test fails, so a failure explains itself.
type Process struct {
	Name string
	cmd  *exec.Cmd
	out  *LockedBuffer
	done chan struct{}
}

// Start runs the program with the given environment (added to this
// process's own) and stops it when the test ends.
func Start(t testing.TB, env []string, path string, args ...string) *Process {
	t.Helper()
	out := &LockedBuffer{}
	cmd := exec.Command(path, args...)
	cmd.Env = append(cmd.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	p := &Process{Name: path, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			t.Logf("output of %s %v:\n%s", path, args, out.String())
		}
	})
	return p
}

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

// Signal sends sig to the process and waits up to timeout for it to end;
// it returns the exit status, or fails the test if the process lives on.
func (p *Process) Signal(t testing.TB, sig syscall.Signal, timeout time.Duration) int {
	t.Helper()
	if exited, code := p.Exited(); exited {
		return code
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s did not end within %s of %s", p.Name, timeout, sig)
		return -1
	}
}

// Stop ends the process (SIGTERM, then SIGKILL after 10 s) if it still runs.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	p.Signal(t, syscall.SIGTERM, 10*time.Second)
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

// LockedBuffer collects a process's output while others read it.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// String names the process in test messages.
func (p *Process) String() string { return fmt.Sprintf("%s (pid %d)", p.Name, p.cmd.Process.Pid) }
