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
// with one line that says how many pings were lost, and nothing more (the
// README shows that line); on an unpatched copy, the control, it passes.
// Copies, so that the module itself is never changed.
func TestGetThenSetExercise(t *testing.T) {
	for _, tt := range []struct {
		name    string
		patched bool
	}{
		{"GET then SET loses counts", true},
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
			summaries := lostSummary.FindAllString(string(out), -1)
			reports := testReport.FindAllString(string(out), -1)
			t.Logf("go test: %v; %q", err, summaries)
			switch {
			case tt.patched && (err == nil || len(summaries) != 1 || len(reports) != 1):
				t.Errorf("with GET then SET the concurrency test should fail with one line saying how many pings were lost:\n%s", out)
			case !tt.patched && err != nil:
				t.Errorf("the unpatched copy fails the concurrency test: %v\n%s", err, out)
			}
		})
	}
}

// lostSummary matches the one line TestNextIsUniqueUnderConcurrency fails
// with, when some pings were lost; testReport matches any line a test
// reports.
var (
	lostSummary = regexp.MustCompile(`counter_test\.go:\d+: Redis holds \d+ after 2000 pings: [1-9]\d* lost`)
	testReport  = regexp.MustCompile(`(?m)^\s+\w+\.go:\d+: `)
)

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
