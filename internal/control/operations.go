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
	"github.com/berth-dev/berth/internal/release"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// Deploy validates every release of the request, records one release per
// changed service as one release set in a single transaction, and starts
// their deployments once it has committed. Any invalid release rejects the
// whole request, naming the service and the field; nothing is recorded.
func (s *Server) Deploy(ctx context.Context, req api.DeployRequest) (api.DeployResponse, error) {
	var resp api.DeployResponse
	if len(req.Releases) == 0 {
		return resp, fmt.Errorf("%w: releases: no services to deploy", ErrBadRequest)
	}
	if len(req.Releases) > maxServices {
		return resp, fmt.Errorf("%w: releases: %d services, more than the %d allowed", ErrBadRequest, len(req.Releases), maxServices)
	}
	type prepared struct {
		rs  api.ReleaseSpec
		cfg storedConfig
	}
	var preps []prepared
	seen := map[string]bool{}
	for i, rs := range req.Releases {
		sc, err := s.checkRelease(rs)
		if err != nil {
			return resp, fmt.Errorf("%w: releases[%d]: %w", ErrBadRequest, i, err)
		}
		if seen[rs.Service] {
			return resp, fmt.Errorf("%w: releases[%d].service: %s is named twice", ErrBadRequest, i, rs.Service)
		}
		if rs.BuildSeconds < 0 || rs.BuildSeconds > maxBuildSeconds {
			return resp, fmt.Errorf("%w: releases[%d].build_seconds: %g is not between 0 and %d", ErrBadRequest, i, rs.BuildSeconds, maxBuildSeconds)
		}
		seen[rs.Service] = true
		preps = append(preps, prepared{rs, sc})
	}
	for _, p := range preps {
		if p.rs.BuildSeconds > 0 {
			s.metrics.built(p.rs.Service, time.Duration(p.rs.BuildSeconds*float64(time.Second)))
		}
	}
	cfgs := make([]*spec.Service, 0, len(preps))
	for _, p := range preps {
		cfgs = append(cfgs, p.cfg.Service)
	}
	s.opsMu.Lock()
	defer s.opsMu.Unlock()
	versions, err := s.resolveSecretVersions(ctx, cfgs)
	if err != nil {
		return resp, err
	}
	set := s.newSet("set", req.Commit)
	for _, p := range preps {
		v := s.getOrCreate(p.rs.Service)
		// A changed secret makes a new release even when nothing else changed.
		force := req.Force || v.secretsStale(ctx, versions[p.rs.Service])
		pd, changed, err := v.prepareDeploy(ctx, p.rs, p.cfg, versions[p.rs.Service], set.set.ID, force)
		if err != nil {
			return resp, err
		}
		if !changed {
			set.unchanged(p.rs.Service)
			continue
		}
		set.add(pd)
	}
	return s.commit(ctx, set)
}

// maxBuildSeconds bounds a reported build time (a day).
const maxBuildSeconds = 86400

// maxServices bounds the services of one request.
const maxServices = 1000

// checkRelease decodes and validates one release of a deploy request.
func (s *Server) checkRelease(rs api.ReleaseSpec) (storedConfig, error) {
	var sc storedConfig
	if !spec.ValidServiceName(rs.Service) {
		return sc, fmt.Errorf("service: %q is not a service name (lower-case letters, digits and dashes, starting with a letter)", rs.Service)
	}
	if len(rs.Config) == 0 {
		return sc, fmt.Errorf("config: is missing (the resolved service spec)")
	}
	c, err := release.Decode(rs.Config)
	if err != nil {
		return sc, fmt.Errorf("service %s: config.%w", rs.Service, err)
	}
	if c.Service.Name == "" {
		c.Service.Name = rs.Service
	}
	if c.Service.Name != rs.Service {
		return sc, fmt.Errorf("service %s: config.service.name: %q does not match the release's service", rs.Service, c.Service.Name)
	}
	if err := c.Validate(release.Limits{MaxCount: s.cfg.MaxCount}); err != nil {
		return sc, fmt.Errorf("service %s: config.%w", rs.Service, err)
	}
	if rs.Image == "" && rs.Artifact == "" && c.Service.Run == "" {
		return sc, fmt.Errorf("service %s: nothing to run: the release has no image, artifact or run command", rs.Service)
	}
	if rs.Image != "" && c.Root != "" {
		// An image carries all it runs: no path of the client's machine.
		c.Root = ""
	}
	sc.Config = c
	sc.Print, sc.ArtifactDigest = rs.Fingerprint, rs.ArtifactDigest
	if sc.Print == "" {
		if sc.Print, err = c.Fingerprint(); err != nil {
			return sc, err
		}
	}
	return sc, nil
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

// prepareDeploy decides whether the release makes a new release (unless
// nothing changed) and returns what to record; nothing is written.
func (v *svc) prepareDeploy(ctx context.Context, rs api.ReleaseSpec, sc storedConfig, versions map[string]int, setID string, force bool) (*pendingDeploy, bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	cur := v.state.Release
	// A scaled count persists until the spec's count changes: a deploy
	// whose spec count equals the live release's keeps the running count.
	count := sc.Count()
	if cur != 0 {
		if ri, err := v.release(ctx, cur); err == nil && ri.cfg.Count() == sc.Count() {
			count = min(v.state.Count, sc.MaxCount(v.s.cfg.MaxCount))
		}
	}
	// An autoscaled service keeps its autoscaled count (within scale:).
	count, floor := v.autoscaledCount(ctx, sc.Service, count)
	if cur != 0 && !force && v.dep == nil {
		if ri, err := v.release(ctx, cur); err == nil {
			old := ri.cfg
			if old.Print != "" && old.Print == sc.Print &&
				old.ArtifactDigest == sc.ArtifactDigest && ri.rec.Image == rs.Image &&
				v.state.Count == count {
				// Same release, new commit: nothing to start, but the
				// service is now live at this commit.
				return nil, false, v.recommit(ctx, ri.rec.Commit, rs.Commit)
			}
		}
	}
	raw, err := json.Marshal(sc)
	if err != nil {
		return nil, false, fmt.Errorf("encode release config: %w", err)
	}
	rec := &store.Release{
		Service: v.name, Commit: rs.Commit, Artifact: rs.Artifact, Image: rs.Image,
		Config: raw, SetID: setID, Secrets: versions,
	}
	pd := v.prepareDeployment(ctx, 0, count, setID, "deploy", sc.Service)
	pd.newRelease = rec
	pd.step.Service.ScaleMin = floor
	return pd, true, nil
}

// pendingDeploy is one deployment a request starts, decided but not yet
// recorded: it is recorded with the rest of its request in one
// transaction (RecordRollout), then activated.
type pendingDeploy struct {
	v          *svc
	newRelease *store.Release // recorded first when not nil
	superseded *store.Deployment
	step       store.RolloutStep
	why        string
}

// prepareDeployment decides the deployment from the current release to rel
// (0 with target set: the new release being recorded). Caller holds mu.
func (v *svc) prepareDeployment(ctx context.Context, rel, count int, setID, why string, target *spec.Service) *pendingDeploy {
	now := v.s.cfg.Clock.Now()
	strategy := "rolling"
	// A first deployment has nothing to shift traffic from, and a rollback
	// goes straight back: both roll.
	if target == nil && rel != 0 {
		if ri, err := v.release(ctx, rel); err == nil {
			target = ri.cfg.Service
		}
	}
	if v.state.Release != 0 && why != "rollback" && target != nil && target.Deploy != nil && target.Deploy.Strategy != "" {
		strategy = target.Deploy.Strategy
	}
	pd := &pendingDeploy{v: v, why: why}
	if v.dep != nil {
		d := *v.dep
		d.State, d.Reason, d.FinishedAt = store.DeployFailed, "superseded by a newer deployment", now
		pd.superseded = &d
	}
	st := v.state
	st.Release, st.Count, st.UpdatedAt = rel, count, now
	pd.step = store.RolloutStep{
		Superseded: pd.superseded,
		Deployment: store.Deployment{
			Service: v.name, FromRelease: v.state.Release, ToRelease: rel, Strategy: strategy,
			State: store.DeployRunning, SetID: setID, StartedAt: now,
		},
		Service: st,
	}
	return pd
}

// activate makes a recorded deployment the service's active one.
func (v *svc) activate(ctx context.Context, st store.RolloutStep, why string) store.Deployment {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.dep != nil {
		v.finishRecorded(store.DeployFailed, "superseded by a newer deployment")
	}
	d := st.Deployment
	v.state = st.Service
	v.setDep(&d)
	v.failures = nil
	v.crash = deploy.Crashes{}
	v.healDeployed(&d, store.DeployRunning, v.s.cfg.Clock.Now())
	v.s.metrics.deployStarted(v.name, d.Strategy)
	msg := fmt.Sprintf("%s %s: release %d → %d (%s, %d tasks)", why, v.name, d.FromRelease, d.ToRelease, d.Strategy, st.Service.Count)
	v.s.emit(store.Event{Service: v.name, Deployment: d.ID, Kind: api.EventDeployStarted, Message: msg,
		Fields: map[string]string{"release": strconv.Itoa(d.ToRelease), "from": strconv.Itoa(d.FromRelease), "strategy": d.Strategy}})
	if ri, err := v.release(ctx, d.ToRelease); err == nil {
		v.notifyDeployment(ri, api.EventDeployStarted, msg, &d)
	}
	return d
}

// recommit records commit as the live commit of the running release when
// a deploy from that commit made nothing new (same release, new commit):
// tasks keep running, and change detection compares against commit from
// now on. Caller holds mu.
func (v *svc) recommit(ctx context.Context, releaseCommit, commit string) error {
	if commit == "" || commit == releaseCommit && v.state.CommitRelease != v.state.Release ||
		commit == v.state.Commit && v.state.CommitRelease == v.state.Release {
		return nil
	}
	v.state.Commit, v.state.CommitRelease = commit, v.state.Release
	if err := v.s.cfg.Store.PutService(ctx, v.state); err != nil {
		return fmt.Errorf("record live commit of %s: %w", v.name, err)
	}
	v.s.emit(store.Event{Service: v.name, Kind: api.EventServiceRecommitted,
		Message: fmt.Sprintf("%s: release %d unchanged at commit %s, now live at it", v.name, v.state.Release, commit),
		Fields:  map[string]string{"release": strconv.Itoa(v.state.Release), "commit": commit}})
	return nil
}

// liveCommit is the commit the running release was last deployed from.
// Caller holds mu.
func (v *svc) liveCommit(releaseCommit string) string {
	if v.state.Commit != "" && v.state.CommitRelease == v.state.Release {
		return v.state.Commit
	}
	return releaseCommit
}

// Rollback returns a service, or every service of a release set, to an
// earlier release with a rolling deployment. No artifact is rebuilt.
func (s *Server) Rollback(ctx context.Context, req api.RollbackRequest) (api.DeployResponse, error) {
	var resp api.DeployResponse
	if req.Service != "" && !spec.ValidServiceName(req.Service) {
		return resp, fmt.Errorf("%w: service: %q is not a service name", ErrBadRequest, req.Service)
	}
	if req.To < 0 {
		return resp, fmt.Errorf("%w: to: release %d does not exist (releases are numbered from 1)", ErrBadRequest, req.To)
	}
	if len(req.Set) > 200 || len(req.ToCommit) > 200 {
		return resp, fmt.Errorf("%w: set or to_commit is longer than 200 characters", ErrBadRequest)
	}
	s.opsMu.Lock()
	defer s.opsMu.Unlock()
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
		pd, err := v.prepareRollback(ctx, targets[n], set.set.ID)
		if err != nil {
			return resp, err
		}
		if pd == nil {
			set.unchanged(n)
			continue
		}
		set.add(pd)
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

func (v *svc) prepareRollback(ctx context.Context, to int, setID string) (*pendingDeploy, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if to == v.state.Release && v.dep == nil {
		return nil, nil
	}
	count := v.state.Count
	if to != 0 {
		ri, err := v.release(ctx, to)
		if err != nil {
			return nil, fmt.Errorf("rollback %s: %w", v.name, err)
		}
		if count == 0 {
			count = ri.cfg.Count()
		}
	} else {
		count = 0
	}
	return v.prepareDeployment(ctx, to, count, setID, "rollback", nil), nil
}

// maxCount is the most tasks the service may run: its live release's
// max_count, else the control plane's maximum.
func (v *svc) maxCount(ctx context.Context) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.state.Release != 0 {
		if ri, err := v.release(ctx, v.state.Release); err == nil {
			return ri.cfg.MaxCount(v.s.cfg.MaxCount)
		}
	}
	return v.s.cfg.MaxCount
}

// clampCount lowers a recorded count above the service's maximum (saved
// by an older berth that accepted any count) to the maximum, so a restart
// does not start the storm again.
func (v *svc) clampCount(ctx context.Context) {
	most := v.maxCount(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.state.Count <= most {
		return
	}
	old := v.state.Count
	v.state.Count = most
	if err := v.s.cfg.Store.PutService(ctx, v.state); err != nil {
		v.log.Error("record clamped count", "err", err)
	}
	v.s.emit(store.Event{Service: v.name, Kind: api.EventServiceScaled,
		Message: fmt.Sprintf("%s: recorded count %d is above the maximum of %d tasks: scaled to %d", v.name, old, most, most)})
}

// Scale sets the desired task count of services.
func (s *Server) Scale(ctx context.Context, req api.ScaleRequest) error {
	if len(req.Counts) == 0 {
		return fmt.Errorf("%w: counts: name at least one service", ErrBadRequest)
	}
	for name, n := range req.Counts {
		if !spec.ValidServiceName(name) {
			return fmt.Errorf("%w: counts: %q is not a service name", ErrBadRequest, name)
		}
		if n < 0 {
			return fmt.Errorf("%w: counts.%s: %d must not be negative", ErrBadRequest, name, n)
		}
		v, ok := s.service(name)
		if !ok {
			return fmt.Errorf("%w %q", ErrUnknownService, name)
		}
		if most := v.maxCount(ctx); n > most {
			return fmt.Errorf("%w: counts.%s: %d is more than the %d tasks the service may run (raise max_count: in berth.yaml and deploy, or berth serve --max-count for releases that set none)", ErrBadRequest, name, n, most)
		}
	}
	s.opsMu.Lock()
	defer s.opsMu.Unlock()
	for name, n := range req.Counts {
		v, _ := s.service(name)
		v.mu.Lock()
		// On an autoscaled service the count becomes its minimum, as on
		// ECS; autoscaling moves it between that and max from there.
		msg := ""
		prevMin := v.state.ScaleMin
		if sc, _ := v.liveScale(ctx); sc != nil {
			v.state.ScaleMin = &n
			b := boundsOf(sc, &n)
			msg = fmt.Sprintf("; %s autoscales: %d is now its minimum, autoscaling moves it between %d and %d", name, n, b.min, b.max)
		}
		old, err := v.setCount(ctx, n, s.cfg.Clock.Now())
		if err != nil {
			v.state.ScaleMin = prevMin
		}
		v.mu.Unlock()
		if err != nil {
			return fmt.Errorf("record scale of %s: %w", name, err)
		}
		s.emit(store.Event{Service: name, Kind: api.EventServiceScaled, Message: fmt.Sprintf("scaled %s from %d to %d tasks%s", name, old, n, msg)})
	}
	return nil
}

// Status reports every service's live state.
func (s *Server) Status(ctx context.Context) api.Status {
	st := api.Status{Project: s.cfg.Project, Router: s.cfg.RouterURL, Engine: s.cfg.Engine, Services: []api.Service{}}
	st.RouterTLS, st.TLS = s.cfg.RouterTLSURL, s.tlsCerts(ctx)
	for _, v := range s.allServices() {
		st.Services = append(st.Services, v.healStatus(v.status(ctx)))
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
		out.Commit = v.liveCommit(ri.rec.Commit)
		if r := ri.cfg.Service.Route; r != nil {
			out.Route = describeRoute(r)
		}
	}
	shares := map[int]*api.ReleaseShare{}
	for _, t := range v.tasks {
		state := t.rec.State
		if t.phase == deploy.Unhealthy && !t.draining {
			state = "unhealthy"
		}
		if t.phase == deploy.Healthy && !t.draining {
			out.Healthy++
		}
		if !t.draining {
			r := shares[t.rec.Release]
			if r == nil {
				r = &api.ReleaseShare{Release: t.rec.Release}
				shares[t.rec.Release] = r
			}
			r.Tasks++
			if t.phase == deploy.Healthy {
				r.Healthy++
			}
		}
		out.Tasks = append(out.Tasks, api.Task{ID: t.rec.ID, Release: t.rec.Release, State: state,
			Addr: t.handle.Addr, Restarts: t.rec.Restarts, CreatedAt: t.startedAt,
			CPUPercent: t.usage.CPUPercent, MemoryBytes: t.usage.MemoryBytes, LogLinesDropped: t.usage.LogLinesDropped})
	}
	sort.Slice(out.Tasks, func(i, j int) bool { return out.Tasks[i].ID < out.Tasks[j].ID })
	if v.dep != nil {
		d := apiDeployment(*v.dep)
		if ri, err := v.release(ctx, v.dep.ToRelease); err == nil && ri.cfg.Service != nil && ri.cfg.Service.Deploy != nil && len(v.dep.Progress) > 0 {
			var p deploy.Progress
			if json.Unmarshal(v.dep.Progress, &p) == nil {
				d.PauseUntil, d.NextStep = deploy.CanaryOutlook(*ri.cfg.Service.Deploy, p)
			}
			d.Analysis = analysisThresholds(ri.cfg.Service.Deploy.Analysis)
		}
		out.Deployment = &d
	}
	out.Releases = releaseShares(shares, out.Release, out.Deployment)
	now := v.s.cfg.Clock.Now()
	out.Restarts = deploy.RecentExits(v.exits, now)
	if v.lastExit != nil {
		e := *v.lastExit
		out.LastExit = &e
	}
	out.Autoscale = v.autoscaleStatus(ctx)
	out.State = deploy.ServiceStateOf(deploy.ServiceSnapshot{Release: out.Release, Desired: out.Desired,
		Healthy: out.Healthy, Deploying: v.dep != nil, Exits: v.exits, Scaling: v.scaling()}, now)
	return out
}

// releaseShares lists the releases with running tasks, oldest first, with
// the % of traffic each is meant to take: the active progressive
// deployment's weight on its new release and the rest on the old one; all
// of it on the live release otherwise.
func releaseShares(by map[int]*api.ReleaseShare, live int, d *api.Deployment) []api.ReleaseShare {
	if d != nil && d.Phase != "" {
		for _, n := range []int{d.FromRelease, d.ToRelease} {
			if n != 0 && by[n] == nil {
				by[n] = &api.ReleaseShare{Release: n}
			}
		}
		if r := by[d.ToRelease]; r != nil {
			r.Weight = d.Weight
		}
		if r := by[d.FromRelease]; r != nil {
			r.Weight = 100 - d.Weight
		}
	} else if r := by[live]; r != nil {
		r.Weight = 100
	}
	out := make([]api.ReleaseShare, 0, len(by))
	for _, r := range by {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Release < out[j].Release })
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
	if h.Decisions, err = s.decisions(ctx, name); err != nil {
		return h, err
	}
	return h, nil
}

// Deployment returns one deployment.
func (s *Server) Deployment(ctx context.Context, id string) (api.Deployment, error) {
	n, err := parseDeploymentID(id)
	if err != nil {
		return api.Deployment{}, err
	}
	d, err := s.cfg.Store.Deployment(ctx, n)
	if err != nil {
		return api.Deployment{}, fmt.Errorf("deployment %s: %w", id, err)
	}
	return apiDeployment(d), nil
}

// analysisThresholds are the resolved thresholds a progressive
// deployment's release is judged against.
func analysisThresholds(a *spec.Analysis) *api.Analysis {
	r := deploy.ResolveAnalysis(a)
	return &api.Analysis{Max5xxRate: float64(r.Max5xxRate), MaxP99Ms: float64(time.Duration(r.MaxP99)) / float64(time.Millisecond),
		MinRequests: r.MinRequests, WindowSeconds: time.Duration(r.Window).Seconds()}
}

func apiDeployment(d store.Deployment) api.Deployment {
	out := api.Deployment{ID: deploymentID(d.ID), Service: d.Service, FromRelease: d.FromRelease, ToRelease: d.ToRelease,
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
