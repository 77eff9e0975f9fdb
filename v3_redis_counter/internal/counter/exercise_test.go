package counter

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestGetThenSetExercise checks the outcome that the README's "Try it"
// promises. testdata/get-then-set.patch makes the plain counter do what the
// Flask workshop did: GET the count, add one, SET it back. On a copy of the
// module with the patch applied, TestNextIsUniqueUnderConcurrency must fail
// with counts handed out twice; on an unpatched copy, the control, it
// passes. Copies, so that the module itself is never changed.
func TestGetThenSetExercise(t *testing.T) {
	for _, tt := range []struct {
		name    string
		patched bool
	}{
		{"GET then SET repeats counts", true},
		{"INCR, the control, does not", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			module := copyModule(t)
			if tt.patched {
				run(t, module, "git", "apply", filepath.Join("internal", "counter", "testdata", "get-then-set.patch"))
			}
			cmd := exec.Command("go", "test", "-count=1", "-run", "^TestNextIsUniqueUnderConcurrency$", "./internal/counter/")
			cmd.Dir = module
			cmd.Env = append(os.Environ(), "GOWORK=off")
			out, err := cmd.CombinedOutput()
			repeated := len(handedOutAgain.FindAllString(string(out), -1))
			t.Logf("go test: %v; %d counts handed out more than once", err, repeated)
			switch {
			case tt.patched && (err == nil || repeated == 0):
				t.Errorf("with GET then SET the concurrency test should fail with counts handed out twice:\n%s", out)
			case !tt.patched && err != nil:
				t.Errorf("the unpatched copy fails the concurrency test: %v\n%s", err, out)
			}
		})
	}
}

// handedOutAgain matches assertUnique's message for a count handed out two
// times or more.
var handedOutAgain = regexp.MustCompile(`was handed out ([2-9]|[1-9][0-9]+) times`)

// copyModule copies the v3 module (two folders up) into a folder of the
// test's own and returns its path.
func copyModule(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "v3_redis_counter")
	if err := os.CopyFS(dst, os.DirFS(filepath.Join("..", ".."))); err != nil {
		t.Fatal(err)
	}
	return dst
}

func run(t *testing.T, dir, program string, args ...string) {
	t.Helper()
	cmd := exec.Command(program, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", program, strings.Join(args, " "), err, out)
	}
}
