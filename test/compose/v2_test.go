package compose_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pingpong/test/harness"
)

// TestV2DockerRun checks what v2's README, which builds, runs and pings the image, does not: run
// with a read-only root file system, the container's process is not root as the kernel sees it,
// and the image's HEALTHCHECK (the binary's own healthcheck command) makes Docker report the
// container healthy. The README's Compose steps show the same image's user and read-only root.
func TestV2DockerRun(t *testing.T) {
	harness.RequireDocker(t)
	dir := filepath.Join(harness.RepoRoot(t), "v2_containerized")

	start := time.Now()
	harness.Docker(t, "build", "--tag", "pingpong:v2", dir)
	t.Logf("docker build pingpong:v2: %s", time.Since(start).Round(100*time.Millisecond))

	name := fmt.Sprintf("e2e-v2-%d", time.Now().UnixNano())
	id := strings.TrimSpace(harness.Docker(t, "run", "--detach", "--name", name, "--read-only", "pingpong:v2"))
	logImageSize(t, id)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := harness.TryDocker("logs", id)
			t.Logf("logs of %s:\n%s", name, logs)
		}
		harness.Docker(t, "rm", "--force", "--volumes", id)
	})

	checkHardened(t, id)
	waitHealthy(t, id, 30*time.Second)
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
