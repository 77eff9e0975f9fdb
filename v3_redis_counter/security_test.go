package main

import (
	"strings"
	"testing"
)

// TestSecretsNeverPrinted: a start-up error names the bad variable and never
// prints a secret's value, whatever it looks like: a URL, something a URL
// parser reads as one (s3cret:hunter2), or plain text.
func TestSecretsNeverPrinted(t *testing.T) {
	shapes := []string{
		"s3cret:hunter2zz",
		"redis://user:hunter2zz@host:6379",
		"redis:hunter2zz@host",
		"hunter2zz-plain-secret-value",
	}
	for _, v := range shapes {
		for _, tt := range []struct {
			name string
			env  map[string]string
		}{
			{"REDIS_PASSWORD", map[string]string{"REDIS_PASSWORD": v, "REDIS_PASSWORD_FILE": "/dev/null"}},
			{"REDIS_SENTINEL_PASSWORD", map[string]string{"REDIS_SENTINELS": "s:26379", "REDIS_MASTER_NAME": "m", "REDIS_SENTINEL_PASSWORD": v, "REDIS_SENTINEL_PASSWORD_FILE": "/dev/null"}},
			{"ADMIN_TOKEN", map[string]string{"ADMIN_TOKEN": v, "ADMIN_TOKEN_FILE": "/dev/null"}},
			{"REDIS_URL", map[string]string{"REDIS_URL": v, "REDIS_ADDR": "redis:6379"}},
			{"ADMIN_TOKEN_FILE", map[string]string{"ADMIN_TOKEN_FILE": writeFile(t, "hunter2zz")}}, // too short: refused
		} {
			_, err := loadConfig(environment(tt.env))
			if err == nil {
				t.Errorf("%s=%q: no error", tt.name, v)
				continue
			}
			if msg := err.Error(); strings.Contains(msg, "hunter2zz") || strings.Contains(msg, "s3cret") || !strings.Contains(msg, tt.name) {
				t.Errorf("%s=%q: error %q leaks the secret or does not name the variable", tt.name, v, msg)
			}
		}
	}
}

// TestMalformedRedisURLRefused: "redis:Secret@host" (no //) has no host, and
// must not quietly mean 127.0.0.1:6379.
func TestMalformedRedisURLRefused(t *testing.T) {
	for _, u := range []string{"redis:Secret@host", "redis:host:6379", "redis://"} {
		if _, err := loadConfig(environment(map[string]string{"REDIS_URL": u})); err == nil {
			t.Errorf("REDIS_URL=%q accepted", u)
		} else if strings.Contains(err.Error(), "Secret") {
			t.Errorf("REDIS_URL=%q: error leaks it: %v", u, err)
		}
	}
	if _, err := loadConfig(environment(map[string]string{"REDIS_URL": "redis://:pw@redis:6379/0"})); err != nil {
		t.Errorf("control: a good URL refused: %v", err)
	}
}

// TestAdminTokenRules: at least 16 characters, no placeholder, a token file
// trimmed of surrounding white space, an empty token file an error.
func TestAdminTokenRules(t *testing.T) {
	good := "0123456789abcdef"
	for _, tt := range []struct {
		env  map[string]string
		want string // "" for an error
	}{
		{map[string]string{"ADMIN_TOKEN": "a"}, ""},
		{map[string]string{"ADMIN_TOKEN": "0123456789abcde"}, ""}, // 15
		{map[string]string{"ADMIN_TOKEN": "change-me-admin-token"}, ""},
		{map[string]string{"ADMIN_TOKEN": "CHANGEME-0123456789"}, ""},
		{map[string]string{"ADMIN_TOKEN_FILE": writeFile(t, "")}, ""},
		{map[string]string{"ADMIN_TOKEN_FILE": writeFile(t, " \t\n")}, ""},
		{map[string]string{"ADMIN_TOKEN": good}, good},
		{map[string]string{"ADMIN_TOKEN_FILE": writeFile(t, " "+good+"\t \r\n")}, good},
		{map[string]string{}, ""},
	} {
		cfg, err := loadConfig(environment(tt.env))
		switch {
		case len(tt.env) == 0:
			if err != nil || cfg.AdminToken != "" {
				t.Errorf("no token: %v %q, want the API off", err, cfg.AdminToken)
			}
		case tt.want == "" && err == nil:
			t.Errorf("%v: accepted", tt.env)
		case tt.want != "" && (err != nil || cfg.AdminToken != tt.want):
			t.Errorf("%v: token %q, error %v; want %q", tt.env, cfg.AdminToken, err, tt.want)
		}
	}
}
