package readme

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"pingpong/test/harness"
)

// TestMain lets the test binary be the server of the background fixtures
// (README_FIXTURE_SERVE=addr), so that they need nothing but Go and bash.
func TestMain(m *testing.M) {
	if addr := os.Getenv("README_FIXTURE_SERVE"); addr != "" {
		os.Exit(serveFixture(addr))
	}
	os.Exit(m.Run())
}

// serveFixture answers /ping with "pong" and /readyz with 503 for its first
// half second, so that a wait marker has something to wait for.
func serveFixture(addr string) int {
	start := time.Now()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "pong") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if time.Since(start) < 500*time.Millisecond {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("listening on", addr)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		srv.Close()
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// fixture is a README from testdata, with {{PORT}} replaced, written to a
// folder of its own that the blocks run in.
type fixture struct {
	name    string // as in messages: testdata/NAME
	dir     string
	content string
	doc     *Doc
	port    int
}

func loadFixture(t *testing.T, file string) *fixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{name: "testdata/" + file, dir: t.TempDir(), port: harness.FreePort(t)}
	f.content = strings.ReplaceAll(string(b), "{{PORT}}", strconv.Itoa(f.port))
	if err := os.WriteFile(filepath.Join(f.dir, "README.md"), []byte(f.content), 0o644); err != nil {
		t.Fatal(err)
	}
	f.doc, err = Parse(f.name, f.content)
	if err != nil {
		t.Fatalf("parsing %s: %v", file, err)
	}
	return f
}

// line is the 1-based line of the fixture that contains text.
func (f *fixture) line(t *testing.T, text string) int {
	t.Helper()
	for i, l := range strings.Split(f.content, "\n") {
		if strings.Contains(l, text) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line with %q", f.name, text)
	return 0
}

func testRunner(t *testing.T) *Runner {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := withEnv(os.Environ(), "README_FIXTURE_BIN", self)
	return &Runner{Env: env, Logf: t.Logf, KillGrace: 5 * time.Second}
}

func (f *fixture) run(t *testing.T, r *Runner) Result {
	t.Helper()
	return r.Run(t.Context(), f.doc, f.dir, f.doc.Part(""))
}

// oneFailure checks that there is exactly one failure and that it starts
// with "name:line: command" and contains every part.
func oneFailure(t *testing.T, res Result, head string, parts ...string) string {
	t.Helper()
	if len(res.Failures) != 1 {
		t.Fatalf("want 1 failure, got %d:\n%s", len(res.Failures), strings.Join(res.Failures, "\n----\n"))
	}
	got := res.Failures[0]
	t.Logf("the failure reads:\n%s", got)
	if !strings.HasPrefix(got, head) {
		t.Errorf("failure should start with %q:\n%s", head, got)
	}
	for _, p := range parts {
		if !strings.Contains(got, p) {
			t.Errorf("failure should contain %q:\n%s", p, got)
		}
	}
	return got
}

func TestPassingREADME(t *testing.T) {
	f := loadFixture(t, "pass.md")
	res := f.run(t, testRunner(t))
	if len(res.Failures) > 0 || res.Skipped != "" {
		t.Fatalf("want a pass, got %+v", res)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "notes")); err != nil {
		t.Errorf("the blocks did not run in the README's folder: %v", err)
	}
}

func TestFailingCommandPointsAtItsLine(t *testing.T) {
	f := loadFixture(t, "failing.md")
	res := f.run(t, testRunner(t))
	head := fmt.Sprintf("testdata/failing.md:%d: test -d no-such-folder", f.line(t, "no-such-folder"))
	got := oneFailure(t, res, head, "exit status 1", "--- output ---\nfirst")
	if strings.Contains(got, "never printed") && !strings.Contains(got, "    echo never printed") {
		t.Errorf("the block went on after the failing command:\n%s", got)
	}
}

func TestFailingContinuedCommand(t *testing.T) {
	f := loadFixture(t, "failing-continued.md")
	res := f.run(t, testRunner(t))
	head := fmt.Sprintf("testdata/failing-continued.md:%d: ls \\\n      --almost-all \\\n      no-such-file", f.line(t, "ls \\"))
	oneFailure(t, res, head, "exit status 2", "no-such-file")
}

func TestMismatchedOutput(t *testing.T) {
	f := loadFixture(t, "mismatch.md")
	res := f.run(t, testRunner(t))
	head := fmt.Sprintf("testdata/mismatch.md:%d: echo \"pong\"", f.line(t, `echo "pong"`))
	oneFailure(t, res, head,
		fmt.Sprintf("line testdata/mismatch.md:%d \"count: 8\" was not found", f.line(t, "count: 8")),
		"--- output ---\npong\ncount: 7")
}

func TestUnmarkedAndMalformedBlocks(t *testing.T) {
	b, err := os.ReadFile("testdata/unmarked.md")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{name: "testdata/unmarked.md", content: string(b)}
	_, err = Parse(f.name, f.content)
	if err == nil {
		t.Fatal("Parse accepted unmarked blocks")
	}
	for _, want := range []string{
		fmt.Sprintf("testdata/unmarked.md:%d: ```sh block without a marker", f.line(t, "echo forgotten")-1),
		fmt.Sprintf("testdata/unmarked.md:%d: <!-- run --> is before a ```console block", f.line(t, "$ echo prompt")-2),
		fmt.Sprintf("testdata/unmarked.md:%d: <!-- skip --> needs a reason", f.line(t, "<!-- skip -->")),
		fmt.Sprintf("testdata/unmarked.md:%d: <!-- run: wait http://localhost:5000/ -->: a wait is its own marker", f.line(t, "run: wait")),
		fmt.Sprintf("testdata/unmarked.md:%d: <!-- output --> must follow a <!-- run --> block", f.line(t, "<!-- output -->")),
		fmt.Sprintf("testdata/unmarked.md:%d: unknown option \"bogus\"", f.line(t, "bogus")),
		fmt.Sprintf("testdata/unmarked.md:%d: <!-- cleanup --> is not followed by a fenced block", f.line(t, "<!-- cleanup -->")),
		fmt.Sprintf("testdata/unmarked.md:%d: ```bash block without a marker", f.line(t, "echo detached")-1),
	} {
		if !strings.Contains(err.Error()+"\n", want) {
			t.Errorf("missing problem %q in:\n%v", want, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 8 {
		t.Errorf("want 8 problems, got %d:\n%v", n, err)
	}
}

// TestBackgroundServers starts servers in the background: one stopped at
// the end of the README, and one stopped by <!-- stop --> so that a second
// one can take its port, as after a learner's Ctrl+C.
func TestBackgroundServers(t *testing.T) {
	for _, fixture := range []string{"background.md", "stop.md"} {
		t.Run(fixture, func(t *testing.T) {
			f := loadFixture(t, fixture)
			res := f.run(t, testRunner(t))
			if len(res.Failures) > 0 || res.Skipped != "" {
				t.Fatalf("want a pass, got %+v", res)
			}
			if portBusy(f.port) {
				t.Errorf("a background server still listens on %d after the README", f.port)
			}
		})
	}
}

func TestBackgroundThatDiesFailsTheWait(t *testing.T) {
	f := loadFixture(t, "background-dies.md")
	start := time.Now()
	res := f.run(t, testRunner(t))
	head := fmt.Sprintf("testdata/background-dies.md:%d: <!-- wait: http://localhost:%d/readyz, timeout 20s -->", f.line(t, "<!-- wait:"), f.port)
	oneFailure(t, res, head,
		fmt.Sprintf("the background block at testdata/background-dies.md:%d ended (exit status 1)", f.line(t, "echo \"listen")),
		"bind: address already in use")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the wait went on for %s after the background block had died", d)
	}
}

func TestCleanupRunsAfterFailure(t *testing.T) {
	f := loadFixture(t, "cleanup.md")
	res := f.run(t, testRunner(t))
	head := fmt.Sprintf("testdata/cleanup.md:%d: curl -sf localhost:%d/missing", f.line(t, "/missing"), f.port)
	oneFailure(t, res, head, "exit status 22",
		fmt.Sprintf("--- output of the background block at testdata/cleanup.md:%d", f.line(t, "README_FIXTURE_SERVE")),
		"listening on 127.0.0.1:")
	got, err := os.ReadFile(filepath.Join(f.dir, "cleaned"))
	if err != nil {
		t.Fatalf("the cleanups did not run: %v", err)
	}
	if want := "first cleanup of demo\nsecond cleanup\n"; string(got) != want {
		t.Errorf("cleanups wrote %q, want %q (both, in order, with the README's variables)", got, want)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "demo.state")); !os.IsNotExist(err) {
		t.Errorf("the second cleanup did not remove demo.state: %v", err)
	}
	if portBusy(f.port) {
		t.Errorf("the background server still listens on %d after the failure", f.port)
	}
}

func TestBlockTimeout(t *testing.T) {
	f := loadFixture(t, "timeout.md")
	start := time.Now()
	res := f.run(t, testRunner(t))
	head := fmt.Sprintf("testdata/timeout.md:%d: echo waiting forever", f.line(t, "waiting forever"))
	oneFailure(t, res, head, "still running after 1s", "waiting forever")
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("the timed-out block took %s to stop", d)
	}
}

func TestNeeds(t *testing.T) {
	f := loadFixture(t, "needs.md")
	var asked atomic.Int32
	missing := func(_ []string, need string) error {
		asked.Add(1)
		return fmt.Errorf("DOCKER_HOST is not set")
	}
	line := f.line(t, "compose up")

	r := testRunner(t)
	r.Check = missing
	res := f.run(t, r)
	if len(res.Failures) != 0 || !strings.Contains(res.Skipped, fmt.Sprintf("testdata/needs.md:%d: needs docker: DOCKER_HOST is not set", line)) {
		t.Errorf("outside CI a missing engine should skip the README, got %+v", res)
	}

	r = testRunner(t)
	r.Check, r.CI = missing, true
	res = f.run(t, r)
	oneFailure(t, res, fmt.Sprintf("testdata/needs.md:%d: needs docker: DOCKER_HOST is not set (with CI=true", line))
	if asked.Load() != 2 {
		t.Errorf("each runner should check docker once, checked %d times", asked.Load())
	}
}

func TestPortInUse(t *testing.T) {
	f := loadFixture(t, "ports.md")
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(f.port)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res := f.run(t, testRunner(t))
	oneFailure(t, res, fmt.Sprintf("testdata/ports.md:%d: port %d is already in use before testdata/ports.md starts", f.line(t, "curl"), f.port))
}

func TestSections(t *testing.T) {
	f := loadFixture(t, "sections.md")
	texts := func(steps []Step) string {
		var out []string
		for _, s := range steps {
			out = append(out, s.Text)
		}
		return strings.Join(out, ",")
	}
	if got, want := texts(f.doc.Part("")), "echo intro,echo after the section"; got != want {
		t.Errorf("outside the section: %q, want %q", got, want)
	}
	if got, want := texts(f.doc.Part("compose")), "echo stack,echo scale"; got != want {
		t.Errorf("section compose: %q, want %q", got, want)
	}
	if !f.doc.HasSection("compose") || f.doc.HasSection("k8s") {
		t.Errorf("sections: %v", f.doc.Sections)
	}
}

func TestBackgroundThatEndsIsReported(t *testing.T) {
	f := loadFixture(t, "background-ends.md")
	res := f.run(t, testRunner(t))
	head := fmt.Sprintf("testdata/background-ends.md:%d: echo \"port-forward lost its pod\" >&2", f.line(t, "lost its pod"))
	oneFailure(t, res, head, "ended by itself before the end of the README: exit status 3", "port-forward lost its pod")
}

func TestFailingCleanup(t *testing.T) {
	f := loadFixture(t, "cleanup-fails.md")
	res := f.run(t, testRunner(t))
	head := fmt.Sprintf("testdata/cleanup-fails.md:%d: rm no-such-file", f.line(t, "rm no-such-file"))
	oneFailure(t, res, head, "in a cleanup block: exit status 1", "No such file")
	if _, err := os.Stat(filepath.Join(f.dir, "cleaned")); err != nil {
		t.Errorf("the cleanup after the failing one did not run: %v", err)
	}
}

func TestPortTakenBeforeBackground(t *testing.T) {
	f := loadFixture(t, "port-taken.md")
	res := f.run(t, testRunner(t))
	head := fmt.Sprintf("testdata/port-taken.md:%d: kubectl -n pingpong port-forward service/pingpong %d:80", f.line(t, "port-forward"), f.port)
	oneFailure(t, res, head, fmt.Sprintf("port %d, which this block binds, is already in use", f.port))
	if portBusy(f.port) {
		t.Errorf("the server started with & still listens on %d after the README", f.port)
	}
}

func TestPlatformSelection(t *testing.T) {
	for _, tc := range []struct {
		platform string
		ran      string
		skipped  map[string]int
	}{
		{"", "everywhere\n", map[string]int{"platform kind": 2, "platform minikube": 1, "a learner's own choice": 1}},
		{"kind", "everywhere\nkind\nkind cleanup\n", map[string]int{"platform minikube": 1, "a learner's own choice": 1}},
		{"minikube", "everywhere\nminikube\n", map[string]int{"platform kind": 2, "a learner's own choice": 1}},
	} {
		t.Run("PINGPONG_PLATFORM="+tc.platform, func(t *testing.T) {
			f := loadFixture(t, "platforms.md")
			steps := ForPlatform(f.doc.Part(""), tc.platform)
			res := testRunner(t).Run(t.Context(), f.doc, f.dir, steps)
			if len(res.Failures) != 0 || res.Skipped != "" {
				t.Fatalf("%+v", res)
			}
			b, err := os.ReadFile(filepath.Join(f.dir, "ran"))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.ran {
				t.Errorf("ran:\n%s\nwant:\n%s", b, tc.ran)
			}
			got := map[string]int{}
			SkipCounts(steps, got)
			if fmt.Sprint(got) != fmt.Sprint(tc.skipped) {
				t.Errorf("skipped %v, want %v", got, tc.skipped)
			}
		})
	}
}

func TestSkipSummary(t *testing.T) {
	got := SkipSummary(map[string]int{"platform kind": 2, "needs a cloud account": 5, "platform k3s": 2})
	want := "9 README blocks not run:\n    5  needs a cloud account\n    2  platform k3s\n    2  platform kind"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestUnknownPlatform(t *testing.T) {
	_, err := Parse("x.md", "<!-- run: platform aks -->\n```sh\necho\n```\n")
	if err == nil || !strings.Contains(err.Error(), `x.md:1: unknown platform "aks"`) {
		t.Errorf("an unknown platform should be reported, got %v", err)
	}
}
