package router

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// accessEntry is one line of the access log: one request, with the ids
// that link it to the services' own logs.
type accessEntry struct {
	Time        string `json:"time"`
	Msg         string `json:"msg"`
	Method      string `json:"method"`
	Host        string `json:"host"`
	Path        string `json:"path"`
	Status      int    `json:"status"`
	DurationMS  string `json:"duration_ms"`
	Route       string `json:"route,omitempty"`
	Release     int    `json:"release,omitempty"`
	Target      string `json:"target,omitempty"`
	RequestID   string `json:"request_id,omitempty"`
	TraceID     string `json:"trace_id,omitempty"`
	Traceparent string `json:"traceparent,omitempty"`
}

// accessLog writes access entries as JSON lines, one write per line.
type accessLog struct {
	mu sync.Mutex
	w  io.Writer
}

// sampled reports whether a request of trace id (32 hex digits) is logged
// at rate: the decision is the trace id's, so a trace is logged whole or
// not at all.
func sampled(traceID string, rate float64) bool {
	if rate >= 1 {
		return true
	}
	if rate <= 0 || len(traceID) < 8 {
		return false
	}
	n, err := strconv.ParseUint(traceID[:8], 16, 32)
	if err != nil {
		return false
	}
	return float64(n) < rate*(1<<32)
}

// traceIDOf returns the trace id of a W3C traceparent header value.
func traceIDOf(tp string) string {
	if len(tp) >= 35 && tp[2] == '-' {
		return tp[3:35]
	}
	return ""
}

// logAccess writes req's entry when the access log is on and samples it.
// requestID and traceparent are what the target was sent ("" when the
// request never reached one: the client's, if any).
func (r *Router) logAccess(req *http.Request, rt *route, g *group, t *target, status int, start, end time.Time, requestID, traceparent string) {
	al := r.access
	if al == nil {
		return
	}
	if requestID == "" {
		requestID = req.Header.Get("X-Request-Id")
	}
	if traceparent == "" {
		traceparent = req.Header.Get("Traceparent")
	}
	trace := traceIDOf(traceparent)
	if !sampled(trace, r.cfg.AccessLogSample) {
		return
	}
	e := accessEntry{Time: end.UTC().Format(time.RFC3339Nano), Msg: "access", Method: req.Method, Host: req.Host, Path: req.URL.Path,
		Status: status, DurationMS: strconv.FormatFloat(float64(end.Sub(start).Microseconds())/1000, 'f', 3, 64),
		RequestID: requestID, TraceID: trace, Traceparent: traceparent}
	if rt != nil {
		e.Route = rt.name
	}
	if g != nil {
		e.Release = g.release
	}
	if t != nil {
		e.Target = t.addr
	}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	b = append(b, '\n')
	al.mu.Lock()
	_, _ = al.w.Write(b)
	al.mu.Unlock()
}
