package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
		{"LOG_LEVEL=loud", nil, `pingpong: invalid LOG_LEVEL="loud"`},
		{"SHUTDOWN_TIMEOUT=soon", nil, `pingpong: invalid SHUTDOWN_TIMEOUT="soon"`},
		{"REDIS_URL=http://localhost:6379", nil, `pingpong: invalid REDIS_URL`},
		{"REDIS_DB=-1", nil, `pingpong: invalid REDIS_DB="-1"`},
		{"ADMIN_TOKEN_FILE=/does/not/exist", nil, `pingpong: invalid ADMIN_TOKEN_FILE="/does/not/exist"`},
		{"REDIS_WAIT_TIMEOUT=0s", nil, `pingpong: invalid REDIS_WAIT_TIMEOUT="0s"`},
		{"REDIS_MASTER_NAME=pingpong", nil, `pingpong: invalid REDIS_MASTER_NAME="pingpong"`},
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

func TestMainKeepsSecretsOutOfErrors(t *testing.T) {
	code, stderr := runMain(t, []string{"REDIS_URL=redis://:hunter2@localhost:6379/x"})
	if code != 2 || !strings.Contains(stderr, "REDIS_URL") {
		t.Fatalf("exit status %d, stderr %q: want status 2 and an error naming REDIS_URL", code, stderr)
	}
	if strings.Contains(stderr, "hunter2") {
		t.Errorf("the password leaked into the error: %q", stderr)
	}
}

// app is one instance of the service started through run, as main starts it.
type app struct {
	url, adminURL string // the public port and the admin port
	logs          *syncBuffer
	stop          func() error
}

// startApp runs the service with the given environment on ports the kernel
// picks (PORT=0, ADMIN_PORT=0), reads them from its "listening" log line,
// and waits until it is ready. The app is stopped when the test ends.
func startApp(t *testing.T, env map[string]string) *app {
	t.Helper()
	return launchApp(t, env, true)
}

// startUnready is startApp that waits only until the app listens: for an
// app that cannot reach Redis, and so never becomes ready.
func startUnready(t *testing.T, env map[string]string) *app {
	t.Helper()
	return launchApp(t, env, false)
}

func launchApp(t *testing.T, env map[string]string, waitReady bool) *app {
	t.Helper()
	env = maps.Clone(env)
	if env == nil {
		env = map[string]string{}
	}
	env["PORT"] = "0"
	env["ADMIN_PORT"] = "0"
	env["SHUTDOWN_TIMEOUT"] = "2s"
	ctx, cancel := context.WithCancel(context.Background())
	a := &app{logs: &syncBuffer{}}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"pingpong"}, environment(env), a.logs) }()
	var once sync.Once
	var err error
	a.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				err = errors.New("run did not return within 5s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := a.stop(); err != nil {
			t.Errorf("stopping the app: %v", err)
		}
	})
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("run returned before it was ready: %v\n%s", err, a.logs)
		default:
		}
		if a.url == "" {
			a.url, a.adminURL = listeningOn(a.logs.String())
		} else if !waitReady {
			return a
		} else if status, _ := a.get(t, "/readyz"); status == http.StatusOK {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz did not answer 200 within 5s; logs:\n%s", a.url, a.logs)
		}
	}
}

// client has a timeout, so that a server that hangs fails the test instead
// of blocking it.
var client = &http.Client{Timeout: 5 * time.Second}

// get returns the status and body of GET path, or 0 if no answer came.
func (a *app) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := client.Get(a.url + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

// ping sends GET /ping and returns the count it answered; it fails the test
// on anything but a 200 with a number.
func (a *app) ping(t *testing.T) int64 {
	t.Helper()
	status, body := a.get(t, "/ping")
	if status != http.StatusOK {
		t.Fatalf("GET /ping: %d %q, want 200", status, body)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(body), 10, 64)
	if err != nil {
		t.Fatalf("GET /ping answered %q, want a count", body)
	}
	return n
}

// TestRunCountsOnTheEmbeddedRedis is the newcomer's first run: no Redis
// configured, and /ping still counts 1, 2, 3.
func TestRunCountsOnTheEmbeddedRedis(t *testing.T) {
	a := startApp(t, nil)
	for want := int64(1); want <= 3; want++ {
		if got := a.ping(t); got != want {
			t.Fatalf("ping %d answered %d", want, got)
		}
	}
	if status, body := a.get(t, "/count"); status != http.StatusOK || strings.TrimSpace(body) != "3" {
		t.Errorf("GET /count = %d %q, want 200 \"3\"", status, body)
	}
	req, _ := http.NewRequest(http.MethodGet, a.url+"/ping", nil)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := decodeCount(t, string(body)); got != 4 {
		t.Errorf("JSON ping answered %d, want 4", got)
	}
	if err := run(context.Background(), []string{"pingpong", "healthcheck"}, environment(map[string]string{"ADMIN_PORT": strings.TrimPrefix(a.adminURL, "http://127.0.0.1:")}), io.Discard); err != nil {
		t.Errorf("healthcheck against the running server: %v", err)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	logs := a.logs.String()
	if n := strings.Count(logs, "embedded in-memory Redis"); n != 1 {
		t.Errorf("the in-memory warning was logged %d times, want once:\n%s", n, logs)
	}
	for _, want := range []string{`"msg":"listening"`, `"path":"/ping","status":200`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs do not contain %s:\n%s", want, logs)
		}
	}
}

// TestRunReloadsTheSettingsFile changes the mounted settings file while the
// server runs: the greeting follows, an invalid file is ignored.
func TestRunReloadsTheSettingsFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "settings")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(file+".new", []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".new", file); err != nil {
			t.Fatal(err)
		}
	}
	write("GREETING=Hello from the file!\n")
	a := startApp(t, map[string]string{"CONFIG_FILE": file, "CONFIG_POLL_INTERVAL": "20ms"})
	greeting := func() string {
		_, body := a.get(t, "/")
		first, _, _ := strings.Cut(body, "\n")
		return first
	}
	if got := greeting(); got != "Hello from the file!" {
		t.Fatalf("greeting at start = %q, want the file's", got)
	}
	write("GREETING=Changed without a restart\n")
	eventually(t, func() bool { return greeting() == "Changed without a restart" })
	write("GREETING=\n")
	eventually(t, func() bool { return strings.Contains(a.logs.String(), "settings file rejected") })
	if got := greeting(); got != "Changed without a restart" {
		t.Errorf("greeting after an invalid file = %q, want the last good one", got)
	}
}

// eventually fails the test unless cond becomes true within five seconds.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 5s")
}

// listeningOn reads the URLs of the public and the admin port from the
// "listening" log line, or returns empty strings if it is not there yet.
func listeningOn(logs string) (url, adminURL string) {
	for line := range strings.Lines(logs) {
		var entry struct {
			Msg       string
			Addr      string
			AdminAddr string `json:"admin_addr"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "listening" {
			return localURL(entry.Addr), localURL(entry.AdminAddr)
		}
	}
	return "", ""
}

// localURL turns a listening address such as "[::]:41234" into a URL on loopback.
func localURL(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return "http://127.0.0.1:" + port
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

// decodeCount reads the count out of a JSON answer of /ping or /count.
func decodeCount(t *testing.T, body string) int64 {
	t.Helper()
	var v struct {
		Count *int64 `json:"count"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Count == nil {
		t.Fatalf("%q is not a JSON count: %v", body, err)
	}
	return *v.Count
}
