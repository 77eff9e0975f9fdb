package settings

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var base = Settings{LogLevel: "info", Greeting: "Hello!"}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    Settings
		wantErr string
	}{
		{"empty keeps base", "", base, ""},
		{"comments and blanks", "# a comment\n\n   \n", base, ""},
		{"both", "LOG_LEVEL=debug\nGREETING=Hi from the ConfigMap!\n", Settings{"debug", "Hi from the ConfigMap!"}, ""},
		{"one keeps the other", "GREETING = Howdy ", Settings{"info", "Howdy"}, ""},
		{"level is case-insensitive", "LOG_LEVEL=WARN", Settings{"warn", "Hello!"}, ""},
		{"CRLF line ends", "LOG_LEVEL=error\r\nGREETING=Hey\r\n", Settings{"error", "Hey"}, ""},
		{"bad level", "LOG_LEVEL=loud", base, `line 1: LOG_LEVEL="loud": want one of debug, info, warn, error`},
		{"unknown name", "\nCOLOR=blue", base, `line 2: unknown setting "COLOR"`},
		{"no equals sign", "GREETING", base, `line 1: want NAME=value`},
		{"empty greeting", "GREETING=", base, "line 1: GREETING: want 1 to 200 characters"},
		{"long greeting", "GREETING=" + strings.Repeat("a", 201), base, "line 1: GREETING: want 1 to 200 characters"},
		{"control character", "GREETING=a\tb", base, "line 1: GREETING: want 1 to 200 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.file), base)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWatchAppliesChangesAndKeepsLastGoodSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings")
	write := func(content string) {
		t.Helper()
		// Write then rename, as Kubernetes does, so the watcher never reads half a file.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("GREETING=first\n")
	live := NewLive(Settings{"info", "first"})
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		live.Watch(ctx, path, 10*time.Millisecond, base, slog.New(slog.NewJSONHandler(&logs, nil)))
		close(done)
	}()
	defer func() { cancel(); <-done }()

	write("GREETING=second\nLOG_LEVEL=debug\n")
	eventually(t, func() bool { return live.Greeting() == "second" })
	if live.Level().Level() != slog.LevelDebug {
		t.Error("log level not switched to debug")
	}

	write("GREETING=third\nLOG_LEVEL=loud\n")
	time.Sleep(100 * time.Millisecond) // ten polls: plenty of chances to apply it wrongly
	if got := live.Greeting(); got != "second" {
		t.Errorf("greeting = %q after an invalid file, want the last good %q", got, "second")
	}

	write("# back to the environment's values\n")
	eventually(t, func() bool { return live.Greeting() == "Hello!" })
	cancel()
	<-done
	if !strings.Contains(logs.String(), "settings file rejected") {
		t.Errorf("the invalid file was not logged:\n%s", logs.String())
	}
}

// eventually fails the test unless cond becomes true within two seconds.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 2s")
}

// FuzzParse feeds arbitrary files to Parse: it must never panic, an error
// must leave base in force, and accepted settings must be valid.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{"", "LOG_LEVEL=debug\nGREETING=Hi", "# x\n=\n", "GREETING==", "LOG_LEVEL=\u0000"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, file string) {
		got, err := Parse([]byte(file), base)
		if err != nil {
			if got != base {
				t.Fatalf("error %v but settings changed to %+v", err, got)
			}
			return
		}
		if _, err := Parse([]byte("LOG_LEVEL="+got.LogLevel+"\nGREETING="+got.Greeting), base); err != nil {
			t.Fatalf("accepted settings %+v do not parse again: %v", got, err)
		}
	})
}
