package main

import (
	"log/slog"
	"net/http"
	"time"
)

// accessLog writes one line per request. Health probes and Prometheus
// scrapes arrive every few seconds, and 404s and 405s are what scanners
// send by the thousand, so they are logged at debug level only.
func accessLog(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		recorder := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(recorder, r)
		level := slog.LevelInfo
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics" ||
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

// failureLog is the one place a Redis failure becomes an answer and a log
// line. The answer is fixed: the cause names the key and Redis's address,
// which are nobody's business outside. The cause goes to the log at warn,
// at most one line a second (see everySecond).
type failureLog struct{ *everySecond }

func newFailureLog(logger *slog.Logger) *failureLog {
	return &failureLog{newEverySecond(logger, slog.LevelWarn, "counter unavailable")}
}

func (f *failureLog) counterUnavailable(w http.ResponseWriter, err error) {
	f.log("error", err.Error())
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, "counter unavailable")
}
