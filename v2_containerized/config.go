package main

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v10"
)

// Config is everything this service reads from its environment (twelve-factor
// III). Each field names its variable, its default, and in `accepts` what a
// valid value looks like: that text is what a bad value's error tells the user.
type Config struct {
	Port            int           `env:"PORT" envDefault:"5000" accepts:"a whole number from 1 to 65535"`
	BindAddress     string        `env:"BIND_ADDRESS" envDefault:"127.0.0.1" accepts:"the IP address to listen on: 127.0.0.1 for this machine only, 0.0.0.0 for every interface (the container image sets it)"`
	MaxConnections  int           `env:"MAX_CONNECTIONS" envDefault:"1024" accepts:"the most connections held open at once, 1 or more"`
	LogLevel        string        `env:"LOG_LEVEL" envDefault:"info" accepts:"one of debug, info, warn, error"`
	Greeting        string        `env:"GREETING" envDefault:"Hello!"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s" accepts:"a duration above zero, such as 10s"`
	ShutdownDelay   time.Duration `env:"SHUTDOWN_DELAY" envDefault:"0s" accepts:"a duration of zero or more, such as 5s"`

	// Set by the Kubernetes downward API; empty elsewhere.
	PodName      string `env:"POD_NAME"`
	PodNamespace string `env:"POD_NAMESPACE"`
	PodIP        string `env:"POD_IP"`
}

var logLevels = []string{"debug", "info", "warn", "error"}

// ConfigError is one bad environment variable. It stops start-up, and main
// exits with status 2 for it, the convention for a usage error.
type ConfigError struct {
	Var, Value, Accepts string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("invalid %s=%q: want %s", e.Var, e.Value, e.Accepts)
}

// loadConfig reads and validates the configuration once, at start-up.
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
					return cfg, invalid(parseErr.Name, getenv)
				}
			}
		}
		return cfg, err
	}
	cfg.LogLevel = strings.ToLower(cfg.LogLevel)
	return cfg, cfg.validate(getenv)
}

// validate checks what the types alone cannot.
func (c Config) validate(getenv func(string) string) error {
	switch {
	case c.Port < 1 || c.Port > 65535:
		return invalid("Port", getenv)
	case net.ParseIP(c.BindAddress) == nil:
		return invalid("BindAddress", getenv)
	case c.MaxConnections < 1:
		return invalid("MaxConnections", getenv)
	case !slices.Contains(logLevels, c.LogLevel):
		return invalid("LogLevel", getenv)
	case c.ShutdownTimeout <= 0:
		return invalid("ShutdownTimeout", getenv)
	case c.ShutdownDelay < 0:
		return invalid("ShutdownDelay", getenv)
	}
	return nil
}

// invalid builds the error for the Config field with this name from the
// field's own tags, so the message and the declaration cannot drift apart.
func invalid(field string, getenv func(string) string) error {
	f, _ := reflect.TypeFor[Config]().FieldByName(field)
	name := f.Tag.Get("env")
	return &ConfigError{Var: name, Value: getenv(name), Accepts: f.Tag.Get("accepts")}
}
