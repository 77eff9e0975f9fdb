package monitoring_test

import (
	"regexp"
	"sort"
	"strings"
	"testing"
)

// dataQuery turns a rule's expression into one that answers a series for every series the rule
// compares, so that an empty answer can only mean that the data behind the rule is missing.
//
// An alert's expression answers nothing while all is well (`up == 0` is empty when every target
// is up), which would prove nothing about its metric names or labels. With `bool` after each
// comparison, PromQL answers 0 or 1 for every series compared instead of dropping the false ones;
// and absent(x), which answers only when x is empty, is replaced by x itself.
func dataQuery(expr string) string {
	e := strings.TrimSpace(expr)
	if inner, ok := strings.CutPrefix(e, "absent("); ok && closingParen(e, len("absent")) == len(e)-1 {
		return dataQuery(strings.TrimSuffix(inner, ")"))
	}
	var out strings.Builder
	depth := 0
	for i := 0; i < len(e); i++ {
		c := e[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end := stringEnd(e, i)
			out.WriteString(e[i:end])
			i = end - 1
			continue
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		case depth == 0 && (c == '=' || c == '!' || c == '<' || c == '>'):
			op := string(c)
			if i+1 < len(e) && e[i+1] == '=' {
				op += "="
			}
			if op == "=" || op == "!" { // not a comparison (they only occur inside braces anyway)
				break
			}
			out.WriteString(op)
			i += len(op) - 1
			rest := strings.TrimLeft(e[i+1:], " \t\n")
			if !strings.HasPrefix(rest, "bool ") {
				out.WriteString(" bool")
			}
			continue
		}
		out.WriteByte(c)
	}
	return out.String()
}

// closingParen returns the index of the parenthesis that closes the one at open, or -1.
func closingParen(e string, open int) int {
	depth := 0
	for i := open; i < len(e); i++ {
		switch e[i] {
		case '"', '\'', '`':
			i = stringEnd(e, i) - 1
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// stringEnd returns the index just past the PromQL string literal that starts at start.
func stringEnd(e string, start int) int {
	quote := e[start]
	for i := start + 1; i < len(e); i++ {
		switch {
		case e[i] == '\\' && quote != '`':
			i++
		case e[i] == quote:
			return i + 1
		}
	}
	return len(e)
}

func TestDataQuery(t *testing.T) {
	tests := []struct{ expr, want string }{
		{`up{job="pingpong"} == 0`, `up{job="pingpong"} == bool 0`},
		{`absent(up{job="pingpong"} == 1)`, `up{job="pingpong"} == bool 1`},
		{`ratio > 0.05`, `ratio > bool 0.05`},
		{`a >= bool 1`, `a >= bool 1`},
		{`increase(x{c!="dial", d=~"a|b"}[15m]) > 2`, `increase(x{c!="dial", d=~"a|b"}[15m]) > bool 2`},
		{`sum(rate(x{l="a>b"}[5m])) / sum(rate(x[5m]))`, `sum(rate(x{l="a>b"}[5m])) / sum(rate(x[5m]))`},
		{`absent(x) or y < 1`, `absent(x) or y < bool 1`},
	}
	for _, tt := range tests {
		if got := dataQuery(tt.expr); got != tt.want {
			t.Errorf("dataQuery(%q)\n got %q\nwant %q", tt.expr, got, tt.want)
		}
	}
}

// expandVariables replaces Grafana's variables in a panel query the way Grafana does before it
// sends the query to Prometheus: $name or ${name} by the value given for it.
func expandVariables(expr string, values map[string]string) string {
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	// Longest first, so that $__range does not eat the start of $__rate_interval.
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	for _, name := range names {
		expr = strings.ReplaceAll(expr, "${"+name+"}", values[name])
		expr = strings.ReplaceAll(expr, "$"+name, values[name])
	}
	return expr
}

// multiValue is how Grafana substitutes selected values of a variable into a regular expression
// matcher: each value's special characters escaped, the values joined as alternatives. The
// backslashes are doubled because the regular expression sits in a double-quoted PromQL string,
// where `\\.` is the two characters `\.`: a literal dot to the regular expression.
func multiValue(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = strings.ReplaceAll(regexp.QuoteMeta(v), `\`, `\\`)
	}
	return "(" + strings.Join(quoted, "|") + ")"
}

func TestExpandVariables(t *testing.T) {
	got := expandVariables(`rate(x{instance=~"$instance"}[$__rate_interval]) + increase(y[${__range}])`,
		map[string]string{"instance": multiValue([]string{"127.0.0.1:80", "a"}), "__rate_interval": "10s", "__range": "5m"})
	want := `rate(x{instance=~"(127\\.0\\.0\\.1:80|a)"}[10s]) + increase(y[5m])`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
