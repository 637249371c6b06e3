package deploy

import (
	"sort"
	"time"
)

// TaskPhase is where a task is in its life, as the decisions see it.
type TaskPhase int

// Task phases. Only Healthy tasks receive traffic.
const (
	Starting  TaskPhase = iota // started, not yet passed its health check
	Healthy                    // passing health checks
	Unhealthy                  // was healthy or started, now failing
)

// TaskView is what the decisions know of one live task (tasks that exited,
// or that are draining, are not passed in).
type TaskView struct {
	ID        string
	Release   int
	Phase     TaskPhase
	StartedAt time.Time
}

// Input is the state a rolling convergence is decided on.
type Input struct {
	// Release is the release that should run Count tasks.
	Release        int
	Count          int
	MaxSurge       int
	MaxUnavailable int
	Tasks          []TaskView
}

// Plan is what to do next: start tasks of Input.Release, route the listed
// tasks, drain and stop the others listed.
type Plan struct {
	Start int
	// Route is every task id that should receive traffic now.
	Route []string
	// Stop lists task ids to take out of routing, drain and stop.
	Stop []string
	// Converged is true when exactly Count healthy tasks of the release run
	// and nothing else does.
	Converged bool
}

// Converge decides one step of moving a service to Input.Release with
// Input.Count tasks, never letting routable capacity fall below
// Count-MaxUnavailable and never running more than Count+MaxSurge tasks.
// It serves deployments, rollbacks, scaling and self-healing alike: a
// crashed task is simply missing from Input.Tasks and gets replaced.
func Converge(in Input) Plan {
	surge, unavail := in.MaxSurge, in.MaxUnavailable
	if surge < 0 {
		surge = 0
	}
	if unavail < 0 {
		unavail = 0
	}
	if surge == 0 && unavail == 0 {
		surge = 1 // otherwise no progress is possible
	}
	var newHealthy, newOther, oldHealthy, oldOther []TaskView
	for _, t := range in.Tasks {
		cur := t.Release == in.Release
		switch {
		case cur && t.Phase == Healthy:
			newHealthy = append(newHealthy, t)
		case cur:
			newOther = append(newOther, t)
		case t.Phase == Healthy:
			oldHealthy = append(oldHealthy, t)
		default:
			oldOther = append(oldOther, t)
		}
	}
	// Oldest first within each group, so stops are deterministic.
	for _, g := range [][]TaskView{newHealthy, newOther, oldHealthy, oldOther} {
		sort.SliceStable(g, func(i, j int) bool {
			if !g[i].StartedAt.Equal(g[j].StartedAt) {
				return g[i].StartedAt.Before(g[j].StartedAt)
			}
			return g[i].ID < g[j].ID
		})
	}

	var p Plan
	stop := func(t TaskView) { p.Stop = append(p.Stop, t.ID) }

	// Tasks of the target release that went unhealthy are replaced; old
	// tasks that are not healthy serve nobody and are stopped at once.
	var newStarting []TaskView
	for _, t := range newOther {
		if t.Phase == Unhealthy {
			stop(t)
		} else {
			newStarting = append(newStarting, t)
		}
	}
	for _, t := range oldOther {
		stop(t)
	}

	// Scale down: too many tasks of the target release.
	if excess := len(newHealthy) + len(newStarting) - in.Count; excess > 0 {
		// Drop starting ones first, then the newest healthy ones.
		for excess > 0 && len(newStarting) > 0 {
			stop(newStarting[len(newStarting)-1])
			newStarting = newStarting[:len(newStarting)-1]
			excess--
		}
		// Keep at least Count healthy routable; with old tasks gone first.
		for excess > 0 && len(newHealthy) > 0 {
			stop(newHealthy[len(newHealthy)-1])
			newHealthy = newHealthy[:len(newHealthy)-1]
			excess--
		}
	}

	// Stop old healthy tasks while routable capacity stays at or above the
	// floor.
	floor := in.Count - unavail
	if floor < 0 {
		floor = 0
	}
	routable := len(newHealthy) + len(oldHealthy)
	keepOld := oldHealthy
	for len(keepOld) > 0 && routable-1 >= floor {
		stop(keepOld[0])
		keepOld = keepOld[1:]
		routable--
	}
	// If no new task is wanted any more, old tasks beyond the floor go too;
	// the loop above already handled that. Old tasks that must stay keep
	// serving until new ones are healthy.

	live := len(newHealthy) + len(newStarting) + len(keepOld)
	want := in.Count - len(newHealthy) - len(newStarting)
	room := in.Count + surge - live
	if want > room {
		want = room
	}
	if want > 0 {
		p.Start = want
	}
	for _, t := range newHealthy {
		p.Route = append(p.Route, t.ID)
	}
	for _, t := range keepOld {
		p.Route = append(p.Route, t.ID)
	}
	sort.Strings(p.Route)
	p.Converged = len(p.Stop) == 0 && p.Start == 0 && len(keepOld) == 0 &&
		len(newStarting) == 0 && len(newHealthy) == in.Count
	return p
}
