package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newDownCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Stop every task gracefully and stop the control plane",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.engine().Down(cmd.Context()); err != nil {
				return g.explain(fmt.Errorf("down: %w", err))
			}
			fmt.Fprintln(g.stdout, "every task stopped; control plane exiting")
			return nil
		},
	}
}
