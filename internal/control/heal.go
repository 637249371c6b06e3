package control

import (
	"bufio"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/deploy"
	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/notify"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// healer is a service's self-healing memory between passes; the decisions
// are deploy.Heal and deploy.PostDeployRollback, this only applies them.
// Guarded by svc.mu.
type healer struct {
	state deploy.HealState
	// slots are the per-task restart counts of the failed tasks still
	// owed a replacement, oldest first: a replacement carries its
	// predecessor's count plus one.
	slots []int
	// due is how many of the starts of the current pass are restarts.
	due int
	// reason is why the service is held (budget spent); "" otherwise.
	reason      string
	lastFailure string
	// logs are the last lines of exited tasks, read as they exit.
	logs map[string]string

	// The post-deployment circuit breaker: the live release's deployment
	// succeeded at liveSince (deployment liveDep, from release liveFrom);
	// failures are its tasks' failures since.
	liveSince   time.Time
	liveFrom    int
	liveDep     int64
	failures    []time.Time
	rollingBack bool

	// restartQueue lists the tasks `berth restart` still has to replace,
	// retiring the one being replaced now (still routed until its
	// replacement is healthy).
	restartQueue []string
	retiring     string

	// Totals for /metrics.
	restarts uint64
	actions  map[string]uint64
}

// Healing actions, the action label of berth_healing_actions_total.
const (
	actionRestart      = "restart"
	actionReplace      = "replace_unhealthy"
	actionHold         = "hold"
	actionResume       = "resume"
	actionRollback     = "rollback"
	actionRollingStart = "rolling_restart"
)

func (h *healer) count(action string) {
	if h.actions == nil {
		h.actions = map[string]uint64{}
	}
	h.actions[action]++
}

// logTail is how many of an exited task's last log lines its failure
// keeps for the degraded reason.
const logTail = 5

// noteLogs reads the last lines of an exited task's log, outside the lock,
// for the reason shown when the service is held.
func (v *svc) noteLogs(id string, h driver.Handle) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	rc, err := v.s.cfg.Driver.Logs(ctx, h, driver.LogOptions{Tail: logTail})
	if err != nil {
		return
	}
	defer rc.Close()
	var lines []string
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if len(line) > 200 {
			line = line[:200] + "…"
		}
		lines = append(lines, line)
		if len(lines) > logTail {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return
	}
	v.mu.Lock()
	if v.heal.logs == nil {
		v.heal.logs = map[string]string{}
	}
	v.heal.logs[id] = strings.Join(lines, " | ")
	v.mu.Unlock()
}

// taskFailed records a task that exited on its own or failed its health
// checks: it is owed one replacement (once, however many triggers report
// it) and counts toward the post-deployment breaker. Caller holds mu.
func (v *svc) taskFailed(t *task, why string, now time.Time) {
	if t.failed {
		return
	}
	t.failed = true
	h := &v.heal
	msg := fmt.Sprintf("task %s %s", t.rec.ID, why)
	if logs := h.logs[t.rec.ID]; logs != "" {
		msg += "; last log lines: " + logs
	}
	delete(h.logs, t.rec.ID)
	h.lastFailure = msg
	if t.rec.Release != v.state.Release {
		return // an old release's task: nothing to replace
	}
	h.state = h.state.Failed(1)
	h.slots = append(h.slots, t.rec.Restarts)
	if !h.liveSince.IsZero() {
		h.failures = append(h.failures, now)
	}
}

// healBudget is the live release's heal: budget.
func (v *svc) healBudget() deploy.HealBudget {
	b := deploy.HealBudget{MaxRestarts: spec.DefaultHealMaxRestarts, Window: time.Duration(spec.DefaultHealWindow)}
	if ri, ok := v.releases[v.state.Release]; ok && ri.cfg.Service != nil && ri.cfg.Service.Heal != nil {
		if hl := ri.cfg.Service.Heal; hl.MaxRestarts > 0 {
			b.MaxRestarts = hl.MaxRestarts
		}
		if hl := ri.cfg.Service.Heal; hl.Window > 0 {
			b.Window = time.Duration(hl.Window)
		}
	}
	return b
}

// healStep applies the healing decisions to a pass's step: the
// post-deployment breaker, the restart budget, backoff and staggering of
// replacements, and berth restart's rolling replacement. Caller holds mu.
func (v *svc) healStep(ctx context.Context, view deploy.View, st deploy.Step, now time.Time) deploy.Step {
	if st.RollBack != "" || st.Progressive || st.Waiting != "" {
		return st
	}
	h := &v.heal
	h.due = 0
	if v.dep == nil && !h.rollingBack {
		ri := v.releases[v.state.Release]
		breaker := 0
		if ri != nil && ri.cfg.Service != nil && ri.cfg.Service.Deploy != nil {
			breaker = ri.cfg.Service.Deploy.CircuitBreaker
		}
		if back, why := deploy.PostDeployRollback(deploy.PostDeployInput{Now: now, Release: v.state.Release, From: h.liveFrom,
			SucceededAt: h.liveSince, Failures: h.failures, Breaker: breaker}); back {
			h.rollingBack = true
			v.healRollback(h.liveFrom, h.liveDep, why)
		}
	}
	starting := 0
	for _, t := range view.Tasks {
		if t.Release == view.Release && t.Phase == deploy.Starting {
			starting++
		}
	}
	b := v.healBudget()
	d := deploy.Heal(deploy.HealInput{Now: now, Budget: b, State: h.state, Want: st.Start, Starting: starting, Deploying: v.dep != nil})
	h.state = d.State
	st.Start, h.due = d.Start, d.Restarts
	if len(h.slots) > h.state.Owed+d.Restarts {
		h.slots = h.slots[len(h.slots)-(h.state.Owed+d.Restarts):]
	}
	if !d.WakeAt.IsZero() && (st.WakeAt.IsZero() || d.WakeAt.Before(st.WakeAt)) {
		st.WakeAt = d.WakeAt
	}
	if d.Spent {
		h.reason = deploy.BudgetReason(b, d.Used, h.lastFailure)
		h.count(actionHold)
		msg := fmt.Sprintf("%s is degraded: %s", v.name, h.reason)
		v.log.Warn("restart budget spent", "used", d.Used, "window", b.Window, "last_failure", h.lastFailure)
		v.s.emit(store.Event{Service: v.name, Kind: api.EventHealBudgetSpent, Message: msg,
			Fields: map[string]string{"restarts": strconv.Itoa(d.Used), "window": b.Window.String()}})
		v.notifyHeal(api.EventHealBudgetSpent, msg)
	}
	if d.Resumed {
		v.resumeHeal("the restart window passed")
	}
	return v.rollingRestart(view, st)
}

// resumeHeal lifts a hold, with an event. Caller holds mu.
func (v *svc) resumeHeal(why string) {
	if v.heal.reason == "" {
		return
	}
	v.heal.reason = ""
	v.heal.count(actionResume)
	v.s.emit(store.Event{Service: v.name, Kind: api.EventHealResumed, Message: fmt.Sprintf("%s: restarting failed tasks again (%s)", v.name, why)})
}

// healStarted marks a task being started as a restart when the pass's
// healing decision made it one. Caller holds mu.
func (v *svc) healStarted(t *task) {
	h := &v.heal
	if h.due == 0 {
		return
	}
	h.due--
	prev := 0
	if len(h.slots) > 0 {
		prev, h.slots = h.slots[0], h.slots[1:]
	}
	t.rec.Restarts = prev + 1
	h.restarts++
	action, cause := actionRestart, h.lastFailure
	if strings.Contains(cause, "health check") {
		action = actionReplace
	}
	h.count(action)
	b := v.healBudget()
	used := h.state.RestartsIn(b, v.s.cfg.Clock.Now())
	v.s.emit(store.Event{Service: v.name, Kind: api.EventHealRestarted,
		Message: fmt.Sprintf("%s: started %s to replace a failed task (restart %d of %d within %s); %s", v.name, t.rec.ID, used, b.MaxRestarts, b.Window, cause),
		Fields:  map[string]string{"task": t.rec.ID, "action": action, "restarts": strconv.Itoa(used)}})
}

// healDeployed resets the budget when a deployment starts and arms the
// post-deployment breaker when one succeeds. Caller holds mu.
func (v *svc) healDeployed(d *store.Deployment, state string, now time.Time) {
	h := &v.heal
	switch {
	case state == store.DeployRunning:
		h.state = h.state.Reset(now)
		h.slots, h.failures, h.liveSince, h.rollingBack = nil, nil, time.Time{}, false
		h.restartQueue, h.retiring = nil, ""
		v.resumeHeal("a deploy")
	case state == store.DeploySucceeded && d.FromRelease != 0 && d.FromRelease != d.ToRelease:
		h.liveSince, h.liveFrom, h.liveDep, h.failures = now, d.FromRelease, d.ID, nil
	default:
		h.liveSince = time.Time{}
	}
}

// healRollback rolls the live release back to the release before, as a
// new rollback deployment, and records why on the deployment that made it
// live. It runs outside the service's lock (it records a deployment the
// way berth rollback does). Caller holds mu.
func (v *svc) healRollback(to int, depID int64, why string) {
	v.heal.count(actionRollback)
	msg := fmt.Sprintf("%s: %s; rolling back to release %d", v.name, why, to)
	v.log.Warn("release crash-loops after its deployment succeeded", "to", to, "reason", why)
	v.s.emit(store.Event{Service: v.name, Kind: api.EventHealRolledBack, Message: msg,
		Fields: map[string]string{"release": strconv.Itoa(v.state.Release), "to": strconv.Itoa(to)}})
	v.notifyHeal(api.EventHealRolledBack, msg)
	s := v.s
	s.wg.Add(1)
	s.act.begin()
	go func() {
		defer s.wg.Done()
		defer s.act.end()
		ctx := context.Background()
		if depID != 0 {
			if d, err := s.cfg.Store.Deployment(ctx, depID); err == nil {
				d.State, d.Reason = store.DeployRolledBack, fmt.Sprintf("%s; rolled back to release %d", why, to)
				if err := s.cfg.Store.UpdateDeployment(ctx, d); err != nil {
					v.log.Error("record rolled back deployment", "err", err)
				}
			}
		}
		s.opsMu.Lock()
		defer s.opsMu.Unlock()
		pd, err := v.prepareRollback(ctx, to, "")
		if err != nil || pd == nil {
			v.log.Error("roll back a crash-looping release", "to", to, "err", err)
			return
		}
		set := s.newSet("", "")
		set.add(pd)
		if _, err := s.commit(ctx, set); err != nil {
			v.log.Error("roll back a crash-looping release", "to", to, "err", err)
		}
	}()
}

// notifyHeal tells the live release's webhooks about a healing event.
// Caller holds mu.
func (v *svc) notifyHeal(kind, msg string) {
	ri, ok := v.releases[v.state.Release]
	if !ok {
		return
	}
	n := v.notifierFor(ri)
	if n == nil {
		return
	}
	n.Send(context.Background(), notify.Event{Kind: kind, Service: v.name, Release: v.state.Release, Message: msg, Time: v.s.cfg.Clock.Now()})
}

// rollingRestart carries berth restart out: while every desired task is
// healthy, the next queued task is retired (left out of the view, so the
// convergence starts its replacement, but still routed), and stopped once
// its replacement is healthy. Caller holds mu.
func (v *svc) rollingRestart(view deploy.View, st deploy.Step) deploy.Step {
	h := &v.heal
	if v.dep != nil {
		return st
	}
	if h.retiring != "" {
		t := v.tasks[h.retiring]
		if t == nil || t.draining {
			h.retiring = ""
		} else {
			healthy := 0
			for _, tv := range view.Tasks {
				if tv.Release == view.Release && tv.Phase == deploy.Healthy {
					healthy++
				}
			}
			if healthy < view.Count || t.phase != deploy.Healthy {
				if t.phase == deploy.Healthy {
					st.Route = append(st.Route, t.rec.ID) // still serves
				}
				return st
			}
			st.Stop = append(st.Stop, t.rec.ID)
			st.Again = true
			h.retiring = ""
			return st
		}
	}
	for len(h.restartQueue) > 0 && h.retiring == "" {
		id := h.restartQueue[0]
		h.restartQueue = h.restartQueue[1:]
		if t := v.tasks[id]; t != nil && !t.draining && !t.pending {
			h.retiring = id
			st.Again = true
		}
	}
	return st
}

// Restart resets a service's restart budget and replaces its tasks one at
// a time, each stopped only once its replacement is healthy (berth
// restart).
func (s *Server) Restart(ctx context.Context, name string) error {
	if !spec.ValidServiceName(name) {
		return fmt.Errorf("%w: %q is not a service name", ErrBadRequest, name)
	}
	v, ok := s.service(name)
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownService, name)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.state.Release == 0 || v.state.Count == 0 {
		return fmt.Errorf("%w: %s runs no tasks (deploy it, or berth scale %s=N)", ErrBadRequest, name, name)
	}
	if v.dep != nil {
		return fmt.Errorf("%w: %s has a deployment in progress; wait for it (berth status %s) or abort it", ErrBadRequest, name, name)
	}
	now := s.cfg.Clock.Now()
	h := &v.heal
	h.state = h.state.Reset(now)
	h.slots = nil
	v.resumeHeal("berth restart")
	var ids []string
	for id, t := range v.tasks {
		if !t.draining && t.rec.Release == v.state.Release {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	h.restartQueue = ids
	h.count(actionRollingStart)
	s.emit(store.Event{Service: name, Kind: api.EventHealRestart,
		Message: fmt.Sprintf("%s: restart budget reset; replacing %d tasks one at a time", name, len(ids))})
	v.kick()
	return nil
}

// healStatus adds the healing fields to a service's status, and the
// state of a held service.
func (v *svc) healStatus(out api.Service) api.Service {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.state.Release == 0 {
		return out
	}
	b := v.healBudget()
	out.Heal = &api.HealBudget{Used: v.heal.state.RestartsIn(b, v.s.cfg.Clock.Now()), MaxRestarts: b.MaxRestarts, Window: b.Window, Held: v.heal.reason != ""}
	out.Reason = v.heal.reason
	out.State = deploy.HeldState(out.State, out.Reason != "")
	return out
}

// recoverHeal rebuilds the restart budget a previous control plane left
// from its events, so a restart of berth serve neither forgets a spent
// budget nor starts restarting a held service again: the restarts since
// the last reset (a deploy, berth restart) and a hold not lifted since.
func (v *svc) recoverHeal(ctx context.Context) {
	evs, err := v.s.cfg.Store.Events(ctx, store.EventQuery{Service: v.name, KindPrefixes: []string{"heal.", api.EventDeployStarted}})
	if err != nil {
		v.log.Error("recover the restart budget", "err", err)
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	h := &v.heal
	lifted := false
	for i := len(evs) - 1; i >= 0; i-- { // newest first
		e := evs[i]
		switch e.Kind {
		case api.EventDeployStarted, api.EventHealRestart:
			h.state.ResetAt = e.Time
			return
		case api.EventHealResumed:
			lifted = true
		case api.EventHealBudgetSpent:
			if !lifted && h.reason == "" {
				// Still held: the tasks missing are failed ones, owed a
				// replacement the budget does not allow (Heal clamps this
				// to what the service misses).
				h.state.Held, h.state.Owed = true, v.state.Count
				_, h.reason, _ = strings.Cut(e.Message, " is degraded: ")
			}
		case api.EventHealRestarted:
			h.state.Restarts = append([]time.Time{e.Time}, h.state.Restarts...)
		}
	}
}
