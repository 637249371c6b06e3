package cli

import (
	"context"
	"fmt"

	"github.com/berth-dev/berth/internal/secrets"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// secretEnv resolves a task's secret references at start, from the local
// encrypted store, at the versions its release recorded.
func (g *globals) secretEnv(st *store.Store, state string) func(context.Context, store.Release, *spec.Service) (map[string]string, error) {
	return func(ctx context.Context, rel store.Release, cfg *spec.Service) (map[string]string, error) {
		if len(cfg.Secrets) == 0 {
			return nil, nil
		}
		key, err := secrets.LoadKey(state)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", cfg.Name, err)
		}
		vals, _, err := secrets.New(st, key).Resolve(ctx, g.env, cfg.Secrets, rel.Secrets)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", cfg.Name, err)
		}
		return vals, nil
	}
}
