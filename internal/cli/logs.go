package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine"
)

type logsCommand struct {
	cmd    *cobra.Command
	follow bool
	tail   int
}

func newLogsCommand(g *globals) *cobra.Command {
	c := &logsCommand{}
	c.cmd = &cobra.Command{
		Use:   "logs SERVICE",
		Short: "Print the logs of a service's running tasks, each line prefixed with its task",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rc, err := g.engine().Logs(cmd.Context(), args[0], engine.LogOptions{Follow: c.follow, Tail: c.tail})
			if err != nil {
				return g.explain(fmt.Errorf("logs of %s: %w", args[0], err))
			}
			defer rc.Close()
			_, err = io.Copy(g.stdout, rc)
			if err != nil && cmd.Context().Err() == nil {
				return fmt.Errorf("logs of %s: %w", args[0], err)
			}
			return nil
		},
	}
	c.cmd.Flags().BoolVarP(&c.follow, "follow", "F", false, "keep printing new lines (-f works too after `logs`; name the spec with --file here)")
	c.cmd.Flags().IntVar(&c.tail, "tail", 0, "print only the last N lines of each task (0 = all)")
	return c.cmd
}
