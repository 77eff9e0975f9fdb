package harness

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestReadResponse(t *testing.T) {
	for _, tc := range []struct {
		name, raw  string
		wantStatus int
		wantBody   string
		wantClose  bool
		wantErr    string
	}{
		{
			name:       "a count",
			raw:        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n42\n",
			wantStatus: 200, wantBody: "42\n",
		},
		{
			name:       "header names in any case",
			raw:        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n7\n",
			wantStatus: 200, wantBody: "7\n",
		},
		{
			name:       "an error answer",
			raw:        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 13\r\n\r\n{\"error\":\"x\"}",
			wantStatus: 503, wantBody: `{"error":"x"}`,
		},
		{
			name:       "the last answer of a connection",
			raw:        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n8\n",
			wantStatus: 200, wantBody: "8\n", wantClose: true,
		},
		{name: "chunked", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n7\r\n0\r\n\r\n", wantErr: "Transfer-Encoding"},
		{name: "no length", raw: "HTTP/1.1 200 OK\r\n\r\n", wantErr: "without Content-Length"},
		{name: "not HTTP", raw: "+PONG\r\n", wantErr: "malformed status line"},
		{name: "cut short", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n1", wantErr: "reading the body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := ReadResponse(bufio.NewReader(strings.NewReader(tc.raw)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || resp.Status != tc.wantStatus || string(resp.Body) != tc.wantBody || resp.Close != tc.wantClose {
				t.Errorf("ReadResponse = %d, %q, close %v, %v; want %d, %q, close %v",
					resp.Status, resp.Body, resp.Close, err, tc.wantStatus, tc.wantBody, tc.wantClose)
			}
		})
	}
}

// TestReadResponseKeepsConnectionUsable reads answers back to back from one
// stream, as on a keep-alive connection: each read must stop at its body's
// end, or the next answer would be garbled.
func TestReadResponseKeepsConnectionUsable(t *testing.T) {
	stream := strings.Repeat("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n1\n", 3)
	r := bufio.NewReader(strings.NewReader(stream))
	for i := range 3 {
		if resp, err := ReadResponse(r); err != nil || resp.Status != 200 || string(resp.Body) != "1\n" {
			t.Fatalf("answer %d: %d, %q, %v", i+1, resp.Status, resp.Body, err)
		}
	}
	if _, err := ReadResponse(r); err == nil {
		t.Fatal("read a fourth answer from a stream of three")
	}
}

// TestDriveChecksEveryAnswer runs the load generator against a stand-in
// service over loopback: an honest counter must come out with no repeated
// count, and one that sometimes repeats a number must not.
func TestDriveChecksEveryAnswer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		every int64 // repeat the previous number every so many pings; 0: never
		exact bool
	}{
		{"an honest counter", 0, true},
		{"a counter that repeats numbers", 7, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var count atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := count.Add(1)
				if tc.every > 0 && n%tc.every == 0 {
					n-- // the number an earlier ping already got
				}
				fmt.Fprintln(w, n)
			}))
			defer srv.Close()
			result, err := Drive(context.Background(), strings.TrimPrefix(srv.URL, "http://"), "/ping", 4, 200*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if result.Errors != 0 || len(result.Counts) == 0 || len(result.Latencies) != len(result.Counts) {
				t.Fatalf("%d errors (first: %v), %d counts, %d latencies", result.Errors, result.FirstErr, len(result.Counts), len(result.Latencies))
			}
			if repeated := Repeated(result.Counts); (len(repeated) == 0) != tc.exact {
				t.Errorf("repeated counts %v, want exact = %v", repeated, tc.exact)
			}
		})
	}
}

func TestDriveCountsErrorAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"counter unavailable"}`, http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	result, err := Drive(context.Background(), strings.TrimPrefix(srv.URL, "http://"), "/ping", 2, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(result.Counts) != 0 || result.Errors == 0 || !strings.Contains(fmt.Sprint(result.FirstErr), "status 503") {
		t.Errorf("%d counts, %d errors, first %v; want only errors, of status 503", len(result.Counts), result.Errors, result.FirstErr)
	}
}

// TestDriveHonoursConnectionClose: a server that closes every connection
// after its answer, saying so, must cost the load generator no failed
// request: it reconnects for the next one, as a draining pod asks.
func TestDriveHonoursConnectionClose(t *testing.T) {
	var count atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		fmt.Fprintln(w, count.Add(1))
	}))
	defer srv.Close()
	result, err := Drive(context.Background(), strings.TrimPrefix(srv.URL, "http://"), "/ping", 4, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if result.Errors != 0 || len(result.Counts) < 4 {
		t.Errorf("%d errors (first: %v), %d answers; want answers and no error", result.Errors, result.FirstErr, len(result.Counts))
	}
}

func TestRepeated(t *testing.T) {
	for _, tc := range []struct {
		counts, want []int64
	}{
		{nil, nil},
		{[]int64{3, 1, 2}, nil},
		{[]int64{5, 2, 5, 2, 5, 9}, []int64{2, 5}},
	} {
		if got := Repeated(tc.counts); !slices.Equal(got, tc.want) {
			t.Errorf("Repeated(%v) = %v, want %v", tc.counts, got, tc.want)
		}
	}
}

// TestDriveFixed: against a server that answers "pong", every answer is a
// success with no count; the control answers something else, and every
// answer is an error.
func TestDriveFixed(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{"pong\n", true},
		{"pang\n", false},
	} {
		t.Run(strings.TrimSpace(tc.body), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			result, err := DriveFixed(context.Background(), strings.TrimPrefix(srv.URL, "http://"), "/ping", "pong\n", 2, 100*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if len(result.Counts) != 0 {
				t.Errorf("%d counts from a server that counts nothing", len(result.Counts))
			}
			answered := len(result.Latencies) > 0 && result.Rate() > 0
			if answered != tc.ok || (result.Errors == 0) != tc.ok {
				t.Errorf("%d answers (%.0f/s), %d errors (first: %v); want success = %v",
					len(result.Latencies), result.Rate(), result.Errors, result.FirstErr, tc.ok)
			}
		})
	}
}

// TestDriveRecorded: against a server that is out for its first 50 ms
// (503), every request is recorded with its status, the 200s with their
// counts, in the order each connection sent them; and the back-off spaces a
// connection's requests during the outage, where without one it would send
// them back to back.
func TestDriveRecorded(t *testing.T) {
	const outage, backoff = 50 * time.Millisecond, 10 * time.Millisecond
	var count atomic.Int64
	start := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if time.Since(start) < outage {
			http.Error(w, `{"error":"counter unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, count.Add(1))
	}))
	defer srv.Close()
	result, err := DriveRecorded(context.Background(), strings.TrimPrefix(srv.URL, "http://"), "/ping", 1, 150*time.Millisecond, backoff)
	if err != nil {
		t.Fatal(err)
	}
	var failed, counted int
	for i, a := range result.Answers {
		if i > 0 && a.Sent.Before(result.Answers[i-1].Sent) {
			t.Fatalf("answer %d was sent before answer %d", i, i-1)
		}
		switch {
		case a.Status == http.StatusServiceUnavailable:
			failed++
			if i > 0 && result.Answers[i-1].Status == http.StatusServiceUnavailable && a.Sent.Sub(result.Answers[i-1].Sent) < backoff {
				t.Errorf("answer %d was sent %s after a 503, want at least the back-off, %s", i, a.Sent.Sub(result.Answers[i-1].Sent), backoff)
			}
		case a.Status == http.StatusOK:
			counted++
			if a.Count != int64(counted) {
				t.Errorf("answer %d: count %d, want %d", i, a.Count, counted)
			}
		default:
			t.Errorf("answer %d: status %d", i, a.Status)
		}
	}
	if failed == 0 || counted == 0 || failed > int(outage/backoff)+1 || failed != result.Errors || counted != len(result.Counts) {
		t.Errorf("%d answers 503 and %d 200 (result: %d errors, %d counts); want both, and at most %d 503s with the back-off",
			failed, counted, result.Errors, len(result.Counts), int(outage/backoff)+1)
	}
	// The outage the answers sum up to: the 503s, sent within the server's first 50 ms, and
	// 200s after the last of them.
	o := result.Outage()
	if o.Statuses[http.StatusServiceUnavailable] != failed || len(o.Statuses) != 1 {
		t.Errorf("Outage().Statuses = %v, want only %d 503s", o.Statuses, failed)
	}
	if o.FirstFailed.Before(start) || o.LastFailed.Sub(start) > outage || !o.LastOK.After(o.LastFailed) {
		t.Errorf("Outage: failed from %s to %s, last 200 %s after the server started; want the failures within %s, the last 200 after them",
			o.FirstFailed.Sub(start), o.LastFailed.Sub(start), o.LastOK.Sub(start), outage)
	}
}

// TestDriveRecordedHost: the requests name the host given, not the address dialled, as a
// server that routes by name needs; the control, DriveRecorded, names the address.
func TestDriveRecordedHost(t *testing.T) {
	var count atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "app.example" {
			http.Error(w, "no such host: "+r.Host, http.StatusNotFound)
			return
		}
		fmt.Fprintln(w, count.Add(1))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	via, err := DriveRecordedHost(context.Background(), addr, "app.example", "/ping", 2, 50*time.Millisecond, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if via.Errors != 0 || len(via.Counts) == 0 {
		t.Errorf("with Host app.example: %d answered, %d failed (first: %v); want all answered", len(via.Counts), via.Errors, via.FirstErr)
	}
	direct, err := DriveRecorded(context.Background(), addr, "/ping", 2, 50*time.Millisecond, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(direct.Counts) != 0 || direct.Errors == 0 {
		t.Errorf("with Host %s: %d answered, %d failed; want every request refused", addr, len(direct.Counts), direct.Errors)
	}
}
