package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// restarter is an engine that can replace a service's tasks in place: the
// local engines' control plane.
type restarter interface {
	Restart(ctx context.Context, service string) error
}

func newRestartCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "restart SERVICE",
		Short: "Reset a service's restart budget and replace its tasks one at a time, with no downtime",
		Long: "restart resumes self-healing of a service that spent its restart budget (state degraded) " +
			"and replaces each of its tasks in turn: a replacement starts, and the task it replaces stops " +
			"only once the replacement is healthy.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, ok := g.engine().(restarter)
			if !ok {
				return g.explain(fmt.Errorf("restart %s: %w", args[0],
					errors.New("this engine cannot restart tasks in place; redeploy with `berth deploy --force`")))
			}
			if err := r.Restart(cmd.Context(), args[0]); err != nil {
				return g.explain(fmt.Errorf("restart %s: %w", args[0], err))
			}
			fmt.Fprintf(g.stdout, "%s: restart budget reset; replacing tasks one at a time — follow it with `berth status %s`\n", args[0], args[0])
			return nil
		},
	}
}

func init() { extraCommands = append(extraCommands, newRestartCommand) }
