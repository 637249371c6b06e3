package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/spec"
)

type serveCommand struct {
	cmd       *cobra.Command
	g         *globals
	listen    string
	apiListen string
	listenTLS string
	apiCert   string
	apiKey    string
	token     string
	tokenFile string
	maxCount  int
	discard   bool
	engine    string
	project   string
	logLevel  string
	ui        string
}

func newServeCommand(g *globals) *cobra.Command {
	c := &serveCommand{g: g}
	c.cmd = &cobra.Command{
		Use:   "serve",
		Short: "Run the control plane (and start its router process) as a daemon",
		Long: `serve runs berth's control plane until SIGTERM, for single-server production.
The router (the data plane) runs as a process of its own, started by the
first serve and adopted by every later one: SIGTERM, a crash or an upgrade
of serve leaves the router serving and the tasks running, and the next
serve adopts both without failing a request. Only ` + "`berth down`" + ` stops
the tasks and the router.

serve resumes unfinished deployments and answers the CLI on the unix socket
in the state directory (and, with --api-listen and --token, over TCP with a
bearer token, HTTPS only: see docs/serve.md). Deploy to it with ` + "`berth deploy`" + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return c.run(cmd.Context()) },
	}
	f := c.cmd.Flags()
	f.StringVar(&c.listen, "listen", os.Getenv("BERTH_LISTEN"), "router listen address (env BERTH_LISTEN; default the spec's listen, 127.0.0.1:8080)")
	f.StringVar(&c.listenTLS, "listen-tls", os.Getenv("BERTH_LISTEN_TLS"), "router HTTPS listen address (env BERTH_LISTEN_TLS; default the spec's listen_tls, none)")
	f.StringVar(&c.apiListen, "api-listen", os.Getenv("BERTH_API_LISTEN"), "also serve the API over TCP, HTTPS only, on this address (needs --token)")
	f.StringVar(&c.apiCert, "api-cert", os.Getenv("BERTH_API_CERT"), "certificate (PEM) of the TCP API (env BERTH_API_CERT; default one from berth's local CA)")
	f.StringVar(&c.apiKey, "api-key", os.Getenv("BERTH_API_KEY"), "private key (PEM) of --api-cert (env BERTH_API_KEY)")
	f.StringVar(&c.token, "token", "", "bearer token required on the TCP API (visible in ps: prefer BERTH_TOKEN or --token-file)")
	f.StringVar(&c.tokenFile, "token-file", os.Getenv("BERTH_TOKEN_FILE"), "read the TCP API's bearer token from this file (env BERTH_TOKEN_FILE)")
	f.BoolVar(&c.discard, "discard-orphans", false, "when state.db is missing or empty, stop the project's running tasks instead of refusing to start")
	f.IntVar(&c.maxCount, "max-count", envInt("BERTH_MAX_COUNT"), "largest task count a deploy or scale may ask of one service (env BERTH_MAX_COUNT; default 100)")
	f.StringVar(&c.engine, "engine", os.Getenv("BERTH_ENGINE"), "process, docker or auto (env BERTH_ENGINE)")
	f.StringVar(&c.project, "project", "", "project name when there is no spec file")
	f.StringVar(&c.logLevel, "log-level", "info", "control-plane log level: info or debug (logs go to STATE/berth.log)")
	addUIFlag(f, &c.ui)
	return c.cmd
}

func (c *serveCommand) run(parent context.Context) error {
	keepRunningWithoutOutput()
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	token, err := apiToken(c.token, c.tokenFile)
	if err != nil {
		return err
	}
	if c.maxCount < 0 {
		return usageErr("--max-count %d: must be positive", c.maxCount)
	}
	o := daemonOptions{project: c.project, listen: c.listen, apiListen: c.apiListen, token: token, engine: c.engine, logLevel: c.logLevel, maxCount: c.maxCount, discardOrphans: c.discard,
		ui: c.ui, listenTLS: c.listenTLS, apiCert: c.apiCert, apiKey: c.apiKey}
	if sp, err := c.g.loadSpec(); err == nil {
		if o.project == "" {
			o.project = sp.Project
		}
		o.router = sp.Router
		o.tls, o.specRoot = sp.TLS, sp.Root
		if o.listenTLS == "" {
			o.listenTLS = sp.ListenTLS
		}
		if o.listen == "" {
			o.listen = sp.Listen
		}
		if o.engine == "" {
			o.engine = sp.Engine
		}
	} else if _, statErr := os.Stat(c.g.specPath()); statErr == nil {
		return err // a spec exists but is invalid
	}
	if o.listen == "" {
		o.listen = spec.DefaultListen
	}
	if o.project == "" {
		o.project = filepath.Base(filepath.Dir(c.g.specPath()))
	}
	d, err := c.g.startDaemon(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.g.stdout, "berth serve: project %s, router on %s, API on %s\n", o.project, d.RouterURL(), c.g.socketPath())
	if u := d.UIURL(); u != "" {
		fmt.Fprintf(c.g.stdout, "dashboard: %s\n", u)
	}
	if u := d.RouterTLSURL(); u != "" {
		fmt.Fprintf(c.g.stdout, "berth serve: HTTPS on %s\n", u)
	}
	var runErr error
	down := false
	select {
	case <-ctx.Done():
	case <-d.Done():
		down = true
	case runErr = <-d.Err():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if down {
		// berth down stopped every task: stop the router too.
		if err := d.Stop(sctx); err != nil && runErr == nil {
			runErr = err
		}
		fmt.Fprintln(c.g.stdout, "stopped every task and the router")
		return runErr
	}
	if err := d.Detach(sctx); err != nil && runErr == nil {
		runErr = err
	}
	fmt.Fprintln(c.g.stdout, "control plane stopped; tasks and the router keep running (berth down stops them)")
	return runErr
}

// apiToken is the TCP API's bearer token: --token, else the file
// --token-file names (surrounding whitespace trimmed), else BERTH_TOKEN.
func apiToken(flag, file string) (string, error) {
	if flag != "" && file != "" {
		return "", usageErr("pass either --token or --token-file, not both")
	}
	if flag != "" {
		return flag, nil
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", usageErr("read --token-file: %v", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", usageErr("--token-file %s is empty", file)
		}
		return tok, nil
	}
	return os.Getenv("BERTH_TOKEN"), nil
}

// envInt is the integer value of an environment variable, 0 when unset or
// not a number.
func envInt(name string) int {
	n, _ := strconv.Atoi(os.Getenv(name))
	return n
}
