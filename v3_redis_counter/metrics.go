package main

import (
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// newRegistry returns a registry with the Go runtime and process metrics
// (a fresh registry has neither) and pingpong_build_info, which tells which
// version runs where: `pingpong_build_info{version="v1.2.3"}`.
func newRegistry(version, revision string) *prometheus.Registry {
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

// instrument counts and times the requests to one route, in the series that
// promhttp's InstrumentHandlerCounter and InstrumentHandlerDuration make: the
// same names, the route's name in a "handler" label, the method and status
// code in "method" and "code". Unlike them, it looks a series up once per
// method and status code and keeps it, instead of building a label map and
// hashing it on every request: on /ping that was about a twentieth of the CPU
// of a ping (see bench/README.md).
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
	series := newSeriesCache(func(method, code string) routeSeries {
		return routeSeries{requests.WithLabelValues(method, code), duration.WithLabelValues(method, code)}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		recorder := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(recorder, r)
		s := series.get(r.Method, recorder.status)
		s.requests.Inc()
		s.duration.Observe(time.Since(start).Seconds())
	})
}

// routeSeries are one route's series for one method and status code.
type routeSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// seriesCache keeps the series of a route by method and status code.
type seriesCache struct {
	newSeries func(method, code string) routeSeries
	mu        sync.RWMutex
	known     map[seriesKey]routeSeries
}

type seriesKey struct {
	method string
	code   int
}

func newSeriesCache(newSeries func(method, code string) routeSeries) *seriesCache {
	return &seriesCache{newSeries: newSeries, known: map[seriesKey]routeSeries{}}
}

func (c *seriesCache) get(method string, code int) routeSeries {
	key := seriesKey{methodLabel(method), code}
	c.mu.RLock()
	s, ok := c.known[key]
	c.mu.RUnlock()
	if !ok {
		s = c.newSeries(key.method, strconv.Itoa(code))
		c.mu.Lock()
		c.known[key] = s
		c.mu.Unlock()
	}
	return s
}

// methodLabels are the methods labelled by name, in lower case as promhttp
// does. Any other method is "unknown", so that no client can make new series
// by inventing methods.
var methodLabels = map[string]string{
	http.MethodGet: "get", http.MethodHead: "head", http.MethodPost: "post", http.MethodPut: "put",
	http.MethodPatch: "patch", http.MethodDelete: "delete", http.MethodOptions: "options",
	http.MethodConnect: "connect", http.MethodTrace: "trace",
}

func methodLabel(method string) string {
	if label, ok := methodLabels[method]; ok {
		return label
	}
	return "unknown"
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

// instrumented returns a function that adds one route, with its metrics.
func instrumented(router *mux.Router, d deps) func(path string, h http.Handler, methods ...string) {
	return func(path string, h http.Handler, methods ...string) {
		router.Handle(path, instrument(d.Registry, path, h)).Methods(methods...)
	}
}
