package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// forwardStd proxies a request through net/http's Transport (Config.Upstream
// "std"), the portable fallback to the router's own client. Its framing is
// net/http's; the router adds the same limits: request body size and read
// idle timeout, response head size (Transport.MaxResponseHeaderBytes) and a
// response body read idle timeout.
func (r *Router) forwardStd(w http.ResponseWriter, req *http.Request, rt *route, groups []*group, g *group, t *target, start time.Time) {
	defer t.release()
	ctx, cancel := context.WithCancelCause(req.Context())
	defer cancel(nil)
	status := 0
	failed := false
	var f forwardReq
	f.allowUnderscore = r.cfg.AllowUnderscoreHeaders
	var lb *limitedBody
	if req.Body != nil && req.Body != http.NoBody {
		f.rc, f.bodyIdle = http.NewResponseController(w), r.cfg.ClientBodyTimeout
		lb = &limitedBody{rc: req.Body, f: &f, max: r.cfg.MaxRequestBodyBytes}
		req.Body = lb
	}
	var sentID, sentTrace string
	rp := &httputil.ReverseProxy{
		Transport: t.std,
		// What arrived reaches the client before the next wait on the
		// target, as with the router's own client.
		FlushInterval: -1,
		Rewrite: func(pr *httputil.ProxyRequest) {
			o := r.outbound(pr.In, rt)
			sentID, sentTrace = o.Header.Get("X-Request-Id"), o.Header.Get("Traceparent")
			pr.Out.URL = o.URL
			pr.Out.URL.Host = t.addr
			pr.Out.Header = o.Header
			pr.Out.Host = pr.In.Host
			for k := range pr.Out.Trailer {
				if !f.sendTrailer(k) {
					delete(pr.Out.Trailer, k)
				}
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			status = resp.StatusCode
			if resp.Body != nil && resp.Body != http.NoBody {
				resp.Body = newIdleBody(resp.Body, r.cfg.UpstreamReadTimeout, cancel)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			if isDialError(err) {
				t.eject(r.cfg.Now().UnixNano(), r.cfg.EjectFor)
			}
			if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
				err = cause
			}
			if lb != nil && lb.err != nil {
				err = lb.err // the client's body failed, not the target
			}
			if status != 0 {
				// Headers are gone: the client sees a truncated response.
				r.log.Warn("response body copy failed", "route", rt.name, "target", t.addr, "err", err)
				failed = true
				return
			}
			r.fail(w, req, rt, g, t, start, err)
			failed = true
		},
	}
	rp.ServeHTTP(w, req.WithContext(ctx))
	if !failed {
		end := r.cfg.Now()
		g.stats.observe(end, status, end.Sub(start))
		r.logAccess(req, rt, g, t, status, start, end, sentID, sentTrace)
	} else if status != 0 {
		end := r.cfg.Now()
		g.stats.observe(end, http.StatusBadGateway, end.Sub(start))
	}
}

// limitedBody is a client request body read with the body size limit and
// the read idle timeout.
type limitedBody struct {
	rc   io.ReadCloser
	f    *forwardReq
	max  int64
	read int64
	err  error // the first failure reading the client's body
}

func (b *limitedBody) Read(p []byte) (int, error) {
	b.f.extendBodyRead()
	n, err := b.rc.Read(p)
	b.read += int64(n)
	if b.max >= 0 && b.read > b.max {
		err = fmt.Errorf("%w: %w", errClientBody, errBodyTooLarge)
	} else if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %w", errClientBody, err)
	}
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// idleBody cancels the exchange when no byte of the response body arrives
// for d: net/http's Transport has no such timeout of its own.
type idleBody struct {
	rc     io.ReadCloser
	d      time.Duration
	mu     sync.Mutex
	timer  *time.Timer
	last   time.Time
	cancel context.CancelCauseFunc
}

// errUpstreamBodyTimeout is the cause of an exchange cut for a stalled body.
var errUpstreamBodyTimeout = fmt.Errorf("response body: %w", context.DeadlineExceeded)

func newIdleBody(rc io.ReadCloser, d time.Duration, cancel context.CancelCauseFunc) *idleBody {
	b := &idleBody{rc: rc, d: d, cancel: cancel, last: time.Now()}
	b.timer = time.AfterFunc(d, b.check)
	return b
}

// check fires when d may have passed since the last read; reads only
// record their time, so the timer is re-armed here, not per read.
func (b *idleBody) check() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if wait := b.d - time.Since(b.last); wait > 0 {
		b.timer.Reset(wait)
		return
	}
	b.cancel(errUpstreamBodyTimeout)
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.mu.Lock()
	b.last = time.Now()
	b.mu.Unlock()
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	return b.rc.Close()
}
