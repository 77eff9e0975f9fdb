package readme

import (
	"fmt"
	"regexp"
	"strings"
)

var ansiRE = regexp.MustCompile("\x1b\\[[0-9;?]*[ -/]*[@-~]")

// normalize makes a line comparable the way a reader compares it: colours,
// carriage returns and the width of column gaps do not matter.
func normalize(line string) string {
	line = ansiRE.ReplaceAllString(line, "")
	if i := strings.LastIndex(line, "\r"); i >= 0 && i < len(line)-1 {
		line = line[i+1:] // what a progress line finally shows
	}
	return strings.Join(strings.Fields(line), " ")
}

// Mismatch tells which expected line was not found.
type Mismatch struct {
	Index    int    // 0-based index of the expected line in the output block
	Expected string // the expected line as printed
}

func (m *Mismatch) Error() string {
	return fmt.Sprintf("expected line %q was not found", m.Expected)
}

// Match compares output loosely with the expected text: every non-empty
// expected line must match a whole output line, in order, with other output
// lines allowed in between. Inside a line `...` matches any text; a line that
// is only `...` stands for any number of lines.
func Match(expected, output string) *Mismatch {
	var actual []string
	for _, l := range strings.Split(output, "\n") {
		actual = append(actual, normalize(l))
	}
	pos := 0
	for i, raw := range strings.Split(expected, "\n") {
		want := normalize(raw)
		if want == "" || want == "..." {
			continue
		}
		re := lineRE(want)
		found := false
		for ; pos < len(actual); pos++ {
			if re.MatchString(actual[pos]) {
				found, pos = true, pos+1
				break
			}
		}
		if !found {
			return &Mismatch{Index: i, Expected: strings.TrimSpace(raw)}
		}
	}
	return nil
}

func lineRE(want string) *regexp.Regexp {
	parts := strings.Split(want, "...")
	for i, p := range parts {
		// "version: ..." also matches "version:", whose trailing space
		// the normalisation removed.
		if i > 0 {
			p = strings.TrimLeft(p, " ")
		}
		if i < len(parts)-1 {
			p = strings.TrimRight(p, " ")
		}
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}
