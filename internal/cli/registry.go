package cli

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

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/registry"
)

func init() { extraCommands = append(extraCommands, newRegistryCommand) }

type registryCommand struct {
	cmd    *cobra.Command
	g      *globals
	listen string
	dir    string
}

func newRegistryCommand(g *globals) *cobra.Command {
	c := &registryCommand{g: g}
	c.cmd = &cobra.Command{
		Use:   "registry",
		Short: "Run an OCI image registry on loopback in the foreground (single-server setups and tests)",
		Long: `registry serves the OCI distribution API on a loopback address until
Ctrl-C, for single-server setups and tests: set registry: 127.0.0.1:5000 in
berth.yaml and ` + "`berth build --push`" + ` / ` + "`berth deploy`" + ` push to it. It has no
authentication, so it only listens on loopback. Blobs are kept in --dir
(else in memory); tags and manifests live in memory and are lost when it
stops.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return c.run(cmd.Context()) },
	}
	f := c.cmd.Flags()
	f.StringVar(&c.listen, "listen", envOr("BERTH_REGISTRY_LISTEN", "127.0.0.1:5000"), "loopback address to serve on (env BERTH_REGISTRY_LISTEN)")
	f.StringVar(&c.dir, "dir", "", "directory for blobs (default: memory)")
	return c.cmd
}

func (c *registryCommand) run(parent context.Context) error {
	host, _, err := net.SplitHostPort(c.listen)
	if err != nil {
		return usageErr("--listen %q: want HOST:PORT, e.g. 127.0.0.1:5000", c.listen)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usageErr("--listen %s is not a loopback address: this registry has no authentication; use 127.0.0.1:PORT", c.listen)
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(c.g.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var h http.Handler
	if c.dir != "" {
		if h, err = registry.NewOnDisk(logger, c.dir); err != nil {
			return err
		}
	} else {
		h = registry.New(logger)
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return usageErr("%s is already in use: stop what listens there or pass --listen 127.0.0.1:PORT", c.listen)
		}
		return usageErr("registry cannot listen on %s: %v", c.listen, err)
	}
	fmt.Fprintf(c.g.stdout, "berth registry: serving on %s (set registry: %s in berth.yaml); Ctrl-C stops it\n", ln.Addr(), ln.Addr())
	if err := registry.ServeHandler(ctx, ln, h); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	fmt.Fprintln(c.g.stdout, "stopped")
	return nil
}
