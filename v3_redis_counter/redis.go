package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// redisOptions turns the configuration into go-redis client options.
func (c Config) redisOptions() (*redis.Options, error) {
	opts := &redis.Options{Addr: c.RedisAddr, DB: c.RedisDB}
	if c.RedisURL != "" {
		var err error
		if opts, err = redis.ParseURL(c.RedisURL); err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
	}
	// Ours replaces the TLS settings of a rediss:// URL, and with them any
	// skip_verify the URL asked for.
	tlsConfig, err := c.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("REDIS_TLS_CA_FILE: %w", err)
	}
	opts.TLSConfig = tlsConfig
	if c.RedisPassword != "" {
		opts.Password = c.RedisPassword
	}
	// Every wait is bounded, so a Redis outage becomes a quick 503, not a hang.
	opts.DialTimeout = c.RedisTimeout
	opts.ReadTimeout = c.RedisTimeout
	opts.WriteTimeout = c.RedisTimeout
	opts.PoolTimeout = c.RedisTimeout
	opts.ContextTimeoutEnabled = true
	// Never send a command twice: if INCRBY reached Redis but its answer was
	// lost, a retry would count the same pings again and skip numbers.
	opts.MaxRetries = -1
	// One dial attempt per call: while Redis is down, each ping fails fast
	// and the next one dials again.
	opts.DialerRetries = 1
	// Skip CLIENT SETINFO on each new connection: Redis before 7.2 rejects
	// it, and every rejection would show up as a Redis error in the metrics.
	opts.DisableIdentity = true
	return opts, nil
}

// redisTLS reports whether the service speaks TLS to Redis.
func (c Config) redisTLS() bool {
	u, err := url.Parse(c.RedisURL)
	return c.RedisTLS || (err == nil && u.Scheme == "rediss")
}

// tlsConfig is how the service checks Redis's certificate, or nil without
// TLS: against the CAs of REDIS_TLS_CA_FILE, or else the system's. The name
// it must hold is REDIS_TLS_SERVER_NAME, or else the host dialled: that of
// REDIS_URL or REDIS_ADDR, or the address a Sentinel gives for the master.
func (c Config) tlsConfig() (*tls.Config, error) {
	if !c.redisTLS() {
		return nil, nil
	}
	config := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.RedisTLSServerName}
	if c.RedisTLSCAFile == "" {
		return config, nil
	}
	pem, err := os.ReadFile(c.RedisTLSCAFile)
	if err != nil {
		return nil, err
	}
	config.RootCAs = x509.NewCertPool()
	if !config.RootCAs.AppendCertsFromPEM(pem) {
		return nil, errors.New("no PEM certificate in the file")
	}
	return config, nil
}

// newRedisClient returns a pooled client for the configured Redis: the one
// server of REDIS_URL or REDIS_ADDR, or, with REDIS_SENTINELS, whichever
// server the Sentinels name master. The failover client asks them on every
// new connection and drops its connections to a master that was replaced, so
// the service follows a failover by itself.
func (c Config) newRedisClient() (*redis.Client, error) {
	opts, err := c.redisOptions()
	if err != nil {
		return nil, err
	}
	if len(c.RedisSentinels) == 0 {
		return redis.NewClient(opts), nil
	}
	sentinels := make([]string, len(c.RedisSentinels))
	for i, addr := range c.RedisSentinels {
		sentinels[i] = strings.TrimSpace(addr)
	}
	return redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:       c.RedisMasterName,
		SentinelAddrs:    sentinels,
		SentinelPassword: c.RedisSentinelPassword,
		// The same bounds as for a single server (redisOptions says why).
		Password:              opts.Password,
		DB:                    opts.DB,
		DialTimeout:           opts.DialTimeout,
		ReadTimeout:           opts.ReadTimeout,
		WriteTimeout:          opts.WriteTimeout,
		PoolTimeout:           opts.PoolTimeout,
		ContextTimeoutEnabled: opts.ContextTimeoutEnabled,
		MaxRetries:            opts.MaxRetries,
		DialerRetries:         opts.DialerRetries,
		DisableIdentity:       opts.DisableIdentity,
		// go-redis dials the Sentinels with it too: one CA signs them all.
		TLSConfig: opts.TLSConfig,
	}), nil
}

// connectRedis returns a pooled client for the configured Redis. With none
// configured, it starts an embedded in-memory Redis first, so that the
// service runs with nothing installed; stop it with the returned function.
func connectRedis(cfg Config, logger *slog.Logger) (*redis.Client, func(), error) {
	redis.SetLogger(redisLogger{logger})
	stop := func() {}
	if cfg.RedisURL == "" && cfg.RedisAddr == "" && len(cfg.RedisSentinels) == 0 {
		embedded, err := miniredis.Run()
		if err != nil {
			return nil, nil, fmt.Errorf("starting the embedded Redis: %w", err)
		}
		logger.Warn("no REDIS_URL or REDIS_ADDR set: counting in an embedded in-memory Redis; "+
			"the count is lost when the process stops and is not shared between replicas",
			"addr", embedded.Addr())
		cfg.RedisAddr, cfg.RedisPassword, stop = embedded.Addr(), "", embedded.Close
	}
	client, err := cfg.newRedisClient()
	if err != nil {
		stop()
		return nil, nil, err
	}
	return client, stop, nil
}

// redisLogger sends go-redis's own messages (a failed dial in the
// background, for one) to the JSON log instead of a plain line on stderr.
type redisLogger struct{ logger *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.logger.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
