package cli

import (
	"fmt"
	"io"

	"github.com/berth-dev/berth/internal/api"
)

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
