package router

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// PreviewHeader routes a request to a route's Preview groups when set to "1".
const PreviewHeader = "X-Berth-Preview"

// ServeHTTP routes and proxies one request.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	start := r.cfg.Now()
	now := start.UnixNano()
	if err := r.checkRequest(req); err != nil {
		r.fail(w, req, nil, nil, nil, start, err)
		return
	}
	var (
		rt     *route
		groups []*group
		g      *group
		t      *target
		err    error
	)
	// Pick and count a target. A target removed between the pick and the
	// count backs off; re-match on the new table (bounded).
	for range 4 {
		x := r.table.Load()
		if x == nil {
			err = ErrNoTable
			break
		}
		rt = x.match(normalizeHost(req.Host), req.URL.Path)
		if rt == nil {
			err = ErrNoRoute
			break
		}
		groups = rt.groups
		if len(rt.preview) > 0 && req.Header.Get(PreviewHeader) == "1" {
			groups = rt.preview
		}
		g = nil
		if len(groups) > 1 && (rt.sticky.Cookie != "" || rt.sticky.Header != "") && !preview(rt, groups) {
			g = r.pickSticky(w, req, rt, now)
		}
		if g == nil {
			g = pickGroup(groups, &rt.rr, now)
		}
		if g == nil {
			err = ErrNoHealthyTargets
			if g = blameGroup(groups); g == nil {
				err = ErrNoTargets
			}
			break
		}
		if t = g.pickTarget(now, nil); t == nil {
			err = ErrNoHealthyTargets
			break
		}
		if t.acquire() {
			err = nil
			break
		}
		t, err = nil, ErrNoHealthyTargets
	}
	if t == nil {
		r.fail(w, req, rt, g, nil, start, err)
		return
	}
	if isUpgrade(req) {
		r.upgrade(w, req, rt, g, t, start)
		return
	}
	if r.cfg.Upstream == UpstreamStd {
		r.forwardStd(w, req, rt, groups, g, t, start)
		return
	}
	r.forward(w, req, rt, groups, g, t, start)
}

// forward proxies a non-upgrade request to t (already acquired), retrying
// on other targets while the failure is a dial error and no body byte was
// consumed.
func (r *Router) forward(w http.ResponseWriter, req *http.Request, rt *route, groups []*group, g *group, t *target, start time.Time) {
	var f forwardReq
	f.init(req, rt)
	f.allowUnderscore = r.cfg.AllowUnderscoreHeaders
	if f.hasBody {
		f.rc, f.bodyIdle = http.NewResponseController(w), r.cfg.ClientBodyTimeout
	}
	h := w.Header()
	var tried []*target
	var resp *upResponse
	var c *upConn
	var err error
	for attempt := 0; ; attempt++ {
		resp, c, err = t.client.roundTrip(&f, h)
		if err == nil {
			break
		}
		if !isDialError(err) || req.Context().Err() != nil {
			break
		}
		now := r.cfg.Now().UnixNano()
		t.eject(now, r.cfg.EjectFor)
		r.log.Warn("target unreachable, ejected", "route", rt.name, "target", t.addr, "err", err)
		if attempt >= r.cfg.MaxRetries || f.touched {
			break
		}
		tried = append(tried, t)
		next := r.pickRetry(groups, &rt.rr, now, tried)
		if next == nil {
			break
		}
		t.release()
		t = next
		g = groupOf(groups, t)
	}
	if err != nil {
		r.fail(w, req, rt, g, t, start, err)
		t.release()
		return
	}
	status, cerr := r.respond(w, req, resp)
	t.client.finish(c, resp) // before release: see upstream.finish
	t.release()
	end := r.cfg.Now()
	g.stats.observe(end, status, end.Sub(start))
	if r.access != nil {
		tp := ""
		if f.newTrace {
			tp = string(f.traceparent[:])
		}
		r.logAccess(req, rt, g, t, status, start, end, f.requestID, tp)
	}
	if cerr != nil && status != StatusClientClosedRequest {
		r.log.Warn("response body copy failed", "route", rt.name, "target", t.addr, "host", req.Host, "path", req.URL.Path, "err", cerr)
		// Headers are gone: abort so the client sees a truncated response.
		panic(http.ErrAbortHandler)
	}
}

// pickRetry picks another healthy target for a retry.
func (r *Router) pickRetry(groups []*group, rr *atomic.Uint64, now int64, tried []*target) *target {
	for range 2 {
		var t *target
		if g := pickGroup(groups, rr, now); g != nil {
			t = g.pickTarget(now, tried)
		}
		if t == nil {
			t = pickAny(groups, now, tried)
		}
		if t == nil {
			return nil
		}
		if t.acquire() {
			return t
		}
		tried = append(tried, t)
	}
	return nil
}

func groupOf(groups []*group, t *target) *group {
	for _, g := range groups {
		if contains(g.targets, t) {
			return g
		}
	}
	return groups[0]
}

// respond sends the target's response (its headers are already in w's
// header map) to the client and returns the status recorded for it. A
// non-nil error means the body was not copied to its end: the client went
// away (status 499) or the copy failed midway (status 502; the client sees
// a truncated response).
func (r *Router) respond(w http.ResponseWriter, req *http.Request, resp *upResponse) (int, error) {
	h := w.Header()
	if _, ok := h["X-Request-Id"]; !ok {
		h["X-Request-Id"] = req.Header["X-Request-Id"]
	}
	w.WriteHeader(resp.status)
	if err := copyBody(w, &resp.body, resp.length < 0); err != nil {
		if req.Context().Err() != nil {
			return StatusClientClosedRequest, err
		}
		return http.StatusBadGateway, err
	}
	return resp.status, nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyBody copies a target's body to the client. Whatever arrived is
// flushed before a read that would wait on the target (always, with
// flush set: a stream), so a slow body reaches the client as it comes.
func copyBody(w http.ResponseWriter, src *upBody, flush bool) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var rc *http.ResponseController
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if flush || (rerr == nil && src.br.Buffered() == 0) {
				if rc == nil {
					rc = http.NewResponseController(w)
				}
				_ = rc.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// fail answers a request the router could not proxy and records it.
func (r *Router) fail(w http.ResponseWriter, req *http.Request, rt *route, g *group, t *target, start time.Time, err error) {
	status, cause := failure(req.Context(), err)
	name, addr := "", ""
	if rt != nil {
		name = rt.name
	}
	if t != nil {
		addr = t.addr
	}
	lvl := r.log.Warn
	if status == StatusClientClosedRequest || status == http.StatusNotFound {
		lvl = r.log.Info
	}
	lvl("proxy failure", "status", status, "route", name, "target", addr, "host", req.Host, "path", req.URL.Path, "cause", cause, "err", err)
	if status != StatusClientClosedRequest {
		var b strings.Builder
		b.WriteString("berth: ")
		if name != "" {
			b.WriteString("route " + name + ": ")
		} else if errors.Is(err, ErrNoRoute) {
			b.WriteString("host " + req.Host + " path " + req.URL.Path + ": ")
		}
		b.WriteString(cause)
		b.WriteString("\n")
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		var re *requestError
		if errors.As(err, &re) || errors.Is(err, errClientBody) {
			// The request's framing or body cannot be trusted: nothing
			// more is read from this connection.
			h.Set("Connection", "close")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, b.String())
	}
	end := r.cfg.Now()
	if g != nil {
		g.stats.observe(end, status, end.Sub(start))
	} else {
		r.noGroupStats().observe(end, status, end.Sub(start))
	}
	r.logAccess(req, rt, g, t, status, start, end, "", "")
}

// noGroupStats counts requests that matched no group (404s, empty routes).
func (r *Router) noGroupStats() *groupStats {
	r.noGroupOnce.Do(func() { r.noGroup = r.metrics.statsFor("", "") })
	return &r.noGroup
}

// outbound builds the request sent to targets: a shallow copy with its own
// URL and headers.
func (r *Router) outbound(req *http.Request, rt *route) *http.Request {
	out := req.WithContext(req.Context())
	out.RequestURI = ""
	out.Close = false
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
	u := &url.URL{Scheme: "http", Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery}
	if rt.strip {
		u.Path = stripPath(rt.prefix, u.Path)
		if u.RawPath != "" {
			u.RawPath = stripPath(rt.prefix, u.RawPath)
		}
	}
	out.URL = u
	h := make(http.Header, len(req.Header)+5)
	for k, vv := range req.Header {
		if !forwardHeaderName(k, r.cfg.AllowUnderscoreHeaders) {
			continue
		}
		if isHopHeader(k) {
			if k == "Te" && len(vv) == 1 && vv[0] == "trailers" {
				h[k] = vv
			}
			continue
		}
		h[k] = vv
	}
	removeConnectionTokens(h, req.Header)
	setForwarded(h, req)
	if v := h["X-Request-Id"]; len(v) == 0 || v[0] == "" {
		id := newRequestID()
		h["X-Request-Id"] = []string{id}
		req.Header["X-Request-Id"] = h["X-Request-Id"] // echoed on the response
	}
	if v := h["Traceparent"]; len(v) != 1 || !validTraceparent(v[0]) {
		h["Traceparent"] = []string{newTraceparent()}
	}
	out.Header = h
	return out
}

// init prepares what forward writes to targets: the request
// target (prefix stripped if the route says so), the Connection-named
// headers to drop, and a request id and traceparent when the client sent
// none (a generated id is also echoed on the response).
func (f *forwardReq) init(req *http.Request, rt *route) {
	f.req, f.uri = req, req.RequestURI
	if rt.strip || f.uri == "" || (f.uri[0] != '/' && f.uri != "*") {
		u := url.URL{Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery}
		if rt.strip {
			u.Path = stripPath(rt.prefix, u.Path)
			if u.RawPath != "" {
				u.RawPath = stripPath(rt.prefix, u.RawPath)
			}
		}
		f.uri = u.RequestURI()
	}
	for _, v := range req.Header["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				f.connTokens = append(f.connTokens, http.CanonicalHeaderKey(tok))
			}
		}
	}
	if v := req.Header["X-Request-Id"]; len(v) == 0 || v[0] == "" {
		f.requestID = newRequestID()
		req.Header["X-Request-Id"] = []string{f.requestID} // echoed on the response
	}
	if v := req.Header["Traceparent"]; len(v) != 1 || !validTraceparent(v[0]) {
		f.newTrace = true
		putTraceparent(&f.traceparent)
	}
	if req.Body != nil && req.Body != http.NoBody {
		f.hasBody = true
		f.chunked = req.ContentLength < 0 || len(req.Trailer) > 0 // trailers need chunked framing
	}
}

func setForwarded(h http.Header, req *http.Request) {
	ip := splitHostIP(req.RemoteAddr)
	if prior, ok := h["X-Forwarded-For"]; ok && len(prior) > 0 {
		ip = strings.Join(prior, ", ") + ", " + ip
	}
	h["X-Forwarded-For"] = []string{ip}
	proto := "http"
	if req.TLS != nil {
		proto = "https"
	}
	h["X-Forwarded-Proto"] = []string{proto}
	h["X-Forwarded-Host"] = []string{req.Host}
}

// hopHeaders are connection-scoped and never forwarded (RFC 9110 §7.6.1).
func isHopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// removeConnectionTokens deletes from dst the headers that src's Connection
// header names.
func removeConnectionTokens(dst, src http.Header) {
	for _, v := range src["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				delete(dst, http.CanonicalHeaderKey(tok))
			}
		}
	}
}

func isUpgrade(req *http.Request) bool {
	up, ok := req.Header["Upgrade"]
	if !ok {
		return false
	}
	// h2c is a hop-by-hop switch of this connection's protocol, never
	// tunnelled to a target: such a request is forwarded as a plain one.
	for _, v := range up {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "h2c") {
				return false
			}
		}
	}
	for _, v := range req.Header["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// upgrade proxies a protocol upgrade (websocket) through httputil's
// ReverseProxy, which handles 101 and the bidirectional copy.
//
// The upgraded connection lives as long as the request's context:
// WaitDrained cancels it when the drain window ends.
func (r *Router) upgrade(w http.ResponseWriter, req *http.Request, rt *route, g *group, t *target, start time.Time) {
	defer t.release()
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	req = req.WithContext(ctx)
	defer t.trackUpgrade(req, cancel)()
	status := http.StatusSwitchingProtocols
	var sentID, sentTrace string
	rp := &httputil.ReverseProxy{
		Transport: t.std, // a refused upgrade's answer must not leave a pooled connection out of step
		Rewrite: func(pr *httputil.ProxyRequest) {
			o := r.outbound(pr.In, rt)
			sentID, sentTrace = o.Header.Get("X-Request-Id"), o.Header.Get("Traceparent")
			pr.Out.URL = o.URL
			pr.Out.URL.Host = t.addr
			for k, vv := range o.Header {
				pr.Out.Header[k] = vv
			}
			pr.Out.Host = pr.In.Host
		},
		ModifyResponse: func(resp *http.Response) error { status = resp.StatusCode; return nil },
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			if isDialError(err) {
				t.eject(r.cfg.Now().UnixNano(), r.cfg.EjectFor)
			}
			r.fail(w, req, rt, g, t, start, err)
			status = 0
		},
	}
	rp.ServeHTTP(w, req)
	if status != 0 {
		end := r.cfg.Now()
		g.stats.observe(end, status, end.Sub(start))
		r.logAccess(req, rt, g, t, status, start, end, sentID, sentTrace)
	}
}

// newRequestID returns 32 random hex digits.
func newRequestID() string {
	var raw [16]byte
	putRand(raw[:])
	var out [32]byte
	hex.Encode(out[:], raw[:])
	return string(out[:])
}

// newTraceparent starts a W3C trace: version 00, random trace and parent
// ids, sampled.
func newTraceparent() string {
	var out [55]byte
	putTraceparent(&out)
	return string(out[:])
}

func putTraceparent(out *[55]byte) {
	var raw [24]byte
	putRand(raw[:])
	copy(out[:], "00-")
	hex.Encode(out[3:35], raw[:16])
	out[35] = '-'
	hex.Encode(out[36:52], raw[16:])
	copy(out[52:], "-01")
}

func putRand(b []byte) {
	for i := 0; i < len(b); i += 8 {
		v := rand.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

// validTraceparent checks the W3C version-00 shape.
func validTraceparent(s string) bool {
	if len(s) != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 2 || i == 35 || i == 52 {
			continue
		}
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s[:2] != "ff" && s[3:35] != strings.Repeat("0", 32) && s[36:52] != strings.Repeat("0", 16)
}

var _ http.Handler = (*Router)(nil)
