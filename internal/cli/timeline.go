package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/timeline"
)

type timelineCommand struct {
	cmd    *cobra.Command
	output string
}

func newTimelineCommand(g *globals) *cobra.Command {
	c := &timelineCommand{}
	c.cmd = &cobra.Command{
		Use:   "timeline DEPLOYMENT|SET",
		Short: "Show a deployment's (or a release set's) phases with their durations, and why it took that long",
		Long: `timeline shows the phases of a deployment — plan, build, push, submit,
task start, first healthy, each canary step, bake, and the old release's
drain — with their start, duration and the setting that governs each, and
names the slowest. Give a deployment id (from ` + "`berth history SERVICE`" + ` or
` + "`berth deploy`" + `) or a release set id (` + "`berth deploy`" + ` prints it) to see every
service of the set on one timeline.

Phases marked "after" ran once the deployment had finished (the old
release draining) and are not part of its wall time.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(c.output); err != nil {
				return err
			}
			tl, ok := g.engine().(engine.Timeliner)
			if !ok {
				return usageErr("this engine keeps no deployment timelines (the ECS engine: see the ECS console's deployment events)")
			}
			t, err := tl.Timeline(cmd.Context(), args[0])
			if err != nil {
				return g.explain(fmt.Errorf("timeline of %s: %w", args[0], err))
			}
			if c.output == "json" {
				return writeJSONTo(g.stdout, t)
			}
			return writeTimeline(g.stdout, t)
		},
	}
	outputFlag(c.cmd, &c.output)
	return c.cmd
}

// barWidth is the width of the timeline's bars.
const barWidth = 30

// writeTimeline prints a timeline as a table with a bar per phase placed
// on the wall-time axis, then the wall time and the slowest phase.
func writeTimeline(w io.Writer, t api.Timeline) error {
	switch {
	case t.Deployment != nil:
		d := t.Deployment
		fmt.Fprintf(w, "deployment %s: %s release %d → %d (%s), %s\n", d.ID, d.Service, d.FromRelease, d.ToRelease, d.Strategy, strings.ReplaceAll(d.State, "_", " "))
	case t.SetID != "":
		fmt.Fprintf(w, "release set %s: %d deployments\n", t.SetID, len(t.Deployments))
	}
	if len(t.Phases) == 0 {
		fmt.Fprintln(w, "no phases recorded")
		return nil
	}
	first := t.Phases[0].Start
	last := t.Phases[0].End
	for _, p := range t.Phases {
		if p.Start.Before(first) {
			first = p.Start
		}
		if p.End.After(last) {
			last = p.End
		}
	}
	span := last.Sub(first)
	tw := newTable(w)
	fmt.Fprintln(tw, "PHASE\tSERVICE\tSTART\tDURATION\t\tGOVERNED BY\tDETAIL")
	for _, p := range t.Phases {
		name := p.Name
		if p.AfterFinish {
			name += " (after)"
		}
		fmt.Fprintf(tw, "%s\t%s\t+%s\t%s\t%s\t%s\t%s\n", name, orDash(p.Service), timeline.Round(p.Start.Sub(first)),
			timeline.Round(time.Duration(p.DurationMS)*time.Millisecond), bar(p.Start.Sub(first), p.End.Sub(p.Start), span), orDash(p.GovernedBy), p.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwall time %s\n", timeline.Round(time.Duration(t.WallMS)*time.Millisecond))
	if t.Slowest != nil {
		fmt.Fprintf(w, "slowest: %s\n", timeline.Explain(*t.Slowest))
	}
	return nil
}

// bar draws a phase from at for d on a span barWidth characters wide.
func bar(at, d, span time.Duration) string {
	if span <= 0 {
		return ""
	}
	from := int(int64(barWidth) * int64(at) / int64(span))
	n := int((int64(barWidth)*int64(d) + int64(span) - 1) / int64(span))
	from = min(max(from, 0), barWidth-1)
	n = min(max(n, 1), barWidth-from)
	return strings.Repeat("·", from) + strings.Repeat("█", n) + strings.Repeat("·", barWidth-from-n)
}
