package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/timeline"
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
			fmt.Fprintln(w, "\nDEPLOYMENT\tRELEASES\tSTRATEGY\tSTATE\tSTARTED\tDURATION\tREASON")
			for _, d := range h.Deployments {
				fmt.Fprintf(w, "%s\t%d→%d\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.FromRelease, d.ToRelease, d.Strategy, d.State, d.StartedAt.Local().Format("2006-01-02 15:04:05"), deployDuration(d), orDash(d.Reason))
				for _, st := range steps(d.Progress) {
					fmt.Fprintf(w, "\t\t\t\t%s\t\t%s\n", st.At.Local().Format("15:04:05"), describeStep(st))
				}
			}
			fmt.Fprintln(w, "\n(`berth timeline DEPLOYMENT` shows where a deployment's time went)")
			if err := w.Flush(); err != nil {
				return err
			}
			return printDecisions(g.stdout, h.Decisions)
		},
	}
	outputFlag(c.cmd, &c.output)
	return c.cmd
}

// stepRecord is what a progressive deployment saw at one step (the
// subset of deploy.StepRecord history prints).
type stepRecord struct {
	At      time.Time `json:"at"`
	Phase   string    `json:"phase"`
	Weight  int       `json:"weight"`
	Verdict string    `json:"verdict"`
	Signals struct {
		Requests  int           `json:"requests"`
		Errors5xx int           `json:"errors_5xx"`
		P99       time.Duration `json:"p99"`
	} `json:"signals"`
}

func steps(progress json.RawMessage) []stepRecord {
	var p struct {
		Signals []stepRecord `json:"signals"`
	}
	if len(progress) == 0 || json.Unmarshal(progress, &p) != nil {
		return nil
	}
	return p.Signals
}

func describeStep(s stepRecord) string {
	out := fmt.Sprintf("%s at %d%%: %s", s.Phase, s.Weight, s.Verdict)
	if s.Signals.Requests > 0 {
		out += fmt.Sprintf(" (%d requests, %d 5xx, p99 %s)", s.Signals.Requests, s.Signals.Errors5xx, s.Signals.P99)
	}
	return out
}

// deployDuration is how long a deployment ran, "running" while it does.
func deployDuration(d api.Deployment) string {
	if d.FinishedAt.IsZero() {
		return "running"
	}
	return timeline.Round(d.FinishedAt.Sub(d.StartedAt)).String()
}
