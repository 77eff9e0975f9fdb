// Package settings holds what can change while the service runs, without a
// restart or a redeploy: the log level and the greeting. They come from a
// small file (CONFIG_FILE, in Kubernetes a mounted ConfigMap) that is read
// again whenever it changes.
//
// The file uses the same names as the environment, one per line:
//
//	# comments and blank lines are ignored
//	LOG_LEVEL=debug
//	GREETING=Hello from the ConfigMap!
//
// A name missing from the file keeps the value from the environment.
package settings

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
)

// Settings are the values that can change at run time.
type Settings struct {
	LogLevel string
	Greeting string
}

// LogLevels are the accepted values of LOG_LEVEL.
var LogLevels = []string{"debug", "info", "warn", "error"}

// maxGreeting bounds the greeting, which every answer to / repeats.
const maxGreeting = 200

// Parse reads a settings file over base: what the file names replaces the
// value in base. Any line it cannot use is an error, so a typo is reported
// instead of silently ignored.
func Parse(data []byte, base Settings) (Settings, error) {
	s := base
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return base, fmt.Errorf("line %d: want NAME=value, got %q", i+1, line)
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch name {
		case "LOG_LEVEL":
			value = strings.ToLower(value)
			if !slices.Contains(LogLevels, value) {
				return base, fmt.Errorf("line %d: LOG_LEVEL=%q: want one of %s", i+1, value, strings.Join(LogLevels, ", "))
			}
			s.LogLevel = value
		case "GREETING":
			if value == "" || len(value) > maxGreeting || strings.IndexFunc(value, unicode.IsControl) >= 0 {
				return base, fmt.Errorf("line %d: GREETING: want 1 to %d characters of text on one line", i+1, maxGreeting)
			}
			s.Greeting = value
		default:
			return base, fmt.Errorf("line %d: unknown setting %q: want LOG_LEVEL or GREETING", i+1, name)
		}
	}
	return s, nil
}

// Level converts a LOG_LEVEL value to a slog level.
func Level(name string) slog.Level {
	var level slog.Level
	_ = level.UnmarshalText([]byte(name)) // LogLevels are all names slog knows
	return level
}

// Live holds the settings in force. Handlers read it on every request, and
// Watch swaps in new values, so both sides use atomic operations.
type Live struct {
	level   slog.LevelVar
	current atomic.Pointer[Settings]
}

// NewLive starts with the given settings.
func NewLive(s Settings) *Live {
	l := &Live{}
	l.apply(s)
	return l
}

func (l *Live) apply(s Settings) {
	l.level.Set(Level(s.LogLevel))
	l.current.Store(&s)
}

// Level is the log level in force, for slog.HandlerOptions.
func (l *Live) Level() slog.Leveler { return &l.level }

// Greeting is the greeting in force.
func (l *Live) Greeting() string { return l.current.Load().Greeting }

// Watch reads the file at path every interval until ctx ends, and applies
// its content over base whenever it changes. Invalid content is logged and
// ignored: the last good settings stay in force.
//
// It polls instead of using file-system events because Kubernetes updates a
// mounted ConfigMap by swapping a symbolic link, which inotify-based
// watchers easily miss; reading a small file every few seconds is cheap and
// always right.
func (l *Live) Watch(ctx context.Context, path string, interval time.Duration, base Settings, logger *slog.Logger) {
	// The first read always parses the file, even if the caller has just
	// loaded it: the file may have changed in between.
	var last []byte
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		data, err := os.ReadFile(path)
		if err != nil {
			logger.Warn("settings file unreadable; keeping the current settings", "file", path, "error", err)
			continue
		}
		if bytes.Equal(data, last) {
			continue
		}
		last = data
		s, err := Parse(data, base)
		if err != nil {
			logger.Error("settings file rejected; keeping the current settings", "file", path, "error", err)
			continue
		}
		if s == *l.current.Load() {
			continue
		}
		l.apply(s)
		logger.Info("settings reloaded", "file", path, "log_level", s.LogLevel, "greeting", s.Greeting)
	}
}
