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
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

	mu       sync.Mutex
	closed   bool
	state    store.ServiceState
	releases map[int]*relInfo
	tasks    map[string]*task
	dep      *store.Deployment
	failures []deploy.Failure
	crash    deploy.Crashes
	// heal is the self-healing memory (heal.go).
	heal healer
	// exits are when tasks ended on their own within the restart window
	// (api.RestartWindow), and lastExit the newest, for status.
	exits    []time.Time
	lastExit *api.Exit
	timerAt  time.Time
	cancelT  func()
	routed   string // key of the last published route set

	// Progressive deployments: one-shot requests from promote/abort, and
	// results of pre-traffic checks.
	promote, abort bool
	checks         *checkResults
	checking       bool
	// analyzedAt is when the active deployment's last analysis event was
	// recorded (deploy.analysis, at most every analysisEventEvery).
	analyzedAt time.Time

	notifier  *notify.Notifier
	notifyKey string

	// auto is the autoscaling state (autoscale.go); nil when the live
	// release has no scale:.
	auto *autoState

	// activeSet is the release set of the active deployment ("" when none
	// or not in a set), readable without mu so a dependent service can
	// check it while holding its own lock.
	activeSet atomic.Pointer[string]
	// wake asks the service's loop for a pass; a full channel means one
	// is already due, so wake-ups coalesce.
	wake chan struct{}
}

type relInfo struct {
	rec store.Release
	cfg storedConfig
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
	// watchDown: the router's verdict is down (held during start grace).
	watchDown bool
	// failed: the task's failure is recorded (taskFailed), once.
	failed bool
	// usage is the last CPU/memory sample the driver reported.
	usage  driver.State
	cancel context.CancelFunc
}

func newSvc(s *Server, st store.ServiceState) *svc {
	v := &svc{
		s:        s,
		name:     st.Name,
		log:      s.log.With("service", st.Name),
		state:    st,
		releases: map[int]*relInfo{},
		tasks:    map[string]*task{},
		wake:     make(chan struct{}, 1),
	}
	if s.cfg.Stepped {
		return v
	}
	s.loops.Add(1)
	go v.run()
	return v
}

// setDep makes d the active deployment (nil: none). Caller holds mu.
func (v *svc) setDep(d *store.Deployment) {
	v.dep = d
	set := ""
	if d != nil {
		set = d.SetID
	}
	v.activeSet.Store(&set)
}

// inSet reports whether the active deployment belongs to the release set.
// It takes no lock.
func (v *svc) inSet(setID string) bool {
	p := v.activeSet.Load()
	return p != nil && *p == setID
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
	rc, err := decodeStoredConfig(rec.Config)
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
		v.setDep(&d)
		// A deployment whose release cannot be read or run (recorded by an
		// older berth, or damaged) cannot be decided: fail it with the
		// reason rather than crash on it at every restart.
		if d.ToRelease != 0 {
			if _, err := v.release(ctx, d.ToRelease); err != nil {
				v.log.Error("undecidable deployment", "deployment", d.ID, "err", err)
				v.rollback(ctx, fmt.Sprintf("cannot be decided after a restart: %v", err))
			}
		}
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

// kick asks the service's loop for a pass. It never blocks: wake-ups that
// arrive while a pass is due coalesce into that pass.
func (v *svc) kick() {
	v.s.act.begin()
	select {
	case v.wake <- struct{}{}:
	default:
		v.s.act.end() // a pass is already due
	}
}

// run is the service's loop: one pass per (coalesced) wake-up, until the
// server stops.
func (v *svc) run() {
	defer v.s.loops.Done()
	for {
		select {
		case <-v.s.ctx.Done():
			return
		case <-v.wake:
			v.step()
			v.s.act.end()
		}
	}
}

// views returns the live tasks as the decisions see them. Caller holds mu.
func (v *svc) views() []deploy.TaskView {
	out := make([]deploy.TaskView, 0, len(v.tasks))
	for _, t := range v.tasks {
		if t.draining || t.rec.ID == v.heal.retiring {
			continue
		}
		out = append(out, deploy.TaskView{ID: t.rec.ID, Release: t.rec.Release, Phase: t.phase, StartedAt: t.startedAt})
	}
	return out
}

// step decides and applies the next move toward the desired state. A
// panic in a pass is recorded as an event and fails the active deployment;
// it never takes the control plane down.
func (v *svc) step() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			v.log.Error("pass panicked", "panic", r, "stack", string(debug.Stack()))
			v.s.emit(store.Event{Service: v.name, Deployment: depID(v.dep), Kind: api.EventServicePanic,
				Message: fmt.Sprintf("%s: internal error deciding the next step: %v", v.name, r)})
			if v.dep != nil {
				v.rollback(context.Background(), fmt.Sprintf("internal error: %v", r))
			}
		}
	}()
	ctx := context.Background()
	now := v.s.cfg.Clock.Now()
	v.heldDown(now)
	// Observe, decide with deploy.Reconcile, apply. A failed verdict makes
	// the old release the desired one again and the pass decides again at
	// once, so the convergence takes traffic off the new tasks.
	for pass := 0; pass < 2; pass++ {
		view, err := v.observe(ctx)
		if err != nil {
			v.log.Error("observe", "err", err)
			return
		}
		st := deploy.Reconcile(view, now)
		if st.RollBack != "" && v.dep != nil {
			v.rollback(ctx, st.RollBack)
			continue
		}
		st = v.healStep(ctx, view, st, now)
		v.apply(ctx, view, st, now)
		v.heal.due = 0
		return
	}
}

// observe is the view one pass decides on. Caller holds mu.
func (v *svc) observe(ctx context.Context) (deploy.View, error) {
	view := deploy.View{Release: v.state.Release, Count: v.state.Count, Tasks: v.views(), DepsReady: true}
	if v.dep != nil {
		// Outside a deployment, restarts are paced by deploy.Heal.
		view.NotBefore = v.crash.NotBefore
	}
	if view.Release != 0 {
		ri, err := v.release(ctx, view.Release)
		if err != nil {
			return view, err
		}
		cfg := ri.cfg.Service
		view.MaxSurge, view.MaxUnavailable = intOr(cfg.Deploy.MaxSurge, 1), intOr(cfg.Deploy.MaxUnavailable, 0)
		if v.dep != nil {
			view.DepsReady = v.s.depsReady(cfg.DependsOn, v.dep.SetID)
		}
	}
	if d := v.dep; d != nil {
		dv := &deploy.DeploymentView{ToRelease: d.ToRelease, FromRelease: d.FromRelease, Strategy: d.Strategy,
			Failures: v.failures, LastCheck: map[string]string{}}
		for id, t := range v.tasks {
			if t.lastCheck != "" {
				dv.LastCheck[id] = t.lastCheck
			}
		}
		// A release that cannot be read is not judged (it is failed at
		// start, see recover).
		if ri, err := v.release(ctx, d.ToRelease); err == nil {
			dv.Deadline = time.Duration(ri.cfg.Service.Health.Deadline)
			dv.Breaker = ri.cfg.Service.Deploy.CircuitBreaker
		}
		view.Deployment = dv
	}
	return view, nil
}

// apply carries out one pass's decision: the only place a pass routes,
// stops, starts, finishes and schedules. Caller holds mu.
func (v *svc) apply(ctx context.Context, view deploy.View, st deploy.Step, now time.Time) {
	switch {
	case st.Waiting != "":
		return
	case st.Progressive:
		v.stepProgressive(ctx, now)
		return
	}
	v.applyRoutes(st.Route)
	// Replacements start first, then the tasks they replace stop (those
	// are already out of routing).
	for range st.Start {
		v.startTask(ctx, view.Release, now)
	}
	for _, id := range st.Stop {
		v.stopTask(id)
	}
	if st.Finish && v.dep != nil {
		v.finish(ctx, store.DeploySucceeded, "")
	}
	if st.Again {
		v.kick()
	}
	if !st.WakeAt.IsZero() {
		v.arm(now, st.WakeAt)
	}
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
		v.kick()
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
	v.finishRecorded(state, reason)
}

// finishRecorded ends the active deployment in memory, tells subscribers
// and webhooks, and lets dependents move; its end is already in the store.
// Caller holds mu.
func (v *svc) finishRecorded(state, reason string) {
	ctx := context.Background()
	d := v.dep
	d.State, d.Reason = state, reason
	if d.FinishedAt.IsZero() {
		d.FinishedAt = v.s.cfg.Clock.Now()
	}
	kind, msg := api.EventDeploySucceeded, fmt.Sprintf("%s release %d is live (%d tasks healthy)", v.name, d.ToRelease, v.state.Count)
	switch state {
	case store.DeployRolledBack:
		kind, msg = api.EventDeployRollback, fmt.Sprintf("%s release %d: %s", v.name, d.ToRelease, reason)
	case store.DeployFailed:
		kind, msg = api.EventDeployFailed, fmt.Sprintf("%s release %d: %s", v.name, d.ToRelease, reason)
	}
	v.s.metrics.deployFinished(*d, state, reason)
	v.s.emit(store.Event{Service: v.name, Deployment: d.ID, Kind: kind, Message: msg,
		Fields: map[string]string{"release": strconv.Itoa(d.ToRelease), "state": state}})
	if ri, err := v.release(ctx, d.ToRelease); err == nil {
		v.notifyDeployment(ri, kind, msg, d)
	}
	v.healDeployed(d, state, d.FinishedAt)
	v.setDep(nil)
	v.failures = nil
	v.s.kickAll()
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
	if d := cfg.Deploy; d != nil && d.Sticky != nil {
		base.Sticky = router.Sticky{Cookie: d.Sticky.Cookie, Header: d.Sticky.Header}
	}
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
	v.healStarted(t)
	v.tasks[id] = t
	v.put(t.rec)
	v.s.wg.Add(1)
	v.s.act.begin()
	go func() {
		defer v.s.wg.Done()
		defer v.s.act.end()
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
	v.s.emit(store.Event{Service: v.name, Deployment: depID(v.dep), Kind: api.EventTaskStarted, Message: fmt.Sprintf("started task %s (release %d) at %s", t.rec.ID, t.rec.Release, h.Addr),
		Fields: taskFields(t.rec.ID, t.rec.Release)})
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
		v.noteLogs(id, h)
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
		v.s.act.begin()
		go func() {
			defer v.s.act.end()
			v.healthResult(id, nil)
		}()
		return
	}
	if v.s.cfg.Health != nil && hc.Kind() == spec.HealthHTTP {
		// The router is the one prober of HTTP checks: read its verdicts.
		// (tcp and command checks are run by the control plane below.)
		started := t.startedAt
		stop := v.s.cfg.Health.Watch(h.Addr, routerCheck(hc), t.phase == deploy.Healthy, func(c router.Check) { v.watchReport(id, started, c) })
		t.cancel = func() { cancel(); stop() }
		return
	}
	v.s.wg.Add(1)
	v.s.act.begin() // the first probe; probeLoop ends it
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
	// Each probe and its result count as activity (Settle): from the
	// moment the timer fires to the result applied.
	for {
		err := check(ctx, timeout)
		if ctx.Err() != nil {
			v.s.act.end()
			return
		}
		starting := v.healthResult(id, err)
		v.s.act.end()
		wait := interval
		if starting && wait > 100*time.Millisecond {
			wait = 100 * time.Millisecond
		}
		done := make(chan struct{})
		var mu sync.Mutex
		fired, stopped := false, false
		cancel := v.s.cfg.Clock.AfterFunc(wait, func() {
			mu.Lock()
			defer mu.Unlock()
			if !stopped {
				fired = true
				v.s.act.begin()
				close(done)
			}
		})
		select {
		case <-ctx.Done():
			cancel()
			mu.Lock()
			stopped = true
			if fired {
				v.s.act.end()
			}
			mu.Unlock()
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
			v.markHealthy(t)
			changed = true
		}
	} else {
		t.passes = 0
		t.fails++
		if t.phase != deploy.Healthy && checkErr.Error() != t.lastCheck {
			v.emitChecking(t, checkErr.Error(), hc)
		}
		t.lastCheck = checkErr.Error()
		inGrace := now.Before(t.startedAt.Add(time.Duration(hc.Grace)))
		if t.phase == deploy.Healthy && !inGrace && t.fails >= max(hc.Unhealthy, 1) {
			v.markUnhealthy(t, now)
			changed = true
		}
	}
	starting = t.phase != deploy.Healthy
	v.mu.Unlock()
	if changed {
		v.kick()
	}
	return starting
}

// routerCheck is a service's health check as the router runs it.
func routerCheck(h *spec.Health) router.HealthCheck {
	return router.HealthCheck{Path: h.Path, Interval: time.Duration(h.Interval), Timeout: time.Duration(h.Timeout),
		HealthyThreshold: h.Healthy, UnhealthyThreshold: h.Unhealthy}
}

// watchReport applies one of the router's checks of a task: the router
// owns the thresholds, the control plane follows its verdict (a down
// verdict within the start grace is held until the grace ends).
func (v *svc) watchReport(id string, started time.Time, c router.Check) {
	v.mu.Lock()
	t := v.tasks[id]
	if t == nil || t.draining || v.closed {
		v.mu.Unlock()
		return
	}
	if c.Err != nil {
		if t.phase != deploy.Healthy && c.Err.Error() != t.lastCheck {
			var hc spec.Health
			if ri := v.releases[t.rec.Release]; ri != nil && ri.cfg.Service.Health != nil {
				hc = *ri.cfg.Service.Health
			}
			v.emitChecking(t, c.Err.Error(), hc)
		}
		t.lastCheck = c.Err.Error()
	}
	t.watchDown = !c.Up
	now := v.s.cfg.Clock.Now()
	changed := false
	switch {
	case c.Up && t.phase != deploy.Healthy:
		v.markHealthy(t)
		changed = true
	case !c.Up && t.phase == deploy.Healthy:
		grace := time.Duration(0)
		if ri := v.releases[t.rec.Release]; ri != nil && ri.cfg.Service.Health != nil {
			grace = time.Duration(ri.cfg.Service.Health.Grace)
		}
		if end := started.Add(grace); now.Before(end) {
			v.arm(now, end) // decide again when the grace ends
		} else {
			v.markUnhealthy(t, now)
			changed = true
		}
	}
	v.mu.Unlock()
	if changed {
		v.kick()
	}
}

// markHealthy records a task's passing verdict. Caller holds mu.
func (v *svc) markHealthy(t *task) {
	t.phase = deploy.Healthy
	t.rec.State = store.TaskHealthy
	v.put(t.rec)
	if v.dep != nil && t.rec.Release == v.dep.ToRelease {
		v.failures = nil
	}
	v.s.emit(store.Event{Service: v.name, Deployment: depID(v.dep), Kind: api.EventTaskHealthy, Message: fmt.Sprintf("task %s (release %d) is healthy", t.rec.ID, t.rec.Release),
		Fields: taskFields(t.rec.ID, t.rec.Release)})
}

// markUnhealthy records a task's failing verdict. Caller holds mu.
func (v *svc) markUnhealthy(t *task, now time.Time) {
	t.phase = deploy.Unhealthy
	t.rec.State = store.TaskStarting
	v.put(t.rec)
	v.taskFailed(t, "failed its health check: "+t.lastCheck, now)
	if v.dep != nil && t.rec.Release == v.dep.ToRelease {
		v.failures = append(v.failures, deploy.Failure{TaskID: t.rec.ID, At: now, Why: "failed health check: " + t.lastCheck})
	}
	v.s.emit(store.Event{Service: v.name, Deployment: depID(v.dep), Kind: api.EventTaskUnhealthy, Message: fmt.Sprintf("task %s (release %d) is unhealthy: %s", t.rec.ID, t.rec.Release, t.lastCheck),
		Fields: taskFields(t.rec.ID, t.rec.Release)})
}

// heldDown marks unhealthy the tasks the router holds down whose start
// grace has ended. Caller holds mu.
func (v *svc) heldDown(now time.Time) {
	for _, t := range v.tasks {
		if !t.watchDown || t.draining || t.phase != deploy.Healthy {
			continue
		}
		grace := time.Duration(0)
		if ri := v.releases[t.rec.Release]; ri != nil && ri.cfg.Service.Health != nil {
			grace = time.Duration(ri.cfg.Service.Health.Grace)
		}
		if !now.Before(t.startedAt.Add(grace)) {
			v.markUnhealthy(t, now)
		}
	}
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
	// Crashes in a row back off (deploy.Crashes).
	v.crash = v.crash.Crashed(now)
	v.recordExit(st, now)
	v.taskFailed(t, "exited with "+st.String(), now)
	if v.dep != nil && t.rec.Release == v.dep.ToRelease {
		v.failures = append(v.failures, deploy.Failure{TaskID: id, At: now, Why: "exited with " + st.String()})
	}
	v.log.Warn("task exited", "task", id, "release", t.rec.Release, "status", st.String())
	v.s.emit(store.Event{Service: v.name, Deployment: depID(v.dep), Kind: api.EventTaskExited,
		Message: fmt.Sprintf("task %s (release %d) exited: %s", id, t.rec.Release, st.String())})
	v.mu.Unlock()
	v.kick()
}

// recordExit remembers a task's exit for status, forgetting exits older
// than the restart window. Caller holds mu.
func (v *svc) recordExit(st driver.ExitStatus, now time.Time) {
	keep := v.exits[:0]
	for _, at := range v.exits {
		if now.Sub(at) <= api.RestartWindow {
			keep = append(keep, at)
		}
	}
	v.exits = append(keep, now)
	code := st.Code
	if st.Signal != "" || st.Err != "" {
		code = -1
	}
	reason := st.String()
	if st.OOMKilled {
		reason += " (out of memory)"
	}
	v.lastExit = &api.Exit{Code: code, Reason: reason, At: now}
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
	v.s.act.begin()
	go func() {
		defer v.s.wg.Done()
		defer v.s.act.end()
		ctx, cancel := context.WithTimeout(context.Background(), drain)
		began, drained := v.s.cfg.Clock.Now(), true
		if h.Addr != "" {
			drained = v.s.cfg.Router.WaitDrained(ctx, h.Addr) == nil
		}
		drainedIn := v.s.cfg.Clock.Now().Sub(began)
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
		// How long its in-flight requests took to finish (drained false:
		// some were still running when deploy.drain ran out), for the
		// timeline's drain phase.
		f := taskFields(id, t.rec.Release)
		f["drained_in"], f["drained"] = drainedIn.String(), strconv.FormatBool(drained)
		v.s.emit(store.Event{Service: v.name, Kind: api.EventTaskStopped, Message: fmt.Sprintf("stopped task %s (release %d)", id, t.rec.Release),
			Fields: f})
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

// taskFields are the fields of a task's events: its id and release.
func taskFields(id string, release int) map[string]string {
	return map[string]string{"task": id, "release": strconv.Itoa(release)}
}

// emitChecking records that a starting task's health check failed with a
// new answer: what it answered, when the task started and, with a
// health.deadline, when the deployment gives up on it. Repeats of the
// same answer are not recorded. Caller holds mu.
func (v *svc) emitChecking(t *task, check string, hc spec.Health) {
	f := taskFields(t.rec.ID, t.rec.Release)
	f["check"] = check
	f["since"] = t.startedAt.UTC().Format(time.RFC3339Nano)
	if hc.Deadline > 0 {
		f["deadline"] = t.startedAt.Add(time.Duration(hc.Deadline)).UTC().Format(time.RFC3339Nano)
	}
	v.s.emit(store.Event{Service: v.name, Deployment: depID(v.dep), Kind: api.EventTaskChecking,
		Message: fmt.Sprintf("task %s (release %d) not healthy yet: %s", t.rec.ID, t.rec.Release, check), Fields: f})
}
