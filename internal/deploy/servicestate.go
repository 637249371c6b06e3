package deploy

import (
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/spec"
)

// RestartWindow is how far back status counts a service's task exits as
// its restarts.
const RestartWindow = api.RestartWindow

// CrashLoopExits is how many task exits within RestartWindow make a
// service crash-looping, when the newest of them is recent (see
// ServiceStateOf).
const CrashLoopExits = 3

// ServiceSnapshot is what ServiceStateOf judges: one service as its
// control loop last saw it.
type ServiceSnapshot struct {
	// Release is the live release (0: nothing deployed); Desired the
	// task count it should run.
	Release, Desired int
	// Healthy is how many tasks pass their health checks.
	Healthy int
	// Deploying is true while a deployment is active.
	Deploying bool
	// Exits are when the service's tasks ended on their own, any order.
	Exits []time.Time
	// Scaling is true while an autoscaling decision is carried out.
	Scaling bool
}

// RecentExits counts the exits within RestartWindow before now.
func RecentExits(exits []time.Time, now time.Time) int {
	n := 0
	for _, at := range exits {
		if !at.After(now) && now.Sub(at) <= RestartWindow {
			n++
		}
	}
	return n
}

// ServiceStateOf decides the state status shows for a service:
// api.ServiceStopped when nothing should run, api.ServiceCrashLooping when
// CrashLoopExits or more tasks exited within RestartWindow and the newest
// exit is within crashLoopWindow plus the longest crash backoff (it still
// goes on), api.ServiceDeploying while a deployment is active,
// api.ServiceScaling while an autoscaling decision is carried out,
// api.ServiceHealthy when every desired task is healthy and
// api.ServiceDegraded otherwise. Crash-looping wins over deploying: a
// deployment does not make a loop less true. It is pure.
func ServiceStateOf(s ServiceSnapshot, now time.Time) string {
	if s.Release == 0 || s.Desired == 0 {
		return api.ServiceStopped
	}
	var newest time.Time
	for _, at := range s.Exits {
		if at.After(newest) && !at.After(now) {
			newest = at
		}
	}
	if RecentExits(s.Exits, now) >= CrashLoopExits && now.Sub(newest) <= crashLoopWindow+Backoff(64) {
		return api.ServiceCrashLooping
	}
	if s.Deploying {
		return api.ServiceDeploying
	}
	if s.Scaling {
		return api.ServiceScaling
	}
	if s.Healthy >= s.Desired {
		return api.ServiceHealthy
	}
	return api.ServiceDegraded
}

// HeldState is the state status shows for a service in state whose
// self-healing is held (its restart budget is spent, deploy.Heal):
// api.ServiceDegraded, unless nothing should run or a deployment is
// active (a deploy lifts the hold). It is pure.
func HeldState(state string, held bool) string {
	if !held || state == api.ServiceStopped || state == api.ServiceDeploying {
		return state
	}
	return api.ServiceDegraded
}

// CanaryOutlook says, for a canary deployment at progress p, when its
// current pause ends (zero unless it holds a weight for a time) and what
// its next step is ("50%", "pause" for a manual gate, "" at the last).
func CanaryOutlook(d spec.Deploy, p Progress) (pauseUntil time.Time, next string) {
	if p.Strategy != StrategyCanary {
		return time.Time{}, ""
	}
	if p.Phase == PhasePause {
		pauseUntil = p.PhaseSince.Add(canaryHold(d))
	}
	plan := CanaryPlan(d)
	if p.Step+1 < len(plan) {
		next = plan[p.Step+1].String()
	}
	return pauseUntil, next
}
