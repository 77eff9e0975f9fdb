package readme

import "testing"

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		name, expected, output string
		missing                string // the expected line reported, "" for a match
	}{
		{"same", "pong\n", "pong\n", ""},
		{"lines in between", "a\nc", "a\nb\nc\n", ""},
		{"order matters", "c\na", "a\nb\nc\n", "a"},
		{"whole lines", "pong", "ping pong\n", "pong"},
		{"spaces", "NAME   READY  STATUS", "  NAME READY      STATUS  \n", ""},
		{"dots inside a line", "pingpong-... 1/1 Running ...", "pingpong-7d9c-x2x 1/1 Running 0 12s\n", ""},
		{"dots match nothing", "version: ...", "version:\n", ""},
		{"dots line", "first\n...\nlast", "first\n2\n3\nlast\n", ""},
		{"empty expected lines", "\na\n\n", "a\n", ""},
		{"colours and carriage returns", "done", "\x1b[32mdone\x1b[0m\r\n", ""},
		{"progress line", "100%", "10%\r50%\r100%\n", ""},
		{"regexp characters are literal", "a.c (1)", "abc (1)\n", "a.c (1)"},
		{"missing line", "pong\ncount: 8", "pong\ncount: 7\n", "count: 8"},
		{"no output", "pong", "", "pong"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := Match(tc.expected, tc.output)
			switch {
			case tc.missing == "" && m != nil:
				t.Errorf("want a match, got %v", m)
			case tc.missing != "" && m == nil:
				t.Errorf("want %q reported missing, got a match", tc.missing)
			case tc.missing != "" && m.Expected != tc.missing:
				t.Errorf("reported %q missing, want %q", m.Expected, tc.missing)
			}
		})
	}
}
