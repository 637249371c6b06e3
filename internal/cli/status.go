package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/api"
)

type statusCommand struct {
	cmd    *cobra.Command
	g      *globals
	output string
	// now is the clock pauses and exits are measured against (tests).
	now func() time.Time
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
				// The healing and scaling decisions come from the
				// service's history; status still answers without them.
				if h, err := g.engine().History(cmd.Context(), args[0]); err == nil {
					st.Services[0].Events = h.Decisions
					if len(st.Services[0].Events) > maxStatusEvents {
						st.Services[0].Events = st.Services[0].Events[:maxStatusEvents]
					}
				}
			}
			if c.output == "json" {
				return writeJSONTo(g.stdout, st)
			}
			if err := c.print(st, len(args) == 1); err != nil {
				return err
			}
			if len(args) == 1 {
				// The service's latest scaling and healing decisions;
				// berth history lists them all.
				if h, err := g.engine().History(cmd.Context(), args[0]); err == nil && len(h.Decisions) > 0 {
					return printDecisions(g.stdout, h.Decisions[:min(len(h.Decisions), recentDecisions)])
				}
			}
			return nil
		},
	}
	outputFlag(c.cmd, &c.output)
	return c.cmd
}

func (c *statusCommand) print(st api.Status, detail bool) error {
	now := time.Now()
	if c.now != nil {
		now = c.now()
	}
	w := newTable(c.g.stdout)
	head := fmt.Sprintf("project %s, router %s", st.Project, st.Router)
	if st.RouterTLS != "" {
		head += ", https " + st.RouterTLS
	}
	if st.Engine != "" {
		head += ", engine " + st.Engine
	}
	fmt.Fprintln(c.g.stdout, head)
	fmt.Fprintln(w, "SERVICE\tSTATE\tRELEASE\tCOMMIT\tTASKS\tRESTARTS\tROUTE\tDEPLOYMENT")
	for _, s := range st.Services {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.Name, orDash(s.State), releaseCell(s), orDash(s.Commit),
			tasksCell(s), s.Restarts, orDash(s.Route), deploymentCell(s.Deployment, now))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, s := range st.Services {
		if e := s.LastExit; e != nil && s.Restarts > 0 {
			why := e.Reason
			if why != fmt.Sprintf("exit code %d", e.Code) {
				why += fmt.Sprintf(" (code %d)", e.Code)
			}
			fmt.Fprintf(c.g.stdout, "%s: %s, %d restarts in the last %s; last exit %s ago: %s — see `berth logs %s`\n",
				s.Name, orDash(s.State), s.Restarts, shortDuration(api.RestartWindow), shortDuration(now.Sub(e.At)), why, s.Name)
		}
	}
	for _, s := range st.Services {
		if s.Autoscale != nil {
			fmt.Fprintln(c.g.stdout, autoscaleLine(s.Name, s.Autoscale, now, detail))
		}
	}
	for _, s := range st.Services {
		for _, t := range s.Tasks {
			if t.LogLinesDropped > 0 {
				fmt.Fprintf(c.g.stdout, "%s: task %s dropped %d log lines (its log could not keep up; see `berth logs %s`)\n", s.Name, t.ID, t.LogLinesDropped, s.Name)
			}
		}
	}
	for _, s := range st.Services {
		if s.Reason != "" {
			fmt.Fprintf(c.g.stdout, "%s: %s — %s\n  fix the cause, then `berth restart %s` (or deploy a fix)\n", s.Name, orDash(s.State), s.Reason, s.Name)
		}
	}
	if err := c.printTLS(st.TLS, now); err != nil {
		return err
	}
	if detail {
		for _, s := range st.Services {
			w := newTable(c.g.stdout)
			fmt.Fprintln(w, "\nTASK\tRELEASE\tSTATE\tADDRESS\tSTARTED\tRESTARTS\tCPU\tMEMORY")
			for _, t := range s.Tasks {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%d\t%.1f%%\t%.1f MiB\n", t.ID, t.Release, t.State, orDash(t.Addr),
					t.CreatedAt.Local().Format("15:04:05"), t.Restarts, t.CPUPercent, float64(t.MemoryBytes)/(1<<20))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if hb := s.Heal; hb != nil {
				fmt.Fprintf(c.g.stdout, "\nrestart budget: %d of %d restarts used within %s", hb.Used, hb.MaxRestarts, shortDuration(hb.Window))
				if hb.Held {
					fmt.Fprint(c.g.stdout, " (spent: not restarting)")
				}
				fmt.Fprintln(c.g.stdout)
			}
			if len(s.Events) > 0 {
				fmt.Fprintln(c.g.stdout, "\nhealing and scaling (newest first):")
				for _, e := range s.Events {
					fmt.Fprintf(c.g.stdout, "  %s  %-22s %s\n", e.Time.Local().Format("15:04:05"), e.Kind, e.Message)
				}
			}
		}
	}
	return nil
}

// maxStatusEvents is how many healing and scaling decisions status
// SERVICE shows.
const maxStatusEvents = 10

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// releaseCell is the live release, or while two releases run (a canary,
// a blue/green switch) each with its share of traffic: "4 (90%) → 5 (10%)".
func releaseCell(s api.Service) string {
	if len(s.Releases) < 2 {
		return fmt.Sprint(s.Release)
	}
	parts := make([]string, 0, len(s.Releases))
	for _, r := range s.Releases {
		parts = append(parts, fmt.Sprintf("%d (%d%%)", r.Release, r.Weight))
	}
	return strings.Join(parts, " → ")
}

// tasksCell is "2/2 healthy", or per release while two run:
// "2/2 on 4, 1/1 on 5 healthy".
func tasksCell(s api.Service) string {
	if len(s.Releases) < 2 {
		return fmt.Sprintf("%d/%d healthy", s.Healthy, s.Desired)
	}
	parts := make([]string, 0, len(s.Releases))
	for _, r := range s.Releases {
		parts = append(parts, fmt.Sprintf("%d/%d on %d", r.Healthy, r.Tasks, r.Release))
	}
	return strings.Join(parts, ", ") + " healthy"
}

// deploymentCell describes the active deployment: strategy, releases,
// phase, the traffic split, the time left in a pause and the next step.
func deploymentCell(d *api.Deployment, now time.Time) string {
	if d == nil {
		return "-"
	}
	if d.Phase == "" {
		return fmt.Sprintf("%s %d→%d (%s)", d.Strategy, d.FromRelease, d.ToRelease, d.State)
	}
	out := fmt.Sprintf("%s %d→%d %s", d.Strategy, d.FromRelease, d.ToRelease, d.Phase)
	if !d.PauseUntil.IsZero() {
		out += fmt.Sprintf(" (%s left)", shortDuration(max(d.PauseUntil.Sub(now), 0)))
	}
	out += fmt.Sprintf(", %d%% on %d / %d%% on %d", d.Weight, d.ToRelease, 100-d.Weight, d.FromRelease)
	switch d.NextStep {
	case "":
	case "pause":
		out += ", next: a manual gate (berth promote)"
	default:
		out += ", next " + d.NextStep
	}
	return out
}

// shortDuration renders d to the second: "1m20s", "8s", "10m".
func shortDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// printTLS lists the certificate of each host the router serves HTTPS
// for: source, issuer, expiry, and the last failure.
func (c *statusCommand) printTLS(certs []api.TLSCert, now time.Time) error {
	if len(certs) == 0 {
		return nil
	}
	w := newTable(c.g.stdout)
	fmt.Fprintln(w, "\nHOST\tCERTIFICATE\tISSUER\tEXPIRES\tPROBLEM")
	for _, tc := range certs {
		expires := "-"
		if !tc.NotAfter.IsZero() {
			expires = tc.NotAfter.UTC().Format(time.DateOnly) + " (in " + daysLeft(tc.NotAfter.Sub(now)) + ")"
			if tc.NotAfter.Before(now) {
				expires = tc.NotAfter.UTC().Format(time.DateOnly) + " (expired)"
			}
		}
		problem := tc.Error
		if problem == "" && !tc.NotAfter.IsZero() && tc.NotAfter.Sub(now) < 14*24*time.Hour {
			problem = "expires within 14 days"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", tc.Host, tc.Source, orDash(tc.Issuer), expires, orDash(problem))
	}
	return w.Flush()
}

// daysLeft is d in whole days from two days on, else as shortDuration.
func daysLeft(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	return shortDuration(d)
}
