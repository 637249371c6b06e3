package deploy

import (
	"fmt"
	"math"
	"time"

	"github.com/berth-dev/berth/internal/spec"
)

// defaultCanarySteps apply to a canary that sets neither steps nor linear.
var defaultCanarySteps = []spec.Step{{Percent: 10}, {Percent: 50}, {Percent: 100}}

// CanaryPlan is the list of steps a canary goes through: Steps as
// written, or Linear expanded ({step: 10%, every: 1m} → 10, 20, … 100),
// or 10, 50, 100 when neither is set. The plan always ends at 100%; gates
// after it are dropped.
func CanaryPlan(d spec.Deploy) []spec.Step {
	var plan []spec.Step
	switch {
	case len(d.Steps) > 0:
		for _, s := range d.Steps {
			if !s.Gate {
				s.Percent = min(max(s.Percent, 1), 100)
			}
			plan = append(plan, s)
			if !s.Gate && s.Percent == 100 {
				break
			}
		}
	case d.Linear != nil && d.Linear.Step > 0:
		prev := 0
		for k := 1; prev < 100; k++ {
			w := min(int(math.Round(float64(k)*float64(d.Linear.Step))), 100)
			if w > prev {
				plan = append(plan, spec.Step{Percent: w})
				prev = w
			}
		}
	default:
		plan = append(plan, defaultCanarySteps...)
	}
	if last := plan[len(plan)-1]; last.Gate || last.Percent < 100 {
		plan = append(plan, spec.Step{Percent: 100})
	}
	return plan
}

// canaryHold is how long a canary holds each weight: Linear.Every for a
// linear canary, Pause otherwise.
func canaryHold(d spec.Deploy) time.Duration {
	if len(d.Steps) == 0 && d.Linear != nil && d.Linear.Step > 0 {
		return d.Linear.Every.Std()
	}
	return d.Pause.Std()
}

// CanaryTasks is how many tasks of the new release a canary runs at
// weight: its share of count, rounded up, at least 1.
func CanaryTasks(count, weight int) int {
	n := (count*weight + 99) / 100
	return min(max(n, 1), max(count, 1))
}

// advanceCanary moves a canary as far as the input allows in one call:
// provision the next weight's tasks → (first traffic only) checks → apply
// the weight → pause or gate → next step … → done at 100%.
func advanceCanary(in AdvanceInput, p Progress) Decision {
	plan := CanaryPlan(in.Deploy)
	last := len(plan) - 1
	hold := canaryHold(in.Deploy)
	var d Decision
	// Each pass makes one transition; a plan of n steps needs at most
	// about 3n of them in one call.
	for range 4*len(plan) + 4 {
		p.Step = min(max(p.Step, 0), last)
		switch p.Phase {
		case PhaseProvision:
			w := plan[p.Step].Percent
			need := CanaryTasks(in.Count, w)
			if in.NewHealthy < need {
				return canaryWait(in, p, d, need, time.Time{},
					fmt.Sprintf("waiting for %d of %d new tasks healthy for %d%%", need-in.NewHealthy, need, w))
			}
			if p.Weight == 0 && checksPending(in.Deploy, p) {
				enter(in, &p, PhaseChecks)
				continue
			}
			p.Weight = w
			d.Event = joinEvent(d.Event, fmt.Sprintf("%d%% of traffic on %s release %d", w, in.Service, in.ToRelease))
			if p.Step == last {
				return succeed(in, p, d)
			}
			if plan[p.Step+1].Gate {
				p.Step++
				enter(in, &p, PhaseGate)
			} else {
				enter(in, &p, PhasePause)
			}
		case PhaseChecks:
			req, taken := takeChecks(in, &p)
			if taken != nil {
				record(in, &p, "checks passed", taken)
			}
			if req != nil {
				out := canaryWait(in, p, d, CanaryTasks(in.Count, plan[p.Step].Percent), time.Time{}, "waiting for pre-traffic checks")
				out.Checks, out.PreviewOnly, out.WakeAt = req, true, in.Now
				return out
			}
			enter(in, &p, PhaseProvision)
		case PhasePause:
			end := p.PhaseSince.Add(hold)
			switch {
			case usePromote(&p, &d):
				record(in, &p, "promoted", nil)
			case !in.Now.Before(end):
				record(in, &p, "passed", nil)
			default:
				return canaryWait(in, p, d, CanaryTasks(in.Count, p.Weight), end,
					fmt.Sprintf("holding %d%% until %s", p.Weight, end.UTC().Format(time.RFC3339)))
			}
			p.Step++
			enter(in, &p, PhaseProvision)
		case PhaseGate:
			if !usePromote(&p, &d) {
				return canaryWait(in, p, d, CanaryTasks(in.Count, p.Weight), time.Time{},
					fmt.Sprintf("holding %d%%: waiting for berth promote %s", p.Weight, in.Service))
			}
			record(in, &p, "promoted", nil)
			p.Step++
			if plan[min(p.Step, last)].Gate {
				enter(in, &p, PhaseGate)
			} else {
				enter(in, &p, PhaseProvision)
			}
		default:
			return rollback(in, p, fmt.Sprintf("canary cannot be in phase %q", p.Phase), "")
		}
	}
	return rollback(in, p, "canary made no progress", "")
}

// canaryWait is a decision that keeps the current weight and runs newCount
// new tasks (none while no traffic is meant for them and none are being
// provisioned).
func canaryWait(in AdvanceInput, p Progress, d Decision, newCount int, end time.Time, why string) Decision {
	if p.Weight == 0 && p.Phase == PhaseGate {
		newCount = 0
	}
	d.Progress = p
	d.NewCount, d.OldCount = newCount, in.Count
	d.Weight = routed(p.Weight, in.NewHealthy)
	d.Reason = why
	d.WakeAt = wake(in.Now, end)
	return d
}
