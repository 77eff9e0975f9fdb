package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// instance says which copy of the service answered: with several replicas
// behind a load balancer, this is how a learner sees the balancing happen.
type instance struct {
	Hostname     string `json:"hostname"`
	Version      string `json:"version"`
	PodName      string `json:"pod_name,omitempty"`
	PodNamespace string `json:"pod_namespace,omitempty"`
	PodIP        string `json:"pod_ip,omitempty"`
}

// handleRoot greets, and says which instance and which build answered.
func handleRoot(info instance, greeting func() string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wantsJSON(r) {
			writeJSON(w, http.StatusOK, struct {
				Greeting string `json:"greeting"`
				instance
			}{greeting(), info})
			return
		}
		text := fmt.Sprintf("%s\nhostname: %s\nversion: %s\n", greeting(), info.Hostname, info.Version)
		if info.PodName != "" {
			text += fmt.Sprintf("pod: %s/%s (%s)\n", info.PodNamespace, info.PodName, info.PodIP)
		}
		writeText(w, http.StatusOK, text)
	})
}

// handleCount answers a count: the next one for /ping (counter.Next), the
// current one for /count (counter.Current).
func handleCount(count func(context.Context) (int64, error), info instance, failures *failureLog) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := count(r.Context())
		if err != nil {
			failures.counterUnavailable(w, err)
			return
		}
		writeCount(w, r, n, info)
	})
}

// handleHealthz is the liveness check: the process is up and serving HTTP.
// It checks nothing else on purpose: a failing liveness probe restarts the
// container, which cures a deadlock but never a missing dependency.
func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok\n")
	})
}

// handleReadyz is the readiness check: should this instance get traffic now?
// The answer says why not in a fixed text; the cause of a Redis failure goes
// to the log.
func handleReadyz(ready *readiness, failures *failureLog) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ready.shuttingDown.Load() {
			writeError(w, http.StatusServiceUnavailable, "shutting down")
			return
		}
		if err := ready.check(r.Context()); err != nil {
			failures.counterUnavailable(w, err)
			return
		}
		writeText(w, http.StatusOK, "ready\n")
	})
}

// writeCount answers a count as plain text, or as JSON when asked for it.
func writeCount(w http.ResponseWriter, r *http.Request, count int64, info instance) {
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"count": count, "instance": info.Hostname})
		return
	}
	writeText(w, http.StatusOK, strconv.FormatInt(count, 10)+"\n")
}

// wantsJSON reports whether the client prefers JSON to plain text, by the
// Accept header's media types and their q-values (RFC 9110, section 12.5.1).
// Plain text wins a tie and is the default, so `curl /ping` stays readable.
func wantsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	if accept == "" || accept == "*/*" {
		return false // what load generators and curl send: no need to parse it
	}
	jsonQ, textQ := 0.0, 0.0
	for part := range strings.SplitSeq(accept, ",") {
		mediaType, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if value, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(value, 64); err != nil || q < 0 || q > 1 {
				continue
			}
		}
		switch mediaType {
		case "application/json":
			jsonQ = max(jsonQ, q)
		case "text/plain", "text/*", "*/*":
			textQ = max(textQ, q)
		}
	}
	return jsonQ > textQ
}

func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	// No HTML escaping: these bodies are read by people and programs, never
	// pasted into a web page, and "a -> b" should not read "a -\u003e b".
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body)
}

// writeError answers every failure the same way: the right status code and a
// JSON body that says what went wrong. Never a 200 with "Failed" in it.
func writeError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]string{"error": message})
}
