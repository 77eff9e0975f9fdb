package manifests

import (
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		objects int
		err     string
	}{
		{"two objects and an empty document", "# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n", 2, ""},
		{"misspelt field", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndatta: {}\n", 0, `unknown field "datta"`},
		{"field at the wrong level", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  replicas: 1\n  containers: []\n", 0, `unknown field "spec.containers"`},
		{"duplicated key", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {}\ndata: {}\n", 0, `key "data" already set`},
		{"unknown kind", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: a}\n", 0, "no kind"},
		{"wrong type", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {replicas: three}\n", 0, "replicas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objects, err := Decode([]byte(tt.yaml))
			if tt.err == "" {
				if err != nil || len(objects) != tt.objects {
					t.Fatalf("got %d objects, %v; want %d objects", len(objects), err, tt.objects)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("got error %v, want one containing %q", err, tt.err)
			}
		})
	}
}
