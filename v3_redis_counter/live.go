package main

import (
	"context"
	"io"
	"log/slog"

	"pingpong/v3_redis_counter/internal/settings"
)

// liveSettings reads the settings that change without a restart (the
// greeting, the log level) and, with CONFIG_FILE set, keeps reading them
// until stop is called or ctx ends. The logger it returns follows the live
// log level.
func liveSettings(ctx context.Context, cfg Config, stdout io.Writer) (live *settings.Live, logger *slog.Logger, stop func(), err error) {
	initial, err := cfg.readSettings()
	if err != nil {
		return nil, nil, nil, err // validated at start-up; the file changed since
	}
	live = settings.NewLive(initial)
	logger = slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: live.Level()}))
	watchCtx, stop := context.WithCancel(ctx)
	if cfg.ConfigFile != "" {
		go live.Watch(watchCtx, cfg.ConfigFile, cfg.ConfigPollInterval, cfg.baseSettings(), logger)
	}
	return live, logger, stop, nil
}
