package counter

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/redis/go-redis/v9"
)

// Metrics are what the counter tells Prometheus: counts handed out, and how
// Redis is doing.
type Metrics struct {
	pings     prometheus.Counter
	batchSize prometheus.Histogram
	commands  *prometheus.CounterVec
	errors    *prometheus.CounterVec
	duration  *prometheus.HistogramVec
}

// NewMetrics registers the counter's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	factory := promauto.With(reg)
	return &Metrics{
		pings: factory.NewCounter(prometheus.CounterOpts{
			Name: "pingpong_pings_total",
			Help: "Ping counts handed out.",
		}),
		batchSize: factory.NewHistogram(prometheus.HistogramOpts{
			Name:    "pingpong_counter_batch_size",
			Help:    "Pings counted by one INCRBY round trip to Redis.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		commands: factory.NewCounterVec(prometheus.CounterOpts{
			Name: "pingpong_redis_commands_total",
			Help: "Redis commands sent, by command.",
		}, []string{"command"}),
		errors: factory.NewCounterVec(prometheus.CounterOpts{
			Name: "pingpong_redis_errors_total",
			Help: "Redis commands that failed, by command.",
		}, []string{"command"}),
		duration: factory.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pingpong_redis_command_duration_seconds",
			Help:    "Time from sending a Redis command to its answer, by command.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"command"}),
	}
}

func (m *Metrics) observeBatch(size int, err error) {
	if err != nil {
		return
	}
	m.pings.Add(float64(size))
	m.batchSize.Observe(float64(size))
}

// Hook returns a go-redis hook that times and counts every command the
// client sends: the counter's and the readiness probe's alike.
func (m *Metrics) Hook() redis.Hook { return metricsHook{m} }

type metricsHook struct{ m *Metrics }

func (h metricsHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err != nil {
			h.m.errors.WithLabelValues("dial").Inc()
		}
		return conn, err
	}
}

func (h metricsHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		name := cmd.Name()
		h.m.commands.WithLabelValues(name).Inc()
		h.m.duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
		if err != nil && !errors.Is(err, redis.Nil) { // a missing key is an answer, not a failure
			h.m.errors.WithLabelValues(name).Inc()
		}
		return err
	}
}

func (h metricsHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next // the counter sends no pipelines
}
