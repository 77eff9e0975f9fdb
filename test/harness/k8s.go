package harness

import (
	"os"
	"path/filepath"
	"testing"

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
