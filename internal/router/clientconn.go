package router

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// connListener bounds concurrent client connections (Config.MaxConns):
// Accept waits for a slot, like nginx at worker_connections. Each
// connection gets a write idle timeout and, on plain-text listeners, a
// framing guard.
type connListener struct {
	net.Listener
	slots   chan struct{}
	wd      time.Duration
	guard   bool
	maxHead int
	closed  chan struct{}
	once    sync.Once
}

func newConnListener(ln net.Listener, cfg Config, guard bool) *connListener {
	return &connListener{
		Listener: ln,
		slots:    make(chan struct{}, cfg.MaxConns),
		wd:       cfg.ClientWriteTimeout,
		guard:    guard,
		maxHead:  cfg.MaxHeaderBytes + 4096, // http.Server's own slack
		closed:   make(chan struct{}),
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.closed:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	cc := &clientConn{Conn: c, l: l}
	if l.guard {
		cc.g = &framingGuard{maxHead: l.maxHead}
		cc.g.firstBad.Store(-1)
	}
	return cc, nil
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// clientConn is one client connection.
type clientConn struct {
	net.Conn
	l       *connListener
	release sync.Once
	wdl     time.Time     // write deadline in force; only the writer touches it
	g       *framingGuard // nil on TLS listeners
	served  atomic.Int64  // HTTP/1 requests handed to the handler
}

// Read feeds what the server reads to the framing guard.
func (c *clientConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.g != nil && n > 0 {
		c.g.scan(p[:n])
	}
	return n, err
}

// Write moves the write deadline so that a client that stops reading is
// cut after Config.ClientWriteTimeout without progress (moved only when
// less than 63/64 of it is left, to save a call per write).
func (c *clientConn) Write(p []byte) (int, error) {
	if d := c.l.wd; d > 0 {
		now := time.Now()
		if !fresh(c.wdl.Sub(now), d) {
			c.wdl = now.Add(d)
			if err := c.Conn.SetWriteDeadline(c.wdl); err != nil {
				return 0, err
			}
		}
	}
	return c.Conn.Write(p)
}

// SetWriteDeadline lets the server's own deadlines win until the next
// Write moves it again.
func (c *clientConn) SetWriteDeadline(t time.Time) error {
	c.wdl = t
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline is SetWriteDeadline and SetReadDeadline.
func (c *clientConn) SetDeadline(t time.Time) error {
	c.wdl = t
	return c.Conn.SetDeadline(t)
}

func (c *clientConn) Close() error {
	c.release.Do(func() { <-c.l.slots })
	return c.Conn.Close()
}

type connKey struct{}

// connContext stores the client connection for the handler.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if cc, ok := c.(*clientConn); ok && cc.g != nil {
		return context.WithValue(ctx, connKey{}, cc)
	}
	return ctx
}

// ambiguousFraming reports whether the HTTP/1 request being handled had a
// head the guard found ambiguous: both Content-Length and
// Transfer-Encoding, or Transfer-Encoding in HTTP/1.0. net/http accepts
// both (it drops one header), so by the time a handler runs the evidence
// is gone; nginx answers 400 and so does the router.
func ambiguousFraming(ctx context.Context) bool {
	cc, _ := ctx.Value(connKey{}).(*clientConn)
	if cc == nil {
		return false
	}
	idx := cc.served.Add(1) - 1
	bad := cc.g.firstBad.Load()
	return bad >= 0 && idx >= bad
}
