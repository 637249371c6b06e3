package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newDownCommand(g *globals) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop every task gracefully and stop the control plane (on ECS: delete what berth created)",
		Long: `down stops every task gracefully and stops the control plane.

In an ecs environment (--env NAME) it deletes the ECS services, listener
rules and target groups berth created for the project, and keeps task
definitions (the release history), images and logs. It refuses to run
without --yes; --dry-run lists what it would delete.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e := g.engine()
			_, onECS := g.ecsEngine()
			if onECS && !yes && !g.dryRun {
				return usageErr("down deletes the ECS services, listener rules and target groups of %s in environment %s: pass --yes to do it, or --dry-run to see the list", g.specPath(), g.env)
			}
			if err := e.Down(cmd.Context()); err != nil {
				return g.explain(fmt.Errorf("down: %w", err))
			}
			switch {
			case g.dryRun:
				fmt.Fprintln(g.stdout, "dry run: nothing was changed")
			case onECS:
				fmt.Fprintln(g.stdout, "deleted the services, listener rules and target groups berth created; task definitions, images and logs are kept")
			default:
				fmt.Fprintln(g.stdout, "every task stopped; control plane exiting")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "really delete (ecs environments)")
	return cmd
}
