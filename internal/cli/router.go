package cli

import (
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/routerproc"
)

// newRouterCommand is `berth router`, the router process `berth serve` and
// `berth up` start detached (hidden: nobody runs it by hand).
func newRouterCommand(g *globals) *cobra.Command {
	var (
		await    bool
		withTLS  bool
		settings string
	)
	cmd := &cobra.Command{
		Use:    "router",
		Short:  "Run the router process (started by berth serve and berth up)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
			ln, ctl, err := routerproc.Inherited()
			if err != nil {
				return usageErr("%v", err)
			}
			set, err := routerproc.ParseSettings(settings)
			if err != nil {
				return usageErr("%v", err)
			}
			var tlsLn net.Listener
			if withTLS {
				if tlsLn, err = routerproc.InheritedTLS(); err != nil {
					return usageErr("%v", err)
				}
			}
			log := slog.New(slog.NewJSONHandler(g.stderr, nil)).With("component", "router")
			return routerproc.Run(ctx, routerproc.Config{
				Listener: ln, TLSListener: tlsLn, State: g.stateDir(), Control: ctl, Logger: log,
				Build: routerproc.BuildID(), AwaitTable: await, Settings: set,
			})
		},
	}
	cmd.Flags().BoolVar(&await, "await-table", false, "serve clients only once a routing table is published (handover)")
	cmd.Flags().BoolVar(&withTLS, "tls", false, "serve HTTPS on the inherited descriptor 5 (listen_tls)")
	cmd.Flags().StringVar(&settings, "settings", "", "the spec's router: limits and timeouts, as JSON (routerproc.Settings)")
	return cmd
}
