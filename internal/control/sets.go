package control

import (
	"context"
	"fmt"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/store"
)

// setRecorder gathers the deployments one request starts (a deploy, a
// rollback, a secret rollout) so they are recorded as one release set and
// then started together.
type setRecorder struct {
	set     store.ReleaseSet
	resp    api.DeployResponse
	started []*svc
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

// add notes a deployment v started as part of the set.
func (r *setRecorder) add(v *svc, d store.Deployment) {
	r.set.Members = append(r.set.Members, store.SetMember{Service: v.name, Release: d.ToRelease, PrevRelease: d.FromRelease})
	r.resp.Deployments = append(r.resp.Deployments, apiDeployment(d))
	r.started = append(r.started, v)
}

// unchanged notes a service the request left as it was.
func (r *setRecorder) unchanged(name string) { r.resp.Unchanged = append(r.resp.Unchanged, name) }

// commit records the set, when it has an id and members, and lets its
// deployments run.
func (s *Server) commit(ctx context.Context, r *setRecorder) (api.DeployResponse, error) {
	if r.set.ID != "" && len(r.set.Members) > 0 {
		if err := s.cfg.Store.CreateReleaseSet(ctx, r.set); err != nil {
			return r.resp, fmt.Errorf("record release set: %w", err)
		}
		r.resp.SetID = r.set.ID
	}
	for _, v := range r.started {
		v.kick()
	}
	return r.resp, nil
}
