package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckTestContext: a kubeconfig whose current context nobody named is
// left alone, whether the variable is unset or names another context; the
// context named is accepted (the control).
func TestCheckTestContext(t *testing.T) {
	Require(t, "kubectl")
	kubeconfig := filepath.Join(t.TempDir(), "config")
	// A learner's real cluster: kubectl only reads this file, it never connects.
	config := `apiVersion: v1
kind: Config
clusters:
  - name: production
    cluster: {server: "https://127.0.0.1:1"}
users:
  - name: me
    user: {token: "not-a-real-token"}
contexts:
  - name: production
    context: {cluster: production, user: me}
current-context: production
`
	if err := os.WriteFile(kubeconfig, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "KUBECONFIG=" + kubeconfig}
	for _, tc := range []struct {
		name, named, wantErr string
	}{
		{"unset", "", "PINGPONG_TEST_CONTEXT is not set"},
		{"another context", "kind-pingpong", `the current context is "production"`},
		{"the context named", "production", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := base
			if tc.named != "" {
				env = append(env[:len(env):len(env)], TestContextVariable+"="+tc.named)
			}
			err := CheckTestContext(env)
			t.Logf("CheckTestContext: %v", err)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused the context it was given: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
