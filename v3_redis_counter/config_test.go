package main

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// environment turns a map into the getenv function that run and loadConfig take.
func environment(vars map[string]string) func(string) string {
	return func(key string) string { return vars[key] }
}

// writeFile writes content to a new file in the test's folder and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(environment(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 5000 || cfg.AdminPort != 9797 || cfg.LogLevel != "info" || cfg.Greeting != "Hello!" || cfg.ShutdownTimeout != 10*time.Second ||
		cfg.RedisTimeout != 500*time.Millisecond || cfg.CounterKey != "pingpong:count" || cfg.RedisURL != "" || cfg.AdminToken != "" {
		t.Errorf("defaults = %+v", cfg)
	}
}

// TestLoadConfigSentinel: with Sentinels, the service waits for one replica
// unless told otherwise; a single Redis waits for none.
func TestLoadConfigSentinel(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want int
	}{
		{map[string]string{"REDIS_ADDR": "redis:6379"}, 0},
		// Without replicas to wait for, the WAIT timeout does not bound REDIS_TIMEOUT.
		{map[string]string{"REDIS_ADDR": "redis:6379", "REDIS_TIMEOUT": "300ms"}, 0},
		{map[string]string{"REDIS_SENTINELS": "s1:26379, s2:26379", "REDIS_MASTER_NAME": "m"}, 1},
		{map[string]string{"REDIS_SENTINELS": "s1:26379", "REDIS_MASTER_NAME": "m", "REDIS_MIN_REPLICAS": "0"}, 0},
		{map[string]string{"REDIS_SENTINELS": "s1:26379", "REDIS_MASTER_NAME": "m", "REDIS_MIN_REPLICAS": "2"}, 2},
	} {
		cfg, err := loadConfig(environment(tt.env))
		if err != nil {
			t.Fatalf("%v: %v", tt.env, err)
		}
		if cfg.RedisMinReplicas != tt.want {
			t.Errorf("%v: REDIS_MIN_REPLICAS %d, want %d", tt.env, cfg.RedisMinReplicas, tt.want)
		}
	}
}

func TestLoadConfigReadsSecretsFromFiles(t *testing.T) {
	cfg, err := loadConfig(environment(map[string]string{
		"REDIS_ADDR":          "redis:6379",
		"REDIS_PASSWORD_FILE": writeFile(t, "from-a-file\n"),
		"ADMIN_TOKEN_FILE":    writeFile(t, "token-from-a-file"),
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RedisPassword != "from-a-file" || cfg.AdminToken != "token-from-a-file" {
		t.Errorf("password %q, token %q; want the files' content without the newline", cfg.RedisPassword, cfg.AdminToken)
	}
}

func TestRedisOptions(t *testing.T) {
	tests := []struct {
		name         string
		env          map[string]string
		wantAddr     string
		wantPassword string
		wantDB       int
		wantTLS      bool
	}{
		{"address", map[string]string{"REDIS_ADDR": "redis:6379", "REDIS_DB": "2"}, "redis:6379", "", 2, false},
		{"URL", map[string]string{"REDIS_URL": "redis://:pw@cache:6380/3"}, "cache:6380", "pw", 3, false},
		{"TLS URL", map[string]string{"REDIS_URL": "rediss://cache:6380"}, "cache:6380", "", 0, true},
		{"password overrides the URL's", map[string]string{"REDIS_URL": "redis://:old@cache:6379", "REDIS_PASSWORD": "new"}, "cache:6379", "new", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(environment(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			opts, err := cfg.redisOptions()
			if err != nil {
				t.Fatal(err)
			}
			if opts.Addr != tt.wantAddr || opts.Password != tt.wantPassword || opts.DB != tt.wantDB || (opts.TLSConfig != nil) != tt.wantTLS {
				t.Errorf("got addr %q password %q db %d tls %v", opts.Addr, opts.Password, opts.DB, opts.TLSConfig != nil)
			}
			if opts.MaxRetries != -1 || opts.ReadTimeout != 500*time.Millisecond {
				t.Errorf("MaxRetries %d, ReadTimeout %s: want no retries and the 500ms timeout", opts.MaxRetries, opts.ReadTimeout)
			}
		})
	}
}

func TestLoadConfigNamesTheBadVariable(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"PORT": "abc"}, `invalid PORT="abc": want a port number from 1 to 65535, or 0`},
		{map[string]string{"PORT": "70000"}, `invalid PORT="70000": want a port number`},
		{map[string]string{"ADMIN_PORT": "5000"}, `invalid ADMIN_PORT="5000": want a port number from 1 to 65535, or 0 for any free port, other than PORT`},
		{map[string]string{"PORT": "8080", "ADMIN_PORT": "8080"}, `invalid ADMIN_PORT="8080"`},
		{map[string]string{"LOG_LEVEL": "loud"}, `invalid LOG_LEVEL="loud": want one of debug, info, warn, error`},
		{map[string]string{"GREETING": "two\nlines"}, `invalid GREETING="two\nlines": want 1 to 200 characters`},
		{map[string]string{"SHUTDOWN_TIMEOUT": "0s"}, `invalid SHUTDOWN_TIMEOUT="0s": want a duration above zero`},
		{map[string]string{"REDIS_TIMEOUT": "fast"}, `invalid REDIS_TIMEOUT="fast": want a duration above zero`},
		{map[string]string{"REDIS_TIMEOUT": "0s"}, `invalid REDIS_TIMEOUT="0s": want a duration above zero`},
		{map[string]string{"REDIS_DB": "-1"}, `invalid REDIS_DB="-1": want a database number of 0 or more`},
		{map[string]string{"REDIS_ADDR": "redis"}, `invalid REDIS_ADDR="redis": want host:port`},
		{map[string]string{"REDIS_URL": "http://cache:6379"}, `invalid REDIS_URL="http://cache:6379": want redis://`},
		{map[string]string{"REDIS_URL": "redis://cache", "REDIS_ADDR": "cache:6379"}, `invalid REDIS_URL="redis://cache": want redis://`},
		{map[string]string{"REDIS_PASSWORD": "x", "REDIS_PASSWORD_FILE": "/f"}, `invalid REDIS_PASSWORD="(hidden)"`},
		{map[string]string{"REDIS_PASSWORD_FILE": "/no/such/file"}, `invalid REDIS_PASSWORD_FILE="/no/such/file": want the path of a readable file`},
		{map[string]string{"ADMIN_TOKEN_FILE": "/no/such/file"}, `invalid ADMIN_TOKEN_FILE="/no/such/file"`},
		{map[string]string{"CONFIG_FILE": "/no/such/file"}, `invalid CONFIG_FILE="/no/such/file"`},
		{map[string]string{"CONFIG_POLL_INTERVAL": "0s"}, `invalid CONFIG_POLL_INTERVAL="0s"`},
		{map[string]string{"REDIS_SENTINELS": "s1:26379", "REDIS_ADDR": "redis:6379", "REDIS_MASTER_NAME": "m"}, `invalid REDIS_SENTINELS="s1:26379": want host:port of each Sentinel`},
		{map[string]string{"REDIS_SENTINELS": "s1:26379,s2", "REDIS_MASTER_NAME": "m"}, `invalid REDIS_SENTINELS="s1:26379,s2"`},
		{map[string]string{"REDIS_SENTINELS": "s1:26379"}, `invalid REDIS_MASTER_NAME="": want the name the Sentinels monitor the master by`},
		{map[string]string{"REDIS_MASTER_NAME": "m"}, `invalid REDIS_MASTER_NAME="m"`},
		{map[string]string{"REDIS_SENTINEL_PASSWORD": "x", "REDIS_SENTINEL_PASSWORD_FILE": "/f"}, `invalid REDIS_SENTINEL_PASSWORD="(hidden)"`},
		{map[string]string{"REDIS_MIN_REPLICAS": "-1"}, `invalid REDIS_MIN_REPLICAS="-1"`},
		{map[string]string{"REDIS_WAIT_TIMEOUT": "0s"}, `invalid REDIS_WAIT_TIMEOUT="0s": want a duration above zero, and with REDIS_MIN_REPLICAS above 0 at most half of REDIS_TIMEOUT`},
		{map[string]string{"REDIS_WAIT_TIMEOUT": "300ms", "REDIS_MIN_REPLICAS": "1"}, `invalid REDIS_WAIT_TIMEOUT="300ms"`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := loadConfig(environment(tt.env))
			var configErr *ConfigError
			if !errors.As(err, &configErr) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("err = %q\nwant it to start with %q", err, tt.want)
			}
		})
	}
}

func TestLoadConfigRejectsABadSettingsFile(t *testing.T) {
	_, err := loadConfig(environment(map[string]string{"CONFIG_FILE": writeFile(t, "LOG_LEVEL=loud\n")}))
	if err == nil || !strings.Contains(err.Error(), "CONFIG_FILE") || !strings.Contains(err.Error(), `LOG_LEVEL="loud"`) {
		t.Errorf("err = %v, want it to name CONFIG_FILE and the bad line", err)
	}
}

// FuzzRedisURL feeds arbitrary REDIS_URL values to the configuration: it
// must never panic, a URL it accepts must give client options, and an error
// must never show the password the URL holds.
func FuzzRedisURL(f *testing.F) {
	for _, seed := range []string{"redis://localhost:6379", "rediss://u:p@h:1/2", "redis://:secret@host:bad", "redis://h/x", "://", "redis://[::1]:6379/0?dial_timeout=1s"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, redisURL string) {
		cfg, err := loadConfig(environment(map[string]string{"REDIS_URL": redisURL}))
		if err != nil {
			if u, parseErr := url.Parse(redisURL); parseErr == nil {
				// The other parts of the URL may be shown, and may happen to
				// contain the password's text: take them out before looking.
				shown := strings.NewReplacer(url.User(u.User.Username()).String(), "", u.User.Username(), "", u.Scheme, "", u.Host, "", u.Path, "", u.RawQuery, "", u.Fragment, "").Replace(err.Error())
				if password, ok := u.User.Password(); ok && len(password) >= 4 && strings.Contains(shown, password) {
					t.Fatalf("error shows the password %q: %v", password, err)
				}
			}
			return
		}
		if redisURL == "" {
			return // unset: the embedded Redis
		}
		if _, err := cfg.redisOptions(); err != nil {
			t.Fatalf("accepted REDIS_URL %q gives no client options: %v", redisURL, err)
		}
	})
}
