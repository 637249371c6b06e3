package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine/local"
	"github.com/berth-dev/berth/internal/ship"
)

type upCommand struct {
	cmd       *cobra.Command
	g         *globals
	listen    string
	engine    string
	keepGoing bool
	ui        string
}

func newUpCommand(g *globals) *cobra.Command {
	c := &upCommand{g: g}
	c.cmd = &cobra.Command{
		Use:   "up",
		Short: "Run the control plane and router in the foreground and deploy every service",
		Long: `up starts berth's control plane and router in the foreground, builds every
service of the spec and rolls it out. The router runs as a process of its own
(as under berth serve). Ctrl-C (or SIGTERM) stops every task and the router
gracefully and leaves no process behind: unlike berth serve, whose restart
leaves both running. Run it again after a crash: running tasks and the
router are adopted, not restarted.

When the build or the first deployment of any service fails, up says which
and why, stops every task it started and exits 1. With --keep-going it runs
the services that came up, names those that are not running, and stays up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return c.run(cmd.Context()) },
	}
	c.cmd.Flags().StringVar(&c.listen, "listen", os.Getenv("BERTH_LISTEN"), "router listen address (env BERTH_LISTEN; default the spec's listen, 127.0.0.1:8080)")
	c.cmd.Flags().BoolVar(&c.keepGoing, "keep-going", false, "when some services fail to build or deploy, run the others instead of stopping")
	c.cmd.Flags().StringVar(&c.engine, "engine", os.Getenv("BERTH_ENGINE"), "process, docker or auto (env BERTH_ENGINE; default the spec's engine)")
	addUIFlag(c.cmd.Flags(), &c.ui)
	return c.cmd
}

func (c *upCommand) run(parent context.Context) error {
	keepRunningWithoutOutput()
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	sp, err := c.g.loadSpec()
	if err != nil {
		return err
	}
	c.g.ignoreStateDir(c.g.stdout)
	listen := c.listen
	if listen == "" {
		listen = sp.Listen
	}
	eng := c.engine
	if eng == "" {
		eng = sp.Engine
	}
	d, err := c.g.startDaemon(ctx, daemonOptions{project: sp.Project, listen: listen, engine: eng, router: sp.Router, ui: c.ui,
		listenTLS: sp.ListenTLS, tls: sp.TLS, specRoot: sp.Root})
	if err != nil {
		return err
	}
	out := c.g.stdout
	fmt.Fprintf(out, "berth: project %s, router on %s, state in %s\n", sp.Project, d.RouterURL(), c.g.stateDir())
	if u := d.UIURL(); u != "" {
		fmt.Fprintf(out, "dashboard: %s\n", u)
	}
	e := local.New("unix://"+c.g.socketPath(), "")
	_, deployErr := c.g.deploy(ctx, e, sp, deployOptions{allowDirty: true, keepGoing: c.keepGoing, out: out})
	var upErr error
	if deployErr != nil && ctx.Err() == nil {
		var fe *ship.FailedError
		partial := c.keepGoing && errors.As(deployErr, &fe) && len(fe.Failures) < len(sp.Services)
		if partial {
			fmt.Fprintln(c.g.stderr, "error:", deployErr)
			fmt.Fprintf(c.g.stderr, "--keep-going: NOT RUNNING: %s; every other service runs\n", strings.Join(fe.Services(), ", "))
		} else {
			// Fail fast: nothing is left half up.
			upErr = fmt.Errorf("berth up: %w\n  every task was stopped; fix the cause and run `berth up` again (or pass --keep-going to run the services that work)", deployErr)
		}
	}
	if ctx.Err() == nil && upErr == nil {
		printURLs(out, sp, d.RouterURL())
		fmt.Fprintln(out, "press Ctrl-C to stop every service")
		select {
		case <-ctx.Done():
		case <-d.Done():
		case err := <-d.Err():
			fmt.Fprintln(c.g.stderr, "error:", err)
		}
	}
	fmt.Fprintln(out, "stopping every task…")
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.Stop(sctx); err != nil {
		return errors.Join(upErr, fmt.Errorf("stop: %w", err))
	}
	fmt.Fprintln(out, "stopped")
	if upErr != nil {
		return c.g.shipErr(upErr)
	}
	return nil
}
