package harness

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Drive is the load generator of the benchmark and of the rollout tests. It
// speaks HTTP/1.1 itself over plain keep-alive connections, for two reasons:
//   - It shares the machine's cores with the service and Redis, so every
//     cycle it spends is one the service does not get: one write and one read
//     per request, and none of net/http's client machinery.
//   - It must record every answer and send no request twice. net/http's
//     Transport silently sends a GET again when a reused connection closes
//     under it: for /ping, which counts, that hides a failure and spends a
//     number.
//
// It honours "Connection: close": after such an answer it opens a new
// connection for its next request, as any HTTP client does. It understands
// exactly the responses the service sends: a status line, headers and a body
// of Content-Length bytes.

// requestTimeout bounds one request: a response slower than this counts as
// an error, and the connection is replaced.
const requestTimeout = 5 * time.Second

// LoadResult is what one run of the load generator saw.
type LoadResult struct {
	Conns     int
	Elapsed   time.Duration   // from the first request sent to the last answer
	Latencies []time.Duration // of the successful requests, sorted
	Counts    []int64         // the count each successful ping answered; none for DriveFixed
	Errors    int             // failed connections, non-200 answers, unreadable bodies
	FirstErr  error           // the first of them, to say what went wrong
	Answers   []Answer        // every answer, each connection's in order; DriveRecorded only
}

// Answer is one request as DriveRecorded saw it.
type Answer struct {
	Sent   time.Time // when the request was sent
	Status int       // the answer's status; 0 when none came (a failed connection, a timeout)
	Count  int64     // the count a 200 answered
}

// Outage sums up the answers DriveRecorded recorded: the failed requests by
// status (0: no answer came), when the first and the last of them were sent,
// and when the last request answered 200 was sent. Zero times: there was none.
type Outage struct {
	Statuses                        map[int]int
	FirstFailed, LastFailed, LastOK time.Time
}

// Outage is the outage in r's recorded answers.
func (r LoadResult) Outage() Outage {
	o := Outage{Statuses: map[int]int{}}
	for _, a := range r.Answers {
		if a.Status == 200 {
			if a.Sent.After(o.LastOK) {
				o.LastOK = a.Sent
			}
			continue
		}
		o.Statuses[a.Status]++
		if o.FirstFailed.IsZero() || a.Sent.Before(o.FirstFailed) {
			o.FirstFailed = a.Sent
		}
		if a.Sent.After(o.LastFailed) {
			o.LastFailed = a.Sent
		}
	}
	return o
}

// Rate is the successful requests per second.
func (r LoadResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(len(r.Latencies)) / r.Elapsed.Seconds()
}

// Drive sends GET path to addr over conns keep-alive connections, each
// sending its next request as soon as the last one is answered, for
// duration. Every connection is opened before the clock starts.
// Cancelling ctx stops it early.
func Drive(ctx context.Context, addr, path string, conns int, duration time.Duration) (LoadResult, error) {
	return drive(ctx, addr, path, driveOptions{}, conns, duration)
}

// DriveRecorded is Drive for a test that watches an outage: it records every
// answer with the time its request was sent (LoadResult.Answers), and after
// an answer other than 200, or none, it waits backoff before the connection's
// next request, as a client told Retry-After would, so that an outage is not a
// busy loop that takes the machine's cores from what is recovering.
func DriveRecorded(ctx context.Context, addr, path string, conns int, duration, backoff time.Duration) (LoadResult, error) {
	return drive(ctx, addr, path, driveOptions{record: true, backoff: backoff}, conns, duration)
}

// DriveRecordedHost is DriveRecorded through a server that routes by name, such as an Ingress
// controller: the connections go to addr, and the requests name host in their Host header.
func DriveRecordedHost(ctx context.Context, addr, host, path string, conns int, duration, backoff time.Duration) (LoadResult, error) {
	return drive(ctx, addr, path, driveOptions{record: true, backoff: backoff, host: host}, conns, duration)
}

// DriveFixed is Drive for a path that answers the same body every time, such
// as a server that answers "pong" and counts nothing: a success is a 200
// with exactly want as its body, and the result holds no Counts.
func DriveFixed(ctx context.Context, addr, path, want string, conns int, duration time.Duration) (LoadResult, error) {
	return drive(ctx, addr, path, driveOptions{want: []byte(want)}, conns, duration)
}

// driveOptions are what tell Drive, DriveFixed, DriveRecorded and DriveRecordedHost apart.
type driveOptions struct {
	want    []byte        // the body every answer must hold; nil: a count
	record  bool          // keep every answer
	backoff time.Duration // the pause after a failed request
	host    string        // the Host header; empty: addr
}

// drive is Drive, DriveFixed or DriveRecorded, as opts say.
func drive(ctx context.Context, addr, path string, opts driveOptions, conns int, duration time.Duration) (LoadResult, error) {
	host := cmp.Or(opts.host, addr)
	request := []byte("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
	clients := make([]*loadConn, conns)
	for i := range clients {
		c, err := dialClient(addr, request, opts)
		if err != nil {
			for _, opened := range clients[:i] {
				opened.close()
			}
			return LoadResult{}, err
		}
		clients[i] = c
	}
	var cancelled atomic.Bool
	defer context.AfterFunc(ctx, func() { cancelled.Store(true) })()
	start := time.Now()
	deadline := start.Add(duration)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { c.run(deadline, &cancelled) })
	}
	wg.Wait()
	result := LoadResult{Conns: conns, Elapsed: time.Since(start)}
	for _, c := range clients {
		c.close()
		result.Latencies = append(result.Latencies, c.latencies...)
		result.Counts = append(result.Counts, c.counts...)
		result.Answers = append(result.Answers, c.answers...)
		result.Errors += c.errors
		if result.FirstErr == nil {
			result.FirstErr = c.firstErr
		}
	}
	slices.Sort(result.Latencies)
	return result, nil
}

// loadConn is one keep-alive connection and what it measured.
type loadConn struct {
	addr    string
	request []byte
	driveOptions
	conn   net.Conn
	reader *bufio.Reader

	latencies []time.Duration
	counts    []int64
	answers   []Answer
	errors    int
	firstErr  error
}

func dialClient(addr string, request []byte, opts driveOptions) (*loadConn, error) {
	c := &loadConn{addr: addr, request: request, driveOptions: opts}
	if err := c.dial(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *loadConn) dial() error {
	conn, err := net.DialTimeout("tcp", c.addr, requestTimeout)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", c.addr, err)
	}
	c.conn = conn
	c.reader = bufio.NewReaderSize(conn, 4096)
	return nil
}

func (c *loadConn) close() {
	if c.conn != nil {
		c.conn.Close()
	}
}

// run sends requests one after the other until deadline. A request under way
// at the deadline is still waited for, so that its count is not lost to the
// exactness check.
func (c *loadConn) run(deadline time.Time, cancelled *atomic.Bool) {
	for time.Now().Before(deadline) && !cancelled.Load() {
		if c.conn == nil {
			if err := c.dial(); err != nil {
				c.fail(err)
				c.recordAnswer(Answer{Sent: time.Now()})
				time.Sleep(10 * time.Millisecond) // the server is gone or full: do not spin
				continue
			}
		}
		start := time.Now()
		count, closing, err := c.ping(start)
		if closing && c.conn != nil {
			// The server said this was the connection's last answer.
			c.conn.Close()
			c.conn = nil
		}
		if err != nil {
			c.fail(err)
			var status statusError
			if errors.As(err, &status) {
				c.recordAnswer(Answer{Sent: start, Status: status.status})
			} else {
				c.recordAnswer(Answer{Sent: start})
				if c.conn != nil {
					// Anything but a well-formed error answer leaves the
					// connection in an unknown state: start a new one.
					c.conn.Close()
					c.conn = nil
				}
			}
			time.Sleep(c.backoff)
			continue
		}
		c.latencies = append(c.latencies, time.Since(start))
		if c.want == nil {
			c.counts = append(c.counts, count)
		}
		c.recordAnswer(Answer{Sent: start, Status: 200, Count: count})
	}
}

func (c *loadConn) recordAnswer(a Answer) {
	if c.record {
		c.answers = append(c.answers, a)
	}
}

func (c *loadConn) fail(err error) {
	c.errors++
	if c.firstErr == nil {
		c.firstErr = err
	}
}

// ping sends one request and returns the count the answer holds (0 when
// the answer must be want instead), and whether the server closes the
// connection after it.
func (c *loadConn) ping(start time.Time) (count int64, closing bool, err error) {
	if err := c.conn.SetDeadline(start.Add(requestTimeout)); err != nil {
		return 0, false, err
	}
	if _, err := c.conn.Write(c.request); err != nil {
		return 0, false, err
	}
	resp, err := ReadResponse(c.reader)
	if err != nil {
		return 0, false, err
	}
	if resp.Status != 200 {
		return 0, resp.Close, statusError{resp.Status, string(resp.Body)}
	}
	if c.want != nil {
		if !bytes.Equal(resp.Body, c.want) {
			return 0, resp.Close, fmt.Errorf("answer %q, want %q", resp.Body, c.want)
		}
		return 0, resp.Close, nil
	}
	count, err = strconv.ParseInt(string(bytes.TrimSpace(resp.Body)), 10, 64)
	if err != nil {
		return 0, resp.Close, fmt.Errorf("answer %q is not a count", resp.Body)
	}
	return count, resp.Close, nil
}

// statusError is an answer other than 200, read in full: the connection
// can carry on.
type statusError struct {
	status int
	body   string
}

func (e statusError) Error() string {
	return fmt.Sprintf("status %d: %s", e.status, bytes.TrimSpace([]byte(e.body)))
}

// Response is one answer as ReadResponse read it.
type Response struct {
	Status int
	Body   []byte // valid only until the next read from the connection
	Close  bool   // the server sent "Connection: close": no request may follow on this connection
}

// ReadResponse reads one HTTP/1.1 response with a Content-Length body.
func ReadResponse(r *bufio.Reader) (Response, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return Response{}, fmt.Errorf("reading the status line: %w", err)
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return Response{}, fmt.Errorf("malformed status line %q", line)
	}
	resp := Response{}
	resp.Status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return Response{}, fmt.Errorf("malformed status line %q", line)
	}
	length := -1
	for {
		line, err = r.ReadSlice('\n')
		if err != nil {
			return Response{}, fmt.Errorf("reading the headers: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return Response{}, fmt.Errorf("malformed header %q", line)
		}
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(bytes.TrimSpace(value))); err != nil || length < 0 {
				return Response{}, fmt.Errorf("malformed Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")):
			resp.Close = bytes.EqualFold(bytes.TrimSpace(value), []byte("close"))
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return Response{}, fmt.Errorf("unexpected Transfer-Encoding %q", value)
		}
	}
	if length < 0 {
		return Response{}, errors.New("response without Content-Length")
	}
	if length > r.Size() {
		return Response{}, fmt.Errorf("body of %d bytes is larger than any answer of the service", length)
	}
	if resp.Body, err = r.Peek(length); err != nil {
		return Response{}, fmt.Errorf("reading the body: %w", err)
	}
	_, _ = r.Discard(length)
	return resp, nil
}

// Repeated returns the counts that appear more than once, each once, in
// ascending order: a counter that hands out no number twice gives none.
func Repeated(counts []int64) []int64 {
	sorted := slices.Clone(counts)
	slices.Sort(sorted)
	var repeated []int64
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] && (len(repeated) == 0 || repeated[len(repeated)-1] != sorted[i]) {
			repeated = append(repeated, sorted[i])
		}
	}
	return repeated
}
