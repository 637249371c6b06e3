package cli

import (
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

type deployCommand struct {
	cmd        *cobra.Command
	g          *globals
	allowDirty bool
	force      bool
	changed    bool
	services   []string
	from       string
	detach     bool
	plain      bool
}

func newDeployCommand(g *globals) *cobra.Command {
	c := &deployCommand{g: g}
	c.cmd = &cobra.Command{
		Use:   "deploy [SERVICE...]",
		Short: "Build and roll out services (all when none are named) and wait until they are healthy",
		Long: `deploy builds the named services (every service when none are named) from the
current commit, records one release per changed service as one release set,
and rolls them out with each service's strategy. It waits, and exits 0 only
when every deployment finished healthy; a deployment whose new tasks do not
become healthy is rolled back automatically and deploy exits non-zero with
the reason. Roll the whole set back with ` + "`berth rollback --set`" + `.

On a terminal it shows a live view: one row per service with its phase
(building, pushing, starting, waiting for health, canary 10% → 50%,
baking, draining, done, rolled back), progress, elapsed time and what it
waits for; a failed build's whole output is shown under its row. When the
output is not a terminal, under CI=true or with --plain it prints plain
timestamped lines. Colour follows the terminal and NO_COLOR.
` + "`berth timeline DEPLOYMENT`" + ` shows afterwards where the time went.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			sp, err := g.loadSpec()
			if err != nil {
				return err
			}
			if c.from != "" {
				if c.changed {
					return usageErr("--from deploys what runs in %s; it cannot be combined with --changed", c.from)
				}
				return g.deployFrom(cmd.Context(), g.engine(), sp, c.from, append(args, c.services...), c.force, g.stdout)
			}
			e := g.engine()
			printWarnings(g.stdout, e)
			o := deployOptions{services: append(args, c.services...), changed: c.changed, allowDirty: c.allowDirty, force: c.force, detach: c.detach, out: g.stdout}
			if !wantsLive(g.stdout, c.plain) || g.dryRun || c.detach {
				_, err = g.deploy(cmd.Context(), e, sp, o)
				return err
			}
			lv := newLiveView(g.stdout)
			o.out, o.watch = lv, lv
			// Ctrl-C ends the view first, so the terminal gets its cursor
			// back; what was submitted goes on in the control plane.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := g.deploy(ctx, e, sp, o)
			lv.finish(res)
			if ctx.Err() != nil && cmd.Context().Err() == nil {
				return errors.New("interrupted: deployments already submitted go on in the control plane; `berth status` shows them, `berth abort SERVICE` rolls one back")
			}
			return err
		},
	}
	c.cmd.Flags().BoolVar(&c.allowDirty, "allow-dirty", false, "deploy even when the working tree has uncommitted changes (the commit is marked -dirty)")
	c.cmd.Flags().BoolVar(&c.detach, "detach", false, "return once the deployments were submitted, without waiting for their outcome (`berth status` shows them)")
	c.cmd.Flags().BoolVar(&c.plain, "plain", false, "print plain timestamped lines instead of the live view (the default when the output is not a terminal or CI=true)")
	c.cmd.Flags().BoolVar(&c.force, "force", false, "make a new release even when nothing changed")
	c.cmd.Flags().BoolVar(&c.changed, "changed", false, "deploy only the services whose inputs changed since their live commit (see `berth plan`)")
	c.cmd.Flags().StringVar(&c.from, "from", "", "promote: deploy exactly the images and commits live in this environment (nothing is built)")
	c.cmd.Flags().StringSliceVar(&c.services, "services", nil, "deploy exactly these services (comma-separated) and nothing else")
	return c.cmd
}
