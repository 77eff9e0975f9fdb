package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// CopyK8s copies the repository's k8s/ folder to a temporary folder, lets
// edit change its kustomization.yaml the way a learner's own copy might
// (another namespace, the other component), and returns the folder.
func CopyK8s(t testing.TB, edit func(kustomization map[string]any)) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "k8s")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(RepoRoot(t), "k8s"))); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "kustomization.yaml")
	var k map[string]any
	ReadYAML(t, file, &k)
	edit(k)
	out, err := yaml.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestContextVariable names the cluster the tests may change: they apply and
// delete objects, so they run only where the kubeconfig's current context is
// the one this variable names, and never on a cluster nobody named.
const TestContextVariable = "PINGPONG_TEST_CONTEXT"

// CheckTestContext says why the tests must leave the cluster of env's
// kubeconfig alone, or nil when its current context is the one
// PINGPONG_TEST_CONTEXT names. It is asked before anything else talks to
// the cluster.
func CheckTestContext(env []string) error {
	want := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, TestContextVariable+"="); ok {
			want = v
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", "config", "current-context")
	cmd.Env = env
	out, err := cmd.Output()
	current := strings.TrimSpace(string(out))
	switch {
	case err != nil:
		return fmt.Errorf("`kubectl config current-context` failed: %v", err)
	case want == "":
		return fmt.Errorf("%s is not set: the tests change the cluster they run on, so they leave %q alone; "+
			"set %s=%s to run them there", TestContextVariable, current, TestContextVariable, current)
	case want != current:
		return fmt.Errorf("the current context is %q, not %s=%q: the tests leave it alone",
			current, TestContextVariable, want)
	}
	return nil
}
