package readme

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Kind says what the harness does with a step of a README.
type Kind int

const (
	// Run is a ```sh block run in place (or started in the background).
	Run Kind = iota
	// Cleanup is a ```sh block run at the end of the README, always.
	Cleanup
	// Skip is a block a learner types that cannot run here; it is only logged.
	Skip
	// Stop ends the background blocks started so far: what a learner does
	// with Ctrl+C before the README goes on with the same port.
	Stop
	// Wait polls a loopback URL until it answers, so that no `sleep` has
	// to be printed in the README.
	Wait
)

// DefaultTimeout bounds a block that has no `timeout` option.
const DefaultTimeout = 5 * time.Minute

// DefaultWait bounds a wait marker that has no `timeout` option.
const DefaultWait = 60 * time.Second

// Step is one thing to do, in README order.
type Step struct {
	Kind Kind
	// Line is the README line of the block's first command, or of the
	// marker itself for a wait.
	Line int
	// Text is the block's content, exactly as printed (indentation of the
	// fence removed).
	Text string
	// Section is the `<!-- section: NAME -->` the step is in, or "".
	Section string

	Background bool
	Needs      []string
	Timeout    time.Duration
	Exit       int    // the exit status the block must end with (run)
	URL        string // what a wait polls
	Reason     string // why a block is skipped
	// Platform is the one platform the block is for (`platform kind`), or
	// "" for a block that runs everywhere.
	Platform string
	Output   *Output
}

// Output is the expected output printed after a run block.
type Output struct {
	Line int // README line of the block's first line
	Text string
}

// Doc is a parsed README.
type Doc struct {
	Name  string // as shown in messages, e.g. "k8s/README.md"
	Steps []Step
	// Sections lists the section names found, in order.
	Sections []string
}

// shellLangs are the info strings of blocks a learner is meant to type:
// each one needs a marker.
var shellLangs = map[string]bool{
	"sh": true, "bash": true, "shell": true, "console": true, "zsh": true,
	"shell-session": true, "sh-session": true,
}

// runnable are the info strings the harness can run verbatim; a console
// block mixes prompts with output and cannot be.
var runnable = map[string]bool{"sh": true, "bash": true, "shell": true}

var (
	markerRE  = regexp.MustCompile(`^<!--\s*(run|cleanup|skip|output|wait|section|stop)\b\s*(?::\s*(.*?))?\s*-->$`)
	fenceRE   = regexp.MustCompile("^(\\s*)(`{3,}|~{3,})\\s*([^\\s`{]*)")
	headingRE = regexp.MustCompile(`^\s{0,3}(#{1,6})\s`)
)

type marker struct {
	keyword string
	args    string
	line    int
	raw     string
}

// Parse reads a README. All problems are returned together, one per line,
// each starting with "name:line:", so an author can fix them in one go.
func Parse(name, content string) (*Doc, error) {
	p := &parser{doc: &Doc{Name: name}}
	p.parse(strings.Split(strings.ReplaceAll(content, "\r\n", "\n"), "\n"))
	if len(p.problems) > 0 {
		return p.doc, fmt.Errorf("%s", strings.Join(p.problems, "\n"))
	}
	return p.doc, nil
}

type parser struct {
	doc      *Doc
	problems []string

	pending *marker // the marker waiting for its block
	lastRun *Step   // the run block an output block may follow

	section      string
	sectionLevel int
	nextSection  *marker
}

func (p *parser) problem(line int, format string, args ...any) {
	p.problems = append(p.problems, fmt.Sprintf("%s:%d: %s", p.doc.Name, line, fmt.Sprintf(format, args...)))
}

func (p *parser) parse(lines []string) {
	var steps []*Step
	for i := 0; i < len(lines); i++ {
		n := i + 1
		line := lines[i]
		trimmed := strings.TrimSpace(line)

		if m := fenceRE.FindStringSubmatch(line); m != nil {
			indent, fence, lang := len(m[1]), m[2], strings.ToLower(m[3])
			var body []string
			j := i + 1
			for ; j < len(lines); j++ {
				t := strings.TrimSpace(lines[j])
				if strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
					break
				}
				body = append(body, dedent(lines[j], indent))
			}
			if j == len(lines) {
				p.problem(n, "the block opened here is never closed")
			}
			if s := p.block(n, lang, strings.Join(body, "\n")); s != nil {
				steps = append(steps, s)
			}
			i = j
			continue
		}

		if trimmed == "" {
			continue
		}
		if m := markerRE.FindStringSubmatch(trimmed); m != nil {
			mk := &marker{keyword: m[1], args: m[2], line: n, raw: trimmed}
			switch mk.keyword {
			case "wait":
				p.flushPending()
				if s := p.wait(mk); s != nil {
					steps = append(steps, s)
				}
			case "stop":
				p.flushPending()
				if mk.args != "" {
					p.problem(n, "%s takes no options: <!-- stop -->", mk.raw)
				}
				steps = append(steps, &Step{Kind: Stop, Line: n, Text: mk.raw, Section: p.section})
			case "section":
				p.flushPending()
				if mk.args == "" {
					p.problem(n, "%s needs a name, e.g. <!-- section: compose -->", mk.raw)
				}
				p.nextSection = mk
			default:
				p.flushPending()
				p.pending = mk
			}
			continue
		}
		if h := headingRE.FindStringSubmatch(line); h != nil {
			level := len(h[1])
			if p.section != "" && level <= p.sectionLevel {
				p.section = ""
			}
			if p.nextSection != nil {
				p.section, p.sectionLevel = p.nextSection.args, level
				p.doc.Sections = append(p.doc.Sections, p.section)
				p.nextSection = nil
			}
		} else if p.nextSection != nil {
			p.problem(p.nextSection.line, "%s must be on the line right before a heading", p.nextSection.raw)
			p.nextSection = nil
		}
		// Prose between a marker and its block detaches the marker.
		p.flushPending()
	}
	p.flushPending()
	if p.nextSection != nil {
		p.problem(p.nextSection.line, "%s must be on the line right before a heading", p.nextSection.raw)
	}
	for _, s := range steps {
		p.doc.Steps = append(p.doc.Steps, *s)
	}
}

func dedent(line string, indent int) string {
	for k := 0; k < indent && strings.HasPrefix(line, " "); k++ {
		line = line[1:]
	}
	return line
}

func (p *parser) flushPending() {
	if p.pending != nil {
		p.problem(p.pending.line, "%s is not followed by a fenced block (only blank lines may stand between them)", p.pending.raw)
		p.pending = nil
	}
}

// block handles a fenced block that starts on line n.
func (p *parser) block(n int, lang, text string) *Step {
	mk := p.pending
	p.pending = nil
	prevRun := p.lastRun
	p.lastRun = nil
	first := n + 1 // the block's first content line

	if mk == nil {
		if shellLangs[lang] {
			p.problem(n, "```%s block without a marker: put <!-- run -->, <!-- cleanup --> or <!-- skip: why it cannot run here --> on the line before it", lang)
		}
		return nil
	}
	switch mk.keyword {
	case "output":
		if mk.args != "" {
			p.problem(mk.line, "%s takes no options", mk.raw)
		}
		if prevRun == nil {
			p.problem(mk.line, "%s must follow a <!-- run --> block (no other block in between)", mk.raw)
			return nil
		}
		if prevRun.Background {
			p.problem(mk.line, "%s follows a background block, whose output is not compared", mk.raw)
			return nil
		}
		prevRun.Output = &Output{Line: first, Text: text}
		return nil
	case "skip":
		if mk.args == "" {
			p.problem(mk.line, "<!-- skip --> needs a reason: <!-- skip: why it cannot run here -->")
		}
		return &Step{Kind: Skip, Line: first, Text: text, Reason: mk.args, Section: p.section}
	}

	s := &Step{Kind: Run, Line: first, Text: text, Timeout: DefaultTimeout, Section: p.section}
	if mk.keyword == "cleanup" {
		s.Kind = Cleanup
	}
	if !runnable[lang] {
		p.problem(mk.line, "%s is before a ```%s block; run and cleanup blocks are ```sh or ```bash, with the expected output in an <!-- output --> block", mk.raw, lang)
		return nil
	}
	if strings.TrimSpace(text) == "" {
		p.problem(n, "the block is empty")
	}
	for _, opt := range splitOptions(mk.args) {
		word, arg, _ := strings.Cut(opt, " ")
		arg = strings.TrimSpace(arg)
		switch {
		case word == "background" && arg == "" && s.Kind == Run:
			s.Background = true
		case word == "needs" && arg != "" && !strings.Contains(arg, " "):
			s.Needs = append(s.Needs, arg)
		case word == "timeout":
			d, err := time.ParseDuration(arg)
			if err != nil || d <= 0 {
				p.problem(mk.line, "bad timeout %q in %s: use a Go duration such as 90s or 10m", arg, mk.raw)
			}
			s.Timeout = d
		case word == "exit" && s.Kind == Run:
			code, err := strconv.Atoi(arg)
			if err != nil || code < 0 || code > 255 {
				p.problem(mk.line, "bad exit status %q in %s: use a number from 0 to 255", arg, mk.raw)
			}
			s.Exit = code
		case word == "platform" && Platforms[arg]:
			s.Platform = arg
		case word == "platform":
			p.problem(mk.line, "unknown platform %q in %s; known: docker-desktop, k3s, kind, minikube", arg, mk.raw)
		case word == "wait":
			p.problem(mk.line, "%s: a wait is its own marker, on its own line after the background block: <!-- wait: %s -->", mk.raw, arg)
		default:
			accepted := "needs WHAT, timeout DURATION, platform NAME"
			if s.Kind == Run {
				accepted = "background, needs WHAT (docker, cluster or a program), timeout DURATION, exit N, platform NAME"
			}
			p.problem(mk.line, "unknown option %q in %s; accepted: %s", opt, mk.raw, accepted)
		}
	}
	if s.Background && s.Exit != 0 {
		p.problem(mk.line, "%s: a background block has no exit status to check", mk.raw)
	}
	if s.Kind == Run {
		p.lastRun = s
	}
	return s
}

func splitOptions(args string) []string {
	var opts []string
	for _, o := range strings.Split(args, ",") {
		if o = strings.Join(strings.Fields(o), " "); o != "" {
			opts = append(opts, o)
		}
	}
	return opts
}

// wait parses `<!-- wait: URL[, timeout D] -->`.
func (p *parser) wait(mk *marker) *Step {
	opts := splitOptions(mk.args)
	if len(opts) == 0 {
		p.problem(mk.line, "%s needs a URL: <!-- wait: http://localhost:5000/readyz -->", mk.raw)
		return nil
	}
	s := &Step{Kind: Wait, Line: mk.line, URL: opts[0], Timeout: DefaultWait, Section: p.section, Text: mk.raw}
	for _, opt := range opts[1:] {
		word, arg, _ := strings.Cut(opt, " ")
		d, err := time.ParseDuration(strings.TrimSpace(arg))
		if word != "timeout" || err != nil || d <= 0 {
			p.problem(mk.line, "unknown option %q in %s; accepted: timeout DURATION (e.g. timeout 3m)", opt, mk.raw)
			continue
		}
		s.Timeout = d
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "tcp") || u.Port() == "" && u.Scheme == "tcp" {
		p.problem(mk.line, "%s: the URL must be http://, https:// or tcp://host:port", mk.raw)
		return nil
	}
	if !loopback(u.Hostname()) {
		p.problem(mk.line, "%s: only loopback hosts (localhost, 127.0.0.1, [::1]) can be waited for", mk.raw)
		return nil
	}
	p.lastRun = nil
	return s
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Platforms are the names a `platform` option accepts: the clusters a
// learner may run the k8s stage on (k8s/CLUSTERS.md).
var Platforms = map[string]bool{"kind": true, "minikube": true, "k3s": true, "docker-desktop": true}

// ForPlatform turns the blocks of other platforms into skipped ones, with
// the reason "platform NAME": a block marked `platform kind` runs only when
// platform is "kind" (PINGPONG_PLATFORM). Blocks without a platform are
// kept as they are.
func ForPlatform(steps []Step, platform string) []Step {
	out := make([]Step, 0, len(steps))
	for _, s := range steps {
		if s.Platform != "" && s.Platform != platform && (s.Kind == Run || s.Kind == Cleanup) {
			s = Step{Kind: Skip, Line: s.Line, Text: s.Text, Section: s.Section, Platform: s.Platform,
				Reason: "platform " + s.Platform}
		}
		out = append(out, s)
	}
	return out
}

// SkipCounts counts the skipped blocks of steps by reason.
func SkipCounts(steps []Step, counts map[string]int) {
	for _, s := range steps {
		if s.Kind == Skip {
			counts[s.Reason]++
		}
	}
}

// SkipSummary says how many blocks were not run and why, most frequent
// reason first, e.g. "12 README blocks not run: 5 platform kind, ...".
func SkipSummary(counts map[string]int) string {
	total := 0
	reasons := make([]string, 0, len(counts))
	for r, n := range counts {
		total += n
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool {
		if counts[reasons[i]] != counts[reasons[j]] {
			return counts[reasons[i]] > counts[reasons[j]]
		}
		return reasons[i] < reasons[j]
	})
	var b strings.Builder
	fmt.Fprintf(&b, "%d README blocks not run:", total)
	for _, r := range reasons {
		fmt.Fprintf(&b, "\n  %3d  %s", counts[r], r)
	}
	return b.String()
}

// Part selects the steps of one section ("" = those outside any section).
func (d *Doc) Part(section string) []Step {
	var steps []Step
	for _, s := range d.Steps {
		if s.Section == section {
			steps = append(steps, s)
		}
	}
	return steps
}

// HasSection reports whether the README declares the section.
func (d *Doc) HasSection(name string) bool {
	for _, s := range d.Sections {
		if s == name {
			return true
		}
	}
	return false
}

// UsesCluster reports whether a block to run (or clean up with) needs the
// cluster: such a page waits for one, the others can run before it is up.
func UsesCluster(steps []Step) bool {
	for _, s := range steps {
		if (s.Kind == Run || s.Kind == Cleanup) && slices.Contains(s.Needs, "cluster") {
			return true
		}
	}
	return false
}
