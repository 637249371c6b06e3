package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newPromoteCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "promote SERVICE",
		Short: "Let a canary or blue/green deployment go past its current pause or manual gate",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.engine().Promote(cmd.Context(), args[0]); err != nil {
				return g.explain(fmt.Errorf("promote %s: %w", args[0], err))
			}
			fmt.Fprintf(g.stdout, "%s: promoted; follow it with `berth status %s`\n", args[0], args[0])
			return nil
		},
	}
}

func newAbortCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "abort SERVICE",
		Short: "Roll a service's deployment in progress back: traffic returns to the stable release first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.engine().Abort(cmd.Context(), args[0]); err != nil {
				return g.explain(fmt.Errorf("abort %s: %w", args[0], err))
			}
			if g.dryRun {
				fmt.Fprintln(g.stdout, "dry run: nothing was changed")
				return nil
			}
			fmt.Fprintf(g.stdout, "%s: aborted; rolling back\n", args[0])
			return nil
		},
	}
}

func init() { extraCommands = append(extraCommands, newPromoteCommand, newAbortCommand) }
