package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/certs"
	"github.com/berth-dev/berth/internal/routerproc"
)

func init() { extraCommands = append(extraCommands, newTLSCommand) }

// newTLSCommand is `berth tls`: the local CA's root and forced renewals.
func newTLSCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tls",
		Short: "HTTPS certificates: the local CA's root, forced renewals",
		Long: `berth serves HTTPS on listen_tls with a certificate for every route host:
from ACME (Let's Encrypt by default), from berth's local CA for names no
public CA certifies (localhost, *.localhost, IP addresses), or from your own
files (tls.cert/tls.key, tls.hosts). See docs/tls.md.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newTLSCACommand(g), newTLSRenewCommand(g))
	return cmd
}

// newTLSCACommand is `berth tls ca`: print the local CA's root (PEM),
// creating the CA when the state directory has none yet.
func newTLSCACommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "ca",
		Short: "Print the root certificate (PEM) of berth's local CA, to trust it",
		Long: `ca prints the root certificate of the CA berth keeps in its state directory
(STATE/tls/ca). berth signs with it the certificates of localhost names and
IP addresses on listen_tls, and the TCP API's. Trust it on a developer
machine, or save it and point BERTH_API_CA at it on a remote CLI:

  berth tls ca > berth-ca.pem
  BERTH_API=https://server:7070 BERTH_API_CA=berth-ca.pem berth status`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ca, err := certs.OpenLocalCA(filepath.Join(g.stateDir(), routerproc.CertsDir, "ca"))
			if err != nil {
				return usageErr("%v\n  check that %s is the state directory (pass --state)", err, g.stateDir())
			}
			_, err = g.stdout.Write(ca.RootPEM())
			return err
		},
	}
}

// newTLSRenewCommand is `berth tls renew HOST`: renew an ACME
// certificate now, whatever its expiry.
func newTLSRenewCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "renew HOST",
		Short: "Renew a host's ACME certificate now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := routerproc.NewClient(routerproc.SocketPath(g.stateDir()), nil)
			defer c.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			if err := c.RenewTLS(ctx, args[0]); err != nil {
				return usageErr("renew %s: %v\n  is `berth serve` running with listen_tls, and is %s a route host?", args[0], err, args[0])
			}
			fmt.Fprintf(g.stdout, "renewed the certificate of %s\n", args[0])
			return nil
		},
	}
}
