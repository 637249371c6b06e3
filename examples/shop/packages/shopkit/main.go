package shopkit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Main runs a shop service until SIGTERM or SIGINT, then drains in-flight
// requests and exits 0. name is the service's name (BERTH_SERVICE wins),
// prefix its path prefix ("/catalog"; "" or "/" for the default route;
// SHOP_PREFIX wins). It exits 2 on a bad environment, 1 when it cannot serve,
// and 3 when CHAOS_EXIT_AFTER fires.
func Main(name, prefix string, register Register) {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	cfg, err := LoadConfig(name, prefix, os.LookupEnv)
	if err != nil {
		log.Error("start "+name, "err", err)
		os.Exit(2)
	}
	log = log.With("service", cfg.Version.Service, "release", cfg.Version.Release, "commit", cfg.Version.Commit)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		log.Error("start "+name, "err", fmt.Errorf("listen on %s: %w", cfg.Addr, err))
		os.Exit(1)
	}
	if err := New(cfg, log, Hooks{}, register).Serve(context.Background(), ln); err != nil {
		log.Error("stop "+name, "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}

// Serve serves on ln until ctx ends or the process receives SIGTERM or
// SIGINT; then it stops accepting connections, waits up to the configured
// drain for in-flight requests to finish, and returns nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()

	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(s.hooks.OnShutdown)
	if d := s.cfg.Chaos.ReadyAfter; d > 0 {
		s.starting.Store(true)
		go func() {
			select {
			case <-s.hooks.After(d):
				s.starting.Store(false)
			case <-ctx.Done():
			}
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if d := s.cfg.Chaos.ExitAfter; d > 0 {
		go s.exitAfter(ctx, d)
	}
	s.log.Info("listening", "addr", ln.Addr().String(), "prefix", s.cfg.Prefix)

	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "drain", s.cfg.Drain.String())
	drainCtx, cancel := context.WithTimeout(context.Background(), s.cfg.Drain)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		return fmt.Errorf("drain in-flight requests: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	}
	return nil
}

// exitAfter is CHAOS_EXIT_AFTER: the process dies with ExitCodeChaos, as a
// crashing release would, unless it is shut down first.
func (s *Server) exitAfter(ctx context.Context, d time.Duration) {
	select {
	case <-s.hooks.After(d):
		s.log.Warn("exiting (CHAOS_EXIT_AFTER)", "after", d.String(), "code", ExitCodeChaos)
		s.hooks.Exit(ExitCodeChaos)
	case <-ctx.Done():
	}
}
