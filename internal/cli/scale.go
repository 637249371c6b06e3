package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func newScaleCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "scale SERVICE=N [SERVICE=N...]",
		Short: "Set how many tasks of services run",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			counts := map[string]int{}
			for _, a := range args {
				name, num, ok := strings.Cut(a, "=")
				n, err := strconv.Atoi(num)
				if !ok || name == "" || err != nil || n < 0 {
					return usageErr("bad argument %q: write SERVICE=N with N ≥ 0, e.g. web=3", a)
				}
				counts[name] = n
			}
			if err := g.checkCounts(counts); err != nil {
				return err
			}
			if err := g.engine().Scale(cmd.Context(), counts); err != nil {
				return g.explain(fmt.Errorf("scale: %w", err))
			}
			if g.dryRun {
				fmt.Fprintln(g.stdout, "dry run: nothing was changed")
				return nil
			}
			sp, _ := g.loadSpec()
			_, ecs := g.ecsEngine()
			for _, a := range args {
				name, num, _ := strings.Cut(a, "=")
				if !ecs {
					if sp != nil && sp.Services[name] != nil && sp.Services[name].Scale != nil {
						fmt.Fprintf(g.stdout, "scaling %s\n  %s autoscales (scale: in %s): %s is now its minimum; berth moves it between %s and %d (see berth status %s)\n", a, name, sp.Path, num, num, max(sp.Services[name].Scale.Max, counts[name]), name)
						continue
					}
					fmt.Fprintf(g.stdout, "scaling %s (later deploys keep this count until %s's count: in berth.yaml changes)\n", a, name)
					continue
				}
				fmt.Fprintf(g.stdout, "scaling %s\n", a)
				if sp != nil && sp.Services[name] != nil && sp.Services[name].Scale != nil {
					fmt.Fprintf(g.stdout, "  %s autoscales (scale: in %s): %s is now its minimum; Application Auto Scaling moves it between %s and %d\n", name, sp.Path, num, num, max(sp.Services[name].Scale.Max, counts[name]))
				}
			}
			return nil
		},
	}
}
