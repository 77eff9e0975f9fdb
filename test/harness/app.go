package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// App is a running v3 binary: its public API at URL, its metrics and admin
// API at AdminURL.
type App struct {
	*Process
	URL, AdminURL   string
	Port, AdminPort int
}

// StartApp runs the binary on two free ports with the given environment
// ("NAME=value" entries) and waits until it reports itself ready.
func StartApp(t testing.TB, bin string, env ...string) *App {
	t.Helper()
	port, adminPort := FreePort(t), FreePort(t)
	env = append([]string{"PORT=" + strconv.Itoa(port), "ADMIN_PORT=" + strconv.Itoa(adminPort)}, env...)
	app := &App{Process: Start(t, env, bin),
		URL: fmt.Sprintf("http://127.0.0.1:%d", port), AdminURL: fmt.Sprintf("http://127.0.0.1:%d", adminPort),
		Port: port, AdminPort: adminPort}
	app.WaitHTTP(t, app.URL+"/readyz", 10*time.Second)
	return app
}
