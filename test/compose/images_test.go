package compose_test

import (
	"debug/elf"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pingpong/test/harness"
)

// TestImagesForBothArchitectures runs `make images`, which builds the final stage for
// linux/amd64 and linux/arm64 on this one machine by cross-compiling, and checks each image for
// what it claims: the platform in its configuration and the machine in its binary's ELF header.
// The amd64 image is the control that the check tells the two apart. The arm64 binary then runs
// under qemu-aarch64-static and answers /ping, so it is a working program, not just a header.
func TestImagesForBothArchitectures(t *testing.T) {
	harness.RequireDocker(t)
	qemu := harness.Require(t, "qemu-aarch64-static")
	root := harness.RepoRoot(t)
	const image = "pingpong-e2e"

	start := time.Now()
	cmd := exec.Command("make", "images", "IMAGE="+image)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make images: %v\n%s", err, out)
	}
	t.Logf("make images: %s", time.Since(start).Round(100*time.Millisecond))

	binaries := map[string]string{}
	for _, tt := range []struct {
		platform string
		machine  elf.Machine
	}{
		{"linux/amd64", elf.EM_X86_64},
		{"linux/arm64", elf.EM_AARCH64},
	} {
		tag := image + ":v3-" + strings.ReplaceAll(tt.platform, "/", "-")
		t.Cleanup(func() { _, _ = harness.TryDocker("image", "rm", tag) })
		if got := strings.TrimSpace(harness.Docker(t, "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", tag)); got != tt.platform {
			t.Errorf("%s is an image for %s, want %s", tag, got, tt.platform)
		}
		bin := copyOut(t, tag, "/pingpong")
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatalf("%s: /pingpong: %v", tag, err)
		}
		machine := f.Machine
		f.Close()
		if machine != tt.machine {
			t.Errorf("%s: /pingpong is a %s binary, want %s", tag, machine, tt.machine)
		}
		t.Logf("%s: platform %s, /pingpong is an ELF for %s", tag, tt.platform, machine)
		binaries[tt.platform] = bin
	}

	// The embedded Redis keeps the count; the kernel picks both ports, and the log says which.
	// Emulated, the program runs many times slower than natively, on a machine that may be busy
	// building: its Redis commands get 5s (REDIS_TIMEOUT) instead of the 500ms meant for a native
	// process, or the first ping can time out (seen once: 503 after 0.9s).
	app := harness.Start(t, []string{"PORT=0", "ADMIN_PORT=0", "REDIS_TIMEOUT=5s"}, qemu, binaries["linux/arm64"])
	addr, _ := app.WaitListening(t, 30*time.Second)
	status, body := httpGet(t, "http://"+addr+"/ping")
	if status != 200 || body != "1\n" {
		t.Fatalf("GET /ping on the arm64 binary under qemu: %d %q, want 200 \"1\\n\"", status, body)
	}
	t.Logf("the arm64 binary, under %s, answered GET /ping with %q", filepath.Base(qemu), strings.TrimSpace(body))
}

// copyOut copies one file out of an image into a folder of the test's own, and returns its path.
func copyOut(t *testing.T, image, path string) string {
	t.Helper()
	id := strings.TrimSpace(harness.Docker(t, "create", image))
	defer harness.Docker(t, "rm", id)
	dest := filepath.Join(t.TempDir(), filepath.Base(path))
	harness.Docker(t, "cp", id+":"+path, dest)
	return dest
}

// httpGet returns the status and body of GET url.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	r, err := get(url, "")
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return r.status, r.body
}
