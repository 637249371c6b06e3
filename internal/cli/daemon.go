package cli

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/control"
	"github.com/berth-dev/berth/internal/daemon"
	"github.com/berth-dev/berth/internal/engine/local"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// daemonOptions are the flags of `berth up` and `berth serve` that shape
// the control plane.
type daemonOptions struct {
	project   string
	listen    string // router
	apiListen string // optional TCP API address
	token     string
	engine    string
	logLevel  string
	// maxCount is the per-service task maximum (0: the default).
	maxCount int
	// discardOrphans lets a control plane whose state is missing or empty
	// stop the project's running tasks it cannot account for.
	discardOrphans bool
	// router is the spec's router: section; nil takes the defaults.
	router *spec.Router
	// ui is the --ui-listen flag as given ("" when not given).
	ui string
	// listenTLS is the router's HTTPS address ("" for none); tls the
	// spec's tls: section, its relative paths under specRoot.
	listenTLS string
	tls       *spec.TLS
	specRoot  string
	// apiCert and apiKey are the TCP API's own certificate files.
	apiCert, apiKey string
}

// defaultUIListen is where up and serve serve the dashboard unless told
// otherwise; when it is taken they use a free loopback port instead.
const defaultUIListen = "127.0.0.1:8079"

// addUIFlag adds --ui-listen (env BERTH_UI_LISTEN) to a command.
func addUIFlag(f *pflag.FlagSet, target *string) {
	f.StringVar(target, "ui-listen", os.Getenv("BERTH_UI_LISTEN"),
		"serve the web dashboard (and the API it uses) on this address (env BERTH_UI_LISTEN; default "+defaultUIListen+", or a free loopback port when that is taken; off to disable; off loopback only with a token, over HTTPS)")
}

// uiListen resolves --ui-listen: the address, and whether another
// loopback port may be taken when it is busy (only for the default).
func uiListen(flag string) (addr string, fallback bool) {
	switch strings.ToLower(strings.TrimSpace(flag)) {
	case "":
		return defaultUIListen, true
	case "off", "none", "false", "0":
		return "", false
	}
	return strings.TrimSpace(flag), false
}

// startDaemon starts the control plane (internal/daemon) with the state
// directory and secret hooks of this invocation.
func (g *globals) startDaemon(ctx context.Context, o daemonOptions) (*daemon.Daemon, error) {
	state := g.stateDir()
	logMax, logFiles, err := taskLogLimits()
	if err != nil {
		return nil, usageErr("%v", err)
	}
	uiAddr, uiFallback := uiListen(o.ui)
	d, err := daemon.Start(ctx, daemon.Options{
		UIListen: uiAddr, UIFallback: uiFallback,
		Project: o.project, State: state, Socket: g.socketPath(),
		Listen: o.listen, APIListen: o.apiListen, Token: o.token,
		Engine: o.engine, LogLevel: o.logLevel,
		MaxCount: o.maxCount, DiscardOrphans: o.discardOrphans,
		Router:    withTLS(routerConfig(o.router), o),
		ListenTLS: o.listenTLS, APICert: o.apiCert, APIKey: o.apiKey,
		LogWriter: taskLogWriter(), LogMaxBytes: logMax, LogFiles: logFiles,
		Configure: func(st *store.Store, cfg *control.Config) {
			cfg.Env = g.secretEnv(st, state)
			cfg.SecretVersions = g.secretVersions(st, state)
			// berth secret goes through the API while a control plane runs.
			cfg.Secrets = local.DirectSecrets{Store: st, State: state}
		},
	})
	if ue := (*daemon.UsageError)(nil); errors.As(err, &ue) {
		return nil, usageErr("%v", err)
	}
	return d, err
}
