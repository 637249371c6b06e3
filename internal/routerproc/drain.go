package routerproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/router"
)

// serveRouter serves rt on ln until ctx ends, then stops without failing a
// request: unlike http.Server.Shutdown alone, which drops a request read
// after the shutdown began (a connection accepted just before, or a
// keep-alive connection reused at that instant), it first stops
// accepting, turns keep-alives off (idle connections are closed, the next
// response on each busy one says "Connection: close"), and waits until no
// connection is new or busy, up to timeout; only then does it shut the
// server down. During a listener handover the connections it no longer
// accepts go to the new router process.
func serveRouter(ctx context.Context, rt *router.Router, ln net.Listener, timeout time.Duration) error {
	srv := rt.Server()
	var (
		mu    sync.Mutex
		conns = map[net.Conn]http.ConnState{}
	)
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch st {
		case http.StateClosed, http.StateHijacked:
			delete(conns, c)
		default:
			conns[c] = st
		}
	}
	busy := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, st := range conns {
			if st == http.StateNew || st == http.StateActive {
				n++
			}
		}
		return n
	}
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve router on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	addr := ln.Addr()
	_ = ln.Close()
	<-errc // Serve returns once the listener is closed
	srv.SetKeepAlivesEnabled(false)
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for busy() > 0 && time.Now().Before(deadline) {
		<-tick.C
	}
	sctx, cancel := context.WithDeadline(context.Background(), deadline.Add(time.Second))
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down router on %s: %w", addr, err)
	}
	return nil
}

// drainPoll is how often a stopping router checks its connections.
const drainPoll = 10 * time.Millisecond
