package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/engine/ecs"
	"github.com/berth-dev/berth/internal/spec"
)

// ecsEngine returns the ECS engine when --env names an environment with
// engine: ecs (ok false otherwise). An AWS configuration problem comes
// back as an engine whose every call fails with it.
func (g *globals) ecsEngine() (engine.Engine, bool) {
	if g.env == "" {
		return nil, false
	}
	sp, err := g.loadSpec()
	if err != nil || sp.Engine != spec.EngineECS {
		// Commands that need the spec report its problems themselves.
		return nil, false
	}
	if g.ecs != nil {
		return g.ecs, true
	}
	e, err := newECSEngine(sp, g.dryRun, g.stdout)
	if err != nil {
		return failingEngine{err}, true
	}
	g.ecs = e
	return e, true
}

// newECSEngine builds the ECS engine of an environment from the standard
// AWS configuration. BERTH_ECS_POLL sets how often deployments and logs
// are polled (default 5s).
func newECSEngine(sp *spec.Spec, dryRun bool, plan io.Writer) (*ecs.Engine, error) {
	cfg, err := ecs.LoadAWSConfig(context.Background(), sp.AWS.Region)
	if err != nil {
		return nil, usageErr("environment %s: %v", sp.Env, err)
	}
	poll := 5 * time.Second
	if v := os.Getenv("BERTH_ECS_POLL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, usageErr("BERTH_ECS_POLL=%q: want a duration such as 5s", v)
		}
		poll = d
	}
	return ecs.New(ecs.Config{Spec: sp, AWS: cfg, PollInterval: poll, DryRun: dryRun, Plan: plan})
}

// warner is an engine that adjusts the spec to fit its platform and says so.
type warner interface {
	Warnings() []string
}

// printWarnings shows what the engine changes in the spec (plan and deploy).
func printWarnings(w io.Writer, e engine.Engine) {
	if wr, ok := e.(warner); ok {
		for _, s := range wr.Warnings() {
			fmt.Fprintln(w, "warning:", s)
		}
	}
}

// failingEngine answers every call with the error that kept the real
// engine from being built.
type failingEngine struct{ err error }

func (f failingEngine) Target(context.Context) (engine.BuildTarget, error) {
	return engine.BuildTarget{}, f.err
}
func (f failingEngine) SetSecret(context.Context, string, []byte) (int, error) { return 0, f.err }
func (f failingEngine) Secret(context.Context, string, int) ([]byte, int, error) {
	return nil, 0, f.err
}
func (f failingEngine) ListSecrets(context.Context) ([]api.Secret, error) { return nil, f.err }
func (f failingEngine) DeleteSecret(context.Context, string) error        { return f.err }
func (f failingEngine) Status(context.Context) (api.Status, error)        { return api.Status{}, f.err }
func (f failingEngine) Deploy(context.Context, api.DeployRequest) (api.DeployResponse, error) {
	return api.DeployResponse{}, f.err
}
func (f failingEngine) Deployment(context.Context, string) (api.Deployment, error) {
	return api.Deployment{}, f.err
}
func (f failingEngine) Events(context.Context, engine.EventQuery, func(api.Event) error) error {
	return f.err
}
func (f failingEngine) Rollback(context.Context, api.RollbackRequest) (api.DeployResponse, error) {
	return api.DeployResponse{}, f.err
}
func (f failingEngine) Scale(context.Context, map[string]int) error { return f.err }
func (f failingEngine) RolloutSecrets(context.Context, api.SecretsRolloutRequest) (api.DeployResponse, error) {
	return api.DeployResponse{}, f.err
}
func (f failingEngine) History(context.Context, string) (api.History, error) {
	return api.History{}, f.err
}
func (f failingEngine) Logs(context.Context, string, engine.LogOptions) (io.ReadCloser, error) {
	return nil, f.err
}
func (f failingEngine) Down(context.Context) error            { return f.err }
func (f failingEngine) Promote(context.Context, string) error { return f.err }
func (f failingEngine) Abort(context.Context, string) error   { return f.err }
