package manifests

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	"pingpong/test/harness"
)

// run executes a program from the repository root and returns its standard output; a failure
// reports the command and everything it printed.
func run(t *testing.T, program string, args ...string) []byte {
	t.Helper()
	out, errOut, err := tryRun(t, program, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", program, strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// tryRun is run for a command that is expected to fail: the error is returned, not reported.
func tryRun(t *testing.T, program string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	path := harness.Require(t, program)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = harness.RepoRoot(t)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

func repoPath(t *testing.T, elem ...string) string {
	return filepath.Join(append([]string{harness.RepoRoot(t)}, elem...)...)
}

// decode decodes strictly or fails the test, naming where the YAML came from.
func decode(t *testing.T, source string, data []byte) []runtime.Object {
	t.Helper()
	objects, err := Decode(data)
	if err != nil {
		t.Fatalf("%s: %v", source, err)
	}
	if len(objects) == 0 {
		t.Fatalf("%s: no objects", source)
	}
	return objects
}

// kindsOf lists "Kind/name" for every object, sorted.
func kindsOf(t *testing.T, objects []runtime.Object) []string {
	t.Helper()
	var kinds []string
	for _, obj := range objects {
		m, err := meta.Accessor(obj)
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, obj.GetObjectKind().GroupVersionKind().Kind+"/"+m.GetName())
	}
	slices.Sort(kinds)
	return kinds
}

// find returns the only object of type T named name, or fails.
func find[T runtime.Object](t *testing.T, objects []runtime.Object, name string) T {
	t.Helper()
	var found []T
	for _, obj := range objects {
		typed, ok := obj.(T)
		if !ok {
			continue
		}
		if m, err := meta.Accessor(obj); err == nil && m.GetName() == name {
			found = append(found, typed)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("want one %T named %q, found %d", zero, name, len(found))
	}
	return found[0]
}
