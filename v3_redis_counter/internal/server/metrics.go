package server

import (
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry with the Go runtime and process metrics
// (a fresh registry has neither) and pingpong_build_info, which tells which
// version runs where: `pingpong_build_info{version="v1.2.3"}`.
func NewRegistry(version, revision string) *prometheus.Registry {
	registry := prometheus.NewRegistry()
	registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	promauto.With(registry).NewGauge(prometheus.GaugeOpts{
		Name:        "pingpong_build_info",
		Help:        "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()},
	}).Set(1)
	return registry
}

// instrument counts and times the requests to one route with promhttp's own
// middleware. The route's name goes in a "handler" label; the method and
// status code in "method" and "code".
func instrument(registry *prometheus.Registry, route string, next http.Handler) http.Handler {
	factory := promauto.With(prometheus.WrapRegistererWith(prometheus.Labels{"handler": route}, registry))
	requests := factory.NewCounterVec(prometheus.CounterOpts{
		Name: "pingpong_http_requests_total",
		Help: "HTTP requests answered, by route, method and status code.",
	}, []string{"method", "code"})
	duration := factory.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "pingpong_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route, method and status code.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"method", "code"})
	return promhttp.InstrumentHandlerCounter(requests, promhttp.InstrumentHandlerDuration(duration, next))
}

// inFlight counts the requests being served right now.
func inFlight(registry *prometheus.Registry, next http.Handler) http.Handler {
	gauge := promauto.With(registry).NewGauge(prometheus.GaugeOpts{
		Name: "pingpong_http_requests_in_flight",
		Help: "HTTP requests being served right now.",
	})
	return promhttp.InstrumentHandlerInFlight(gauge, next)
}

// handleMetrics serves the registry in the Prometheus text format.
func handleMetrics(registry *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(registry, promhttp.HandlerOpts{Registry: registry})
}
