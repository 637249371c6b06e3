package deploy

import (
	"fmt"
	"time"
)

// HealBudget is a service's anti-thrash budget (spec heal:): at most
// MaxRestarts restarts within Window.
type HealBudget struct {
	MaxRestarts int
	Window      time.Duration
}

// HealState is what the healer remembers of one service between passes.
// The control loop keeps it; Heal returns the next one.
type HealState struct {
	// Restarts are when replacements of failed tasks were started.
	Restarts []time.Time
	// ResetAt is when the budget was last reset (a deploy, berth
	// restart): restarts before it do not count.
	ResetAt time.Time
	// Owed is how many failed tasks (exited, or stopped as unhealthy) are
	// not yet replaced.
	Owed int
	// Held is true while the spent budget holds replacements back.
	Held bool
}

// HealInput is what one healing decision is made on.
type HealInput struct {
	Now    time.Time
	Budget HealBudget
	State  HealState
	// Want is how many tasks the convergence would start now.
	Want int
	// Starting is how many tasks of the live release are started and not
	// yet healthy: replacements still in flight.
	Starting int
	// Deploying is true while a deployment is active: its own judge
	// (deadline, circuit breaker) handles failures, and every start goes.
	Deploying bool
}

// HealDecision is what the loop applies: how many tasks to start, how many
// of them are restarts (counted against the budget), when to look again,
// and the budget's edges for events.
type HealDecision struct {
	Start    int
	Restarts int
	WakeAt   time.Time
	// Spent is set on the pass the budget runs out with a task still owed;
	// Resumed on the pass a held service may restart again.
	Spent, Resumed bool
	// Used is how many restarts count within the window now.
	Used  int
	State HealState
}

// RestartsIn counts the restarts that count against the budget at now:
// within the window and after the last reset.
func (s HealState) RestartsIn(b HealBudget, now time.Time) int {
	n := 0
	for _, at := range s.Restarts {
		if s.counts(b, at, now) {
			n++
		}
	}
	return n
}

func (s HealState) counts(b HealBudget, at, now time.Time) bool {
	return !at.Before(s.ResetAt) && !at.After(now) && now.Sub(at) < b.Window
}

// Failed records n failed tasks that are owed a replacement. Two triggers
// for one task must call it once (the loop records a task's failure when
// it leaves the live set, which happens once).
func (s HealState) Failed(n int) HealState {
	s.Owed += n
	return s
}

// Reset starts the budget afresh at now (a deploy or berth restart).
func (s HealState) Reset(now time.Time) HealState {
	return HealState{ResetAt: now}
}

// restartBackoff is the wait before the next restart after n restarts
// within crashLoopWindow: the first goes at once, then 0.5s, 1s, 2s, …
// capped at 30s (Backoff).
func restartBackoff(restarts []time.Time, now time.Time) (time.Time, bool) {
	n := 0
	var last time.Time
	for _, at := range restarts {
		if now.Sub(at) <= crashLoopWindow {
			n++
		}
		if at.After(last) {
			last = at
		}
	}
	if n == 0 {
		return time.Time{}, false
	}
	return last.Add(Backoff(n)), true
}

// Heal decides the restarts of one pass. Outside a deployment, starts the
// convergence wants beyond the owed replacements (a scale-up) go at once;
// owed replacements go one at a time (never while another replacement is
// still starting, so restarted tasks never go down together), the first
// at once and later ones after an exponential backoff; once MaxRestarts
// restarts were made within Window nothing more is restarted until a
// restart leaves the window (WakeAt says when) or the budget is reset.
// It is pure.
func Heal(in HealInput) HealDecision {
	st := in.State
	b := in.Budget
	if b.MaxRestarts <= 0 {
		b.MaxRestarts = 5
	}
	if b.Window <= 0 {
		b.Window = 10 * time.Minute
	}
	// Forget restarts that no longer count.
	keep := st.Restarts[:0:0]
	for _, at := range st.Restarts {
		if st.counts(b, at, in.Now) {
			keep = append(keep, at)
		}
	}
	st.Restarts = keep
	if st.Owed > in.Want {
		st.Owed = max(in.Want, 0)
	}
	d := HealDecision{Used: len(st.Restarts)}
	if in.Deploying {
		// A deployment's starts are its own; what it replaced is not owed.
		st.Owed, st.Held = 0, false
		d.Start, d.State = in.Want, st
		return d
	}
	fresh := in.Want - st.Owed
	d.Start = max(fresh, 0)
	if st.Owed == 0 {
		if st.Held {
			st.Held, d.Resumed = false, true
		}
		d.State = st
		return d
	}
	if len(st.Restarts) >= b.MaxRestarts {
		if !st.Held {
			st.Held, d.Spent = true, true
		}
		oldest := st.Restarts[0]
		for _, at := range st.Restarts {
			if at.Before(oldest) {
				oldest = at
			}
		}
		d.WakeAt = oldest.Add(b.Window)
		d.State = st
		return d
	}
	if st.Held {
		st.Held, d.Resumed = false, true
	}
	if in.Starting > 0 {
		// Staggered: the next replacement waits for this one (its health
		// verdict or its exit wakes the loop).
		d.State = st
		return d
	}
	if at, ok := restartBackoff(st.Restarts, in.Now); ok && in.Now.Before(at) {
		d.WakeAt = at
		d.State = st
		return d
	}
	d.Start++
	d.Restarts = 1
	st.Owed--
	st.Restarts = append(st.Restarts, in.Now)
	d.Used = len(st.Restarts)
	d.State = st
	return d
}

// BudgetReason says why a held service is degraded: the budget spent and
// the last failure seen.
func BudgetReason(b HealBudget, used int, lastFailure string) string {
	msg := fmt.Sprintf("restart budget spent: %d restarts within %s; no more restarts until the window passes, the next deploy or berth restart", used, b.Window)
	if lastFailure != "" {
		msg += "; last failure: " + lastFailure
	}
	return msg
}

// PostDeployGrace is how long after a deployment succeeded a crash loop of
// its release rolls it back to the release before (like ECS's deployment
// circuit breaker, but also catching tasks that die a few seconds after
// they first passed their health checks).
const PostDeployGrace = 5 * time.Minute

// PostDeployInput is what the post-deployment circuit breaker decides on.
type PostDeployInput struct {
	Now time.Time
	// Release is the live release; SucceededAt when its deployment
	// succeeded (zero: no recent success); From the release it replaced
	// (0: none to go back to).
	Release, From int
	SucceededAt   time.Time
	// Failures are when the live release's tasks failed (exited or went
	// unhealthy) since SucceededAt.
	Failures []time.Time
	// Breaker is how many failures roll the release back (the deploy's
	// circuit_breaker, default 3).
	Breaker int
}

// PostDeployRollback decides whether the live release crash-loops within
// PostDeployGrace of its deployment succeeding and must go back to the
// release before; reason says why. It is pure.
func PostDeployRollback(in PostDeployInput) (rollback bool, reason string) {
	if in.From == 0 || in.Release == 0 || in.SucceededAt.IsZero() {
		return false, ""
	}
	breaker := in.Breaker
	if breaker <= 0 {
		breaker = 3
	}
	n := 0
	var last time.Time
	for _, at := range in.Failures {
		if at.Before(in.SucceededAt) || at.Sub(in.SucceededAt) > PostDeployGrace || at.After(in.Now) {
			continue
		}
		n++
		if at.After(last) {
			last = at
		}
	}
	if n < breaker {
		return false, ""
	}
	return true, fmt.Sprintf("release %d failed %d times within %s after its deployment succeeded (last %s after)",
		in.Release, n, PostDeployGrace, last.Sub(in.SucceededAt).Round(100*time.Millisecond))
}
