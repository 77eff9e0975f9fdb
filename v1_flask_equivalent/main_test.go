package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunServesUntilCancelled starts the real program on a free port, pings
// it over TCP, then stops it the way a signal would.
func TestRunServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out, writer := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"v1", "-port", "0"}, func(string) string { return "" }, writer) }()

	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	url := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	resp, err := http.Get(url + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "pong\n" {
		t.Errorf("GET /ping = %q, want %q", body, "pong\n")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func TestPortFrom(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     string
		want    int
		wantErr string
	}{
		{"default", nil, "", 5000, ""},
		{"env", nil, "8080", 8080, ""},
		{"flag wins over env", []string{"-port", "9090"}, "8080", 9090, ""},
		{"bad env", nil, "abc", 0, `invalid PORT="abc"`},
		{"out of range", []string{"-port", "70000"}, "", 0, "invalid port 70000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(string) string { return tt.env }
			got, err := portFrom(append([]string{"v1"}, tt.args...), getenv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

// TestMain lets a test run the real main function in a child process: the
// only way to see what it prints on stderr.
func TestMain(m *testing.M) {
	if os.Getenv("PINGPONG_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestErrorLineNamesTheProgram: an error starts with the program's name, not
// the path it was started from (with `go run`, a directory in Go's build
// cache).
func TestErrorLineNamesTheProgram(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PINGPONG_RUN_MAIN=1", "PORT=not-a-port")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 {
		t.Fatalf("exit = %v, want status 1", err)
	}
	want := filepath.Base(os.Args[0]) + `: invalid PORT="not-a-port": want a whole number from 0 to 65535` + "\n"
	if stderr.String() != want {
		t.Errorf("stderr = %q, want %q", stderr.String(), want)
	}
}
