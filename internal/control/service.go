package control

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/deploy"
	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/notify"
	"github.com/berth-dev/berth/internal/router"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// svc owns one service: its tasks, its active deployment and its routes.
// Every change goes through step, which decides with deploy.Converge and
// deploy.Judge and then applies the plan. State is written to the store
// before it is acted on.
type svc struct {
	s    *Server
	name string
	log  *slog.Logger

	mu        sync.Mutex
	closed    bool
	state     store.ServiceState
	releases  map[int]*relInfo
	tasks     map[string]*task
	dep       *store.Deployment
	failures  []deploy.Failure
	crashes   int
	lastCrash time.Time
	notBefore time.Time
	timerAt   time.Time
	cancelT   func()
	routed    string // key of the last published route set

	// Progressive deployments: one-shot requests from promote/abort, and
	// results of pre-traffic checks.
	promote, abort bool
	checks         *checkResults
	checking       bool

	notifier  *notify.Notifier
	notifyKey string
}

type relInfo struct {
	rec store.Release
	cfg releaseConfig
}

type task struct {
	rec       store.Task
	handle    driver.Handle
	phase     deploy.TaskPhase
	startedAt time.Time
	pending   bool // driver.Start in flight
	draining  bool
	passes    int
	fails     int
	lastCheck string
	// usage is the last CPU/memory sample the driver reported.
	usage  driver.State
	cancel context.CancelFunc
}

func newSvc(s *Server, st store.ServiceState) *svc {
	return &svc{
		s:        s,
		name:     st.Name,
		log:      s.log.With("service", st.Name),
		state:    st,
		releases: map[int]*relInfo{},
		tasks:    map[string]*task{},
	}
}

// release returns a release with its decoded config, cached. Caller holds mu.
func (v *svc) release(ctx context.Context, n int) (*relInfo, error) {
	if ri, ok := v.releases[n]; ok {
		return ri, nil
	}
	rec, err := v.s.cfg.Store.Release(ctx, v.name, n)
	if err != nil {
		return nil, fmt.Errorf("load release %s #%d: %w", v.name, n, err)
	}
	rc, err := decodeReleaseConfig(rec.Config)
	if err != nil {
		return nil, fmt.Errorf("release %s #%d: %w", v.name, n, err)
	}
	ri := &relInfo{rec: rec, cfg: rc}
	v.releases[n] = ri
	return ri, nil
}

// recover adopts the tasks a previous control plane left running.
func (v *svc) recover(ctx context.Context, active store.Deployment) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if active.ID != 0 {
		d := active
		v.dep = &d
	}
	recs, err := v.s.cfg.Store.Tasks(ctx, v.name)
	if err != nil {
		return fmt.Errorf("load tasks: %w", err)
	}
	now := v.s.cfg.Clock.Now()
	for _, rec := range recs {
		switch rec.State {
		case store.TaskStarting, store.TaskHealthy, store.TaskDraining:
		default:
			continue
		}
		var h driver.Handle
		if len(rec.Handle) == 0 || json.Unmarshal(rec.Handle, &h) != nil || h.PID == 0 && h.ContainerID == "" {
			rec.State = store.TaskExited
			rec.Exit = "lost: control plane stopped before the task was recorded as started"
			v.put(rec)
			continue
		}
		if err := v.s.cfg.Driver.Recover(ctx, h); err != nil {
			rec.State = store.TaskExited
			rec.Exit = "gone after control-plane restart"
			if !errors.Is(err, driver.ErrNotFound) {
				rec.Exit += ": " + err.Error()
			}
			v.put(rec)
			v.s.emit(store.Event{Service: v.name, Kind: api.EventTaskLost, Message: fmt.Sprintf("task %s was gone after restart", rec.ID)})
			continue
		}
		// Load the release so watch finds its health check.
		if _, err := v.release(ctx, rec.Release); err != nil {
			v.log.Error("adopt task", "task", rec.ID, "err", err)
		}
		t := &task{rec: rec, handle: h, phase: deploy.Starting, startedAt: now}
		if rec.State == store.TaskHealthy {
			t.phase = deploy.Healthy
		}
		v.tasks[rec.ID] = t
		if rec.State == store.TaskDraining {
			v.stopTask(rec.ID)
			continue
		}
		v.s.emit(store.Event{Service: v.name, Kind: api.EventTaskAdopted, Message: fmt.Sprintf("adopted task %s (release %d) at %s", rec.ID, rec.Release, h.Addr)})
		v.watch(t)
	}
	return nil
}

func (v *svc) put(rec store.Task) {
	if err := v.s.cfg.Store.PutTask(context.Background(), rec); err != nil {
		v.log.Error("record task", "task", rec.ID, "err", err)
	}
}

// kick runs step in the background.
func (v *svc) kick() { go v.step() }

// views returns the live tasks as the decisions see them. Caller holds mu.
func (v *svc) views() []deploy.TaskView {
	out := make([]deploy.TaskView, 0, len(v.tasks))
	for _, t := range v.tasks {
		if t.draining {
			continue
		}
		out = append(out, deploy.TaskView{ID: t.rec.ID, Release: t.rec.Release, Phase: t.phase, StartedAt: t.startedAt})
	}
	return out
}

// step decides and applies the next move toward the desired state.
func (v *svc) step() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	ctx := context.Background()
	now := v.s.cfg.Clock.Now()

	// The circuit breaker and health deadline apply to every strategy; a
	// failed verdict makes the old release the desired one again, and the
	// convergence below takes traffic off the new tasks at once.
	if v.dep != nil {
		if verdict := v.judge(ctx, now); verdict.Failed {
			v.rollback(ctx, verdict.Reason)
		}
	}

	rel, count := v.state.Release, v.state.Count
	var cfg *spec.Service
	if rel != 0 {
		ri, err := v.release(ctx, rel)
		if err != nil {
			v.log.Error("step", "err", err)
			return
		}
		cfg = ri.cfg.Service
	} else {
		count = 0
	}
	if v.dep != nil && cfg != nil && !v.s.depsReady(cfg.DependsOn, v.dep.SetID) {
		return // a dependency of the same release set is still rolling out
	}
	if v.dep != nil && isProgressive(v.dep.Strategy) {
		v.stepProgressive(ctx, now)
		return
	}
	in := deploy.Input{Release: rel, Count: count, Tasks: v.views()}
	if cfg != nil {
		in.MaxSurge, in.MaxUnavailable = intOr(cfg.Deploy.MaxSurge, 1), intOr(cfg.Deploy.MaxUnavailable, 0)
	}
	plan := deploy.Converge(in)
	v.applyRoutes(plan.Route)
	for _, id := range plan.Stop {
		v.stopTask(id)
	}
	if plan.Start > 0 {
		if now.Before(v.notBefore) {
			v.arm(now, v.notBefore)
		} else {
			for i := 0; i < plan.Start; i++ {
				v.startTask(ctx, rel, now)
			}
		}
	}
	if v.dep != nil && plan.Converged {
		v.finish(ctx, store.DeploySucceeded, "")
	}
	if len(plan.Stop) > 0 {
		// The stopped tasks left the decision's view: decide again.
		v.kick()
	}
	if v.dep != nil && cfg != nil { // cfg is nil while a service is rolled back to nothing
		if at := deploy.NextDeadline(deploy.JudgeInput{Release: v.dep.ToRelease, Tasks: v.views(), Deadline: time.Duration(cfg.Health.Deadline)}); !at.IsZero() {
			v.arm(now, at)
		}
	}
}

// judge decides whether the active deployment's release has failed:
// crash loops and tasks not healthy within the deadline. Caller holds mu.
func (v *svc) judge(ctx context.Context, now time.Time) deploy.Verdict {
	ri, err := v.release(ctx, v.dep.ToRelease)
	if err != nil {
		return deploy.Verdict{}
	}
	last := map[string]string{}
	for id, t := range v.tasks {
		if t.lastCheck != "" {
			last[id] = t.lastCheck
		}
	}
	return deploy.Judge(deploy.JudgeInput{
		Now: now, Release: v.dep.ToRelease, Tasks: v.views(),
		Deadline: time.Duration(ri.cfg.Service.Health.Deadline), Failures: v.failures,
		Breaker: ri.cfg.Service.Deploy.CircuitBreaker, LastCheck: last,
	})
}

func intOr(p *int, d int) int {
	if p == nil {
		return d
	}
	return *p
}

// arm schedules a step at the given time (the earliest wins).
func (v *svc) arm(now, at time.Time) {
	if !v.timerAt.IsZero() && !at.Before(v.timerAt) && v.timerAt.After(now) {
		return
	}
	if v.cancelT != nil {
		v.cancelT()
	}
	v.timerAt = at
	v.cancelT = v.s.cfg.Clock.AfterFunc(at.Sub(now)+time.Millisecond, func() {
		v.mu.Lock()
		v.timerAt = time.Time{}
		v.mu.Unlock()
		v.step()
	})
}

// rollback ends the active deployment as rolled back and makes the release
// it came from the desired one again. Caller holds mu.
func (v *svc) rollback(ctx context.Context, reason string) {
	d := v.dep
	from := d.FromRelease
	msg := reason
	state := store.DeployRolledBack
	if from == 0 {
		state = store.DeployFailed
		msg += "; no earlier release to return to, service stopped"
	} else {
		msg += fmt.Sprintf("; rolled back to release %d", from)
	}
	v.state.Release = from
	v.state.UpdatedAt = v.s.cfg.Clock.Now()
	if err := v.s.cfg.Store.PutService(ctx, v.state); err != nil {
		v.log.Error("record service", "err", err)
	}
	v.log.Warn("deployment rolled back", "deployment", d.ID, "release", d.ToRelease, "reason", reason)
	v.finish(ctx, state, msg)
}

// finish records the end of the active deployment. Caller holds mu.
func (v *svc) finish(ctx context.Context, state, reason string) {
	d := v.dep
	d.State, d.Reason, d.FinishedAt = state, reason, v.s.cfg.Clock.Now()
	if err := v.s.cfg.Store.UpdateDeployment(ctx, *d); err != nil {
		v.log.Error("record deployment", "deployment", d.ID, "err", err)
	}
	kind, msg := api.EventDeploySucceeded, fmt.Sprintf("%s release %d is live (%d tasks healthy)", v.name, d.ToRelease, v.state.Count)
	switch state {
	case store.DeployRolledBack:
		kind, msg = api.EventDeployRollback, fmt.Sprintf("%s release %d: %s", v.name, d.ToRelease, reason)
	case store.DeployFailed:
		kind, msg = api.EventDeployFailed, fmt.Sprintf("%s release %d: %s", v.name, d.ToRelease, reason)
	}
	v.s.emit(store.Event{Service: v.name, Deployment: d.ID, Kind: kind, Message: msg,
		Fields: map[string]string{"release": strconv.Itoa(d.ToRelease), "state": state}})
	if ri, err := v.release(ctx, d.ToRelease); err == nil {
		v.notifyDeployment(ri, kind, msg, d)
	}
	v.dep = nil
	v.failures = nil
	go v.s.kickAll()
}

// busyInSet reports whether this service's active deployment belongs to
// the release set.
func (v *svc) busyInSet(setID string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.dep != nil && v.dep.SetID == setID
}

// applyRoutes publishes this service's routes with exactly the given
// tasks as targets, each release's group weighted by its task count.
// Caller holds mu.
func (v *svc) applyRoutes(ids []string) { v.applyRoutesWith(ids, nil, 0) }

// applyRoutesWith publishes this service's routes with exactly the given
// tasks as targets, if that differs from what is published. weights (by
// release, when not nil) override task-count weights; previewRel's tasks
// are routed only for preview requests. Caller holds mu.
func (v *svc) applyRoutesWith(ids []string, weights map[int]int, previewRel int) {
	var cfg *spec.Service
	if ri, ok := v.releases[v.state.Release]; ok {
		cfg = ri.cfg.Service
	}
	if cfg == nil || cfg.Route == nil {
		// Keep the last known route config while moving to release 0.
		for _, t := range v.tasks {
			if ri, ok := v.releases[t.rec.Release]; ok && ri.cfg.Service.Route != nil {
				cfg = ri.cfg.Service
				break
			}
		}
	}
	key := strings.Join(ids, ",") + fmt.Sprint(weights, previewRel)
	if cfg != nil && cfg.Route != nil {
		key += "|" + fmt.Sprint(*cfg.Route)
	}
	if key == v.routed {
		return
	}
	v.routed = key
	if cfg == nil || cfg.Route == nil {
		v.s.setRoutes(v.name, nil)
		return
	}
	byRel := map[int][]router.Target{}
	for _, id := range ids {
		t := v.tasks[id]
		if t == nil || t.handle.Addr == "" {
			continue
		}
		byRel[t.rec.Release] = append(byRel[t.rec.Release], router.Target{ID: id, Addr: t.handle.Addr})
	}
	rels := make([]int, 0, len(byRel))
	for r := range byRel {
		rels = append(rels, r)
	}
	sort.Ints(rels)
	var groups, preview []router.TargetGroup
	for _, r := range rels {
		g := router.TargetGroup{
			Name: fmt.Sprintf("%s@%d", v.name, r), Release: r,
			Weight: len(byRel[r]), Targets: byRel[r],
		}
		if weights != nil {
			g.Weight = weights[r]
		}
		if r == previewRel {
			preview = append(preview, g)
			continue
		}
		groups = append(groups, g)
	}
	routes := routesFor(v.name, cfg, groups)
	for i := range routes {
		routes[i].Preview = preview
	}
	if len(preview) > 0 && len(routes) > 0 {
		// A blue/green's preview host reaches the new fleet alone.
		if ri, ok := v.releases[previewRel]; ok && ri.cfg.Service.Deploy != nil && ri.cfg.Service.Deploy.Preview != nil && ri.cfg.Service.Deploy.Preview.Host != "" {
			pg := append([]router.TargetGroup(nil), preview...)
			for i := range pg {
				pg[i].Weight = 1
			}
			routes = append(routes, router.Route{Name: v.name, Host: ri.cfg.Service.Deploy.Preview.Host,
				Priority: 1000, Groups: pg, Health: routes[0].Health})
		}
	}
	v.s.setRoutes(v.name, routes)
}

// routesFor turns a service's route spec into router rules: host+path is
// one rule (both must match); each of hosts adds a host-only rule.
func routesFor(name string, cfg *spec.Service, groups []router.TargetGroup) []router.Route {
	r := cfg.Route
	hc := router.HealthCheck{}
	if h := cfg.Health; h != nil {
		hc = router.HealthCheck{Path: h.Path, Interval: time.Duration(h.Interval), Timeout: time.Duration(h.Timeout),
			HealthyThreshold: h.Healthy, UnhealthyThreshold: h.Unhealthy}
	}
	base := router.Route{Name: name, Priority: r.Priority, StripPrefix: r.StripPrefix, Groups: groups, Health: hc}
	var out []router.Route
	if r.Host != "" || r.Path != "" || r.Default {
		rr := base
		rr.Host, rr.PathPrefix, rr.Default = r.Host, r.Path, r.Default
		out = append(out, rr)
	}
	for _, h := range r.Hosts {
		rr := base
		rr.Host = h
		out = append(out, rr)
	}
	return out
}

// startTask records and launches one task of release rel. Caller holds mu.
func (v *svc) startTask(ctx context.Context, rel int, now time.Time) {
	ri, err := v.release(ctx, rel)
	if err != nil {
		v.log.Error("start task", "err", err)
		return
	}
	id := fmt.Sprintf("%s-%d-%s", v.name, rel, randHex(3))
	t := &task{
		rec:       store.Task{ID: id, Service: v.name, Release: rel, State: store.TaskStarting},
		phase:     deploy.Starting,
		startedAt: now,
		pending:   true,
	}
	v.tasks[id] = t
	v.put(t.rec)
	v.s.wg.Add(1)
	go func() {
		defer v.s.wg.Done()
		v.launch(t, ri)
	}()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// launch starts a task with the driver, outside the lock.
func (v *svc) launch(t *task, ri *relInfo) {
	cfg := ri.cfg.Service
	ts := driver.TaskSpec{
		ID: t.rec.ID, Project: v.s.cfg.Project, Service: v.name, Release: ri.rec.Number,
		Commit: ri.rec.Commit, Command: cfg.Run, Dir: ri.cfg.Root, Artifact: ri.rec.Artifact,
		Image: ri.rec.Image, ContainerPort: cfg.Port, LogDir: v.s.cfg.LogDir,
		Env: map[string]string{},
	}
	for k, val := range cfg.Env {
		ts.Env[k] = v.s.expand(val)
	}
	ts.Env["BERTH_ROUTER_URL"] = v.s.cfg.RouterURL
	containerNetworking(&ts, ri.cfg.Root, cfg)
	var startErr error
	if v.s.cfg.Env != nil {
		extra, err := v.s.cfg.Env(v.s.ctx, ri.rec, cfg)
		if err != nil {
			startErr = err
		}
		// Secrets stay apart so the docker driver keeps them out of the
		// container's configuration.
		ts.Secrets = extra
	}
	var h driver.Handle
	if startErr == nil {
		h, startErr = v.s.cfg.Driver.Start(v.s.ctx, ts)
	}

	v.mu.Lock()
	if startErr != nil {
		v.mu.Unlock()
		v.log.Error("start task", "task", t.rec.ID, "err", startErr)
		v.taskExited(t.rec.ID, driver.ExitStatus{Code: -1, Err: "failed to start: " + startErr.Error()})
		return
	}
	t.pending = false
	t.handle = h
	raw, _ := json.Marshal(h)
	t.rec.Handle, t.rec.Addr = raw, h.Addr
	if v.closed {
		v.mu.Unlock()
		_ = v.s.cfg.Driver.Stop(context.Background(), h, drainOf(cfg))
		return
	}
	if !t.draining {
		v.put(t.rec)
	}
	v.s.emit(store.Event{Service: v.name, Deployment: depID(v.dep), Kind: api.EventTaskStarted, Message: fmt.Sprintf("started task %s (release %d) at %s", t.rec.ID, t.rec.Release, h.Addr)})
	draining := t.draining
	v.watch(t)
	v.mu.Unlock()
	if draining {
		v.mu.Lock()
		t.draining = false
		v.stopTask(t.rec.ID)
		v.mu.Unlock()
	}
}

func drainOf(cfg *spec.Service) time.Duration {
	if cfg != nil && cfg.Deploy != nil && cfg.Deploy.Drain > 0 {
		return time.Duration(cfg.Deploy.Drain)
	}
	return 10 * time.Second
}

// expand replaces ${BERTH_ROUTER_URL} in env values.
func (s *Server) expand(val string) string {
	return os.Expand(val, func(k string) string {
		if k == "BERTH_ROUTER_URL" {
			return s.cfg.RouterURL
		}
		return "${" + k + "}"
	})
}

// watch starts the task's exit waiter and health prober. Caller holds mu.
func (v *svc) watch(t *task) {
	ctx, cancel := context.WithCancel(v.s.ctx)
	t.cancel = cancel
	h, id := t.handle, t.rec.ID
	v.s.wg.Add(1)
	go func() {
		defer v.s.wg.Done()
		st, err := v.s.cfg.Driver.Wait(ctx, h)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			st = driver.ExitStatus{Code: -1, Err: err.Error()}
		}
		v.taskExited(id, st)
	}()
	ri := v.releases[t.rec.Release]
	var hc *spec.Health
	if ri != nil {
		hc = ri.cfg.Service.Health
	}
	check := v.s.healthCheck(hc, h)
	if check == nil {
		// No health check (health: none): a started task counts as healthy.
		go v.healthResult(id, nil)
		return
	}
	v.s.wg.Add(1)
	go func() {
		defer v.s.wg.Done()
		v.probeLoop(ctx, id, check, hc)
	}()
}

// probeLoop checks a task's health until ctx ends: quickly while the task
// is starting, then at the configured interval.
func (v *svc) probeLoop(ctx context.Context, id string, check func(context.Context, time.Duration) error, hc *spec.Health) {
	interval := time.Duration(hc.Interval)
	if interval <= 0 {
		interval = time.Second
	}
	timeout := time.Duration(hc.Timeout)
	if timeout <= 0 {
		timeout = time.Second
	}
	for {
		err := check(ctx, timeout)
		if ctx.Err() != nil {
			return
		}
		starting := v.healthResult(id, err)
		wait := interval
		if starting && wait > 100*time.Millisecond {
			wait = 100 * time.Millisecond
		}
		done := make(chan struct{})
		cancel := v.s.cfg.Clock.AfterFunc(wait, func() { close(done) })
		select {
		case <-ctx.Done():
			cancel()
			return
		case <-done:
		}
	}
}

// healthResult applies one health check result; it reports whether the
// task is still starting.
func (v *svc) healthResult(id string, checkErr error) (starting bool) {
	v.mu.Lock()
	t := v.tasks[id]
	if t == nil || t.draining || v.closed {
		v.mu.Unlock()
		return false
	}
	ri := v.releases[t.rec.Release]
	var hc spec.Health
	if ri != nil && ri.cfg.Service.Health != nil {
		hc = *ri.cfg.Service.Health
	}
	now := v.s.cfg.Clock.Now()
	changed := false
	if checkErr == nil {
		t.passes++
		t.fails = 0
		if t.phase != deploy.Healthy && t.passes >= max(hc.Healthy, 1) {
			t.phase = deploy.Healthy
			t.rec.State = store.TaskHealthy
			v.put(t.rec)
			if v.dep != nil && t.rec.Release == v.dep.ToRelease {
				v.failures = nil
			}
			v.s.emit(store.Event{Service: v.name, Deployment: depID(v.dep), Kind: api.EventTaskHealthy, Message: fmt.Sprintf("task %s (release %d) is healthy", id, t.rec.Release)})
			changed = true
		}
	} else {
		t.passes = 0
		t.fails++
		t.lastCheck = checkErr.Error()
		inGrace := now.Before(t.startedAt.Add(time.Duration(hc.Grace)))
		if t.phase == deploy.Healthy && !inGrace && t.fails >= max(hc.Unhealthy, 1) {
			t.phase = deploy.Unhealthy
			t.rec.State = store.TaskStarting
			v.put(t.rec)
			if v.dep != nil && t.rec.Release == v.dep.ToRelease {
				v.failures = append(v.failures, deploy.Failure{TaskID: id, At: now, Why: "failed health check: " + t.lastCheck})
			}
			v.s.emit(store.Event{Service: v.name, Deployment: depID(v.dep), Kind: api.EventTaskUnhealthy, Message: fmt.Sprintf("task %s (release %d) is unhealthy: %s", id, t.rec.Release, t.lastCheck)})
			changed = true
		}
	}
	starting = t.phase != deploy.Healthy
	v.mu.Unlock()
	if changed {
		v.step()
	}
	return starting
}

func depID(d *store.Deployment) int64 {
	if d == nil {
		return 0
	}
	return d.ID
}

// taskExited handles a task that ended on its own.
func (v *svc) taskExited(id string, st driver.ExitStatus) {
	v.mu.Lock()
	t := v.tasks[id]
	if t == nil || t.draining || v.closed {
		v.mu.Unlock()
		return
	}
	if t.cancel != nil {
		t.cancel()
	}
	delete(v.tasks, id)
	t.rec.State = store.TaskExited
	t.rec.Exit = st.String()
	v.put(t.rec)
	now := v.s.cfg.Clock.Now()
	// Crashes within a minute of the last one count as a crash loop and
	// back off; a service that ran fine for a minute starts afresh.
	if now.Sub(v.lastCrash) > time.Minute {
		v.crashes = 0
	}
	v.lastCrash = now
	v.crashes++
	v.notBefore = now.Add(deploy.Backoff(v.crashes - 1))
	if v.dep != nil && t.rec.Release == v.dep.ToRelease {
		v.failures = append(v.failures, deploy.Failure{TaskID: id, At: now, Why: "exited with " + st.String()})
	}
	v.log.Warn("task exited", "task", id, "release", t.rec.Release, "status", st.String())
	v.s.emit(store.Event{Service: v.name, Deployment: depID(v.dep), Kind: api.EventTaskExited,
		Message: fmt.Sprintf("task %s (release %d) exited: %s", id, t.rec.Release, st.String())})
	v.mu.Unlock()
	v.step()
}

// stopTask takes a task out of routing (already done by the caller's
// applyRoutes), lets in-flight requests finish and stops it. Caller holds mu.
func (v *svc) stopTask(id string) {
	t := v.tasks[id]
	if t == nil || t.draining {
		return
	}
	t.draining = true
	t.rec.State = store.TaskDraining
	v.put(t.rec)
	if t.pending {
		return // launch stops it once started
	}
	if t.cancel != nil {
		t.cancel()
	}
	var cfg *spec.Service
	if ri := v.releases[t.rec.Release]; ri != nil {
		cfg = ri.cfg.Service
	}
	drain := drainOf(cfg)
	h := t.handle
	v.s.wg.Add(1)
	go func() {
		defer v.s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), drain)
		if h.Addr != "" {
			_ = v.s.cfg.Router.WaitDrained(ctx, h.Addr)
		}
		cancel()
		sctx, scancel := context.WithTimeout(context.Background(), drain+10*time.Second)
		err := v.s.cfg.Driver.Stop(sctx, h, drain)
		scancel()
		v.mu.Lock()
		if err != nil {
			v.log.Error("stop task", "task", id, "err", err)
			t.rec.Exit = "stop failed: " + err.Error()
		}
		t.rec.State = store.TaskStopped
		v.put(t.rec)
		if v.tasks[id] == t {
			delete(v.tasks, id)
		}
		v.mu.Unlock()
		v.s.emit(store.Event{Service: v.name, Kind: api.EventTaskStopped, Message: fmt.Sprintf("stopped task %s (release %d)", id, t.rec.Release)})
	}()
}

// stopAll takes every task out of routing and stops it, waiting for them.
func (v *svc) stopAll(ctx context.Context) {
	v.mu.Lock()
	v.applyRoutes(nil)
	var ids []string
	for id := range v.tasks {
		ids = append(ids, id)
	}
	for _, id := range ids {
		v.stopTask(id)
	}
	v.closed = true
	if v.cancelT != nil {
		v.cancelT()
	}
	n := v.notifier
	v.mu.Unlock()
	if n != nil {
		n.Close()
	}
}
