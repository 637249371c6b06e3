package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

type historyCommand struct {
	cmd    *cobra.Command
	g      *globals
	output string
}

func newHistoryCommand(g *globals) *cobra.Command {
	c := &historyCommand{g: g}
	c.cmd = &cobra.Command{
		Use:   "history SERVICE",
		Short: "List a service's releases and deployments, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(c.output); err != nil {
				return err
			}
			h, err := g.engine().History(cmd.Context(), args[0])
			if err != nil {
				return g.explain(err)
			}
			if c.output == "json" {
				return writeJSONTo(g.stdout, h)
			}
			w := newTable(g.stdout)
			fmt.Fprintln(w, "RELEASE\tCOMMIT\tCREATED\tSET\tLIVE")
			for _, r := range h.Releases {
				live := ""
				if r.Live {
					live = "*"
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", r.Number, r.Commit, r.CreatedAt.Local().Format("2006-01-02 15:04:05"), orDash(r.SetID), live)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			w = newTable(g.stdout)
			fmt.Fprintln(w, "\nDEPLOYMENT\tRELEASES\tSTRATEGY\tSTATE\tSTARTED\tREASON")
			for _, d := range h.Deployments {
				fmt.Fprintf(w, "%d\t%d→%d\t%s\t%s\t%s\t%s\n", d.ID, d.FromRelease, d.ToRelease, d.Strategy, d.State, d.StartedAt.Local().Format("2006-01-02 15:04:05"), orDash(d.Reason))
			}
			return w.Flush()
		},
	}
	outputFlag(c.cmd, &c.output)
	return c.cmd
}
