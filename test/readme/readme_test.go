package readme

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"pingpong/test/harness"
)

// workshop lists the READMEs in the order a learner meets them. A
// "#name" suffix runs only the blocks of that `<!-- section: name -->`;
// the README without a suffix runs the blocks outside any section.
var workshop = []string{
	"README.md",
	"v1_flask_equivalent/README.md",
	"v2_containerized/README.md",
	"v2_containerized/SECURITY.md",
	"v3_redis_counter/README.md",
	"v3_redis_counter/COALESCING.md",
	"v3_redis_counter/HA.md",
	"v3_redis_counter/ADMIN.md",
	"v3_redis_counter/SECURITY.md",
	"README.md#compose",
	"k8s/CLUSTERS.md",
	"k8s/README.md",
	"k8s/REDIS-HA.md",
	"helm/pingpong/README.md",
	"monitoring/README.md",
	"gitops/README.md",
	"TROUBLESHOOTING.md",
	"bench/README.md",
	"k8s/CLUSTERS.md#teardown",
}

// TestREADMEs runs every README of the workshop, one after the other: they
// use the same fixed ports (5000, 8080, ...), as a learner's machine would.
func TestREADMEs(t *testing.T) {
	root := harness.RepoRoot(t)
	r := &Runner{
		Env:       blockEnv(t),
		CI:        harness.InCI(),
		PortGrace: 30 * time.Second,
	}
	// PINGPONG_PLATFORM selects the blocks marked `platform NAME`; the
	// others count as skipped, and the summary says how many and why.
	platform := os.Getenv("PINGPONG_PLATFORM")
	// PINGPONG_READMES=cluster runs only the pages with a block on the
	// cluster, =no-cluster only the others (make runs the others before the
	// cluster is needed); unset, every page.
	group := os.Getenv("PINGPONG_READMES")
	if group != "" && group != "cluster" && group != "no-cluster" {
		t.Fatalf("PINGPONG_READMES=%q: want cluster, no-cluster or nothing", group)
	}
	skipped := map[string]int{}
	t.Cleanup(func() { t.Log(SkipSummary(skipped)) })
	for _, entry := range workshop {
		t.Run(entry, func(t *testing.T) {
			name, section, _ := strings.Cut(entry, "#")
			path := filepath.Join(root, filepath.FromSlash(name))
			content, err := os.ReadFile(path)
			if os.IsNotExist(err) {
				if harness.InCI() {
					t.Fatalf("%s: missing; the workshop lists it", name)
				}
				t.Skipf("%s does not exist yet", name)
			}
			if err != nil {
				t.Fatal(err)
			}
			doc, err := Parse(name, string(content))
			if err != nil && section != "" {
				t.Fatalf("%s has blocks the harness cannot run (listed under TestREADMEs/%s)", name, name)
			}
			if err != nil {
				t.Fatalf("%s has blocks the harness cannot run:\n%v", name, err)
			}
			for _, sec := range doc.Sections {
				if section == "" && !slices.Contains(workshop, name+"#"+sec) {
					t.Errorf("%s: <!-- section: %s --> is not in the workshop order of test/readme: its blocks would never run", name, sec)
				}
			}
			if section != "" && !doc.HasSection(section) {
				if harness.InCI() {
					t.Fatalf("%s: no <!-- section: %s --> before a heading; the workshop runs that section after the stages", name, section)
				}
				t.Skipf("%s has no section %q yet", name, section)
			}
			steps := ForPlatform(doc.Part(section), platform)
			if group != "" && UsesCluster(steps) != (group == "cluster") {
				t.Skipf("runs with PINGPONG_READMES=%s", map[bool]string{true: "cluster", false: "no-cluster"}[UsesCluster(steps)])
			}
			if !runsSomething(steps) && runsSomething(doc.Part(section)) {
				// Chosen, not missing: every block is for another platform.
				t.Skipf("every block%s is for a platform other than PINGPONG_PLATFORM=%q", inSection(section), platform)
			}
			if !runsSomething(steps) {
				// A README that runs nothing proves nothing.
				if harness.InCI() {
					t.Fatalf("%s has no <!-- run --> block%s: none of its commands is tested", name, inSection(section))
				}
				t.Skipf("%s has no <!-- run --> block%s yet", name, inSection(section))
			}
			// Stop in time to stop the background blocks and run the
			// cleanups before go test's own -timeout kills the test.
			ctx := t.Context()
			if d, ok := t.Deadline(); ok {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, d.Add(-2*time.Minute))
				defer cancel()
			}
			r.Logf = t.Logf
			res := r.Run(ctx, doc, filepath.Dir(path), steps)
			for _, f := range res.Failures {
				t.Error(f)
			}
			SkipCounts(steps, skipped)
			if res.Skipped != "" {
				for _, s := range steps {
					if s.Kind == Run {
						skipped["the README could not run: "+res.Skipped]++
					}
				}
				t.Skip(res.Skipped)
			}
		})
	}
}

func runsSomething(steps []Step) bool {
	for _, s := range steps {
		if s.Kind == Run {
			return true
		}
	}
	return false
}

func inSection(section string) string {
	if section == "" {
		return ""
	}
	return " in its section " + section
}

// blockEnv is the environment of the blocks: this process's own, CI and
// DOCKER_HOST and KUBECONFIG included, with a HOME that exists.
func blockEnv(t *testing.T) []string {
	env := os.Environ()
	if home := os.Getenv("HOME"); home == "" || !isDir(home) {
		env = withEnv(env, "HOME", t.TempDir())
	}
	return env
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
