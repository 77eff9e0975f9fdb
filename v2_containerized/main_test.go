package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets a test run the real main function in a child process: the
// only way to see its exit status and what it prints on stderr.
func TestMain(m *testing.M) {
	if os.Getenv("PINGPONG_RUN_MAIN") == "1" {
		os.Args[0] = "pingpong"
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runMain runs main in a child process with exactly the given environment
// and arguments, and returns its exit status and stderr.
func runMain(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	code, _, stderr := runMainOutput(t, env, args...)
	return code, stderr
}

// runMainOutput is runMain that also returns what main printed on stdout.
func runMainOutput(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(env, "PINGPONG_RUN_MAIN=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running main: %v", err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// TestCommandsWithoutConfiguration: help and version need no configuration,
// so they work even when the environment holds a bad value; an unknown
// command is a usage error, with the usage on stderr.
func TestCommandsWithoutConfiguration(t *testing.T) {
	badEnv := []string{"PORT=abc"}
	tests := []struct {
		args                   []string
		wantCode               int
		wantStdout, wantStderr string
	}{
		{[]string{"help"}, 0, "usage: pingpong [command]", ""},
		{[]string{"-h"}, 0, "usage: pingpong [command]", ""},
		{[]string{"--help"}, 0, "usage: pingpong [command]", ""},
		{[]string{"version"}, 0, "dev (unknown)\n", ""},
		{[]string{"dance"}, 2, "", "pingpong: unknown command \"dance\"\nusage: pingpong [command]"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runMainOutput(t, badEnv, tt.args...)
			if code != tt.wantCode || !strings.HasPrefix(stdout, tt.wantStdout) || !strings.HasPrefix(stderr, tt.wantStderr) ||
				(tt.wantStdout == "") != (stdout == "") || (tt.wantStderr == "") != (stderr == "") {
				t.Errorf("exit %d, stdout %q, stderr %q\nwant exit %d, stdout starting %q, stderr starting %q",
					code, stdout, stderr, tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestMainRejectsBadConfigWithOneLineAndStatus2(t *testing.T) {
	tests := []struct {
		env  string
		args []string
		want string
	}{
		{"PORT=abc", nil, `pingpong: invalid PORT="abc"`},
		{"PORT=70000", nil, `pingpong: invalid PORT="70000"`},
		{"LOG_LEVEL=loud", nil, `pingpong: invalid LOG_LEVEL="loud"`},
		{"SHUTDOWN_TIMEOUT=soon", nil, `pingpong: invalid SHUTDOWN_TIMEOUT="soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.env+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			code, stderr := runMain(t, []string{tt.env}, tt.args...)
			if code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], tt.want) {
				t.Errorf("stderr = %q, want one line starting with %q", stderr, tt.want)
			}
		})
	}
}

// freePort asks the kernel for a port nobody is listening on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a bytes.Buffer that the server and the test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls url until it answers 200, or fails the test after 5 seconds.
func waitFor(t *testing.T, url string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatalf("%s did not answer 200 within 5s", url)
}

// TestRunServesAndStopsCleanly goes through the real start-up path: config
// from the environment, the listener, the JSON access log, the health check
// command, and a clean exit when the context is cancelled as a signal would.
func TestRunServesAndStopsCleanly(t *testing.T) {
	port := strconv.Itoa(freePort(t))
	getenv := environment(map[string]string{"PORT": port, "SHUTDOWN_TIMEOUT": "2s"})
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"pingpong"}, getenv, &logs) }()

	waitFor(t, "http://127.0.0.1:"+port+"/ping")
	if err := run(context.Background(), []string{"pingpong", "healthcheck"}, getenv, io.Discard); err != nil {
		t.Errorf("healthcheck against a running server: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v, want nil after a clean shutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return within 5s of cancel")
	}
	for _, want := range []string{`"msg":"listening"`, `"msg":"request","method":"GET","path":"/ping","status":200`, `"msg":"stopped"`} {
		if !bytes.Contains([]byte(logs.String()), []byte(want)) {
			t.Errorf("logs do not contain %s:\n%s", want, logs.String())
		}
	}
	if err := run(context.Background(), []string{"pingpong", "healthcheck"}, getenv, io.Discard); err == nil {
		t.Error("healthcheck succeeded with no server running")
	}
}

// TestShutdownFinishesInFlightRequests stops the server while a request is
// being handled: readiness must fail at once, the request must still get its
// answer, and serve must return without error.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	handlerStarted := make(chan struct{})
	release := make(chan struct{})
	ready := &readiness{}
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
		close(handlerStarted)
		<-release
		_, _ = w.Write([]byte("done"))
	})
	mux.Handle("/readyz", handleReadyz(ready))
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + listener.Addr().String()
	cfg := Config{ShutdownDelay: 300 * time.Millisecond, ShutdownTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- serve(ctx, []endpoint{{srv: &http.Server{Handler: mux}, listener: listener}}, ready, cfg, slog.New(slog.DiscardHandler))
	}()

	answered := make(chan string, 1)
	go func() {
		resp, err := http.Get(url + "/slow")
		if err != nil {
			answered <- err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		answered <- string(body)
	}()
	<-handlerStarted
	cancel()

	// During SHUTDOWN_DELAY the server still answers, but no longer as ready.
	time.Sleep(100 * time.Millisecond)
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatalf("/readyz during the shutdown delay: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz during shutdown = %d, want 503", resp.StatusCode)
	}

	close(release)
	if got := <-answered; got != "done" {
		t.Errorf("in-flight request got %q, want %q", got, "done")
	}
	if err := <-served; err != nil {
		t.Errorf("serve returned %v, want nil", err)
	}
}

// TestDrainAsksKeepAliveClientsToReconnect: once shutdown begins, every
// answer during SHUTDOWN_DELAY carries "Connection: close", so a keep-alive
// client reconnects (to another instance) instead of sending its next request
// down a connection that Shutdown is about to close. Before shutdown, the
// same client keeps its connection.
func TestDrainAsksKeepAliveClientsToReconnect(t *testing.T) {
	ready := &readiness{}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + listener.Addr().String()
	srv := &http.Server{Handler: newServer(deps{Logger: slog.New(slog.DiscardHandler), Greeting: "hi", Ready: ready})}
	cfg := Config{ShutdownDelay: time.Second, ShutdownTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- serve(ctx, []endpoint{{srv: srv, listener: listener}}, ready, cfg, slog.New(slog.DiscardHandler))
	}()

	client := &http.Client{Transport: &http.Transport{}} // keep-alive, as load generators and proxies use
	defer client.CloseIdleConnections()
	ping := func() *http.Response {
		t.Helper()
		resp, err := client.Get(url + "/ping")
		if err != nil {
			t.Fatalf("GET /ping: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	// resp.Close is how net/http's client reports "Connection: close".
	if resp := ping(); resp.Close {
		t.Error("before shutdown: the answer closed the connection, want it kept")
	}
	cancel()
	for deadline := time.Now().Add(time.Second); !ready.shuttingDown.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("readiness did not fail within 1s of the signal")
		}
	}
	resp := ping()
	if resp.StatusCode != http.StatusOK || !resp.Close {
		t.Errorf("during the drain: %d, close %v; want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	if err := <-served; err != nil {
		t.Errorf("serve returned %v, want nil", err)
	}
}
