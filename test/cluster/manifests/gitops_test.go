package manifests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Stage 8's Application (gitops/application.yaml) passes the checks the API server makes against
// the CRD of the Argo CD release CI's node runs, and points at what this repository holds: the
// chart's folder, and the stage's values file inside the repository (Argo CD refuses a values file
// outside it), released as "pingpong" into the namespace pingpong, with automated sync, pruning
// and self-heal.
func TestGitOpsApplication(t *testing.T) {
	data, err := os.ReadFile(repoPath(t, "gitops", "application.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objects, err := DecodeWith(data, customResourceDefinitions(t))
	if err != nil {
		t.Fatalf("gitops/application.yaml: %v", err)
	}
	if len(objects) != 1 {
		t.Fatalf("%d objects in gitops/application.yaml, want 1", len(objects))
	}
	app, ok := objects[0].(*unstructured.Unstructured)
	if !ok || app.GetKind() != "Application" {
		t.Fatalf("gitops/application.yaml holds a %T, want an Application checked against its CRD", objects[0])
	}
	str := func(path ...string) string {
		v, _, _ := unstructured.NestedString(app.Object, path...)
		return v
	}
	if got := str("spec", "source", "path"); got != chart {
		t.Errorf("the Application renders %q, want the chart %s", got, chart)
	}
	files, _, _ := unstructured.NestedStringSlice(app.Object, "spec", "source", "helm", "valueFiles")
	want := repoPath(t, "gitops", "values.yaml")
	if len(files) != 1 || filepath.Join(repoPath(t, chart), files[0]) != want {
		t.Errorf("the Application's values files %v, relative to the chart, are not gitops/values.yaml", files)
	}
	for _, f := range files {
		if !strings.HasPrefix(filepath.Join(repoPath(t, chart), f), repoPath(t)+string(filepath.Separator)) {
			t.Errorf("the values file %s is outside the repository, which Argo CD refuses", f)
		}
	}
	if got := str("spec", "source", "helm", "releaseName"); got != "pingpong" {
		t.Errorf("release name %q, want pingpong (the name the README's commands use)", got)
	}
	if got := str("spec", "destination", "namespace"); got != "pingpong" {
		t.Errorf("destination namespace %q, want pingpong", got)
	}
	for _, field := range []string{"prune", "selfHeal"} {
		if on, _, _ := unstructured.NestedBool(app.Object, "spec", "syncPolicy", "automated", field); !on {
			t.Errorf("syncPolicy.automated.%s is not true", field)
		}
	}
	if !strings.Contains(str("spec", "source", "repoURL"), "YOUR-GITHUB-USER") {
		t.Errorf("repoURL %q: the README's sed replaces YOUR-GITHUB-USER with the learner's", str("spec", "source", "repoURL"))
	}
}

// The control of the Application's check: a misspelt field and a value of the wrong type are
// refused, with the field named.
func TestGitOpsApplicationChecksRefuse(t *testing.T) {
	data, err := os.ReadFile(repoPath(t, "gitops", "application.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	checkRefusals(t, data, []refusal{
		{"selfHeal: true", "selfheal: true", "selfheal"},
		{"prune: true", "prune: [true]", "prune"},
		{"valueFiles:", "valuesFiles:", "valuesFiles"},
	})
}
