package main

import (
	"errors"
	"testing"
	"time"
)

// environment turns a map into the getenv function that run and loadConfig take.
func environment(vars map[string]string) func(string) string {
	return func(key string) string { return vars[key] }
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(environment(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 5000 || cfg.LogLevel != "info" || cfg.Greeting != "Hello!" || cfg.ShutdownTimeout != 10*time.Second {
		t.Errorf("defaults = %+v", cfg)
	}
}

func TestLoadConfigReadsEnvironment(t *testing.T) {
	cfg, err := loadConfig(environment(map[string]string{
		"PORT": "8080", "LOG_LEVEL": "DEBUG", "SHUTDOWN_DELAY": "3s", "POD_NAME": "web-1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 8080 || cfg.LogLevel != "debug" || cfg.ShutdownDelay != 3*time.Second || cfg.PodName != "web-1" {
		t.Errorf("cfg = %+v", cfg)
	}
}

func TestLoadConfigNamesTheBadVariable(t *testing.T) {
	tests := []struct {
		name, value string
		want        string
	}{
		{"PORT", "abc", `invalid PORT="abc": want a whole number from 1 to 65535`},
		{"PORT", "70000", `invalid PORT="70000": want a whole number from 1 to 65535`},
		{"LOG_LEVEL", "loud", `invalid LOG_LEVEL="loud": want one of debug, info, warn, error`},
		{"SHUTDOWN_TIMEOUT", "soon", `invalid SHUTDOWN_TIMEOUT="soon": want a duration above zero, such as 10s`},
		{"SHUTDOWN_TIMEOUT", "0s", `invalid SHUTDOWN_TIMEOUT="0s": want a duration above zero, such as 10s`},
		{"SHUTDOWN_DELAY", "-1s", `invalid SHUTDOWN_DELAY="-1s": want a duration of zero or more, such as 5s`},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			_, err := loadConfig(environment(map[string]string{tt.name: tt.value}))
			var configErr *ConfigError
			if !errors.As(err, &configErr) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			if err.Error() != tt.want {
				t.Errorf("err = %q\nwant  %q", err, tt.want)
			}
		})
	}
}
