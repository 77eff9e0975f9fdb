package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v10"
	"github.com/redis/go-redis/v9"

	"pingpong/v3_redis_counter/internal/settings"
)

// Config is everything this service reads from its environment (twelve-factor
// III). Each field names its variable, its default, and in `accepts` what a
// valid value looks like: that text is what a bad value's error tells the
// user. Fields marked `secret` never have their value printed.
type Config struct {
	Port            int           `env:"PORT" envDefault:"5000" accepts:"a port number from 1 to 65535, or 0 for any free port"`
	AdminPort       int           `env:"ADMIN_PORT" envDefault:"9797" accepts:"a port number from 1 to 65535, or 0 for any free port, other than PORT"`
	BindAddress     string        `env:"BIND_ADDRESS" envDefault:"127.0.0.1" accepts:"the IP address both ports listen on: 127.0.0.1 for this machine only, 0.0.0.0 for every interface (the container image sets it)"`
	MaxConnections  int           `env:"MAX_CONNECTIONS" envDefault:"1024" accepts:"the most connections the public port holds open at once, 1 or more"`
	LogLevel        string        `env:"LOG_LEVEL" envDefault:"info" accepts:"one of debug, info, warn, error"`
	Greeting        string        `env:"GREETING" envDefault:"Hello!" accepts:"1 to 200 characters of text on one line"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s" accepts:"a duration above zero, such as 10s"`
	ShutdownDelay   time.Duration `env:"SHUTDOWN_DELAY" envDefault:"0s" accepts:"a duration of zero or more, such as 5s"`

	// Set by the Kubernetes downward API; empty elsewhere.
	PodName      string `env:"POD_NAME"`
	PodNamespace string `env:"POD_NAMESPACE"`
	PodIP        string `env:"POD_IP"`

	// Where the count is kept. With neither REDIS_URL nor REDIS_ADDR, an
	// embedded in-memory Redis keeps it until the process ends.
	RedisURL          string        `env:"REDIS_URL" secret:"true" accepts:"redis://[[user]:password@]host[:port][/db] or rediss://... for TLS, and not together with REDIS_ADDR"`
	RedisAddr         string        `env:"REDIS_ADDR" accepts:"host:port, such as redis:6379"`
	RedisPassword     string        `env:"REDIS_PASSWORD" secret:"true" accepts:"a password, and not together with REDIS_PASSWORD_FILE"`
	RedisPasswordFile string        `env:"REDIS_PASSWORD_FILE" accepts:"the path of a readable file holding the password"`
	RedisDB           int           `env:"REDIS_DB" envDefault:"0" accepts:"a database number of 0 or more"`
	RedisTimeout      time.Duration `env:"REDIS_TIMEOUT" envDefault:"500ms" accepts:"a duration above zero, such as 500ms"`
	CounterKey        string        `env:"COUNTER_KEY" envDefault:"pingpong:count" accepts:"a non-empty Redis key"`

	// TLS to Redis, and to the Sentinels: a managed Redis asks for it. The
	// check of Redis's certificate cannot be turned off.
	RedisTLS           bool   `env:"REDIS_TLS" accepts:"true or false (a rediss:// REDIS_URL is TLS by itself), true only with a Redis set"`
	RedisTLSCAFile     string `env:"REDIS_TLS_CA_FILE" accepts:"the path of a readable PEM file of the CA certificates to trust instead of the system's, with TLS on"`
	RedisTLSServerName string `env:"REDIS_TLS_SERVER_NAME" accepts:"the name Redis's certificate must hold when it is not the host dialled, with TLS on"`

	// High availability: the current master is asked of Redis Sentinel, and a
	// batch of counts is answered only once REDIS_MIN_REPLICAS replicas have it.
	RedisSentinels            []string      `env:"REDIS_SENTINELS" accepts:"host:port of each Sentinel, separated by commas, and neither REDIS_URL nor REDIS_ADDR"`
	RedisMasterName           string        `env:"REDIS_MASTER_NAME" accepts:"the name the Sentinels monitor the master by, set with REDIS_SENTINELS"`
	RedisSentinelPassword     string        `env:"REDIS_SENTINEL_PASSWORD" secret:"true" accepts:"the Sentinels' password, and not together with REDIS_SENTINEL_PASSWORD_FILE"`
	RedisSentinelPasswordFile string        `env:"REDIS_SENTINEL_PASSWORD_FILE" accepts:"the path of a readable file holding the Sentinels' password"`
	RedisMinReplicas          int           `env:"REDIS_MIN_REPLICAS" accepts:"a number of replicas from 0 to 10 (unset: 1 with REDIS_SENTINELS, else 0)"`
	RedisWaitTimeout          time.Duration `env:"REDIS_WAIT_TIMEOUT" envDefault:"200ms" accepts:"a duration above zero, and with REDIS_MIN_REPLICAS above 0 at most half of REDIS_TIMEOUT, such as 200ms"`

	// The admin API (POST /admin/reset, on ADMIN_PORT beside /metrics) is off
	// unless a token is set.
	AdminToken     string `env:"ADMIN_TOKEN" secret:"true" accepts:"a token of 16 characters or more, no placeholder, and not together with ADMIN_TOKEN_FILE"`
	AdminTokenFile string `env:"ADMIN_TOKEN_FILE" accepts:"the path of a readable file holding the token, 16 characters or more"`

	// Settings that may change while the service runs (see internal/settings).
	ConfigFile         string        `env:"CONFIG_FILE" accepts:"the path of a readable settings file of LOG_LEVEL=... and GREETING=... lines"`
	ConfigPollInterval time.Duration `env:"CONFIG_POLL_INTERVAL" envDefault:"2s" accepts:"a duration above zero, such as 2s"`
}

// ConfigError is one bad environment variable. It stops start-up, and main
// exits with status 2 for it, the convention for a usage error.
type ConfigError struct {
	Var, Value, Accepts string
	Reason              error // what went wrong, when more can be said than the value
}

func (e *ConfigError) Error() string {
	msg := fmt.Sprintf("invalid %s=%q: want %s", e.Var, e.Value, e.Accepts)
	if e.Reason != nil {
		msg += " (" + e.Reason.Error() + ")"
	}
	return msg
}

// loadConfig reads and validates the configuration once, at start-up, and
// reads the secrets that come from files.
func loadConfig(getenv func(string) string) (Config, error) {
	var cfg Config
	// env reads a map, not a function: give it only the variables Config
	// declares, so a test's getenv is all the environment the service sees.
	params, err := env.GetFieldParams(&cfg)
	if err != nil {
		return cfg, err
	}
	environment := map[string]string{}
	for _, p := range params {
		if value := getenv(p.Key); value != "" {
			environment[p.Key] = value
		}
	}
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: environment}); err != nil {
		var aggregate env.AggregateError
		if errors.As(err, &aggregate) {
			for _, e := range aggregate.Errors {
				var parseErr env.ParseError
				if errors.As(e, &parseErr) {
					return cfg, invalid(parseErr.Name, getenv, nil)
				}
			}
		}
		return cfg, err
	}
	cfg.LogLevel = strings.ToLower(cfg.LogLevel)
	if getenv("REDIS_MIN_REPLICAS") == "" && len(cfg.RedisSentinels) > 0 {
		// With Sentinel there are replicas to fail over to: wait for one.
		cfg.RedisMinReplicas = 1
	}
	if err := cfg.validate(getenv); err != nil {
		return cfg, err
	}
	if cfg.RedisPassword, err = secret(cfg.RedisPassword, cfg.RedisPasswordFile, "RedisPasswordFile", getenv); err != nil {
		return cfg, err
	}
	if cfg.AdminToken, err = secret(cfg.AdminToken, cfg.AdminTokenFile, "AdminTokenFile", getenv); err != nil {
		return cfg, err
	}
	if err := checkToken(cfg.AdminToken, cfg.AdminTokenFile != ""); err != nil {
		field := "AdminToken"
		if cfg.AdminTokenFile != "" {
			field = "AdminTokenFile"
		}
		return cfg, invalid(field, getenv, err)
	}
	if cfg.RedisSentinelPassword, err = secret(cfg.RedisSentinelPassword, cfg.RedisSentinelPasswordFile, "RedisSentinelPasswordFile", getenv); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// validate checks what the types alone cannot.
func (c Config) validate(getenv func(string) string) error {
	switch {
	case c.Port < 0 || c.Port > 65535:
		return invalid("Port", getenv, nil)
	case c.AdminPort < 0 || c.AdminPort > 65535 || (c.AdminPort == c.Port && c.Port != 0):
		return invalid("AdminPort", getenv, nil)
	case net.ParseIP(c.BindAddress) == nil:
		return invalid("BindAddress", getenv, nil)
	case c.MaxConnections < 1:
		return invalid("MaxConnections", getenv, nil)
	case !slices.Contains(settings.LogLevels, c.LogLevel):
		return invalid("LogLevel", getenv, nil)
	case c.ShutdownTimeout <= 0:
		return invalid("ShutdownTimeout", getenv, nil)
	case c.ShutdownDelay < 0:
		return invalid("ShutdownDelay", getenv, nil)
	case c.RedisURL != "" && c.RedisAddr != "":
		return invalid("RedisURL", getenv, errors.New("REDIS_ADDR is set too"))
	case len(c.RedisSentinels) > 0 && (c.RedisURL != "" || c.RedisAddr != ""):
		return invalid("RedisSentinels", getenv, errors.New("REDIS_URL or REDIS_ADDR is set too: the Sentinels name the master"))
	case len(c.RedisSentinels) > 0 && c.RedisMasterName == "":
		return invalid("RedisMasterName", getenv, errors.New("REDIS_SENTINELS is set"))
	case len(c.RedisSentinels) == 0 && c.RedisMasterName != "":
		return invalid("RedisMasterName", getenv, errors.New("REDIS_SENTINELS is not set"))
	case c.RedisSentinelPassword != "" && c.RedisSentinelPasswordFile != "":
		return invalid("RedisSentinelPassword", getenv, errors.New("REDIS_SENTINEL_PASSWORD_FILE is set too"))
	case c.RedisDB < 0:
		return invalid("RedisDB", getenv, nil)
	case c.RedisTimeout <= 0:
		return invalid("RedisTimeout", getenv, nil)
	case c.RedisMinReplicas < 0 || c.RedisMinReplicas > 10:
		return invalid("RedisMinReplicas", getenv, nil)
	case c.RedisWaitTimeout <= 0 || (c.RedisMinReplicas > 0 && 2*c.RedisWaitTimeout > c.RedisTimeout):
		// WAIT's answer is read under the connection's read timeout
		// (REDIS_TIMEOUT): a WAIT that runs out must answer well before it,
		// or the answer is an i/o error on a dropped connection.
		return invalid("RedisWaitTimeout", getenv, nil)
	case c.RedisPassword != "" && c.RedisPasswordFile != "":
		return invalid("RedisPassword", getenv, errors.New("REDIS_PASSWORD_FILE is set too"))
	case c.AdminToken != "" && c.AdminTokenFile != "":
		return invalid("AdminToken", getenv, errors.New("ADMIN_TOKEN_FILE is set too"))
	case c.ConfigPollInterval <= 0:
		return invalid("ConfigPollInterval", getenv, nil)
	}
	if c.RedisURL != "" {
		// "redis:secret@host" (no //) parses, with no host: go-redis would
		// quietly dial localhost:6379. The parser's own errors may quote
		// the URL, password and all, so the reason is ours.
		u, err := url.Parse(c.RedisURL)
		if err != nil || u.Opaque != "" || u.Hostname() == "" {
			return invalid("RedisURL", getenv, errors.New("not a URL of the form redis://host:port"))
		}
		if _, err := redis.ParseURL(c.RedisURL); err != nil {
			return invalid("RedisURL", getenv, errors.New("not a URL go-redis accepts"))
		}
	}
	if c.RedisAddr != "" {
		if _, _, err := net.SplitHostPort(c.RedisAddr); err != nil {
			return invalid("RedisAddr", getenv, err)
		}
	}
	for _, addr := range c.RedisSentinels {
		if _, _, err := net.SplitHostPort(strings.TrimSpace(addr)); err != nil {
			return invalid("RedisSentinels", getenv, err)
		}
	}
	if err := c.validateTLS(getenv); err != nil {
		return err
	}
	if _, err := settings.Parse([]byte("GREETING="+c.Greeting), settings.Settings{}); err != nil {
		return invalid("Greeting", getenv, nil)
	}
	if c.ConfigFile != "" {
		if _, err := c.readSettings(); err != nil {
			return invalid("ConfigFile", getenv, err)
		}
	}
	return nil
}

// validateTLS checks the TLS settings. Whoever sits between the service and
// Redis could read the password and change the counts if the certificate
// went unchecked, so nothing turns the check off.
func (c Config) validateTLS(getenv func(string) string) error {
	errTLSOff := errors.New("TLS is off: set REDIS_TLS=true or use a rediss:// REDIS_URL")
	switch {
	case c.RedisTLS && c.RedisURL == "" && c.RedisAddr == "" && len(c.RedisSentinels) == 0:
		return invalid("RedisTLS", getenv, errors.New("no Redis is set, and the embedded one speaks no TLS"))
	case c.RedisTLSCAFile != "" && !c.redisTLS():
		return invalid("RedisTLSCAFile", getenv, errTLSOff)
	case c.RedisTLSServerName != "" && !c.redisTLS():
		return invalid("RedisTLSServerName", getenv, errTLSOff)
	}
	// go-redis reads skip_verify=true in a rediss:// URL as "trust any
	// certificate": ask it what it read, so that no spelling gets past.
	if opts, err := redis.ParseURL(c.RedisURL); err == nil && opts.TLSConfig != nil && opts.TLSConfig.InsecureSkipVerify {
		return invalid("RedisURL", getenv, errors.New("skip_verify=true turns the check of the certificate off: trust its CA with REDIS_TLS_CA_FILE instead"))
	}
	if _, err := c.tlsConfig(); err != nil {
		return invalid("RedisTLSCAFile", getenv, err)
	}
	return nil
}

// baseSettings are the run-time settings as the environment gives them.
func (c Config) baseSettings() settings.Settings {
	return settings.Settings{LogLevel: c.LogLevel, Greeting: c.Greeting}
}

// readSettings reads CONFIG_FILE over the environment's settings.
func (c Config) readSettings() (settings.Settings, error) {
	if c.ConfigFile == "" {
		return c.baseSettings(), nil
	}
	data, err := os.ReadFile(c.ConfigFile)
	if err != nil {
		return settings.Settings{}, err
	}
	return settings.Parse(data, c.baseSettings())
}

// secret returns value, or else the content of the file named by the field
// fileField (a mounted Kubernetes Secret, say), without the white space
// around it (a final newline, a stray space or tab an editor left).
func secret(value, path, fileField string, getenv func(string) string) (string, error) {
	if path == "" {
		return value, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", invalid(fileField, getenv, err)
	}
	return strings.TrimSpace(string(data)), nil
}

// minTokenLength is the shortest admin token accepted: 16 random characters
// cannot be guessed over HTTP.
const minTokenLength = 16

// checkToken refuses an admin token that can be guessed: too short, or a
// placeholder copied from an example. A file that was given must hold one:
// an empty file is a mistake, not a way to turn the admin API off.
func checkToken(token string, fromFile bool) error {
	lower := strings.ToLower(token)
	switch {
	case token == "" && !fromFile:
		return nil // no token: the admin API is off
	case token == "":
		return errors.New("the file is empty")
	case len(token) < minTokenLength:
		return fmt.Errorf("the token is shorter than %d characters", minTokenLength)
	case strings.Contains(lower, "change-me") || strings.Contains(lower, "changeme") || strings.Contains(lower, "change_me"):
		return errors.New("the token is a placeholder: generate one, such as with `openssl rand -hex 32`")
	}
	return nil
}

// invalid builds the error for the Config field with this name from the
// field's own tags, so the message and the declaration cannot drift apart.
func invalid(field string, getenv func(string) string, reason error) error {
	f, _ := reflect.TypeFor[Config]().FieldByName(field)
	name := f.Tag.Get("env")
	value := getenv(name)
	if f.Tag.Get("secret") == "true" {
		value = redact(value)
	}
	return &ConfigError{Var: name, Value: value, Accepts: f.Tag.Get("accepts"), Reason: reason}
}

// redact hides a secret in an error message, whatever its shape. A URL of
// the form scheme://host keeps its scheme, host, port and path, and loses
// its user and password; anything else (a password that happens to read as
// a URL, such as "s3cret:hunter2" or "redis:pw@host") is hidden whole.
func redact(value string) string {
	u, err := url.Parse(value)
	if err != nil || u.Opaque != "" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "(hidden)"
	}
	u.User = nil
	return u.String()
}
