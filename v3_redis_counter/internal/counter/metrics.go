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
	pings        prometheus.Counter
	batchSize    prometheus.Histogram
	unreplicated prometheus.Counter
	master       *prometheus.GaugeVec
	commands     *prometheus.CounterVec
	errors       *prometheus.CounterVec
	duration     *prometheus.HistogramVec
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
		unreplicated: factory.NewCounter(prometheus.CounterOpts{
			Name: "pingpong_counter_unreplicated_batches_total",
			Help: "Batches of pings answered 503 because too few replicas acknowledged their INCRBY in time.",
		}),
		master: factory.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pingpong_redis_master_info",
			Help: "Always 1; addr is the Redis server the counter writes to, the current master: it changes with a failover.",
		}, []string{"addr"}),
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
	if errors.Is(err, ErrNotReplicated) {
		m.unreplicated.Inc()
	}
	if err != nil {
		return
	}
	m.pings.Add(float64(size))
	m.batchSize.Observe(float64(size))
}

// Hook returns a go-redis hook that times and counts every command the
// client sends, alone or in a pipeline: the counter's and the readiness
// probe's alike. It also records which server each new connection reached:
// with Sentinel, the client dials a placeholder name and its dialer asks the
// Sentinels for the master, so only the connection itself knows the address.
func (m *Metrics) Hook() redis.Hook { return metricsHook{m} }

type metricsHook struct{ m *Metrics }

func (h metricsHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err != nil {
			h.m.errors.WithLabelValues("dial").Inc()
			return conn, err
		}
		h.m.master.Reset()
		h.m.master.WithLabelValues(conn.RemoteAddr().String()).Set(1)
		return conn, err
	}
}

func (h metricsHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		h.observe(cmd, err, time.Since(start))
		return err
	}
}

// ProcessPipelineHook counts each command of a pipeline (the counter's
// INCRBY and WAIT), each timed as the whole round trip it shared.
func (h metricsHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		elapsed := time.Since(start)
		for _, cmd := range cmds {
			h.observe(cmd, cmd.Err(), elapsed)
		}
		return err
	}
}

func (h metricsHook) observe(cmd redis.Cmder, err error, elapsed time.Duration) {
	name := cmd.Name()
	h.m.commands.WithLabelValues(name).Inc()
	h.m.duration.WithLabelValues(name).Observe(elapsed.Seconds())
	if err != nil && !errors.Is(err, redis.Nil) { // a missing key is an answer, not a failure
		h.m.errors.WithLabelValues(name).Inc()
	}
}
