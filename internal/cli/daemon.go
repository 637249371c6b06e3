package cli

import (
	"context"
	"errors"

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
	// listenTLS is the router's HTTPS address ("" for none); tls the
	// spec's tls: section, its relative paths under specRoot.
	listenTLS string
	tls       *spec.TLS
	specRoot  string
	// apiCert and apiKey are the TCP API's own certificate files.
	apiCert, apiKey string
}

// startDaemon starts the control plane (internal/daemon) with the state
// directory and secret hooks of this invocation.
func (g *globals) startDaemon(ctx context.Context, o daemonOptions) (*daemon.Daemon, error) {
	state := g.stateDir()
	logMax, logFiles, err := taskLogLimits()
	if err != nil {
		return nil, usageErr("%v", err)
	}
	d, err := daemon.Start(ctx, daemon.Options{
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
