package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// New returns an OCI registry handler keeping blobs and manifests in memory.
// Everything is lost when the process ends.
func New(logger *slog.Logger) http.Handler {
	return ggcrregistry.New(options(logger)...)
}

// NewOnDisk returns an OCI registry handler that keeps blobs in dir (created
// if missing), so large layers do not sit in memory. Manifests and tags are
// still held in memory.
func NewOnDisk(logger *slog.Logger, dir string) (http.Handler, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create registry blob dir %s: %w", dir, err)
	}
	opts := append(options(logger), ggcrregistry.WithBlobHandler(ggcrregistry.NewDiskBlobHandler(dir)))
	return ggcrregistry.New(opts...), nil
}

func options(logger *slog.Logger) []ggcrregistry.Option {
	if logger == nil {
		logger = slog.Default()
	}
	return []ggcrregistry.Option{
		ggcrregistry.Logger(slog.NewLogLogger(logger.Handler(), slog.LevelDebug)),
	}
}

// Serve serves an in-memory registry on ln until ctx ends, then shuts the
// server down gracefully. It returns nil after a shutdown caused by ctx.
func Serve(ctx context.Context, ln net.Listener) error {
	return ServeHandler(ctx, ln, New(slog.Default()))
}

// ServeHandler serves h (from New or NewOnDisk) on ln until ctx ends.
func ServeHandler(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve registry on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// A client that keeps a connection open (a speculative dial of a
		// keep-alive pool) must not stop the registry from stopping.
		_ = srv.Close()
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve registry on %s: %w", ln.Addr(), err)
	}
	return nil
}
