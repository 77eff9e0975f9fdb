package harness

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// RequireDocker checks that a Docker engine answers, at DOCKER_HOST or the
// default socket. Without one the test is skipped on a developer's machine
// and fails in CI, like Require.
func RequireDocker(t testing.TB) {
	t.Helper()
	Require(t, "docker")
	if out, err := docker(30*time.Second, "", nil, "info", "--format", "{{.ServerVersion}}"); err != nil {
		missing(t, "no Docker engine answers: %v\n%s", err, out)
	}
}

// RequireCompose checks for an engine and for Compose v2 (`docker compose`).
func RequireCompose(t testing.TB) {
	t.Helper()
	RequireDocker(t)
	out, err := docker(30*time.Second, "", nil, "compose", "version", "--short")
	if err != nil {
		missing(t, "docker compose is not installed: %v\n%s", err, out)
	}
	if !strings.HasPrefix(strings.TrimPrefix(strings.TrimSpace(out), "v"), "2.") {
		missing(t, "docker compose %s is not Compose v2", strings.TrimSpace(out))
	}
}

func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// Docker runs the docker CLI and returns what it printed on stdout, failing
// the test with everything it printed when it does not succeed.
func Docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := docker(15*time.Minute, "", nil, args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TryDocker runs the docker CLI and returns its output, with stderr on failure,
// without failing the test: for diagnostics and for steps that may fail.
func TryDocker(args ...string) (string, error) {
	return docker(15*time.Minute, "", nil, args...)
}

// ImageSize is the size of a local image in bytes.
func ImageSize(t testing.TB, image string) int64 {
	t.Helper()
	out := Docker(t, "image", "inspect", "--format", "{{.Size}}", image)
	size, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		t.Fatalf("size of %s: %v", image, err)
	}
	return size
}

// Compose is a Compose project of a test's own: a unique project name, so its
// containers, networks and volumes never meet those of another test or of a
// learner's `docker compose up`; and `down -v` when the test ends, whatever
// happened.
type Compose struct {
	Project string
	dir     string
	args    []string // before the subcommand: -p, -f, --env-file
	env     []string
}

var projects atomic.Int64

// NewCompose prepares the project in dir. args are global options for every
// command (for example "-f", "docker-compose.yml" or "--env-file", ".env.example");
// env is added to the environment, for the variables the compose file reads.
func NewCompose(t testing.TB, dir string, args, env []string) *Compose {
	t.Helper()
	RequireCompose(t)
	name := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-"))
	c := &Compose{
		Project: fmt.Sprintf("e2e-%s-%d-%d", strings.Trim(name, "-"), time.Now().Unix()%100000, projects.Add(1)),
		dir:     dir,
		env:     env,
	}
	c.args = append([]string{"compose", "--project-name", c.Project}, args...)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := c.try(time.Minute, "ps", "--all")
			logs, _ := c.try(time.Minute, "logs", "--no-color", "--tail", "60")
			t.Logf("compose project %s at the failure:\n%s\n%s", c.Project, out, logs)
		}
		if out, err := c.try(5*time.Minute, "down", "--volumes", "--remove-orphans", "--timeout", "5"); err != nil {
			t.Errorf("docker compose down -v: %v\n%s", err, out)
		}
	})
	return c
}

// Run runs `docker compose <args>` in the project and returns its stdout,
// failing the test if it does not succeed.
func (c *Compose) Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.try(15*time.Minute, args...)
	if err != nil {
		t.Fatalf("docker compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Up starts the services (all when none are named), builds what has a build
// section, and waits until every container reports healthy. Nothing is
// pulled: the base images must be on the engine already.
func (c *Compose) Up(t testing.TB, services ...string) {
	t.Helper()
	start := time.Now()
	c.Run(t, append([]string{"up", "--detach", "--build", "--pull", "never", "--wait", "--wait-timeout", "180"}, services...)...)
	t.Logf("docker compose up (%s): healthy after %s", c.Project, time.Since(start).Round(100*time.Millisecond))
}

// Containers lists the IDs of the containers of a service.
func (c *Compose) Containers(t testing.TB, service string) []string {
	t.Helper()
	return strings.Fields(c.Run(t, "ps", "--quiet", service))
}

func (c *Compose) try(timeout time.Duration, args ...string) (string, error) {
	return docker(timeout, c.dir, c.env, append(append([]string{}, c.args...), args...)...)
}

// docker runs the CLI; on failure the output holds stderr as well, to explain it.
func docker(timeout time.Duration, dir string, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}
