package cli

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/berth-dev/berth/internal/secrets"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// serviceRefs merges a service's secret and config references into one map
// of environment variable → reference: both are resolved the same way, from
// the local encrypted store. A variable named by both with different
// references is an error.
func serviceRefs(cfg *spec.Service) (map[string]string, error) {
	refs := make(map[string]string, len(cfg.Secrets)+len(cfg.Config))
	maps.Copy(refs, cfg.Secrets)
	for _, envVar := range slices.Sorted(maps.Keys(cfg.Config)) {
		ref := cfg.Config[envVar]
		if prev, ok := refs[envVar]; ok && prev != ref {
			return nil, fmt.Errorf("variable %s is both secrets.%s=%s and config.%s=%s: keep one", envVar, envVar, prev, envVar, ref)
		}
		refs[envVar] = ref
	}
	return refs, nil
}

// resolver reads a service's references from the local store under the
// master key of the state directory, scoped by the environment env.
type resolver struct {
	st    secrets.Backend
	state string
	env   string
}

// provider loads the master key (per call, so a key set up after the
// control plane started is used) and returns the secrets provider.
func (r resolver) provider() (*secrets.Store, error) {
	key, err := secrets.LoadKey(r.state)
	if err != nil {
		return nil, err
	}
	return secrets.New(r.st, key), nil
}

// resolve reads a service's references at the pinned versions (latest for
// a name not pinned) and returns the values, for the task's environment
// only, and the versions read, keyed by scoped name.
func (r resolver) resolve(ctx context.Context, cfg *spec.Service, pinned map[string]int) (map[string]string, map[string]int, error) {
	refs, err := serviceRefs(cfg)
	if err != nil || len(refs) == 0 {
		return nil, nil, err
	}
	p, err := r.provider()
	if err != nil {
		return nil, nil, err
	}
	return p.Resolve(ctx, r.env, refs, pinned)
}

// secretEnv resolves a task's secret and config references at start, from
// the local encrypted store, at the versions its release recorded. The
// values go only into the task's environment.
func (g *globals) secretEnv(st *store.Store, state string) func(context.Context, store.Release, *spec.Service) (map[string]string, error) {
	r := resolver{st: st, state: state, env: g.env}
	return func(ctx context.Context, rel store.Release, cfg *spec.Service) (map[string]string, error) {
		vals, _, err := r.resolve(ctx, cfg, rel.Secrets)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", cfg.Name, err)
		}
		return vals, nil
	}
}

// secretVersions returns the hook (control.Config.SecretVersions) that
// resolves the versions a new release of a service records. It fails, so
// the deployment never starts, when a reference is missing or unreadable;
// the error names the variable and the reference, never a value.
func (g *globals) secretVersions(st *store.Store, state string) func(context.Context, *spec.Service) (map[string]int, error) {
	r := resolver{st: st, state: state, env: g.env}
	return func(ctx context.Context, cfg *spec.Service) (map[string]int, error) {
		_, versions, err := r.resolve(ctx, cfg, nil)
		return versions, err
	}
}
