package readme

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"pingpong/test/harness"
)

// Runner runs the steps of READMEs, one README at a time.
type Runner struct {
	// Env is the environment the blocks start with (CI, DOCKER_HOST,
	// KUBECONFIG, PATH, HOME, ...).
	Env []string
	// CI makes a missing component a failure instead of a reason to skip.
	CI bool
	// Logf reports progress; nil means silent.
	Logf func(format string, args ...any)
	// PortGrace is how long a port may stay busy before a README starts
	// (what the previous README stopped may take a moment to let go).
	PortGrace time.Duration
	// KillGrace is how long background blocks get between SIGTERM and SIGKILL.
	KillGrace time.Duration
	// Check tells whether a `needs` component is there; nil uses
	// DefaultCheck. The answer is remembered for the Runner's lifetime.
	Check func(env []string, need string) error

	checked map[string]error
}

// Result is what running one README gave.
type Result struct {
	// Failures are complete messages, each starting with "README:line:".
	Failures []string
	// Skipped is set, with the reason, when a needed component is missing
	// outside CI and nothing ran.
	Skipped string
}

// Run runs steps (from doc, whose folder is dir) in order, then stops the
// background blocks and runs the cleanup blocks, whatever happened.
func (r *Runner) Run(ctx context.Context, doc *Doc, dir string, steps []Step) (res Result) {
	s := &terminal{r: r, doc: doc}
	if missing := r.missingNeeds(doc, steps); len(missing) > 0 {
		if !r.CI {
			return Result{Skipped: strings.Join(missing, "; ")}
		}
		for _, m := range missing {
			s.res.Failures = append(s.res.Failures, m+" (with CI=true a block that cannot run fails)")
		}
		return s.res
	}
	if busy := r.busyPorts(ports(steps, portREs)); len(busy) > 0 {
		for _, b := range busy {
			s.res.Failures = append(s.res.Failures, fmt.Sprintf(
				"%s:%d: port %d is already in use before %s starts; stop what listens there (ss -ltnp 'sport = :%d') and run again",
				doc.Name, b.line, b.port, doc.Name, b.port))
		}
		return s.res
	}

	tmp, err := os.MkdirTemp("", "readme-")
	if err != nil {
		s.res.Failures = append(s.res.Failures, err.Error())
		return s.res
	}
	defer os.RemoveAll(tmp)
	s.tmp = tmp
	s.state = shellState{cwd: dir, env: withEnv(r.Env, "PWD", dir)}

	var cleanups []pendingCleanup
	defer func() {
		s.stopAll()
		stopped := s.state
		for _, c := range cleanups {
			s.state = stopped
			if c.state != nil {
				s.state = *c.state
			}
			// Cleanups run even when the test is being stopped.
			s.block(context.WithoutCancel(ctx), c.step, true)
		}
		res = s.res
	}()
	for i, st := range steps {
		var ok bool
		switch st.Kind {
		case Skip:
			r.logf("%s:%d: not run here: %s", doc.Name, st.Line, st.Reason)
			ok = true
		case Cleanup:
			state := s.state
			cleanups = append(cleanups, pendingCleanup{step: st, state: &state})
			ok = true
		case Wait:
			ok = s.wait(ctx, st)
		case Stop:
			r.logf("%s:%d: stopping the background blocks (Ctrl+C)", doc.Name, st.Line)
			s.stopAll()
			ok = len(s.res.Failures) == 0
		case Run:
			if st.Background {
				ok = s.background(st)
			} else {
				ok = s.block(ctx, st, false)
			}
		}
		if !ok {
			// The cleanups not reached yet still run, from where we stopped.
			for _, later := range steps[i+1:] {
				if later.Kind == Cleanup {
					cleanups = append(cleanups, pendingCleanup{step: later})
				}
			}
			break
		}
	}
	return s.res
}

type pendingCleanup struct {
	step  Step
	state *shellState // nil: the state when the README stopped
}

func (r *Runner) logf(format string, args ...any) {
	if r.Logf != nil {
		r.Logf(format, args...)
	}
}

// shellState is what a learner's terminal carries from one block to the
// next: the working directory and the exported variables.
type shellState struct {
	cwd string
	env []string
}

// terminal is one README being run: what a learner's terminal holds, and
// what it started.
type terminal struct {
	r     *Runner
	doc   *Doc
	res   Result
	tmp   string
	n     int // blocks run, for file names
	state shellState
	bg    []*bgProc
	// groups are the process groups of foreground blocks: something they
	// left running (cmd &) is stopped with the README.
	groups []int
}

type bgProc struct {
	step     Step
	cmd      *exec.Cmd
	out      string // output file
	done     chan struct{}
	err      error
	reported bool // its end is already part of a failure
}

func (b *bgProc) exited() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// prelude makes the block's shell record the line of a failing command
// and, when it ends, its working directory and exported variables.
const prelude = `trap 'echo "$LINENO" >"$__readme_dir/errline"' ERR
trap '__readme_rc=$?; env -0 >"$__readme_dir/env"; pwd >"$__readme_dir/cwd"; exit "$__readme_rc"' EXIT
`

var preludeLines = strings.Count(prelude, "\n") + 1 // + the line setting __readme_dir

func (s *terminal) script(st Step, withPrelude bool) (dir, path string, err error) {
	s.n++
	dir = filepath.Join(s.tmp, strconv.Itoa(s.n))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", "", err
	}
	text := st.Text + "\n"
	if withPrelude {
		text = "__readme_dir=" + shellQuote(dir) + "\n" + prelude + text
	}
	path = filepath.Join(dir, "block.sh")
	return dir, path, os.WriteFile(path, []byte(text), 0o644)
}

func (s *terminal) command(path, outPath string) (*exec.Cmd, *os.File, error) {
	out, err := os.Create(outPath)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command("bash", "-Eeo", "pipefail", path)
	cmd.Dir = s.state.cwd
	cmd.Env = s.state.env
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that everything it starts can be stopped
	// by the group's id, which is this process's id.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, out, nil
}

// block runs a foreground (or cleanup) block and checks its exit status
// and output.
func (s *terminal) block(ctx context.Context, st Step, cleanup bool) bool {
	name := s.doc.Name
	what := "$"
	fail := s.fail
	if cleanup {
		what = "cleanup: $"
		fail = func(line int, command, detail, output string) bool {
			return s.fail(line, command, "in a cleanup block: "+detail, output)
		}
	}
	s.r.logf("%s:%d: %s %s", name, st.Line, what, firstLine(st.Text))
	dir, path, err := s.script(st, true)
	if err != nil {
		return fail(st.Line, st.Text, err.Error(), "")
	}
	cmd, out, err := s.command(path, filepath.Join(dir, "output"))
	if err != nil {
		return fail(st.Line, st.Text, err.Error(), "")
	}
	defer out.Close()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fail(st.Line, st.Text, err.Error(), "")
	}
	pgid := cmd.Process.Pid
	s.groups = append(s.groups, pgid)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(st.Timeout)
	defer timer.Stop()
	var waitErr error
	timedOut := false
	select {
	case waitErr = <-done:
	case <-timer.C:
		timedOut = true
	case <-ctx.Done():
		timedOut = true
	}
	if timedOut {
		stopGroup(pgid, nil, s.r.killGrace())
		waitErr = <-done
	}
	output, _ := os.ReadFile(filepath.Join(dir, "output"))
	s.r.logf("%s:%d: done in %s", name, st.Line, time.Since(start).Round(time.Millisecond))

	// Carry the terminal's state to the next block.
	if env, err := os.ReadFile(filepath.Join(dir, "env")); err == nil && len(env) > 0 {
		s.state.env = parseEnv(env, s.r.Env)
	}
	if cwd, err := os.ReadFile(filepath.Join(dir, "cwd")); err == nil && len(bytes.TrimSpace(cwd)) > 0 {
		s.state.cwd = strings.TrimSpace(string(cwd))
	}

	if timedOut && ctx.Err() != nil {
		return fail(st.Line, st.Text, "stopped: the test's own time is up (go test -timeout)", string(output))
	}
	if timedOut {
		return fail(st.Line, st.Text, fmt.Sprintf("still running after %s: stopped (add `timeout DURATION` to the marker if it needs longer)", st.Timeout), string(output))
	}
	code := 0
	var exitErr *exec.ExitError
	if errors.As(waitErr, &exitErr) {
		code = exitErr.ExitCode()
	} else if waitErr != nil {
		return fail(st.Line, st.Text, waitErr.Error(), string(output))
	}
	if code < 0 {
		return fail(st.Line, st.Text, waitErr.Error(), string(output))
	}
	if code != st.Exit {
		line, cmdText := st.Line, st.Text
		if code != 0 {
			if b, err := os.ReadFile(filepath.Join(dir, "errline")); err == nil {
				if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					line, cmdText = commandAt(st, n-preludeLines-1)
				}
			}
		}
		return fail(line, cmdText, fmt.Sprintf("exit status %d, the README expects %d", code, st.Exit), string(output))
	}
	if st.Output != nil {
		if m := Match(st.Output.Text, string(output)); m != nil {
			detail := fmt.Sprintf("the output does not match %s:%d: line %s:%d %q was not found (in this order)\n--- expected (%s:%d) ---\n%s",
				name, st.Output.Line, name, st.Output.Line+m.Index, m.Expected, name, st.Output.Line, strings.TrimRight(st.Output.Text, "\n"))
			return fail(st.Line, st.Text, detail, string(output))
		}
	}
	return true
}

// commandAt finds the command on 0-based line k of the block (joining
// backslash continuations) and its README line.
func commandAt(st Step, k int) (int, string) {
	lines := strings.Split(st.Text, "\n")
	if k < 0 || k >= len(lines) {
		return st.Line, st.Text
	}
	cont := func(i int) bool { return strings.HasSuffix(strings.TrimRight(lines[i], " \t"), "\\") }
	start, end := k, k
	for start > 0 && cont(start-1) {
		start--
	}
	for end < len(lines)-1 && cont(end) {
		end++
	}
	return st.Line + start, strings.Join(lines[start:end+1], "\n")
}

// background starts a block that keeps running (a server, a port-forward).
func (s *terminal) background(st Step) bool {
	s.r.logf("%s:%d: $ %s   (in the background)", s.doc.Name, st.Line, firstLine(st.Text))
	// A port-forward to a port that something else took since the README
	// started would leave the next wait talking to that something else.
	for _, u := range ports([]Step{st}, portREs[1:]) {
		if portBusy(u.port) {
			return s.fail(u.line, st.Text, fmt.Sprintf("port %d, which this block binds, is already in use (ss -ltnp 'sport = :%d')", u.port, u.port), "")
		}
	}
	dir, path, err := s.script(st, false)
	if err != nil {
		return s.fail(st.Line, st.Text, err.Error(), "")
	}
	b := &bgProc{step: st, out: filepath.Join(dir, "output"), done: make(chan struct{})}
	cmd, out, err := s.command(path, b.out)
	if err != nil {
		return s.fail(st.Line, st.Text, err.Error(), "")
	}
	b.cmd = cmd
	if err := cmd.Start(); err != nil {
		out.Close()
		return s.fail(st.Line, st.Text, err.Error(), "")
	}
	go func() {
		b.err = cmd.Wait()
		out.Close()
		close(b.done)
	}()
	s.bg = append(s.bg, b)
	return true
}

// wait polls a loopback URL until it answers, failing early when a
// background block has died.
func (s *terminal) wait(ctx context.Context, st Step) bool {
	s.r.logf("%s:%d: waiting for %s (at most %s)", s.doc.Name, st.Line, st.URL, st.Timeout)
	u, _ := url.Parse(st.URL) // checked by Parse
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{Proxy: nil},
	}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(st.Timeout)
	last := "no answer yet"
	for {
		if u.Scheme == "tcp" {
			c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
			if err == nil {
				c.Close()
				return true
			}
			last = err.Error()
		} else {
			resp, err := client.Get(st.URL)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode >= 200 && resp.StatusCode < 300 {
					return true
				}
				last = "last answer: " + resp.Status
			} else {
				last = err.Error()
			}
		}
		for _, b := range s.bg {
			if b.exited() && !b.reported {
				b.reported = true
				return s.fail(st.Line, st.Text, fmt.Sprintf("waiting for %s: the background block at %s:%d ended (%v) (its output is below)",
					st.URL, s.doc.Name, b.step.Line, exitText(b.err)), "")
			}
		}
		if ctx.Err() != nil {
			return s.fail(st.Line, st.Text, fmt.Sprintf("stopped waiting for %s: the test's own time is up (go test -timeout)", st.URL), "")
		}
		if time.Now().After(deadline) {
			return s.fail(st.Line, st.Text, fmt.Sprintf("%s did not answer with 2xx within %s (%s)", st.URL, st.Timeout, last), "")
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// stopAll stops the background blocks and whatever foreground blocks left
// running, each by the process group this runner created.
func (s *terminal) stopAll() {
	for i := len(s.bg) - 1; i >= 0; i-- {
		b := s.bg[i]
		if b.exited() && b.err != nil && !b.reported {
			s.fail(b.step.Line, b.step.Text, "the background block ended by itself before the end of the README: "+b.err.Error(), "")
		}
		stopGroup(b.cmd.Process.Pid, b.done, s.r.killGrace())
	}
	for _, g := range s.groups {
		stopGroup(g, nil, s.r.killGrace())
	}
	s.bg, s.groups = nil, nil
}

// stopGroup sends SIGTERM to the process group, waits up to grace for it
// to go (done, when given, closes when its leader has been reaped), then
// sends SIGKILL to what is left of the group.
func stopGroup(pgid int, done chan struct{}, grace time.Duration) {
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil {
		return // ESRCH: nothing left in the group
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if done != nil {
			select {
			case <-done:
				done = nil
			default:
			}
		}
		if done == nil && syscall.Kill(-pgid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if done != nil {
		<-done
	}
}

func (r *Runner) killGrace() time.Duration {
	if r.KillGrace > 0 {
		return r.KillGrace
	}
	return 10 * time.Second
}

const outputTail = 80 // lines of output shown in a failure

// fail records a failure: "README:line: command", what went wrong, the
// output, and the output of the background blocks still running.
func (s *terminal) fail(line int, command, detail, output string) bool {
	var b strings.Builder
	lines := strings.Split(strings.TrimRight(command, "\n"), "\n")
	fmt.Fprintf(&b, "%s:%d: %s\n", s.doc.Name, line, lines[0])
	for _, l := range lines[1:] {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	b.WriteString(detail + "\n")
	if output != "" {
		fmt.Fprintf(&b, "--- output ---\n%s\n", tail(output))
	}
	for _, bg := range s.bg {
		fmt.Fprintf(&b, "--- output of the background block at %s:%d (%s) ---\n%s\n",
			s.doc.Name, bg.step.Line, firstLine(bg.step.Text), readTail(bg.out))
	}
	s.res.Failures = append(s.res.Failures, strings.TrimRight(b.String(), "\n"))
	return false
}

func readTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) == 0 {
		return "(no output)"
	}
	return tail(string(b))
}

// tail shows the end of an output as a terminal would: of a line redrawn
// with carriage returns (a progress meter), only what stays on screen.
func tail(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		if j := strings.LastIndex(l, "\r"); j >= 0 {
			l = l[j+1:]
		}
		lines[i] = l
	}
	if len(lines) > outputTail {
		lines = append([]string{fmt.Sprintf("(%d earlier lines left out)", len(lines)-outputTail)}, lines[len(lines)-outputTail:]...)
	}
	return strings.Join(lines, "\n")
}

func firstLine(text string) string {
	first, rest, _ := strings.Cut(strings.TrimSpace(text), "\n")
	if rest != "" {
		first += " ..."
	}
	return first
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// parseEnv reads `env -0` output, leaving out what bash sets for itself.
func parseEnv(b []byte, base []string) []string {
	var env []string
	for _, kv := range strings.Split(string(b), "\x00") {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "_" || name == "SHLVL" {
			continue
		}
		env = append(env, kv)
	}
	if v, ok := lookupEnv(base, "SHLVL"); ok {
		env = append(env, "SHLVL="+v)
	}
	return env
}

func lookupEnv(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// withEnv returns env with name set to value (replacing any earlier value).
func withEnv(env []string, name, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k != name {
			out = append(out, kv)
		}
	}
	return append(out, name+"="+value)
}

// missingNeeds checks every `needs` of the README before anything runs,
// so that a README never stops half-way for a missing component.
func (r *Runner) missingNeeds(doc *Doc, steps []Step) []string {
	var missing []string
	seen := map[string]bool{}
	for _, st := range steps {
		for _, need := range st.Needs {
			if seen[need] {
				continue
			}
			seen[need] = true
			if err := r.need(need); err != nil {
				missing = append(missing, fmt.Sprintf("%s:%d: needs %s: %v", doc.Name, st.Line, need, err))
			}
		}
	}
	return missing
}

func (r *Runner) need(need string) error {
	if r.checked == nil {
		r.checked = map[string]error{}
	}
	if err, ok := r.checked[need]; ok {
		return err
	}
	check := r.Check
	if check == nil {
		check = DefaultCheck
	}
	err := check(r.Env, need)
	r.checked[need] = err
	return err
}

// DefaultCheck tells whether a component is there: docker = DOCKER_HOST is
// set and `docker info` works; cluster = KUBECONFIG is set, its current
// context is the one PINGPONG_TEST_CONTEXT names, and the API server is
// ready; anything else = a program of that name is on PATH.
func DefaultCheck(env []string, need string) error {
	probe := func(variable string, args ...string) error {
		if v, _ := lookupEnv(env, variable); v == "" {
			return fmt.Errorf("%s is not set", variable)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("`%s` failed: %v: %s", strings.Join(args, " "), err, lastLine(string(out)))
		}
		return nil
	}
	switch need {
	case "docker":
		return probe("DOCKER_HOST", "docker", "info")
	case "cluster":
		// Asked first: the blocks apply and delete objects, so they touch only the cluster named.
		if err := harness.CheckTestContext(env); err != nil {
			return err
		}
		kubeconfig, _ := lookupEnv(env, "KUBECONFIG")
		for _, f := range filepath.SplitList(kubeconfig) {
			if _, err := os.Stat(f); err != nil {
				return fmt.Errorf("KUBECONFIG is set, but %v", err)
			}
		}
		return probe("KUBECONFIG", "kubectl", "get", "--raw", "/readyz")
	}
	cmd := exec.Command("bash", "-c", `command -v "$1"`, "bash", need)
	cmd.Env = env
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s is not on PATH", need)
	}
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// portREs find the ports a block talks to or publishes; all but the first
// are ports the command itself binds.
var portREs = []*regexp.Regexp{
	regexp.MustCompile(`(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\]):(\d{2,5})\b`),
	regexp.MustCompile(`port-forward\b.*?\s(\d{2,5}):\d{1,5}\b`),
	regexp.MustCompile(`(?:\s-p|--publish)[ =](?:[\d.]+:)?(\d{2,5}):\d{1,5}\b`),
}

type portUse struct{ port, line int }

// ports lists the loopback ports a README's blocks and waits talk to or
// publish, with the first line naming each.
func ports(steps []Step, res []*regexp.Regexp) []portUse {
	first := map[int]int{}
	for _, st := range steps {
		if st.Kind == Skip {
			continue
		}
		text := st.Text
		if st.Kind == Wait {
			text = st.URL
		}
		for i, line := range strings.Split(text, "\n") {
			for _, re := range res {
				for _, m := range re.FindAllStringSubmatch(line, -1) {
					p, err := strconv.Atoi(m[1])
					if err != nil || p <= 0 || p > 65535 {
						continue
					}
					if _, ok := first[p]; !ok {
						first[p] = st.Line + i
					}
				}
			}
		}
	}
	var uses []portUse
	for p, l := range first {
		uses = append(uses, portUse{port: p, line: l})
	}
	sort.Slice(uses, func(i, j int) bool { return uses[i].line < uses[j].line })
	return uses
}

// busyPorts returns the ports still taken after PortGrace.
func (r *Runner) busyPorts(uses []portUse) []portUse {
	deadline := time.Now().Add(r.PortGrace)
	for {
		var busy []portUse
		for _, u := range uses {
			if portBusy(u.port) {
				busy = append(busy, u)
			}
		}
		if len(busy) == 0 || time.Now().After(deadline) {
			return busy
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// portBusy tells whether something listens on the port (or holds it).
func portBusy(port int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		return true
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return true
	}
	l.Close()
	return false
}
