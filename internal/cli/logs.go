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
	trace  string
}

func newLogsCommand(g *globals) *cobra.Command {
	c := &logsCommand{}
	c.cmd = &cobra.Command{
		Use:   "logs [SERVICE]",
		Short: "Print the logs of a service's tasks (every service's without one), each line prefixed with its task",
		Long: `logs prints the logs of SERVICE's running tasks, or of every service's,
interleaved, when no service is named. Each line starts with its task id,
which starts with its service's name.

With -f (--follow) it follows the service, not the tasks: the tasks a deploy,
a restart or a scale starts later are shown as they start, until Ctrl-C.

With --trace ID it shows, from every service, only the lines that carry
that trace id (the 32 hex digits of the traceparent header the router sets)
or request id (X-Request-Id), and the router's access log lines of that
request (router: {access_log: on} in berth.yaml turns the access log on),
so one request can be followed across services.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			service, what := "", "every service"
			if len(args) == 1 {
				service, what = args[0], args[0]
			}
			if c.trace != "" {
				if service != "" {
					return usageErr("--trace follows a request across every service: name no service")
				}
				what = "trace " + c.trace
			}
			rc, err := g.engine().Logs(cmd.Context(), service, engine.LogOptions{Follow: c.follow, Tail: c.tail, Trace: c.trace})
			if err != nil {
				return g.explain(fmt.Errorf("logs of %s: %w", what, err))
			}
			defer rc.Close()
			_, err = io.Copy(g.stdout, rc)
			if err != nil && cmd.Context().Err() == nil {
				return fmt.Errorf("logs of %s: %w", what, err)
			}
			return nil
		},
	}
	c.cmd.Flags().BoolVarP(&c.follow, "follow", "F", false, "keep printing new lines (-f works too after `logs`; name the spec with --file here)")
	c.cmd.Flags().StringVar(&c.trace, "trace", "", "show only the lines carrying this trace id or request id, from every service and the router's access log")
	c.cmd.Flags().IntVar(&c.tail, "tail", 0, "print only the last N lines of each task (0 = all)")
	return c.cmd
}
