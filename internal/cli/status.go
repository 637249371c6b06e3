package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/api"
)

type statusCommand struct {
	cmd    *cobra.Command
	g      *globals
	output string
}

func newStatusCommand(g *globals) *cobra.Command {
	c := &statusCommand{g: g}
	c.cmd = &cobra.Command{
		Use:   "status [SERVICE]",
		Short: "Show what runs: each service's live release, tasks and active deployment",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(c.output); err != nil {
				return err
			}
			st, err := g.engine().Status(cmd.Context())
			if err != nil {
				return g.explain(err)
			}
			if len(args) == 1 {
				var keep []api.Service
				for _, s := range st.Services {
					if s.Name == args[0] {
						keep = append(keep, s)
					}
				}
				if keep == nil {
					names := make([]string, 0, len(st.Services))
					for _, s := range st.Services {
						names = append(names, s.Name)
					}
					return usageErr("no service %q is deployed%s", args[0], didYouMean(args[0], names))
				}
				st.Services = keep
			}
			if c.output == "json" {
				return writeJSONTo(g.stdout, st)
			}
			return c.print(st, len(args) == 1)
		},
	}
	outputFlag(c.cmd, &c.output)
	return c.cmd
}

func (c *statusCommand) print(st api.Status, detail bool) error {
	w := newTable(c.g.stdout)
	fmt.Fprintf(c.g.stdout, "project %s, router %s\n", st.Project, st.Router)
	fmt.Fprintln(w, "SERVICE\tRELEASE\tCOMMIT\tTASKS\tROUTE\tDEPLOYMENT")
	for _, s := range st.Services {
		dep := "-"
		if d := s.Deployment; d != nil {
			dep = fmt.Sprintf("%s %d→%d (%s)", d.Strategy, d.FromRelease, d.ToRelease, d.State)
			if d.Phase != "" {
				dep = fmt.Sprintf("%s %d→%d %s, %d%% on %d / %d%% on %d", d.Strategy, d.FromRelease, d.ToRelease, d.Phase, d.Weight, d.ToRelease, 100-d.Weight, d.FromRelease)
			}
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%d/%d healthy\t%s\t%s\n", s.Name, s.Release, orDash(s.Commit), s.Healthy, s.Desired, orDash(s.Route), dep)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, s := range st.Services {
		for _, t := range s.Tasks {
			if t.LogLinesDropped > 0 {
				fmt.Fprintf(c.g.stdout, "%s: task %s dropped %d log lines (its log could not keep up; see `berth logs %s`)\n", s.Name, t.ID, t.LogLinesDropped, s.Name)
			}
		}
	}
	if detail {
		for _, s := range st.Services {
			w := newTable(c.g.stdout)
			fmt.Fprintln(w, "\nTASK\tRELEASE\tSTATE\tADDRESS\tSTARTED\tCPU\tMEMORY")
			for _, t := range s.Tasks {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%.1f%%\t%.1f MiB\n", t.ID, t.Release, t.State, orDash(t.Addr),
					t.CreatedAt.Local().Format("15:04:05"), t.CPUPercent, float64(t.MemoryBytes)/(1<<20))
			}
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
