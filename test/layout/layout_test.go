// Package layout checks that the stages keep one layout: the difference
// between two stages is the lesson, so no file moves between them.
package layout

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// root is the repository's top folder, seen from test/layout.
const root = "../.."

// sourceFiles lists the files of a stage that a learner reads as code: Go
// sources and tests, the module files, the Dockerfile. READMEs, compose
// files and examples differ by design.
func sourceFiles(t *testing.T, stage string) []string {
	t.Helper()
	var files []string
	dir := filepath.Join(root, stage)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if strings.HasSuffix(name, ".go") || name == "go.mod" || name == "Dockerfile" {
			rel, _ := filepath.Rel(dir, path)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no source files in %s", dir)
	}
	return files
}

// TestEachStageKeepsThePreviousLayout: every source file of a stage is in
// the next stage at the same path, so that `diff -ru` shows what changed in
// it, never a file deleted here and added there.
func TestEachStageKeepsThePreviousLayout(t *testing.T) {
	for _, pair := range [][2]string{{"v2_containerized", "v3_redis_counter"}} {
		for _, f := range sourceFiles(t, pair[0]) {
			if _, err := os.Stat(filepath.Join(root, pair[1], f)); err != nil {
				t.Errorf("%s/%s has no counterpart in %s: %v", pair[0], f, pair[1], err)
			}
		}
	}
}

// TestMissingFileIsReported is the control: a file that is not in v3 is
// found missing by the same check.
func TestMissingFileIsReported(t *testing.T) {
	if _, err := os.Stat(filepath.Join(root, "v3_redis_counter", "no_such_file.go")); err == nil {
		t.Fatal("a file that does not exist was found")
	}
	if len(sourceFiles(t, "v2_containerized")) < 5 {
		t.Fatal("sourceFiles found fewer than 5 files in v2: the check would prove nothing")
	}
}

// TestCoreStepFitsOnAProjector: `make diff-v2-v3` prints the core step of
// stage 3, and it stays short enough to read in a workshop: at most 400
// lines, and it shows the lesson, the INCR.
func TestCoreStepFitsOnAProjector(t *testing.T) {
	cmd := exec.Command("make", "-s", "diff-v2-v3")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make diff-v2-v3: %v", err)
	}
	lines := strings.Count(string(out), "\n")
	t.Logf("make diff-v2-v3: %d lines", lines)
	if lines > 400 {
		t.Errorf("make diff-v2-v3 prints %d lines, want at most 400", lines)
	}
	for _, want := range []string{"+++ v3_redis_counter/handlers.go", "Incr(ctx"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("make diff-v2-v3 does not show %q", want)
		}
	}
}

// stageREADMEs are the pages a learner reads as a stage or a deep dive.
var stageREADMEs = []string{
	"v1_flask_equivalent/README.md",
	"v2_containerized/README.md",
	"v3_redis_counter/README.md",
	"v3_redis_counter/COALESCING.md",
	"v3_redis_counter/HA.md",
	"v3_redis_counter/ADMIN.md",
	"k8s/CLUSTERS.md",
	"k8s/README.md",
	"k8s/REDIS-HA.md",
	"helm/pingpong/README.md",
	"monitoring/README.md",
}

// TestEachStageOpensWithWhatItTakes: a stage's page says, within its first
// 20 lines, what you build, how long it takes, what you need and which
// ports it opens; stage 3's core path reads in one sitting (300 lines).
func TestEachStageOpensWithWhatItTakes(t *testing.T) {
	for _, name := range stageREADMEs {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		head := strings.Join(lines[:min(20, len(lines))], "\n")
		for _, row := range []string{"| **you build** |", "| **time** |", "| **you need** |", "| **ports** |"} {
			if !strings.Contains(head, row) {
				t.Errorf("%s: no %q row in its first 20 lines", name, row)
			}
		}
	}
	data, err := os.ReadFile(filepath.Join(root, "v3_redis_counter/README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n > 300 {
		t.Errorf("v3_redis_counter/README.md has %d lines, want at most 300", n)
	}
}

// goImageMismatches names each Dockerfile whose golang image is not the Go
// that go.work's toolchain line names, and go.work itself when it has none.
func goImageMismatches(goWork string, dockerfiles map[string]string) []string {
	toolchain := regexp.MustCompile(`(?m)^toolchain go(\S+)$`).FindStringSubmatch(goWork)
	if toolchain == nil {
		return []string{"go.work: no toolchain line"}
	}
	image := regexp.MustCompile(`golang:([^-\s]+)`)
	var wrong []string
	for name, text := range dockerfiles {
		for _, m := range image.FindAllStringSubmatch(text, -1) {
			if m[1] != toolchain[1] {
				wrong = append(wrong, name+": golang:"+m[1]+", go.work: go"+toolchain[1])
			}
		}
	}
	sort.Strings(wrong)
	return wrong
}

// The images build with the Go the workspace names, so that the tests, the
// linters and govulncheck see the Go that ships.
func TestImagesBuildWithTheWorkspaceGo(t *testing.T) {
	read := func(path string) string {
		b, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	dockerfiles := map[string]string{}
	for _, stage := range []string{"v2_containerized", "v3_redis_counter"} {
		dockerfiles[stage+"/Dockerfile"] = read(stage + "/Dockerfile")
		if !strings.Contains(dockerfiles[stage+"/Dockerfile"], "golang:") {
			t.Fatalf("%s/Dockerfile names no golang image", stage)
		}
	}
	if wrong := goImageMismatches(read("go.work"), dockerfiles); len(wrong) > 0 {
		t.Errorf("the images and go.work name different Go releases:\n%s", strings.Join(wrong, "\n"))
	}

	// The control: an image one release behind, and a workspace without the line.
	old := map[string]string{"Dockerfile": "FROM golang:1.26.0-alpine AS build\n"}
	if got := goImageMismatches("go 1.26.0\n\ntoolchain go1.26.11\n", old); len(got) != 1 {
		t.Errorf("an older image went unnoticed: %q", got)
	}
	if got := goImageMismatches("go 1.26.0\n", old); len(got) != 1 {
		t.Errorf("a workspace without a toolchain line went unnoticed: %q", got)
	}
}

// make test-e2e runs the end-to-end packages in groups (E2E_LOCAL,
// E2E_DOCKER, E2E_CLUSTER, and test/readme in two halves): a package in
// none of them would never run.
func TestE2EGroupsHoldEveryPackage(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var groups []string
	for _, m := range regexp.MustCompile(`\./test/(\S+)/\.\.\.`).FindAllStringSubmatch(string(b), -1) {
		groups = append(groups, "pingpong/test/"+m[1])
	}
	list := exec.Command("go", "list", "-f", "{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}", "./...")
	list.Dir = filepath.Join(root, "test")
	out, err := list.Output()
	if err != nil {
		t.Fatal(err)
	}
	packages := strings.Fields(string(out))
	if len(packages) < 5 {
		t.Fatalf("go list found only %q", packages)
	}
	for _, pkg := range packages {
		if !slices.ContainsFunc(groups, func(g string) bool { return pkg == g || strings.HasPrefix(pkg, g+"/") }) {
			t.Errorf("%s has tests but is in no group of the Makefile's test-e2e", pkg)
		}
	}
}
