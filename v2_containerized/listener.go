package main

// The listener policy: how many connections the public port holds at once,
// and where the HTTP server's own complaints go.

import (
	"context"
	"log"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"
)

// listenAddr is the address to listen on for port. BIND_ADDRESS 0.0.0.0 or
// :: means every interface, of either IP version.
func listenAddr(bind string, port int) string {
	if bind == "0.0.0.0" || bind == "::" {
		bind = ""
	}
	return net.JoinHostPort(bind, strconv.Itoa(port))
}

// limitListener holds at most max connections open at once. One more is
// accepted and closed at once, and the refusal logged, rather than left
// waiting in the kernel's queue: each open connection costs memory and a
// file descriptor, and thousands of idle ones would exhaust both.
type limitListener struct {
	net.Listener
	slots   chan struct{}
	refused *everySecond
}

func limitConnections(l net.Listener, max int, logger *slog.Logger) net.Listener {
	return &limitListener{
		Listener: l,
		slots:    make(chan struct{}, max),
		refused:  newEverySecond(logger, slog.LevelWarn, "connection refused: MAX_CONNECTIONS reached"),
	}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			l.refused.log("max_connections", cap(l.slots), "remote", c.RemoteAddr().String())
			c.Close()
		}
	}
}

// limitedConn gives its slot back when it closes, once.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// serverErrorLog sends net/http's own messages ("http: Accept error", TLS
// handshake errors, panics in handlers) to the JSON log, not plain stderr.
func serverErrorLog(logger *slog.Logger) *log.Logger {
	return slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
}

// everySecond writes a message at most once a second, so that a flood of
// the same event (a Redis outage under load, a full port) cannot flood the
// log; each line says how many it stands for ("suppressed": the ones since
// the last line that wrote none).
type everySecond struct {
	logger *slog.Logger
	level  slog.Level
	msg    string
	now    func() time.Time

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func newEverySecond(logger *slog.Logger, level slog.Level, msg string) *everySecond {
	return &everySecond{logger: logger, level: level, msg: msg, now: time.Now}
}

func (e *everySecond) log(args ...any) {
	e.mu.Lock()
	now := e.now()
	if !e.last.IsZero() && now.Sub(e.last) < time.Second {
		e.suppressed++
		e.mu.Unlock()
		return
	}
	suppressed := e.suppressed
	e.last, e.suppressed = now, 0
	e.mu.Unlock()
	e.logger.Log(context.Background(), e.level, e.msg, append(args, "suppressed", suppressed)...)
}
