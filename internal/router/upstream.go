package router

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// upstream is one target's HTTP/1.1 client. The request is written and the
// response read in the calling (handler) goroutine, over a bounded LIFO
// pool of idle keep-alive connections: no reader or writer goroutine per
// connection, no channel hand-off per request. This file (with the
// response parser in response.go) is the only place that does upstream I/O
// for ordinary requests; upgrades and health checks use the target's
// http.Transport.
type upstream struct {
	addr          string
	dialer        net.Dialer
	maxIdle       int
	idleTimeout   time.Duration
	headerTimeout time.Duration
	bodyTimeout   time.Duration // between reads of a response body
	writeTimeout  time.Duration // between writes of a request
	maxHead       int           // response head (and trailer) bytes
	maxBody       int64         // request body bytes; <0 unlimited

	mu     sync.Mutex
	idle   []*upConn // oldest first; taken from and returned to the end
	closed bool      // no more idle connections are kept
	sweep  *time.Timer

	wmu     sync.Mutex
	watched *upConn     // connections whose exchange blocked, linked by wnext
	wtimer  *time.Timer // runs checkCancelled while watched is not empty
}

func newUpstream(addr string, cfg Config) *upstream {
	return &upstream{
		addr:          addr,
		dialer:        net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second},
		maxIdle:       cfg.MaxIdleConnsPerTarget,
		idleTimeout:   cfg.UpstreamIdleTimeout,
		headerTimeout: cfg.ResponseHeaderTimeout,
		bodyTimeout:   cfg.UpstreamReadTimeout,
		writeTimeout:  cfg.UpstreamWriteTimeout,
		maxHead:       cfg.MaxResponseHeaderBytes,
		maxBody:       cfg.MaxRequestBodyBytes,
	}
}

// upConn is one connection to a target with its buffers. It counts the
// bytes it read and wrote during the current exchange, which decides
// whether a failed exchange may be retried.
//
// Reads and writes go through the socket's syscall.RawConn so that an
// exchange is put on its upstream's watch list (see checkCancelled) only
// when it is about to block. Deadlines work as on any net.Conn.
type upConn struct {
	nc       net.Conn
	raw      syscall.RawConn
	br       *bufio.Reader
	bw       *bufio.Writer
	nread    int64
	nwritten int64
	idleAt   time.Time       // when it was pooled
	deadline time.Time       // read deadline in force; zero when none
	wdl      time.Time       // write deadline in force; zero when none
	readIdle time.Duration   // >0 while reading a body: deadline moves with each read
	ctx      context.Context // of the current exchange
	watched  bool            // on up's watch list (owned by the exchange's goroutine)
	resp     upResponse      // of the current exchange

	up           *upstream
	wctx         context.Context // guarded by up.wmu, like the fields below
	wprev, wnext *upConn
	aborted      bool

	// Bound once, so the raw I/O path does not allocate.
	readFn, writeFn func(uintptr) bool
	// Arguments and results of readFn and writeFn.
	io    []byte
	ioN   int
	ioErr error
}

func newUpReader(c *upConn) *bufio.Reader { return bufio.NewReaderSize(c, 16<<10) }
func newUpWriter(c *upConn) *bufio.Writer { return bufio.NewWriterSize(c, 16<<10) }

// refreshRead moves the read deadline to readIdle from now before a read
// that may block, while a body is read. To save a call per read it moves
// the deadline only when less than 63/64 of readIdle is left.
func (c *upConn) refreshRead() error {
	if c.readIdle <= 0 {
		return nil
	}
	now := time.Now()
	if fresh(c.deadline.Sub(now), c.readIdle) {
		return nil
	}
	c.deadline = now.Add(c.readIdle)
	if err := c.nc.SetReadDeadline(c.deadline); err != nil {
		return err
	}
	return c.abortedErr()
}

// refreshWrite is refreshRead for writes of the request.
func (c *upConn) refreshWrite() error {
	d := c.up.writeTimeout
	now := time.Now()
	if fresh(c.wdl.Sub(now), d) {
		return nil
	}
	c.wdl = now.Add(d)
	if err := c.nc.SetWriteDeadline(c.wdl); err != nil {
		return err
	}
	return c.abortedErr()
}

// fresh reports whether a deadline left seconds away can stand for one
// d from now: between 63/64 of d and d. Moving it only when not saves a
// call per read or write.
func fresh(left, d time.Duration) bool {
	return left >= d-d/64 && left <= d
}

// abortedErr reports the exchange's cancellation: abort may have set its
// past deadline before a refresh replaced it.
func (c *upConn) abortedErr() error {
	if c.ctx != nil {
		return c.ctx.Err()
	}
	return nil
}

// wrapErrno turns a raw errno into an error that still matches it with
// errors.Is (ECONNRESET, EPIPE) and reads like net's.
func wrapErrno(err error) error {
	if err == nil {
		return nil
	}
	return os.NewSyscallError("upstream", err)
}

// cancelPoll is how often an upstream checks whether the clients of its
// blocked exchanges went away. A context.AfterFunc hook per request would
// abort at once but cost ~5% of the router's CPU on the bench.
const cancelPoll = 50 * time.Millisecond

// watch puts the exchange on the watch list, once, before it blocks.
func (c *upConn) watch() {
	if c.watched || c.ctx == nil {
		return
	}
	u := c.up
	u.wmu.Lock()
	c.wctx, c.wprev, c.wnext = c.ctx, nil, u.watched
	if u.watched != nil {
		u.watched.wprev = c
	}
	u.watched = c
	if u.wtimer == nil {
		u.wtimer = time.AfterFunc(cancelPoll, u.checkCancelled)
	}
	u.wmu.Unlock()
	c.watched = true
}

// unwatch takes the exchange off the watch list. It reports false when
// the exchange was aborted (the connection then carries a past deadline
// and must be closed).
func (c *upConn) unwatch() bool {
	if !c.watched {
		return true
	}
	u := c.up
	u.wmu.Lock()
	if c.wprev != nil {
		c.wprev.wnext = c.wnext
	} else {
		u.watched = c.wnext
	}
	if c.wnext != nil {
		c.wnext.wprev = c.wprev
	}
	c.wctx, c.wprev, c.wnext = nil, nil, nil
	aborted := c.aborted
	u.wmu.Unlock()
	c.watched = false
	return !aborted
}

// checkCancelled aborts the blocked exchanges whose client request was
// cancelled (the client went away), within cancelPoll, and re-arms while
// any exchange is watched.
func (u *upstream) checkCancelled() {
	u.wmu.Lock()
	defer u.wmu.Unlock()
	for c := u.watched; c != nil; c = c.wnext {
		if !c.aborted && c.wctx.Err() != nil {
			c.aborted = true
			c.abort()
		}
	}
	if u.watched == nil {
		u.wtimer = nil
		return
	}
	u.wtimer.Reset(cancelPoll)
}

// abort unblocks the connection's reads and writes at once; the exchange
// then fails and the connection is closed, never pooled.
func (c *upConn) abort() { _ = c.nc.SetDeadline(aLongTimeAgo) }

var aLongTimeAgo = time.Unix(1, 0)

// forwardReq is what forward sends to targets for one client request. It
// is computed once and written on every attempt, so a retry carries the
// same request id and traceparent.
type forwardReq struct {
	req         *http.Request
	uri         string   // request target in origin form
	connTokens  []string // canonical header names the client's Connection header lists
	requestID   string   // generated id; "" when the client sent one
	traceparent [55]byte
	newTrace    bool // traceparent replaces the client's (missing or invalid) one
	hasBody     bool
	chunked     bool
	touched     bool // a body byte was read from the client

	allowUnderscore bool                     // forward header names with '_'
	rc              *http.ResponseController // of the client request, while its body is read
	bodyIdle        time.Duration            // Config.ClientBodyTimeout
	rdl             time.Time                // client read deadline in force
}

// replayable reports whether a request that failed on a reused connection
// before any response byte arrived may be sent again on a fresh one: it
// carries no body and is idempotent (or says it may be repeated), as
// net/http's Transport decides.
func (f *forwardReq) replayable() bool {
	if f.hasBody {
		return false
	}
	switch f.req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, a := f.req.Header["Idempotency-Key"]
	_, b := f.req.Header["X-Idempotency-Key"]
	return a || b
}

// roundTrip sends f to the target and reads the response head, whose
// end-to-end headers go into h (the client's header map; cleared again if
// the exchange fails). The caller copies resp.body and hands resp and c to
// finish. A failure to connect is a *dialError. A request that fails on a
// reused connection before anything came back (the target closed an idle
// keep-alive connection as we used it) is sent once more on a fresh
// connection when that is safe.
func (u *upstream) roundTrip(f *forwardReq, h http.Header) (*upResponse, *upConn, error) {
	ctx := f.req.Context()
	now := time.Now()
	c, reused, err := u.get(ctx, now)
	if err != nil {
		return nil, nil, err
	}
	err = c.exchange(f, h, now, u.headerTimeout)
	if err != nil && reused && c.nread == 0 && !isTimeout(err) && ctx.Err() == nil &&
		(f.replayable() || (c.nwritten == 0 && !f.touched)) {
		c.close()
		clear(h)
		if c, err = u.dial(ctx); err != nil {
			return nil, nil, err
		}
		err = c.exchange(f, h, now, u.headerTimeout)
	}
	if err != nil {
		c.close()
		clear(h)
		return nil, nil, err
	}
	return &c.resp, c, nil
}

// finish returns c to the idle pool when the exchange left it reusable —
// the body was read to its end, neither side asked to close, the request
// was not cancelled, and the exchange ended exactly at a message
// boundary: no byte is buffered or waiting on the socket past the end of
// the response (a body on a 204/304/HEAD answer, a Content-Length shorter
// than the body, an unsolicited second response). Anything else closes
// it. Call it before releasing the target so a drain that sees no request
// in flight also sees every connection back.
func (u *upstream) finish(c *upConn, resp *upResponse) {
	notAborted := c.unwatch()
	c.readIdle = 0
	if !resp.body.eof || !notAborted || resp.close || c.br.Buffered() > 0 || !peerOpen(c) {
		c.close()
		return
	}
	u.put(c)
}

func (c *upConn) close() {
	c.unwatch()
	c.ctx = nil
	_ = c.nc.Close()
}

// exchange writes the request and reads the final response head into h.
// The wait for the head is bounded by headerTimeout counted from now; to
// save a syscall per request a read deadline still in force is kept when
// it ends no earlier than 63/64 of headerTimeout from now.
func (c *upConn) exchange(f *forwardReq, h http.Header, now time.Time, headerTimeout time.Duration) error {
	c.nread, c.nwritten = 0, 0
	c.ctx = f.req.Context()
	if err := c.ctx.Err(); err != nil {
		return err
	}
	werr := c.writeRequest(f)
	if werr != nil && (c.nwritten == 0 || !f.hasBody || errors.Is(werr, errClientBody) || isTimeout(werr)) {
		return werr
	}
	// Also after a failed body write: the target may have answered early
	// (413, 401) and closed; its answer is what the client should see.
	if c.deadline.IsZero() || c.deadline.Before(now.Add(headerTimeout-headerTimeout/64)) {
		c.deadline = now.Add(headerTimeout)
		if err := c.nc.SetReadDeadline(c.deadline); err != nil {
			return fmt.Errorf("set read deadline: %w", err)
		}
		// abort may have run before this deadline replaced its own.
		if err := f.req.Context().Err(); err != nil {
			return err
		}
	}
	c.readIdle = 0
	err := readResponse(&c.resp, c.br, h, f.req.Method == http.MethodHead, c.up.maxHead)
	if err != nil {
		if werr != nil {
			return werr
		}
		return err
	}
	resp := &c.resp
	if werr != nil {
		resp.close = true
	}
	// From here each body read may wait at most the body timeout (moved
	// along by refreshRead); skip it when the body is already buffered.
	if resp.body.mode != bodyNone && (resp.body.mode != bodyLength || int64(c.br.Buffered()) < resp.length) {
		c.readIdle = c.up.bodyTimeout
	}
	return nil
}

// writeRequest writes the request head and body in HTTP/1.1 wire format.
func (c *upConn) writeRequest(f *forwardReq) error {
	w := c.bw
	req := f.req
	w.WriteString(req.Method)
	w.WriteByte(' ')
	w.WriteString(f.uri)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	if req.Host != "" {
		w.WriteString(req.Host)
	} else { // an HTTP/1.0 request without Host
		w.WriteString(c.nc.RemoteAddr().String())
	}
	w.WriteString("\r\n")
	for k, vv := range req.Header {
		if skipRequestHeader(f, k, vv) {
			continue
		}
		for _, v := range vv {
			if validFieldValue(v) {
				writeHeader(w, k, v)
			}
		}
	}
	switch {
	case f.chunked:
		w.WriteString("Transfer-Encoding: chunked\r\n")
		if len(req.Trailer) > 0 {
			w.WriteString("Trailer: ")
			first := true
			for k := range req.Trailer {
				if !f.sendTrailer(k) {
					continue
				}
				if !first {
					w.WriteString(", ")
				}
				first = false
				w.WriteString(k)
			}
			w.WriteString("\r\n")
		}
	case f.hasBody:
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(w.AvailableBuffer(), req.ContentLength, 10))
		w.WriteString("\r\n")
	case req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch:
		w.WriteString("Content-Length: 0\r\n")
	}
	writeForwarded(w, req)
	if f.requestID != "" {
		writeHeader(w, "X-Request-Id", f.requestID)
	}
	if f.newTrace {
		w.WriteString("Traceparent: ")
		w.Write(append(w.AvailableBuffer(), f.traceparent[:]...)) // f stays on the stack
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	if f.hasBody {
		if err := c.writeBody(f); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write request to %s: %w", c.nc.RemoteAddr(), err)
	}
	return nil
}

// errClientBody marks a failure reading the client's request body.
var errClientBody = errors.New("read client request body")

// errBodyTooLarge marks a request body over Config.MaxRequestBodyBytes.
var errBodyTooLarge = errors.New("request body too large")

// writeBody copies the client's body, chunk-encoded when its length is
// unknown (each client read is flushed on, so streams keep streaming).
func (c *upConn) writeBody(f *forwardReq) error {
	w := c.bw
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var sent int64
	for {
		f.touched = true
		f.extendBodyRead()
		n, rerr := f.req.Body.Read(buf)
		if n > 0 {
			sent += int64(n)
			if c.up.maxBody >= 0 && sent > c.up.maxBody {
				return fmt.Errorf("%w: %w", errClientBody, errBodyTooLarge)
			}
			if f.chunked {
				w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(n), 16))
				w.WriteString("\r\n")
				w.Write(buf[:n])
				w.WriteString("\r\n")
				if err := w.Flush(); err != nil {
					return fmt.Errorf("write request body to %s: %w", c.nc.RemoteAddr(), err)
				}
			} else if _, err := w.Write(buf[:n]); err != nil {
				return fmt.Errorf("write request body to %s: %w", c.nc.RemoteAddr(), err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("%w: %w", errClientBody, rerr)
		}
	}
	if !f.chunked {
		if sent != f.req.ContentLength {
			return fmt.Errorf("%w: %d of %d bytes: %w", errClientBody, sent, f.req.ContentLength, io.ErrUnexpectedEOF)
		}
		return nil
	}
	w.WriteString("0\r\n")
	for k, vv := range f.req.Trailer {
		if !f.sendTrailer(k) {
			continue
		}
		for _, v := range vv {
			if validFieldValue(v) {
				writeHeader(w, k, v)
			}
		}
	}
	w.WriteString("\r\n")
	return nil
}

// sendTrailer reports whether the client's trailer k is forwarded.
func (f *forwardReq) sendTrailer(k string) bool {
	return forwardHeaderName(k, f.allowUnderscore) && !forbiddenTrailer(k)
}

func writeHeader(w *bufio.Writer, k, v string) {
	w.WriteString(k)
	w.WriteString(": ")
	w.WriteString(v)
	w.WriteString("\r\n")
}

// skipRequestHeader reports whether the client header k is not forwarded
// as is: hop-by-hop headers (but "Te: trailers"), headers the client's
// Connection header names, framing headers the router writes itself, and
// the X-Forwarded-*, X-Request-Id and Traceparent headers it replaces.
func skipRequestHeader(f *forwardReq, k string, vv []string) bool {
	if !forwardHeaderName(k, f.allowUnderscore) {
		return true
	}
	switch k {
	case "Te":
		if len(vv) != 1 || vv[0] != "trailers" {
			return true
		}
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Trailer", "Transfer-Encoding", "Upgrade",
		"Host", "Content-Length", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host":
		return true
	case "X-Request-Id":
		if f.requestID != "" {
			return true
		}
	case "Traceparent":
		if f.newTrace {
			return true
		}
	}
	for _, tok := range f.connTokens {
		if tok == k {
			return true
		}
	}
	return false
}

// writeForwarded writes X-Forwarded-For (appending the client's address to
// any it sent), X-Forwarded-Proto and X-Forwarded-Host.
func writeForwarded(w *bufio.Writer, req *http.Request) {
	w.WriteString("X-Forwarded-For: ")
	for _, p := range req.Header["X-Forwarded-For"] {
		w.WriteString(p)
		w.WriteString(", ")
	}
	w.WriteString(splitHostIP(req.RemoteAddr))
	if req.TLS != nil {
		w.WriteString("\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: ")
	} else {
		w.WriteString("\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: ")
	}
	w.WriteString(req.Host)
	w.WriteString("\r\n")
}

// get returns an idle connection (reused=true) or dials one. Every idle
// connection is checked before reuse, whatever the request: one the
// target closed, or on which it sent anything unasked (a 408, a stray
// response), is closed and skipped, so no request can read another's
// bytes.
func (u *upstream) get(ctx context.Context, now time.Time) (c *upConn, reused bool, err error) {
	for {
		u.mu.Lock()
		n := len(u.idle)
		if n == 0 {
			u.mu.Unlock()
			break
		}
		c = u.idle[n-1]
		u.idle[n-1] = nil
		u.idle = u.idle[:n-1]
		u.mu.Unlock()
		if now.Sub(c.idleAt) >= u.idleTimeout || !peerOpen(c) {
			_ = c.nc.Close()
			continue
		}
		return c, true, nil
	}
	c, err = u.dial(ctx)
	return c, false, err
}

func (u *upstream) dial(ctx context.Context) (*upConn, error) {
	nc, err := u.dialer.DialContext(ctx, "tcp", u.addr)
	if err != nil {
		return nil, &dialError{err}
	}
	c, err := newUpConn(u, nc)
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	return c, nil
}

// put keeps c for reuse, or closes it when the pool is full or closed.
func (u *upstream) put(c *upConn) {
	c.ctx = nil
	c.idleAt = time.Now()
	u.mu.Lock()
	if u.closed || len(u.idle) >= u.maxIdle {
		u.mu.Unlock()
		_ = c.nc.Close()
		return
	}
	u.idle = append(u.idle, c)
	if u.sweep == nil {
		u.sweep = time.AfterFunc(u.idleTimeout, u.expire)
	}
	u.mu.Unlock()
}

// expire closes connections idle for longer than the idle timeout and
// re-arms itself while any connection stays idle.
func (u *upstream) expire() {
	now := time.Now()
	u.mu.Lock()
	n := 0
	for n < len(u.idle) && now.Sub(u.idle[n].idleAt) >= u.idleTimeout {
		_ = u.idle[n].nc.Close()
		n++
	}
	u.idle = append(u.idle[:0], u.idle[n:]...)
	clear(u.idle[len(u.idle):cap(u.idle)])
	u.sweep = nil
	if len(u.idle) > 0 {
		u.sweep = time.AfterFunc(u.idleTimeout-now.Sub(u.idle[0].idleAt), u.expire)
	}
	u.mu.Unlock()
}

// closeIdle closes every idle connection. With final set, connections
// coming back later are closed too (the target is gone).
func (u *upstream) closeIdle(final bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range u.idle {
		_ = c.nc.Close()
	}
	u.idle = nil
	if final {
		u.closed = true
	}
	if u.sweep != nil {
		u.sweep.Stop()
		u.sweep = nil
	}
}

// idleCount is the number of pooled connections (for tests).
func (u *upstream) idleCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.idle)
}
