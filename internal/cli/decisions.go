package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/berth-dev/berth/internal/api"
)

// autoscaleLine describes an autoscaled service for status: its bounds
// and target, desired and running tasks and its last decision; with
// detail, why it holds its count now.
func autoscaleLine(name string, a *api.Autoscale, now time.Time, detail bool) string {
	out := fmt.Sprintf("%s: autoscales %d..%d on %s %s, %d desired, %d running", name, a.Min, a.Max, a.Metric, a.Target, a.Desired, a.Running)
	if l := a.Last; l != nil {
		out += fmt.Sprintf("; last scaled %s %s ago: %s", l.Direction, shortDuration(max(now.Sub(l.At), 0)), l.Message)
	}
	if detail && a.Holding != "" {
		out += fmt.Sprintf("\n%s: holding at %d: %s", name, a.Desired, a.Holding)
	}
	return out
}

// recentDecisions is how many decisions status SERVICE shows.
const recentDecisions = 5

// printDecisions lists the control plane's decisions about a service
// (scaling, healing), newest first, after its deployments.
func printDecisions(w io.Writer, ds []api.Event) error {
	if len(ds) == 0 {
		return nil
	}
	t := newTable(w)
	fmt.Fprintln(t, "\nDECISION\tTIME\tWHY")
	for _, d := range ds {
		fmt.Fprintf(t, "%s\t%s\t%s\n", d.Kind, d.Time.Local().Format("2006-01-02 15:04:05"), d.Message)
	}
	return t.Flush()
}
