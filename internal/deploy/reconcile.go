package deploy

import "time"

// View is what one pass of a service's control loop observes: the desired
// state, the live tasks and the active deployment, with everything the
// decision needs to judge it.
type View struct {
	// Release and Count are the desired state (Release 0: nothing runs).
	Release, Count int
	// MaxSurge and MaxUnavailable bound a rolling move.
	MaxSurge, MaxUnavailable int
	// Tasks are the live, non-draining tasks.
	Tasks []TaskView
	// Deployment is the active deployment; nil when none runs.
	Deployment *DeploymentView
	// DepsReady is false while a dependency of the same release set is
	// still rolling out: the deployment waits.
	DepsReady bool
	// NotBefore is when the crash backoff lets a task start again.
	NotBefore time.Time
}

// DeploymentView is the active deployment as Reconcile judges it.
type DeploymentView struct {
	ToRelease, FromRelease int
	Strategy               string
	// Deadline is how long a new task may take to become healthy.
	Deadline time.Duration
	// Breaker is how many failures in a row end the deployment.
	Breaker int
	// Failures are the new release's failures in a row.
	Failures []Failure
	// LastCheck is the newest failed health check per task.
	LastCheck map[string]string
}

// Step is what Reconcile decided for one pass. The loop applies it in one
// place: roll back (then decide again on the new desired state), hand over
// to the progressive controller, or route, stop and start; finish the
// deployment; wake again at WakeAt.
type Step struct {
	// RollBack, when not empty, is why the active deployment failed: the
	// release it came from becomes the desired one again.
	RollBack string
	// Progressive hands the pass to the canary/blue-green controller.
	Progressive bool
	// Waiting says why nothing moves (a dependency still rolling out).
	Waiting string
	// Route, Stop and Start are the rolling convergence's moves.
	Route []string
	Stop  []string
	Start int
	// Finish is set when the active deployment has converged.
	Finish bool
	// Again asks for another pass at once (stopped tasks left the view).
	Again bool
	// WakeAt is when the next pass is due without any other trigger
	// (a health deadline, the end of a crash backoff); zero for none.
	WakeAt time.Time
}

// Reconcile decides one pass of a service's loop: judge the active
// deployment (deadline, circuit breaker), gate it on its dependencies,
// hand progressive strategies over, converge toward the desired release,
// hold starts during a crash backoff, finish a converged deployment and
// say when to look again. It is pure: the same view and time give the
// same step.
func Reconcile(v View, now time.Time) Step {
	d := v.Deployment
	if d != nil {
		verdict := Judge(JudgeInput{Now: now, Release: d.ToRelease, Tasks: v.Tasks, Deadline: d.Deadline,
			Failures: d.Failures, Breaker: d.Breaker, LastCheck: d.LastCheck})
		if verdict.Failed {
			return Step{RollBack: verdict.Reason}
		}
		if !v.DepsReady {
			return Step{Waiting: "a dependency of the same release set is still rolling out"}
		}
		if d.Strategy == StrategyCanary || d.Strategy == StrategyBlueGreen {
			return Step{Progressive: true}
		}
	}
	count := v.Count
	if v.Release == 0 {
		count = 0
	}
	p := Converge(Input{Release: v.Release, Count: count, MaxSurge: v.MaxSurge, MaxUnavailable: v.MaxUnavailable, Tasks: v.Tasks})
	s := Step{Route: p.Route, Stop: p.Stop, Start: p.Start, Again: len(p.Stop) > 0}
	if s.Start > 0 && now.Before(v.NotBefore) {
		s.Start, s.WakeAt = 0, v.NotBefore
	}
	if d != nil && p.Converged {
		s.Finish = true
	}
	if s.Start > 0 && d != nil && v.Release == d.ToRelease && d.Deadline > 0 {
		// The tasks started now must be healthy by their deadline.
		if at := now.Add(d.Deadline); s.WakeAt.IsZero() || at.Before(s.WakeAt) {
			s.WakeAt = at
		}
	}
	if d != nil && v.Release != 0 {
		if at := NextDeadline(JudgeInput{Release: d.ToRelease, Tasks: v.Tasks, Deadline: d.Deadline}); !at.IsZero() && (s.WakeAt.IsZero() || at.Before(s.WakeAt)) {
			s.WakeAt = at
		}
	}
	return s
}

// Crashes is a service's recent crash history, for the restart backoff.
type Crashes struct {
	Count int
	Last  time.Time
	// NotBefore is when a replacement may start.
	NotBefore time.Time
}

// crashLoopWindow is how soon after the previous crash a crash counts as
// part of a loop; a service that ran fine for longer starts afresh.
const crashLoopWindow = time.Minute

// Crashed records a task crash at now and returns the new history: crashes
// within crashLoopWindow of the last one back off exponentially (Backoff).
func (c Crashes) Crashed(now time.Time) Crashes {
	if now.Sub(c.Last) > crashLoopWindow {
		c.Count = 0
	}
	c.Last = now
	c.Count++
	c.NotBefore = now.Add(Backoff(c.Count - 1))
	return c
}
