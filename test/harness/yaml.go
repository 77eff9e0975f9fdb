package harness

import (
	"os"
	"testing"

	"go.yaml.in/yaml/v3"
)

// ReadYAML decodes a YAML file into v, failing the test on any error. The
// decoder is go.yaml.in/yaml/v3: fields are matched by their `yaml:` tags
// (or their lower-cased names), and a type may decode itself from a
// yaml.Node. Kubernetes objects are read strictly, into their own types, by
// test/cluster/manifests instead.
func ReadYAML(t testing.TB, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
