package router

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// target is the router's live state for one backend address. It outlives
// tables: a target present in consecutive tables keeps its health, pool
// and in-flight count.
type target struct {
	addr      string
	inflight  atomic.Int64
	up        atomic.Bool     // active health verdict; starts true
	ejectedTo atomic.Int64    // unix nanos until which passive ejection holds
	removed   atomic.Bool     // absent from the current table
	client    *upstream       // ordinary requests
	transport *http.Transport // health checks
	// std carries upgrades (websockets, and the plain answers some
	// targets give them) and, when Config.Upstream is "std", ordinary
	// requests: a transport that never reuses a connection. net/http's Transport
	// pools a connection the moment a response ends and checks for
	// unsolicited bytes only afterwards, so a backend writing past the
	// end of a response can hand its stray bytes to the next request
	// (TestDesyncNeverCrossesResponses/std showed it). Correct framing
	// first: the fallback pays a connection per request.
	std *http.Transport

	upMu     sync.Mutex
	upgrades map[*http.Request]context.CancelFunc // open upgraded connections

	// Guarded by Router.mu.
	check       HealthCheck
	stopChecker context.CancelFunc
}

// dialError marks a failure to connect: nothing was sent to the target, so
// the request may be retried elsewhere.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func newTarget(addr string, cfg Config) *target {
	d := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	t := &target{addr: addr, client: newUpstream(addr, cfg)}
	t.up.Store(true)
	t.transport = &http.Transport{
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, a)
			if err != nil {
				return nil, &dialError{err}
			}
			return c, nil
		},
		MaxIdleConns:           0, // bounded per host below
		MaxIdleConnsPerHost:    cfg.MaxIdleConnsPerTarget,
		IdleConnTimeout:        cfg.UpstreamIdleTimeout,
		ResponseHeaderTimeout:  cfg.ResponseHeaderTimeout,
		MaxResponseHeaderBytes: int64(cfg.MaxResponseHeaderBytes),
		DisableCompression:     true,
		// Targets speak HTTP/1.1; keep-alive pools make that cheap.
		ForceAttemptHTTP2:     false,
		WriteBufferSize:       16 << 10,
		ReadBufferSize:        16 << 10,
		ExpectContinueTimeout: time.Second,
	}
	t.std = t.transport.Clone()
	t.std.DisableKeepAlives = true
	return t
}

// healthy reports whether the target may receive new requests at now.
func (t *target) healthy(now int64) bool {
	return t.up.Load() && t.ejectedTo.Load() <= now
}

// acquire counts a request against the target. It fails when the target
// was removed from the table in the meantime; the caller then re-picks.
// Counting first and checking removal second closes the window in which a
// drain could observe zero while a picked request is about to start.
func (t *target) acquire() bool {
	t.inflight.Add(1)
	if t.removed.Load() {
		t.inflight.Add(-1)
		return false
	}
	return true
}

func (t *target) release() { t.inflight.Add(-1) }

// trackUpgrade registers an upgraded connection's cancel; untrack with
// the returned func.
func (t *target) trackUpgrade(req *http.Request, cancel context.CancelFunc) func() {
	t.upMu.Lock()
	if t.upgrades == nil {
		t.upgrades = map[*http.Request]context.CancelFunc{}
	}
	t.upgrades[req] = cancel
	t.upMu.Unlock()
	return func() {
		t.upMu.Lock()
		delete(t.upgrades, req)
		t.upMu.Unlock()
	}
}

// closeUpgraded closes every upgraded connection to the target and
// returns how many there were.
func (t *target) closeUpgraded() int {
	t.upMu.Lock()
	defer t.upMu.Unlock()
	for _, cancel := range t.upgrades {
		cancel()
	}
	return len(t.upgrades)
}

// eject skips the target until now+d.
func (t *target) eject(now int64, d time.Duration) {
	t.ejectedTo.Store(now + int64(d))
}

func isDialError(err error) bool {
	var de *dialError
	return errors.As(err, &de)
}
