package secrets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Resolve reads the secrets a service references, for injection into its
// tasks. refs maps environment variable → reference (the spec's `secrets:`);
// local references are scoped by env. pinned maps scoped secret name →
// version (a release's recorded versions, so a rollback restores the old
// configuration); a name not pinned resolves to its latest version.
//
// values maps environment variable → plaintext. It is plain strings because
// it is meant only for a driver's task environment: never log, print or
// persist it. versions maps scoped secret name → version used, to record in
// the release. Errors name every failing variable and its reference, never a
// value; all failures are reported together.
func (s *Store) Resolve(ctx context.Context, env string, refs map[string]string, pinned map[string]int) (values map[string]string, versions map[string]int, err error) {
	values = make(map[string]string, len(refs))
	versions = make(map[string]int, len(refs))
	var errs []error
	for _, envVar := range slices.Sorted(maps.Keys(refs)) {
		ref := refs[envVar]
		v, name, version, err := s.resolveOne(ctx, env, ref, pinned)
		if err != nil {
			errs = append(errs, fmt.Errorf("secret reference %s=%s: %w", envVar, ref, err))
			continue
		}
		values[envVar] = v
		versions[name] = version
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return values, versions, nil
}

// resolveOne reads one reference; it returns the value, the scoped name and
// the version read.
func (s *Store) resolveOne(ctx context.Context, env, ref string, pinned map[string]int) (string, string, int, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return "", "", 0, err
	}
	if r.Provider != ProviderLocal {
		return "", "", 0, ErrUnavailable
	}
	name := ScopedName(env, r.Name)
	value, version, err := s.Get(ctx, name, pinned[name])
	if err != nil {
		return "", "", 0, err
	}
	if bytes.IndexByte(value, 0) >= 0 {
		return "", "", 0, fmt.Errorf("secret %s version %d contains a NUL byte and cannot be passed as an environment variable", name, version)
	}
	return string(value), name, version, nil
}

// Users computes which services use each local secret, for `berth secret
// ls`: uses maps service → environment variable → reference, and the result
// maps scoped secret name → sorted service names. References to other
// providers and unparsable references are skipped.
func (s *Store) Users(env string, uses map[string]map[string]string) map[string][]string {
	users := make(map[string][]string)
	for service, refs := range uses {
		for _, ref := range refs {
			r, err := ParseRef(ref)
			if err != nil || r.Provider != ProviderLocal {
				continue
			}
			name := ScopedName(env, r.Name)
			if !slices.Contains(users[name], service) {
				users[name] = append(users[name], service)
			}
		}
	}
	for _, services := range users {
		slices.Sort(services)
	}
	return users
}
