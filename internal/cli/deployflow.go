package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/ship"
	"github.com/berth-dev/berth/internal/spec"
)

// deployOptions shape one `berth deploy` (or the deploy `berth up` does).
type deployOptions struct {
	services []string
	// changed deploys only the services whose inputs changed since their
	// live commit (the plan of `berth plan`).
	changed    bool
	allowDirty bool
	force      bool
	keepGoing  bool
	detach     bool
	out        io.Writer
	// watch, when set, sees each stage and event (the live view).
	watch ship.Watcher
}

// deploy runs the shared deploy flow (internal/ship) against e and maps
// its errors to exit codes.
func (g *globals) deploy(ctx context.Context, e engine.Engine, sp *spec.Spec, o deployOptions) (ship.Result, error) {
	res, err := ship.Deploy(ctx, e, sp, ship.Options{
		Services: o.services, Changed: o.changed, AllowDirty: o.allowDirty, Force: o.force,
		KeepGoing: o.keepGoing, Env: g.env, StateDir: g.stateDir(), Registry: registryOf(sp), Out: o.out,
		DryRun: g.dryRun, Detach: o.detach, Watch: o.watch,
	})
	return res, g.shipErr(err)
}

// follow follows deployments to their end; it fails when any did not
// succeed.
func (g *globals) follow(ctx context.Context, e engine.Engine, deps []api.Deployment, out io.Writer) error {
	return g.shipErr(ship.FollowAll(ctx, e, deps, out))
}

// shipErr gives an error of the deploy flow its exit code and next step.
func (g *globals) shipErr(err error) error {
	var in *ship.InputError
	var fe *ship.FailedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &in):
		return &exitError{code: exitUsage, err: err}
	case errors.As(err, &fe):
		return failed(err)
	}
	return g.explain(err)
}

func didYouMean(n string, names []string) string {
	if hint := spec.Suggest(n, names); hint != "" {
		return " (" + hint + ")"
	}
	return fmt.Sprintf(" (services: %s)", strings.Join(names, ", "))
}
