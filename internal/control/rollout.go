package control

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// ErrNoSecrets means the control plane was started without a way to
// resolve secret versions (Config.SecretVersions is nil).
var ErrNoSecrets = errors.New("this control plane cannot resolve secrets (started without a secrets resolver)")

// secretRoll is one service a secret change rolls: its live release and the
// secret versions the new release gets.
type secretRoll struct {
	v        *svc
	live     int
	versions map[string]int
}

// RolloutSecrets starts a rolling deployment of exactly the services whose
// live release references one of req.Names (scoped secret or config names)
// at a version other than the latest. Each gets a new release copied from
// the live one (same commit, artifact, image and config) with the latest
// versions of all its references. The rolled services form one release set,
// so `berth rollback --set` undoes the change. Services already on the
// latest versions are left alone. When any affected service cannot resolve
// its references, nothing is rolled.
func (s *Server) RolloutSecrets(ctx context.Context, req api.SecretsRolloutRequest) (api.DeployResponse, error) {
	resp := api.DeployResponse{Deployments: []api.Deployment{}}
	if len(req.Names) == 0 {
		return resp, fmt.Errorf("%w: name at least one secret", ErrBadRequest)
	}
	if s.cfg.SecretVersions == nil {
		return resp, ErrNoSecrets
	}
	s.opsMu.Lock()
	defer s.opsMu.Unlock()
	var rolls []secretRoll
	var errs []error
	for _, v := range s.allServices() {
		r, ok, err := v.planSecretRoll(ctx, req.Names)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			rolls = append(rolls, r)
		}
	}
	if len(errs) > 0 {
		return resp, fmt.Errorf("%w: nothing was rolled: %w", ErrBadRequest, errors.Join(errs...))
	}
	if len(rolls) == 0 {
		return resp, nil
	}
	set := s.newSet("secrets", "")
	for _, r := range rolls {
		pd, err := r.v.prepareSecretRoll(ctx, r, set.set.ID)
		if err != nil {
			return resp, err
		}
		set.add(pd)
	}
	return s.commit(ctx, set)
}

// planSecretRoll decides whether a secret change among names rolls this
// service: its live release must reference one of them (recorded in the
// release, or resolved from its config) at an older version.
func (v *svc) planSecretRoll(ctx context.Context, names []string) (secretRoll, bool, error) {
	live, pinned, cfg, err := v.liveSecrets(ctx)
	if err != nil || cfg == nil {
		return secretRoll{}, false, err
	}
	current, resolveErr := v.s.cfg.SecretVersions(ctx, cfg)
	uses, stale := false, false
	for _, n := range names {
		_, inRelease := pinned[n]
		_, inConfig := current[n]
		if inRelease || inConfig {
			uses = true
			if resolveErr == nil && current[n] != pinned[n] {
				stale = true
			}
		}
	}
	switch {
	case !uses:
		return secretRoll{}, false, nil
	case resolveErr != nil:
		return secretRoll{}, false, fmt.Errorf("service %s: %w", v.name, resolveErr)
	case !stale:
		return secretRoll{}, false, nil
	}
	return secretRoll{v: v, live: live, versions: current}, true, nil
}

// liveSecrets returns the live release's number, its recorded secret
// versions and its service config; cfg is nil when nothing runs.
func (v *svc) liveSecrets(ctx context.Context) (live int, pinned map[string]int, cfg *spec.Service, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	live = v.state.Release
	if live == 0 || v.state.Count == 0 {
		return 0, nil, nil, nil
	}
	ri, err := v.release(ctx, live)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("service %s: %w", v.name, err)
	}
	return live, ri.rec.Secrets, ri.cfg.Service, nil
}

// rollSecrets records a copy of the live release with new secret versions
// and starts a deployment to it.
func (v *svc) prepareSecretRoll(ctx context.Context, r secretRoll, setID string) (*pendingDeploy, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ri, err := v.release(ctx, r.live)
	if err != nil {
		return nil, fmt.Errorf("roll %s: %w", v.name, err)
	}
	pd := v.prepareDeployment(ctx, 0, v.state.Count, setID, "secret change", ri.cfg.Service)
	pd.newRelease = &store.Release{
		Service: v.name, Commit: ri.rec.Commit, Artifact: ri.rec.Artifact, Image: ri.rec.Image,
		Config: ri.rec.Config, SetID: setID, Secrets: r.versions,
	}
	return pd, nil
}

// resolveSecretVersions resolves the secret versions of every service of a
// deploy before any release is made, so a missing secret in one service
// starts nothing at all. Errors name the service, the variable and the
// reference, never a value.
func (s *Server) resolveSecretVersions(ctx context.Context, svcs []*spec.Service) (map[string]map[string]int, error) {
	out := make(map[string]map[string]int, len(svcs))
	if s.cfg.SecretVersions == nil {
		return out, nil
	}
	var errs []error
	for _, cfg := range svcs {
		versions, err := s.cfg.SecretVersions(ctx, cfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", cfg.Name, err))
			continue
		}
		out[cfg.Name] = versions
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: nothing was deployed: %w", ErrBadRequest, errors.Join(errs...))
	}
	return out, nil
}

// secretsStale reports whether the service's live release was made with
// other secret versions than versions, so a deploy of an otherwise
// unchanged service still makes a release with the new values.
func (v *svc) secretsStale(ctx context.Context, versions map[string]int) bool {
	live, pinned, cfg, err := v.liveSecrets(ctx)
	if err != nil || cfg == nil || live == 0 {
		return false
	}
	return !maps.Equal(pinned, versions) && (len(pinned) > 0 || len(versions) > 0)
}

// handleSecretsRollout serves POST /v1/secrets/rollout.
func (s *Server) handleSecretsRollout(w http.ResponseWriter, r *http.Request) {
	var req api.SecretsRolloutRequest
	if !readJSON(w, r, &req) {
		return
	}
	req.Names = slices.Compact(slices.Sorted(slices.Values(req.Names)))
	resp, err := s.RolloutSecrets(r.Context(), req)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, resp)
}
