package awsfake

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// TaskFailure describes how the tasks of a failing task-definition
// revision stop. The zero value is an essential container exiting with
// code 1 a few seconds (Options.FailDelay) after the task reached RUNNING.
type TaskFailure struct {
	// StoppedReason is the task's stoppedReason; default "Essential
	// container in task exited".
	StoppedReason string
	// ContainerReason is the essential container's reason, e.g. an
	// application's last words; optional.
	ContainerReason string
	// ExitCode is the essential container's exit code; default 1.
	ExitCode int
	// AtStart makes the task stop before RUNNING with stopCode
	// TaskFailedToStart, as an image that cannot be pulled or a secret
	// that cannot be read does (set StoppedReason accordingly, e.g.
	// "CannotPullContainerError: ...").
	AtStart bool
	// LogLines are written, when the task stops, to the task's awslogs
	// stream (awslogs-group, <awslogs-stream-prefix>/<container>/<task
	// id>), as the application's last output.
	LogLines []string
	// Unhealthy makes the task run but fail its target groups' health
	// checks instead of exiting: ECS stops it ("Task failed ELB health
	// checks in (target-group …)") once the service's health-check grace
	// period is over. The other fields are ignored, except LogLines.
	Unhealthy bool
}

// FailTaskDefinition makes every task started from now on from the given
// task definition ("family:revision" or its ARN, or a bare family for all
// its revisions) fail as f says. It may be called before the revision is
// registered.
func (s *Server) FailTaskDefinition(taskDefinition string, f TaskFailure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.StoppedReason == "" {
		f.StoppedReason = "Essential container in task exited"
	}
	if f.ExitCode == 0 && !f.AtStart {
		f.ExitCode = 1
	}
	if f.Unhealthy {
		f.AtStart = false
	}
	s.failing[tdKey(taskDefinition)] = f
}

// HealTaskDefinition undoes FailTaskDefinition for tasks started from now on.
func (s *Server) HealTaskDefinition(taskDefinition string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.failing, tdKey(taskDefinition))
}

func tdKey(ref string) string {
	if _, after, ok := strings.Cut(ref, ":task-definition/"); ok {
		return after
	}
	return ref
}

// liveTasks are svc's tasks that are meant to run (desiredStatus RUNNING).
func (s *Server) liveTasks(svc *service) []*task {
	var out []*task
	for _, t := range svc.tasks {
		if t.desired == "RUNNING" && t.last != "STOPPED" {
			out = append(out, t)
		}
	}
	return out
}

// unstoppedTasks are svc's tasks of d that have not reached STOPPED.
func (s *Server) unstoppedTasks(svc *service, d *deployment) []*task {
	var out []*task
	for _, t := range svc.tasks {
		if t.dep == d && t.last != "STOPPED" {
			out = append(out, t)
		}
	}
	return out
}

func (t *task) healthy() bool {
	return t.desired == "RUNNING" && t.last == "RUNNING" && !t.healthyAt.IsZero()
}

// launchTask starts a task of d, registered (once RUNNING) in tgs.
func (s *Server) launchTask(svc *service, d *deployment, tgs []string, ports []int) *task {
	id := s.nextID(32)
	n := s.seq
	t := &task{
		arn:        s.arn("ecs", fmt.Sprintf("task/%s/%s", svc.clusterName, id)),
		id:         id,
		clusterArn: svc.clusterArn,
		td:         d.rev.td,
		group:      "service:" + svc.name,
		svc:        svc,
		dep:        d,
		last:       "PROVISIONING",
		desired:    "RUNNING",
		created:    s.now,
		ip:         fmt.Sprintf("10.0.%d.%d", (n/250)%250, n%250+2),
		tgs:        tgs,
		ports:      ports,
	}
	key := tdKey(d.rev.td)
	fam, _, _ := strings.Cut(key, ":")
	if f, ok := s.failing[key]; ok {
		t.failure = &f
	} else if f, ok := s.failing[fam]; ok {
		t.failure = &f
	}
	s.ecs.tasks[t.arn] = t
	s.ecs.taskOrder = append(s.ecs.taskOrder, t.arn)
	svc.tasks = append(svc.tasks, t)
	return t
}

// lbTargets returns the target groups and ports a rolling task registers in.
func lbTargets(rev *svcRevision) ([]string, []int) {
	var tgs []string
	var ports []int
	for i, lb := range rev.lbs {
		tg := lb.TargetGroupArn
		if i < len(rev.primaryTG) && rev.primaryTG[i] != "" {
			tg = rev.primaryTG[i]
		}
		tgs = append(tgs, tg)
		ports = append(ports, lb.ContainerPort)
	}
	return tgs, ports
}

// stopTask asks t to stop: it leaves its target groups and stops once
// they have drained it.
func (s *Server) stopTask(t *task, reason, code string) {
	if t.desired == "STOPPED" {
		return
	}
	t.desired = "STOPPED"
	t.stopping = s.now
	t.stoppedReason, t.stopCode = reason, code
	drain := time.Duration(0)
	for i, arn := range t.tgs {
		if tg := s.elb.tgs[arn]; tg != nil {
			s.deregisterTarget(tg, t.ip, t.ports[i])
			drain = max(drain, s.drainDelay(tg))
		}
	}
	switch {
	case t.last != "RUNNING":
		t.stopAt = s.now
	case len(t.tgs) > 0:
		t.last = "DEACTIVATING"
		t.stopAt = s.now.Add(drain)
	default:
		t.last = "DEACTIVATING"
		t.stopAt = s.now.Add(s.opts.DrainDelay)
	}
}

// failTask stops t at once with a failure and feeds the circuit breaker.
func (s *Server) failTask(t *task, reason, code, containerReason string, exit *int) {
	s.stopTask(t, reason, code)
	if t.failure != nil && len(t.failure.LogLines) > 0 {
		s.writeTaskLogs(t, t.failure.LogLines)
	}
	t.last, t.stopped = "STOPPED", s.now
	t.exitCode, t.containerReason = exit, containerReason
	d := t.dep
	d.failed++
	d.updated = s.now
	svc := t.svc
	if svc.deployments[0] != d || d.rollout != "IN_PROGRESS" {
		return
	}
	sd := d.sd
	if sd.terminal() {
		return
	}
	sd.breakerFailures++
	cb := sd.dc.DeploymentCircuitBreaker
	if cb == nil || !cb.Enable || sd.breakerFailures < sd.breakerThreshold {
		return
	}
	sd.breakerStatus = "TRIGGERED"
	d.rollout = "FAILED"
	d.reason = "ECS deployment circuit breaker: tasks failed to start."
	s.addEvent(svc, "(deployment %s) deployment failed: tasks failed to start.", d.id)
	switch {
	case d.rollbackTarget:
		sd.status, sd.statusReason = "ROLLBACK_FAILED", "The rollback failed: its tasks failed to start."
		sd.finished, sd.updated, sd.stage = s.now, s.now, ""
	case cb.Rollback:
		s.rollback(sd, "Service deployment rolled back because the circuit breaker threshold was exceeded.")
	default:
		sd.status, sd.statusReason = "STOPPED", "Service deployment stopped because the circuit breaker threshold was exceeded."
		sd.stopped, sd.finished, sd.updated, sd.stage = s.now, s.now, s.now, ""
	}
}

// rollback rolls sd back to the service's last steady revision.
func (s *Server) rollback(sd *svcDeployment, reason string) {
	svc := sd.svc
	prim := svc.deployments[0]
	if prim.rollout == "IN_PROGRESS" {
		prim.rollout, prim.reason = "FAILED", "ECS deployment "+prim.id+" rolled back."
	}
	to := svc.steady
	if to == nil || to == sd.target {
		sd.status, sd.statusReason = "ROLLBACK_FAILED", reason+" There is no earlier service revision to roll back to."
		sd.finished, sd.updated, sd.stage = s.now, s.now, ""
		return
	}
	sd.status, sd.statusReason = "ROLLBACK_IN_PROGRESS", reason
	sd.rollbackReason, sd.rollbackRev, sd.rollbackAt = reason, to, s.now
	sd.updated = s.now
	svc.taskDefinition = to.td
	if sd.prog != nil {
		s.rollbackProgressive(svc, sd)
		return
	}
	d := s.startDeployment(svc, to)
	s.addEvent(svc, "rolling back to deployment %s.", d.id)
}

// initMonitors sets up sd's circuit breaker and alarm monitoring.
func (s *Server) initMonitors(svc *service, sd *svcDeployment) {
	if cb := sd.dc.DeploymentCircuitBreaker; cb != nil && cb.Enable {
		sd.breakerStatus = "MONITORING"
		sd.breakerThreshold = breakerThreshold(cb, svc.desired)
	} else {
		sd.breakerStatus = "DISABLED"
	}
	if a := sd.dc.Alarms; a != nil && a.Enable {
		sd.alarmStatus = "MONITORING"
		sd.alarmsAtStart = map[string]bool{}
		for _, n := range a.AlarmNames {
			if al := s.cw.alarms[n]; al != nil && al.state == "ALARM" {
				sd.alarmsAtStart[n] = true
			}
		}
	} else {
		sd.alarmStatus = "DISABLED"
	}
}

// checkAlarms rolls sd back when one of its alarms (not already in ALARM
// when it started) is in ALARM.
func (s *Server) checkAlarms(sd *svcDeployment) {
	a := sd.dc.Alarms
	if a == nil || !a.Enable || sd.terminal() || strings.HasPrefix(sd.status, "ROLLBACK") {
		return
	}
	var fired []string
	for _, n := range a.AlarmNames {
		al := s.cw.alarms[n]
		if al == nil || al.state != "ALARM" {
			delete(sd.alarmsAtStart, n)
			continue
		}
		if !sd.alarmsAtStart[n] {
			fired = append(fired, n)
		}
	}
	if len(fired) == 0 {
		return
	}
	sd.alarmStatus = "TRIGGERED"
	sd.triggeredAlarms = fired
	sd.updated = s.now
	s.addEvent(sd.svc, "(deployment %s) CloudWatch alarm(s) %s in ALARM state.", sd.svc.deployments[0].id, strings.Join(fired, ", "))
	if a.Rollback {
		s.rollback(sd, fmt.Sprintf("Service deployment rolled back because CloudWatch alarm(s) %s are in ALARM state.", strings.Join(fired, ", ")))
	}
}

func (s *Server) reconcileECS() {
	s.reconcileTargets()
	for _, arn := range s.ecs.svcOrder {
		s.reconcileService(s.ecs.services[arn])
	}
	s.reconcileHooks()
}

// reconcileService moves one service's tasks and deployment on.
func (s *Server) reconcileService(svc *service) {
	{
		if svc.status == "INACTIVE" {
			return
		}
		s.advanceTasks(svc)
		if svc.status == "DRAINING" {
			if len(s.unstoppedAll(svc)) == 0 {
				svc.status = "INACTIVE"
			}
			return
		}
		sd := svc.currentSD
		if sd.status == "PENDING" {
			sd.status, sd.started, sd.updated = "IN_PROGRESS", s.now, s.now
		}
		s.checkAlarms(sd)
		if sd.prog != nil && !sd.prog.done {
			s.reconcileProgressive(svc, sd)
			return
		}
		s.reconcileRolling(svc)
	}
}

func (s *Server) unstoppedAll(svc *service) []*task {
	var out []*task
	for _, t := range svc.tasks {
		if t.last != "STOPPED" {
			out = append(out, t)
		}
	}
	return out
}

// advanceTasks moves svc's tasks through their lifecycle on the clock.
func (s *Server) advanceTasks(svc *service) {
	registered := map[string]int{}
	for _, t := range s.unstoppedAll(svc) {
		if t.desired == "STOPPED" {
			if !s.now.Before(t.stopAt) {
				t.last, t.stopped = "STOPPED", s.now
			}
			continue
		}
		switch t.last {
		case "PROVISIONING", "PENDING":
			if !s.now.Before(t.created.Add(s.opts.TaskStartDelay)) {
				if t.failure != nil && t.failure.AtStart {
					s.failTask(t, t.failure.StoppedReason, "TaskFailedToStart", t.failure.ContainerReason, nil)
					continue
				}
				t.last, t.started = "RUNNING", s.now
				for i, arn := range t.tgs {
					if tg := s.elb.tgs[arn]; tg != nil {
						s.registerTarget(tg, t.ip, t.ports[i])
						if t.failure != nil && t.failure.Unhealthy {
							s.setTargetUnhealthy(tg, t.ip)
						}
						registered[arn]++
					}
				}
				if len(t.tgs) == 0 {
					t.healthyAt = s.now
				}
			} else if !s.now.Before(t.created.Add(s.opts.TaskStartDelay / 2)) {
				t.last = "PENDING"
			}
		case "RUNNING":
			if f := t.failure; f != nil && !f.AtStart && !f.Unhealthy && !s.now.Before(t.started.Add(s.opts.FailDelay)) {
				code := f.ExitCode
				s.failTask(t, f.StoppedReason, "EssentialContainerExited", f.ContainerReason, &code)
				continue
			}
			s.checkTaskHealth(t)
		}
	}
	for _, arn := range sortedKeys(registered) {
		s.addEvent(svc, "registered %d targets in (target-group %s)", registered[arn], arn)
	}
}

// checkTaskHealth marks t healthy once every target group reports it
// healthy, and fails it when one reports it unhealthy after the grace
// period.
func (s *Server) checkTaskHealth(t *task) {
	if len(t.tgs) == 0 {
		return
	}
	allHealthy := true
	for i, arn := range t.tgs {
		switch s.targetState(arn, t.ip) {
		case "healthy":
		case "unhealthy":
			allHealthy = false
			if s.now.Before(t.started.Add(time.Duration(t.svc.grace) * time.Second)) {
				continue
			}
			s.addEvent(t.svc, "(port %d) is unhealthy in (target-group %s) due to (reason Health checks failed).", t.ports[i], arn)
			s.failTask(t, fmt.Sprintf("Task failed ELB health checks in (target-group %s)", arn), "ServiceSchedulerInitiated", "", nil)
			return
		default:
			allHealthy = false
		}
	}
	if allHealthy && t.healthyAt.IsZero() {
		t.healthyAt = s.now
		d := t.dep
		sd := d.sd
		cb := sd.dc.DeploymentCircuitBreaker
		if cb != nil && cb.Enable && (cb.ResetOnHealthyTask == nil || *cb.ResetOnHealthyTask) &&
			t.svc.deployments[0] == d && sd.breakerStatus == "MONITORING" {
			sd.breakerFailures = 0
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// reconcileRolling drives a ROLLING deployment (and a steady service)
// toward the primary deployment's desired count within the service's
// maximum and minimum-healthy percentages.
func (s *Server) reconcileRolling(svc *service) {
	prim := svc.deployments[0]
	desired := svc.desired
	prim.desired = desired
	maxPct, minPct := 200, 100
	if p := svc.dc.MaximumPercent; p != nil {
		maxPct = *p
	}
	if p := svc.dc.MinimumHealthyPercent; p != nil {
		minPct = *p
	}
	maxTotal := desired * maxPct / 100
	minHealthy := int(math.Ceil(float64(desired*minPct) / 100))
	all := s.liveTasks(svc)
	var primLive, old []*task
	healthy := 0
	for _, t := range all {
		if t.dep == prim {
			primLive = append(primLive, t)
		} else {
			old = append(old, t)
		}
		if t.healthy() {
			healthy++
		}
	}
	var started, stopped []string
	if prim.rollout != "FAILED" {
		tgs, ports := lbTargets(prim.rev)
		for len(all) < maxTotal && len(primLive) < desired {
			t := s.launchTask(svc, prim, tgs, ports)
			all = append(all, t)
			primLive = append(primLive, t)
			started = append(started, t.id)
		}
	}
	sort.SliceStable(old, func(i, j int) bool { return !old[i].healthy() && old[j].healthy() })
	for _, t := range old {
		if t.healthy() {
			if healthy-1 < minHealthy {
				continue
			}
			healthy--
		}
		s.stopTask(t, fmt.Sprintf("Scaling activity initiated by (deployment %s)", prim.id), "ServiceSchedulerInitiated")
		stopped = append(stopped, t.id)
	}
	if extra := len(primLive) - desired; extra > 0 {
		sort.SliceStable(primLive, func(i, j int) bool { return !primLive[i].healthy() && primLive[j].healthy() })
		for _, t := range primLive[:extra] {
			s.stopTask(t, fmt.Sprintf("Scaling activity initiated by (deployment %s)", prim.id), "ServiceSchedulerInitiated")
			stopped = append(stopped, t.id)
		}
	}
	if len(started) > 0 {
		s.addEvent(svc, "has started %d tasks: %s.", len(started), taskList(started))
	}
	if len(stopped) > 0 {
		s.addEvent(svc, "has stopped %d running tasks: %s.", len(stopped), taskList(stopped))
	}
	primHealthy := 0
	for _, t := range s.liveTasks(svc) {
		if t.dep == prim && t.healthy() {
			primHealthy++
		}
	}
	oldLeft := 0
	for _, d := range svc.deployments[1:] {
		oldLeft += len(s.unstoppedTasks(svc, d))
	}
	sd := prim.sd
	if prim.rollout == "IN_PROGRESS" && !sd.terminal() {
		if primHealthy < desired {
			sd.stage = "SCALE_UP"
		} else {
			sd.stage = "CLEAN_UP"
		}
	}
	done := prim.rollout == "IN_PROGRESS" && primHealthy >= desired && len(s.unstoppedTasks(svc, prim)) == desired && oldLeft == 0
	if done && !prim.rollbackTarget && sd.alarmStatus == "MONITORING" && !sd.terminal() {
		// With alarms, ECS watches them for a bake period before it
		// calls a rolling deployment done.
		if sd.bakeUntil.IsZero() {
			sd.bakeUntil = s.now.Add(s.alarmBake(sd))
		}
		if s.now.Before(sd.bakeUntil) {
			sd.stage = "BAKE_TIME"
			return
		}
	}
	if done {
		prim.rollout = "COMPLETED"
		prim.reason = fmt.Sprintf("ECS deployment %s completed.", prim.id)
		prim.updated = s.now
		svc.deployments = svc.deployments[:1]
		svc.steady = prim.rev
		s.addEvent(svc, "(deployment %s) deployment completed.", prim.id)
		if !sd.terminal() {
			if sd.status == "ROLLBACK_IN_PROGRESS" {
				sd.status = "ROLLBACK_SUCCESSFUL"
			} else {
				sd.status = "SUCCESSFUL"
				sd.statusReason = ""
			}
			sd.finished, sd.updated, sd.stage = s.now, s.now, ""
			if sd.breakerStatus == "MONITORING" {
				sd.breakerStatus = "MONITORING_COMPLETE"
			}
			if sd.alarmStatus == "MONITORING" {
				sd.alarmStatus = "MONITORING_COMPLETE"
			}
		}
	}
	if prim.rollout == "COMPLETED" && svc.steadyEventAt.IsZero() && primHealthy == desired && len(all) == desired {
		svc.steadyEventAt = s.now
		s.addEvent(svc, "has reached a steady state.")
	}
}

func taskList(ids []string) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = "(task " + id + ")"
	}
	return strings.Join(parts, " ")
}

// writeTaskLogs appends lines to the awslogs stream of t's first
// container that logs with awslogs.
func (s *Server) writeTaskLogs(t *task, lines []string) {
	td := s.taskDefByRef(t.td)
	if td == nil {
		return
	}
	for _, c := range td.containers {
		if c.LogConfiguration == nil || c.LogConfiguration.LogDriver != "awslogs" {
			continue
		}
		o := c.LogConfiguration.Options
		s.appendLogs(o["awslogs-group"], o["awslogs-stream-prefix"]+"/"+c.Name+"/"+t.id, lines)
		return
	}
}

// alarmBake is how long a rolling deployment with alarms watches them
// after its tasks are healthy: bakeTimeInMinutes when set, otherwise the
// longest of its alarms' evaluation windows (EvaluationPeriods × Period),
// at least a minute.
func (s *Server) alarmBake(sd *svcDeployment) time.Duration {
	if sd.dc.BakeTimeInMinutes != nil {
		return time.Duration(*sd.dc.BakeTimeInMinutes) * time.Minute
	}
	bake := time.Minute
	for _, n := range sd.dc.Alarms.AlarmNames {
		a := s.cw.alarms[n]
		if a == nil {
			continue
		}
		periods, _ := strconv.Atoi(fmt.Sprint(a.raw["EvaluationPeriods"]))
		period, _ := strconv.Atoi(fmt.Sprint(a.raw["Period"]))
		if period == 0 {
			period = 60
		}
		bake = max(bake, time.Duration(periods*period)*time.Second)
	}
	return bake
}
