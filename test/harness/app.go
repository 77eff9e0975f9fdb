package harness

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// BuildV3 builds the v3 binary once per test process, the way a user would,
// and returns its path.
func BuildV3(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		// The folder outlives any single test: it is shared by all of them.
		buildDir, buildErr = os.MkdirTemp("", "pingpong-e2e-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, "pingpong"),
			"-ldflags", "-X main.version=e2e", ".")
		cmd.Dir = filepath.Join(RepoRoot(t), "v3_redis_counter")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "pingpong")
}

// App is a running v3 binary: its public API at URL (Addr), its metrics and
// admin API at AdminURL (AdminAddr).
type App struct {
	*Process
	URL, AdminURL   string
	Addr, AdminAddr string // host:port on loopback
}

// StartApp runs the binary with the given environment ("NAME=value"
// entries) on ports the kernel picks (PORT=0, ADMIN_PORT=0), reads them from
// the "listening" line it logs, and waits until it reports itself ready.
// Nothing can take a port between its choice and its use, as with a port
// picked first and handed over.
//
// The line is logged at info level, so LOG_LEVEL must be info (the default,
// whatever the environment of `go test` holds) or debug: with warn or error
// the test fails at once rather than wait for a line that never comes.
func StartApp(t testing.TB, bin string, env ...string) *App {
	t.Helper()
	env = append(append([]string{"LOG_LEVEL=info"}, env...), "PORT=0", "ADMIN_PORT=0")
	if level, hidden := hidesListening(env); hidden {
		t.Fatalf("StartApp: LOG_LEVEL=%s hides the \"listening\" line that says which ports the kernel picked; use info or debug", level)
	}
	p := Start(t, env, bin)
	addr, adminAddr := p.WaitListening(t, 10*time.Second)
	app := &App{Process: p, URL: "http://" + addr, AdminURL: "http://" + adminAddr, Addr: addr, AdminAddr: adminAddr}
	app.WaitHTTP(t, app.URL+"/readyz", 10*time.Second)
	return app
}

// hidesListening reports whether the LOG_LEVEL that env sets (the last
// entry wins, as for exec) is above info, and which it is.
func hidesListening(env []string) (string, bool) {
	level := ""
	for _, kv := range env {
		if value, ok := strings.CutPrefix(kv, "LOG_LEVEL="); ok {
			level = value
		}
	}
	switch strings.ToLower(level) {
	case "warn", "error":
		return level, true
	}
	return level, false
}

// WaitListening waits for the "listening" line that the v3 binary logs once
// both its ports are open, and returns the public and the admin address, on
// loopback. It fails the test after timeout, or as soon as the process has
// exited.
func (p *Process) WaitListening(t testing.TB, timeout time.Duration) (addr, adminAddr string) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if addr, adminAddr, ok := listeningOn(p.Output()); ok {
			return addr, adminAddr
		}
		if exited, code := p.Exited(); exited {
			t.Fatalf("%s exited with status %d before it listened:\n%s", p, code, p.Output())
		}
	}
	t.Fatalf("no \"listening\" line from %s within %s:\n%s", p, timeout, p.Output())
	return "", ""
}

// listeningOn reads the addresses from the "listening" log line, such as
// {"msg":"listening","addr":"[::]:41234","admin_addr":"[::]:39001",...}, and
// turns them into addresses on loopback.
func listeningOn(logs string) (addr, adminAddr string, ok bool) {
	for line := range strings.Lines(logs) {
		var entry struct {
			Msg       string `json:"msg"`
			Addr      string `json:"addr"`
			AdminAddr string `json:"admin_addr"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Msg != "listening" {
			continue
		}
		_, port, err1 := net.SplitHostPort(entry.Addr)
		_, adminPort, err2 := net.SplitHostPort(entry.AdminAddr)
		if err1 != nil || err2 != nil {
			return "", "", false
		}
		return net.JoinHostPort("127.0.0.1", port), net.JoinHostPort("127.0.0.1", adminPort), true
	}
	return "", "", false
}
