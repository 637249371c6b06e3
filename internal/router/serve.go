package router

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server returns the client-facing http.Server Serve uses: HTTP/1.1, h2c
// and (with Config.TLSConfig) HTTP/2 over TLS, with the configured header
// timeout, idle timeout and header size limit. Serve adds, through its
// listener, the connection limit, the client write timeout and the check
// for ambiguous request framing.
func (r *Router) Server() *http.Server {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	p.SetHTTP2(true)
	return &http.Server{
		Handler:           r,
		Protocols:         &p,
		ReadHeaderTimeout: r.cfg.ReadHeaderTimeout,
		IdleTimeout:       r.cfg.IdleTimeout,
		MaxHeaderBytes:    r.cfg.MaxHeaderBytes,
		TLSConfig:         r.cfg.TLSConfig,
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelWarn),
		ConnContext:       connContext,
		// "OPTIONS *" reaches the handler like any request, so the
		// framing guard's count of requests stays in step.
		DisableGeneralOptionsHandler: true,
	}
}

// Serve accepts client connections on ln until ctx ends, then stops
// without failing a request (up to Config.ShutdownTimeout) and returns
// nil. It returns an error if serving fails or the stop times out.
//
// http.Server.Shutdown alone drops a request it reads after the shutdown
// began (on a connection accepted just before, or a keep-alive connection
// reused at that instant). So Serve first stops accepting (when ln is a
// socket shared with another router process, as in a listening-socket
// handover, the connections it no longer accepts go to that process),
// turns keep-alives off (idle connections are closed; each busy one is
// closed after its response, which says "Connection: close"), and waits
// until no connection is new or busy; only then does it shut the server
// down.
func (r *Router) Serve(ctx context.Context, ln net.Listener) error {
	return r.ServeWith(ctx, ln, ServeOptions{TLS: r.cfg.TLSConfig})
}

// ServeOptions say how ServeWith serves one listener.
type ServeOptions struct {
	// TLS, when set, terminates TLS on the listener (HTTP/2 via ALPN and
	// HTTP/1.1); it must carry certificates or GetCertificate.
	TLS *tls.Config
	// Wrap, when set, is put in front of the router's handler on this
	// listener (HTTPS redirects, HSTS, ACME challenges).
	Wrap func(http.Handler) http.Handler
}

// ServeWith is Serve with per-listener options, so one Router serves a
// plain listener and a TLS one side by side.
func (r *Router) ServeWith(ctx context.Context, ln net.Listener, o ServeOptions) error {
	srv := r.Server()
	srv.TLSConfig = o.TLS
	if o.Wrap != nil {
		srv.Handler = o.Wrap(srv.Handler)
	}
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
	busy := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, st := range conns {
			if st == http.StateNew || st == http.StateActive {
				return true
			}
		}
		return false
	}
	// The framing guard reads plain text only: under TLS it would see
	// ciphertext (and net/http needs the *tls.Conn for ALPN).
	ln = newConnListener(ln, r.cfg, srv.TLSConfig == nil)
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
	deadline := time.Now().Add(r.cfg.ShutdownTimeout)
	tick := time.NewTicker(stopPoll)
	defer tick.Stop()
	for busy() && time.Now().Before(deadline) {
		<-tick.C
	}
	sctx, cancel := context.WithDeadline(context.Background(), deadline.Add(time.Second))
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down router on %s: %w", addr, err)
	}
	return nil
}

// stopPoll is how often a stopping Serve checks its connections.
const stopPoll = 10 * time.Millisecond
