package ship

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/berth-dev/berth/internal/repo"
	"github.com/berth-dev/berth/internal/spec"
)

// specChanges turns skip decisions into deploys when the service's
// resolved spec differs from the one at its base commit: the spec is one
// of a service's inputs. The spec is read once per distinct base.
func specChanges(ctx context.Context, r *repo.Repo, req PlanRequest, ds []repo.Decision) error {
	prefix, err := specPrefix(r.Root, req.Spec.Root)
	if err != nil {
		return err
	}
	file := path.Join(prefix, filepath.Base(req.Spec.Path))
	type base struct {
		sp  *spec.Spec // nil: no spec there, or it does not load
		why string     // why sp is nil, as a reason
	}
	atBase := map[string]base{}
	for i := range ds {
		d := &ds[i]
		if d.Action != repo.ActionSkip || d.Base == "" {
			continue
		}
		old, ok := atBase[d.Base]
		if !ok {
			sp, why, err := specAt(ctx, r, d.Base, file, req)
			if err != nil {
				return err
			}
			old = base{sp, why}
			atBase[d.Base] = old
		}
		if old.sp == nil {
			d.Action, d.Reason = repo.ActionDeploy, old.why
			continue
		}
		cur := req.Spec.Services[d.Service]
		was := old.sp.Services[d.Service]
		if was == nil {
			d.Action, d.Reason = repo.ActionDeploy, "spec of "+d.Service+" added since "+shortSHA(d.Base)
			continue
		}
		keys, err := SpecDiff(was, cur)
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			d.Action = repo.ActionDeploy
			d.Reason = "spec changed: " + strings.Join(first(keys, 3), ", ") + moreKeys(keys, 3)
		}
	}
	return nil
}

func moreKeys(keys []string, n int) string {
	if len(keys) > n {
		return fmt.Sprintf(" and %d more", len(keys)-n)
	}
	return ""
}

func shortSHA(s string) string {
	if len(s) > repo.ShortLen {
		return s[:repo.ShortLen]
	}
	return s
}

// specAt loads the spec file as committed at rev, resolved for the same
// environment. When rev has no spec there or it does not load, the spec is
// nil and why says so, as the reason every service deploys.
func specAt(ctx context.Context, r *repo.Repo, rev, file string, req PlanRequest) (*spec.Spec, string, error) {
	data, ok, err := r.FileAt(ctx, rev, file)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "no " + file + " at " + shortSHA(rev), nil
	}
	old, err := spec.Parse(req.Spec.Path, data)
	if err != nil {
		return nil, "the spec at " + shortSHA(rev) + " does not load", nil
	}
	if old, err = old.ForEnvironment(req.Env); err != nil {
		return nil, "environment " + req.Env + " not in the spec at " + shortSHA(rev), nil
	}
	return old, "", nil
}

// SpecDiff lists the keys (dotted paths, e.g. "env.LOG_LEVEL",
// "health.path", "count") in which two resolved services differ, sorted.
// Lists are compared whole and named by their key.
func SpecDiff(a, b *spec.Service) ([]string, error) {
	fa, err := flatten(a)
	if err != nil {
		return nil, err
	}
	fb, err := flatten(b)
	if err != nil {
		return nil, err
	}
	var keys []string
	for k, va := range fa {
		if vb, ok := fb[k]; !ok || !reflect.DeepEqual(va, vb) {
			keys = append(keys, k)
		}
	}
	for k := range fb {
		if _, ok := fa[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// flatten maps a service's JSON form to its leaf values by dotted key.
func flatten(s *spec.Service) (map[string]any, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode service %s: %w", s.Name, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("decode service %s: %w", s.Name, err)
	}
	delete(doc, "name")
	out := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		m, ok := v.(map[string]any)
		if !ok || len(m) == 0 {
			out[prefix] = v
			return
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			walk(key, m[k])
		}
	}
	walk("", doc)
	return out, nil
}
