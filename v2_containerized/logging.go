package main

import (
	"io"
	"log/slog"
	"net/http"
	"time"
)

// newLogger writes JSON lines to stdout and leaves storing them to the
// platform (twelve-factor XI): docker logs, kubectl logs, a log shipper.
func newLogger(stdout io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // the level was validated with the config
	return slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: l}))
}

// accessLog writes one line per request. Health probes arrive every few
// seconds from Docker or Kubernetes, and 404s and 405s are what scanners send
// by the thousand, so they are logged at debug level only.
func accessLog(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		recorder := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(recorder, r)
		level := slog.LevelInfo
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" ||
			recorder.status == http.StatusNotFound || recorder.status == http.StatusMethodNotAllowed {
			level = slog.LevelDebug
		}
		logger.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", recorder.status),
			slog.Float64("duration_seconds", time.Since(start).Seconds()),
		)
	})
}

// statusRecorder remembers the status code a handler wrote, for the log line.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(status int) {
	s.status = status
	s.ResponseWriter.WriteHeader(status)
}

// Unwrap gives http.ResponseController the writer underneath, so that
// Flush, deadlines and the like still work through the access log.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
