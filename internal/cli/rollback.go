package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/api"
)

type rollbackCommand struct {
	cmd      *cobra.Command
	g        *globals
	to       int
	set      string
	toCommit string
	noWait   bool
}

func newRollbackCommand(g *globals) *cobra.Command {
	c := &rollbackCommand{g: g}
	c.cmd = &cobra.Command{
		Use:   "rollback [SERVICE] [--to N] | --set [ID] | --to-commit SHA",
		Short: "Return a service, or a whole release set, to what ran before",
		Long: `rollback rolls a service back to an earlier release (the one before the
current, or --to N) with a zero-downtime rolling deployment; nothing is rebuilt.

--set returns every service of the last release set (or of set ID) to the
release it ran before that set; a service the set introduced is stopped.
--to-commit SHA returns every service that has a release made from SHA to
that release.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.RollbackRequest{To: c.to, ToCommit: c.toCommit}
			if len(args) == 1 {
				req.Service = args[0]
			}
			if cmd.Flags().Changed("set") {
				if c.set == "last" || c.set == "" {
					req.LastSet = true
				} else {
					req.Set = c.set
				}
			}
			if req.Service == "" && !req.LastSet && req.Set == "" && req.ToCommit == "" {
				return usageErr("name a SERVICE, or pass --set [ID] or --to-commit SHA")
			}
			if req.Service != "" && (req.LastSet || req.Set != "" || req.ToCommit != "") {
				return usageErr("SERVICE cannot be combined with --set or --to-commit")
			}
			e := g.engine()
			resp, err := e.Rollback(cmd.Context(), req)
			if err != nil {
				return g.explain(fmt.Errorf("rollback: %w", err))
			}
			for _, n := range resp.Unchanged {
				fmt.Fprintf(g.stdout, "%s: already on that release\n", n)
			}
			if g.dryRun {
				fmt.Fprintln(g.stdout, "dry run: nothing was changed")
				return nil
			}
			if len(resp.Deployments) == 0 {
				fmt.Fprintln(g.stdout, "nothing to roll back")
				return nil
			}
			if c.noWait {
				for _, d := range resp.Deployments {
					fmt.Fprintf(g.stdout, "%s: rolling back %d → %d (deployment %s)\n", d.Service, d.FromRelease, d.ToRelease, d.ID)
				}
				return nil
			}
			return g.follow(cmd.Context(), e, resp.Deployments, g.stdout)
		},
	}
	f := c.cmd.Flags()
	f.IntVar(&c.to, "to", 0, "release number to return to (default: the release before the current one)")
	f.StringVar(&c.set, "set", "", "roll back a whole release set: the last one, or the set ID given")
	f.Lookup("set").NoOptDefVal = "last"
	f.StringVar(&c.toCommit, "to-commit", "", "return every service to its release made from this commit")
	f.BoolVar(&c.noWait, "no-wait", false, "start the rollback and return without following it")
	return c.cmd
}
