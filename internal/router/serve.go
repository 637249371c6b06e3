package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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

// Serve accepts client connections on ln until ctx ends, then shuts down
// gracefully: it stops accepting, lets in-flight requests finish (up to
// Config.ShutdownTimeout) and returns nil. It returns an error if serving
// fails or the graceful shutdown times out.
func (r *Router) Serve(ctx context.Context, ln net.Listener) error {
	srv := r.Server()
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
	sctx, cancel := context.WithTimeout(context.Background(), r.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("shut down router on %s: %w", ln.Addr(), err)
	}
	return nil
}
