package control

import (
	"context"
	"fmt"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/store"
)

// setRecorder gathers the deployments one request starts (a deploy, a
// rollback, a secret rollout) so they are recorded as one release set in
// one transaction and then started together.
type setRecorder struct {
	set     store.ReleaseSet
	resp    api.DeployResponse
	pending []*pendingDeploy
}

// newSet starts a release set whose id begins with prefix; an empty
// prefix records no set (a single-service rollback).
func (s *Server) newSet(prefix, commit string) *setRecorder {
	now := s.cfg.Clock.Now()
	r := &setRecorder{set: store.ReleaseSet{Commit: commit, CreatedAt: now}}
	if prefix != "" {
		r.set.ID = prefix + "-" + now.UTC().Format("20060102-150405") + "-" + randHex(2)
	}
	return r
}

// add notes a deployment the request starts.
func (r *setRecorder) add(pd *pendingDeploy) { r.pending = append(r.pending, pd) }

// unchanged notes a service the request left as it was.
func (r *setRecorder) unchanged(name string) { r.resp.Unchanged = append(r.resp.Unchanged, name) }

// commit records every deployment of the request, with its releases and
// its set, in one transaction; only once that has committed does any of
// them start. When recording fails, nothing was recorded or started.
func (s *Server) commit(ctx context.Context, r *setRecorder) (api.DeployResponse, error) {
	if r.resp.Deployments == nil {
		r.resp.Deployments = []api.Deployment{}
	}
	if len(r.pending) == 0 {
		return r.resp, nil
	}
	ro := store.Rollout{}
	if r.set.ID != "" {
		set := r.set
		ro.Set = &set
	}
	for _, pd := range r.pending {
		step := pd.step
		step.Release = pd.newRelease
		ro.Steps = append(ro.Steps, step)
	}
	rec, err := s.cfg.Store.RecordRollout(ctx, ro)
	if err != nil {
		return r.resp, fmt.Errorf("record deployments: %w", err)
	}
	if rec.Set != nil {
		r.resp.SetID = rec.Set.ID
	}
	for i, pd := range r.pending {
		d := pd.v.activate(ctx, rec.Steps[i], pd.why)
		r.resp.Deployments = append(r.resp.Deployments, apiDeployment(d))
	}
	for _, pd := range r.pending {
		pd.v.kick()
	}
	return r.resp, nil
}
