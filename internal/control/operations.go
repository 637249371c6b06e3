package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/deploy"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// releaseExtra is stored beside the service spec in a release's config so
// an unchanged deploy can be recognised.
type releaseExtra struct {
	Fingerprint    string `json:"fingerprint,omitempty"`
	ArtifactDigest string `json:"artifact_digest,omitempty"`
}

type storedConfig struct {
	releaseConfig
	releaseExtra
}

// Deploy records one release per changed service, as one release set, and
// starts a rolling deployment of each.
func (s *Server) Deploy(ctx context.Context, req api.DeployRequest) (api.DeployResponse, error) {
	var resp api.DeployResponse
	if len(req.Releases) == 0 {
		return resp, fmt.Errorf("%w: no services to deploy", ErrBadRequest)
	}
	type prepared struct {
		rs  api.ReleaseSpec
		cfg storedConfig
	}
	var preps []prepared
	for _, rs := range req.Releases {
		if rs.Service == "" {
			return resp, fmt.Errorf("%w: release without a service name", ErrBadRequest)
		}
		var sc storedConfig
		if err := json.Unmarshal(rs.Config, &sc.releaseConfig); err != nil || sc.Service == nil {
			return resp, fmt.Errorf("%w: service %s: config is not a resolved service spec", ErrBadRequest, rs.Service)
		}
		sc.Fingerprint, sc.ArtifactDigest = rs.Fingerprint, rs.ArtifactDigest
		preps = append(preps, prepared{rs, sc})
	}
	cfgs := make([]*spec.Service, 0, len(preps))
	for _, p := range preps {
		cfgs = append(cfgs, p.cfg.Service)
	}
	versions, err := s.resolveSecretVersions(ctx, cfgs)
	if err != nil {
		return resp, err
	}
	set := s.newSet("set", req.Commit)
	for _, p := range preps {
		v := s.getOrCreate(p.rs.Service)
		// A changed secret makes a new release even when nothing else changed.
		force := req.Force || v.secretsStale(ctx, versions[p.rs.Service])
		d, changed, err := v.deploy(ctx, p.rs, p.cfg, versions[p.rs.Service], set.set.ID, force)
		if err != nil {
			return resp, err
		}
		if !changed {
			set.unchanged(p.rs.Service)
			continue
		}
		set.add(v, d)
	}
	return s.commit(ctx, set)
}

func (s *Server) getOrCreate(name string) *svc {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.services[name]
	if !ok {
		v = newSvc(s, store.ServiceState{Name: name})
		s.services[name] = v
	}
	return v
}

// deploy makes a new release (unless nothing changed), pinning the given
// secret versions, and starts a deployment to it.
func (v *svc) deploy(ctx context.Context, rs api.ReleaseSpec, sc storedConfig, versions map[string]int, setID string, force bool) (store.Deployment, bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	cur := v.state.Release
	if cur != 0 && !force && v.dep == nil {
		if ri, err := v.release(ctx, cur); err == nil {
			var old storedConfig
			_ = json.Unmarshal(ri.rec.Config, &old)
			if old.Fingerprint != "" && old.Fingerprint == sc.Fingerprint &&
				old.ArtifactDigest == sc.ArtifactDigest && ri.rec.Image == rs.Image &&
				v.state.Count == countOf(sc.Service) {
				return store.Deployment{}, false, nil
			}
		}
	}
	raw, err := json.Marshal(sc)
	if err != nil {
		return store.Deployment{}, false, fmt.Errorf("encode release config: %w", err)
	}
	rel, err := v.s.cfg.Store.CreateRelease(ctx, store.Release{
		Service: v.name, Commit: rs.Commit, Artifact: rs.Artifact, Image: rs.Image,
		Config: raw, SetID: setID, Secrets: versions,
	})
	if err != nil {
		return store.Deployment{}, false, fmt.Errorf("record release of %s: %w", v.name, err)
	}
	d, err := v.startDeployment(ctx, rel.Number, countOf(sc.Service), setID, "deploy")
	return d, true, err
}

func countOf(s *spec.Service) int {
	if s.Count == nil {
		return 1
	}
	return *s.Count
}

// startDeployment records a deployment from the current release to rel
// and makes rel the desired release. Caller holds mu.
func (v *svc) startDeployment(ctx context.Context, rel, count int, setID, why string) (store.Deployment, error) {
	now := v.s.cfg.Clock.Now()
	if v.dep != nil {
		v.finish(ctx, store.DeployFailed, "superseded by a newer deployment")
	}
	strategy := "rolling"
	// A first deployment has nothing to shift traffic from, and a rollback
	// goes straight back: both roll.
	if rel != 0 && v.state.Release != 0 && why != "rollback" {
		if ri, err := v.release(ctx, rel); err == nil && ri.cfg.Service.Deploy != nil && ri.cfg.Service.Deploy.Strategy != "" {
			strategy = ri.cfg.Service.Deploy.Strategy
		}
	}
	d, err := v.s.cfg.Store.CreateDeployment(ctx, store.Deployment{
		Service: v.name, FromRelease: v.state.Release, ToRelease: rel, Strategy: strategy,
		State: store.DeployRunning, SetID: setID, StartedAt: now,
	})
	if err != nil {
		return d, fmt.Errorf("record deployment of %s: %w", v.name, err)
	}
	v.state.Release, v.state.Count, v.state.UpdatedAt = rel, count, now
	if err := v.s.cfg.Store.PutService(ctx, v.state); err != nil {
		return d, fmt.Errorf("record service %s: %w", v.name, err)
	}
	v.dep = &d
	v.failures = nil
	v.crashes = 0
	v.notBefore = time.Time{}
	msg := fmt.Sprintf("%s %s: release %d → %d (%s, %d tasks)", why, v.name, d.FromRelease, rel, strategy, count)
	v.s.emit(store.Event{Service: v.name, Deployment: d.ID, Kind: api.EventDeployStarted, Message: msg,
		Fields: map[string]string{"release": strconv.Itoa(rel), "from": strconv.Itoa(d.FromRelease)}})
	if ri, err := v.release(ctx, rel); err == nil {
		v.notifyDeployment(ri, api.EventDeployStarted, msg, &d)
	}
	return d, nil
}

// Rollback returns a service, or every service of a release set, to an
// earlier release with a rolling deployment. No artifact is rebuilt.
func (s *Server) Rollback(ctx context.Context, req api.RollbackRequest) (api.DeployResponse, error) {
	var resp api.DeployResponse
	targets := map[string]int{}
	switch {
	case req.Service != "" && !req.LastSet && req.Set == "" && req.ToCommit == "":
		v, ok := s.service(req.Service)
		if !ok {
			return resp, fmt.Errorf("%w %q", ErrUnknownService, req.Service)
		}
		to := req.To
		if to == 0 {
			prev, err := v.previousRelease(ctx)
			if err != nil {
				return resp, err
			}
			to = prev
		}
		targets[req.Service] = to
	case req.Set != "" || req.LastSet:
		var set store.ReleaseSet
		var err error
		if req.Set != "" {
			set, err = s.cfg.Store.ReleaseSet(ctx, req.Set)
		} else {
			var sets []store.ReleaseSet
			sets, err = s.cfg.Store.ReleaseSets(ctx, 1)
			if err == nil && len(sets) == 0 {
				err = store.ErrNotFound
			}
			if err == nil {
				set = sets[0]
			}
		}
		if err != nil {
			return resp, fmt.Errorf("find release set: %w", err)
		}
		for _, m := range set.Members {
			targets[m.Service] = m.PrevRelease
		}
	case req.ToCommit != "":
		for _, v := range s.allServices() {
			rels, err := s.cfg.Store.Releases(ctx, v.name)
			if err != nil {
				return resp, fmt.Errorf("list releases of %s: %w", v.name, err)
			}
			for _, r := range rels { // newest first
				if len(req.ToCommit) >= 4 && len(r.Commit) >= len(req.ToCommit) && r.Commit[:len(req.ToCommit)] == req.ToCommit ||
					len(r.Commit) >= 4 && len(req.ToCommit) >= len(r.Commit) && req.ToCommit[:len(r.Commit)] == r.Commit {
					targets[v.name] = r.Number
					break
				}
			}
		}
		if len(targets) == 0 {
			return resp, fmt.Errorf("%w: no release was made from commit %s", store.ErrNotFound, req.ToCommit)
		}
	default:
		return resp, fmt.Errorf("%w: name a service, --set, --last-set or --to-commit", ErrBadRequest)
	}
	names := make([]string, 0, len(targets))
	for n := range targets {
		names = append(names, n)
	}
	sort.Strings(names)
	prefix := ""
	if len(names) > 1 || req.Set != "" || req.LastSet || req.ToCommit != "" {
		prefix = "rollback"
	}
	set := s.newSet(prefix, "")
	for _, n := range names {
		v, ok := s.service(n)
		if !ok {
			continue
		}
		d, err := v.rollbackTo(ctx, targets[n], set.set.ID)
		if err != nil {
			return resp, err
		}
		if d.ID == 0 {
			set.unchanged(n)
			continue
		}
		set.add(v, d)
	}
	return s.commit(ctx, set)
}

// previousRelease is the release that ran before the current one.
func (v *svc) previousRelease(ctx context.Context) (int, error) {
	v.mu.Lock()
	cur := v.state.Release
	v.mu.Unlock()
	deps, err := v.s.cfg.Store.Deployments(ctx, v.name, 100)
	if err != nil {
		return 0, fmt.Errorf("list deployments of %s: %w", v.name, err)
	}
	for _, d := range deps {
		if d.ToRelease == cur && d.State == store.DeploySucceeded && d.FromRelease != 0 && d.FromRelease != cur {
			return d.FromRelease, nil
		}
	}
	if cur > 1 {
		return cur - 1, nil
	}
	return 0, fmt.Errorf("%w: %s has no release before %d", store.ErrNotFound, v.name, cur)
}

func (v *svc) rollbackTo(ctx context.Context, to int, setID string) (store.Deployment, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if to == v.state.Release && v.dep == nil {
		return store.Deployment{}, nil
	}
	count := v.state.Count
	if to != 0 {
		ri, err := v.release(ctx, to)
		if err != nil {
			return store.Deployment{}, fmt.Errorf("rollback %s: %w", v.name, err)
		}
		if count == 0 {
			count = countOf(ri.cfg.Service)
		}
	} else {
		count = 0
	}
	return v.startDeployment(ctx, to, count, setID, "rollback")
}

// Scale sets the desired task count of services.
func (s *Server) Scale(ctx context.Context, req api.ScaleRequest) error {
	for name, n := range req.Counts {
		if n < 0 {
			return fmt.Errorf("%w: count of %s must not be negative", ErrBadRequest, name)
		}
		if _, ok := s.service(name); !ok {
			return fmt.Errorf("%w %q", ErrUnknownService, name)
		}
	}
	for name, n := range req.Counts {
		v, _ := s.service(name)
		v.mu.Lock()
		old := v.state.Count
		v.state.Count = n
		v.state.UpdatedAt = s.cfg.Clock.Now()
		err := s.cfg.Store.PutService(ctx, v.state)
		v.mu.Unlock()
		if err != nil {
			return fmt.Errorf("record scale of %s: %w", name, err)
		}
		s.emit(store.Event{Service: name, Kind: api.EventServiceScaled, Message: fmt.Sprintf("scaled %s from %d to %d tasks", name, old, n)})
		v.kick()
	}
	return nil
}

// Status reports every service's live state.
func (s *Server) Status(ctx context.Context) api.Status {
	st := api.Status{Project: s.cfg.Project, Router: s.cfg.RouterURL, Engine: s.cfg.Engine, Services: []api.Service{}}
	for _, v := range s.allServices() {
		st.Services = append(st.Services, v.status(ctx))
	}
	return st
}

func (v *svc) status(ctx context.Context) api.Service {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := api.Service{Name: v.name, Release: v.state.Release, Desired: v.state.Count, Tasks: []api.Task{}}
	if v.state.Release == 0 {
		out.Desired = 0
	}
	if ri, err := v.release(ctx, v.state.Release); err == nil {
		out.Commit = ri.rec.Commit
		if r := ri.cfg.Service.Route; r != nil {
			out.Route = describeRoute(r)
		}
	}
	for _, t := range v.tasks {
		state := t.rec.State
		if t.phase == deploy.Unhealthy && !t.draining {
			state = "unhealthy"
		}
		if t.phase == deploy.Healthy && !t.draining {
			out.Healthy++
		}
		out.Tasks = append(out.Tasks, api.Task{ID: t.rec.ID, Release: t.rec.Release, State: state,
			Addr: t.handle.Addr, Restarts: t.rec.Restarts, CreatedAt: t.startedAt,
			CPUPercent: t.usage.CPUPercent, MemoryBytes: t.usage.MemoryBytes, LogLinesDropped: t.usage.LogLinesDropped})
	}
	sort.Slice(out.Tasks, func(i, j int) bool { return out.Tasks[i].ID < out.Tasks[j].ID })
	if v.dep != nil {
		d := apiDeployment(*v.dep)
		out.Deployment = &d
	}
	return out
}

func describeRoute(r *spec.Route) string {
	s := ""
	if r.Host != "" {
		s = r.Host
	}
	s += r.Path
	if r.Default {
		if s == "" {
			s = "/"
		}
		s += " (default)"
	}
	for _, h := range r.Hosts {
		if s != "" {
			s += ", "
		}
		s += h
	}
	return s
}

// History lists a service's releases and deployments, newest first.
func (s *Server) History(ctx context.Context, name string) (api.History, error) {
	v, ok := s.service(name)
	if !ok {
		return api.History{}, fmt.Errorf("%w %q", ErrUnknownService, name)
	}
	v.mu.Lock()
	live := v.state.Release
	v.mu.Unlock()
	h := api.History{Service: name, Releases: []api.Release{}, Deployments: []api.Deployment{}}
	rels, err := s.cfg.Store.Releases(ctx, name)
	if err != nil {
		return h, fmt.Errorf("list releases of %s: %w", name, err)
	}
	for _, r := range rels {
		h.Releases = append(h.Releases, api.Release{Service: r.Service, Number: r.Number, Commit: r.Commit,
			Artifact: r.Artifact, Image: r.Image, SetID: r.SetID, Secrets: r.Secrets, CreatedAt: r.CreatedAt, Live: r.Number == live})
	}
	deps, err := s.cfg.Store.Deployments(ctx, name, 50)
	if err != nil {
		return h, fmt.Errorf("list deployments of %s: %w", name, err)
	}
	for _, d := range deps {
		h.Deployments = append(h.Deployments, apiDeployment(d))
	}
	return h, nil
}

// Deployment returns one deployment.
func (s *Server) Deployment(ctx context.Context, id int64) (api.Deployment, error) {
	d, err := s.cfg.Store.Deployment(ctx, id)
	if err != nil {
		return api.Deployment{}, fmt.Errorf("deployment %d: %w", id, err)
	}
	return apiDeployment(d), nil
}

func apiDeployment(d store.Deployment) api.Deployment {
	out := api.Deployment{ID: d.ID, Service: d.Service, FromRelease: d.FromRelease, ToRelease: d.ToRelease,
		Strategy: d.Strategy, State: d.State, Reason: d.Reason, SetID: d.SetID, StartedAt: d.StartedAt, FinishedAt: d.FinishedAt}
	if len(d.Progress) > 0 {
		var p deploy.Progress
		if json.Unmarshal(d.Progress, &p) == nil {
			out.Phase, out.Step, out.Weight, out.Progress = p.Phase, p.Step, p.Weight, d.Progress
		}
	}
	return out
}

// isNotFound reports whether err means a missing object.
func isNotFound(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrUnknownService)
}
