package readme

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseSteps(t *testing.T) {
	b, err := os.ReadFile("testdata/pass.md")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Parse("testdata/pass.md", string(b))
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		kind   Kind
		first  string // first line of the block
		output bool
		exit   int
	}
	wants := []want{
		{Run, "name=learner", true, 0},
		{Run, "mkdir -p notes", false, 0},
		{Run, "pwd | grep -q '/notes$'", true, 0},
		{Run, `for i in 1 2 3 4 5; do echo "line $i at $(date +%s)"; done`, true, 0},
		{Run, "echo 'PORT=abc: not a number' >&2", true, 2},
		{Skip, "gcloud container clusters create pingpong", false, 0},
		{Run, "echo indented", true, 0},
	}
	if len(doc.Steps) != len(wants) {
		t.Fatalf("want %d steps, got %d: %+v", len(wants), len(doc.Steps), doc.Steps)
	}
	for i, w := range wants {
		s := doc.Steps[i]
		first, _, _ := strings.Cut(s.Text, "\n")
		if s.Kind != w.kind || first != w.first || (s.Output != nil) != w.output || s.Exit != w.exit {
			t.Errorf("step %d: got kind %d %q output=%v exit %d, want %+v", i, s.Kind, first, s.Output != nil, s.Exit, w)
		}
		if lines := strings.Split(string(b), "\n"); lines[s.Line-1] != strings.Repeat(" ", len(lines[s.Line-1])-len(first))+first {
			t.Errorf("step %d: line %d is %q, not the block's first line", i, s.Line, lines[s.Line-1])
		}
	}
	if got := doc.Steps[5].Reason; got != "needs a cloud account" {
		t.Errorf("skip reason %q", got)
	}
}

func TestParseOptions(t *testing.T) {
	doc, err := Parse("x.md", "<!-- run: background, needs cluster, timeout 10m -->\n```sh\nkubectl port-forward svc/x 8080:80\n```\n"+
		"<!-- wait: http://127.0.0.1:8080/healthz, timeout 2m -->\n"+
		"<!-- cleanup: needs helm -->\n\n```bash\nhelm uninstall x\n```\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Steps) != 3 {
		t.Fatalf("want 3 steps, got %+v", doc.Steps)
	}
	bg, wait, cleanup := doc.Steps[0], doc.Steps[1], doc.Steps[2]
	if !bg.Background || len(bg.Needs) != 1 || bg.Needs[0] != "cluster" || bg.Timeout != 10*time.Minute || bg.Line != 3 {
		t.Errorf("background step: %+v", bg)
	}
	if wait.Kind != Wait || wait.URL != "http://127.0.0.1:8080/healthz" || wait.Timeout != 2*time.Minute || wait.Line != 5 {
		t.Errorf("wait step: %+v", wait)
	}
	if cleanup.Kind != Cleanup || cleanup.Needs[0] != "helm" || cleanup.Timeout != DefaultTimeout || cleanup.Line != 9 {
		t.Errorf("cleanup step: %+v", cleanup)
	}
	if got := ports(doc.Steps, portREs); len(got) != 1 || got[0].port != 8080 || got[0].line != 3 {
		t.Errorf("ports: %+v", got)
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct{ name, readme, problem string }{
		{"remote wait", "<!-- wait: http://example.com/ -->\n", "only loopback hosts"},
		{"wait without URL", "<!-- wait -->\n", "needs a URL"},
		{"bad timeout", "<!-- run: timeout soon -->\n```sh\ntrue\n```\n", `bad timeout "soon"`},
		{"bad exit", "<!-- run: exit -1 -->\n```sh\ntrue\n```\n", `bad exit status "-1"`},
		{"background output", "<!-- run: background -->\n```sh\nsleep 9\n```\n<!-- output -->\n```text\nx\n```\n", "follows a background block"},
		{"unclosed block", "<!-- run -->\n```sh\ntrue\n", "never closed"},
		{"section not before a heading", "<!-- section: compose -->\ntext\n", "right before a heading"},
		{"empty block", "<!-- run -->\n```sh\n```\n", "the block is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.md", tc.readme)
			if err == nil || !strings.Contains(err.Error(), tc.problem) || !strings.HasPrefix(err.Error(), "x.md:") {
				t.Errorf("want a problem with %q, got %v", tc.problem, err)
			}
		})
	}
}

// TestUsesCluster: a page waits for the cluster when a block it runs, or a
// cleanup, needs one; skipped blocks do not count.
func TestUsesCluster(t *testing.T) {
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"<!-- run -->\n```sh\necho hi\n```\n", false},
		{"<!-- run: needs docker -->\n```sh\ndocker ps\n```\n", false},
		{"<!-- skip: a learner's cluster -->\n```sh\nkubectl get pods\n```\n", false},
		{"<!-- run: needs cluster -->\n```sh\nkubectl get pods\n```\n", true},
		{"<!-- run -->\n```sh\necho hi\n```\n\n<!-- cleanup: needs cluster -->\n```sh\nkubectl delete ns x\n```\n", true},
	} {
		doc, err := Parse("x.md", tc.text)
		if err != nil {
			t.Fatal(err)
		}
		if got := UsesCluster(doc.Part("")); got != tc.want {
			t.Errorf("UsesCluster(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}
