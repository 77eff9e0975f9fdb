package compose_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pingpong/test/harness"
)

// TestV2DockerRun follows the plain-Docker steps of v2's README: build the image, run it with a
// read-only root file system, and ping it.
func TestV2DockerRun(t *testing.T) {
	harness.RequireDocker(t)
	dir := filepath.Join(harness.RepoRoot(t), "v2_containerized")

	start := time.Now()
	harness.Docker(t, "build", "--tag", "pingpong:v2", dir)
	t.Logf("docker build pingpong:v2: %s", time.Since(start).Round(100*time.Millisecond))

	if out := harness.Docker(t, "run", "--rm", "pingpong:v2", "version"); !strings.Contains(out, "v0.1.0") {
		t.Errorf("pingpong version in the image printed %q, want the stamped v0.1.0", out)
	}

	port := harness.FreePort(t)
	name := fmt.Sprintf("e2e-v2-%d", port)
	id := strings.TrimSpace(harness.Docker(t, "run", "--detach", "--name", name, "--read-only",
		"--publish", fmt.Sprintf("127.0.0.1:%d:5000", port), "pingpong:v2"))
	logImageSize(t, id)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := harness.TryDocker("logs", id)
			t.Logf("logs of %s:\n%s", name, logs)
		}
		harness.Docker(t, "rm", "--force", "--volumes", id)
	})

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	r := eventually(t, base+"/ping", 200, 20*time.Second)
	if r.body != "pong" && r.body != "pong\n" {
		t.Errorf("GET /ping = %q, want pong", r.body)
	}
	checkHardened(t, id)
	waitHealthy(t, id, 30*time.Second)
}

// TestV2Compose runs v2's compose.yaml as its README says: up, ping, and the container runs as
// a non-root user on a read-only root file system.
func TestV2Compose(t *testing.T) {
	dir := filepath.Join(harness.RepoRoot(t), "v2_containerized")
	port := harness.FreePort(t)
	c := harness.NewCompose(t, dir, nil, []string{"HOST_PORT=" + strconv.Itoa(port)})
	c.Up(t)

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	r := mustGet(t, base+"/ping", "", 200)
	if r.body != "pong" && r.body != "pong\n" {
		t.Errorf("GET /ping = %q, want pong", r.body)
	}
	ids := c.Containers(t, "app")
	if len(ids) != 1 {
		t.Fatalf("service app has %d containers, want 1", len(ids))
	}
	logImageSize(t, ids[0])
	checkHardened(t, ids[0])
}

// logImageSize logs the name and size of the image a container runs, and returns the size.
func logImageSize(t *testing.T, container string) int64 {
	t.Helper()
	fields := strings.Fields(harness.Docker(t, "inspect", "--format", "{{.Config.Image}} {{.Image}}", container))
	if len(fields) != 2 {
		t.Fatalf("docker inspect %s: %q", container, fields)
	}
	size := harness.ImageSize(t, fields[1])
	t.Logf("image %s: %.1f MB", fields[0], float64(size)/1e6)
	return size
}

// checkHardened checks that the container's process runs as a non-root user, as the kernel
// sees it, and that its root file system is mounted read-only.
func checkHardened(t *testing.T, id string) {
	t.Helper()
	fields := strings.Fields(harness.Docker(t, "inspect", "--format",
		"{{.State.Pid}} {{.HostConfig.ReadonlyRootfs}} {{.Config.User}}", id))
	if len(fields) != 3 {
		t.Fatalf("docker inspect %s: %q", id, fields)
	}
	if fields[1] != "true" {
		t.Errorf("container %s: read-only root file system = %s, want true", id, fields[1])
	}
	if fields[2] == "" || strings.HasPrefix(fields[2], "0") || strings.HasPrefix(fields[2], "root") {
		t.Errorf("container %s: image user %q, want a non-root user", id, fields[2])
	}
	// The engine runs on this machine: its /proc shows the process's real user IDs.
	status, err := os.ReadFile(filepath.Join("/proc", fields[0], "status"))
	if err != nil {
		t.Fatalf("reading the status of the container's process: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if ids, ok := strings.CutPrefix(line, "Uid:"); ok {
			for _, uid := range strings.Fields(ids) {
				if uid == "0" {
					t.Errorf("container %s runs as root: %s", id, line)
				}
			}
			return
		}
	}
	t.Errorf("no Uid line in /proc/%s/status", fields[0])
}

// waitHealthy waits until Docker reports the container healthy, which proves the image's
// HEALTHCHECK (the binary's own healthcheck command) works.
func waitHealthy(t *testing.T, id string, timeout time.Duration) {
	t.Helper()
	var state string
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		state = strings.TrimSpace(harness.Docker(t, "inspect", "--format", "{{.State.Health.Status}}", id))
		if state == "healthy" {
			return
		}
	}
	t.Fatalf("container %s is %q after %s, want healthy", id, state, timeout)
}
