package deploy

import (
	"fmt"
	"time"

	"github.com/berth-dev/berth/internal/spec"
)

// blueGreenGate reports whether a blue/green waits for `berth promote`
// in its preview (a `pause` step in its steps).
func blueGreenGate(d spec.Deploy) bool {
	for _, s := range d.Steps {
		if s.Gate {
			return true
		}
	}
	return false
}

// blueGreenPreview reports whether a blue/green has a preview phase: a
// preview route, pre-traffic checks, a pause or a gate.
func blueGreenPreview(d spec.Deploy) bool {
	a := d.Analysis
	return d.Preview != nil || d.Pause > 0 || blueGreenGate(d) ||
		a != nil && (len(a.Smoke) > 0 || a.Webhook != "")
}

// advanceBlueGreen moves a blue/green as far as the input allows in one
// call: provision the full new fleet → preview (checks, pause, gate) →
// switch all traffic → bake with the old fleet kept → done.
func advanceBlueGreen(in AdvanceInput, p Progress) Decision {
	var d Decision
	for range 6 {
		switch p.Phase {
		case PhaseProvision:
			if in.NewHealthy < in.Count {
				return blueGreenWait(in, p, d, time.Time{},
					fmt.Sprintf("waiting for %d of %d new tasks healthy", in.Count-in.NewHealthy, in.Count))
			}
			record(in, &p, "passed", nil)
			if blueGreenPreview(in.Deploy) {
				enter(in, &p, PhasePreview)
				d.Event = joinEvent(d.Event, fmt.Sprintf("%s release %d is up on the preview route", in.Service, in.ToRelease))
			} else {
				return blueGreenSwitch(in, p, d)
			}
		case PhasePreview:
			req, taken := takeChecks(in, &p)
			if taken != nil {
				record(in, &p, "checks passed", taken)
			}
			if req != nil {
				out := blueGreenWait(in, p, d, time.Time{}, "waiting for pre-traffic checks")
				out.Checks, out.WakeAt = req, in.Now
				return out
			}
			if in.NewHealthy < in.Count {
				return blueGreenWait(in, p, d, time.Time{},
					fmt.Sprintf("preview: waiting for %d of %d new tasks healthy before the switch", in.Count-in.NewHealthy, in.Count))
			}
			end := p.PhaseSince.Add(in.Deploy.Pause.Std())
			gate := blueGreenGate(in.Deploy)
			if (gate || in.Now.Before(end)) && !usePromote(&p, &d) {
				if gate {
					return blueGreenWait(in, p, d, time.Time{},
						fmt.Sprintf("preview: waiting for berth promote %s", in.Service))
				}
				return blueGreenWait(in, p, d, end,
					fmt.Sprintf("preview until %s", end.UTC().Format(time.RFC3339)))
			}
			verdict := "passed"
			if d.Promoted {
				verdict = "promoted"
			}
			record(in, &p, verdict, nil)
			return blueGreenSwitch(in, p, d)
		case PhaseSwitch:
			// Called again after the switch was applied: the bake starts.
			enter(in, &p, PhaseBake)
		case PhaseBake:
			end := p.PhaseSince.Add(in.Deploy.Bake.Std())
			if in.Now.Before(end) && !usePromote(&p, &d) {
				return blueGreenWait(in, p, d, end,
					fmt.Sprintf("baking until %s; the old fleet is kept for an instant switch back", end.UTC().Format(time.RFC3339)))
			}
			return succeed(in, p, d)
		default:
			return rollback(in, p, fmt.Sprintf("blue/green cannot be in phase %q", p.Phase), "")
		}
	}
	return rollback(in, p, "blue/green made no progress", "")
}

// blueGreenSwitch moves all traffic to the new fleet at once.
func blueGreenSwitch(in AdvanceInput, p Progress, d Decision) Decision {
	enter(in, &p, PhaseSwitch)
	p.Weight = 100
	d.Event = joinEvent(d.Event, fmt.Sprintf("all traffic switched to %s release %d", in.Service, in.ToRelease))
	return blueGreenWait(in, p, d, in.Now, "switching all traffic")
}

// blueGreenWait is a decision that keeps both fleets whole and the
// current weight.
func blueGreenWait(in AdvanceInput, p Progress, d Decision, end time.Time, why string) Decision {
	d.Progress = p
	d.NewCount, d.OldCount = in.Count, in.Count
	d.Weight = routed(p.Weight, in.NewHealthy)
	d.PreviewOnly = p.Phase == PhasePreview
	d.Reason = why
	d.WakeAt = wake(in.Now, end)
	return d
}
