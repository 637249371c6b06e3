package deploy

import (
	"fmt"
	"slices"
	"time"

	"github.com/berth-dev/berth/internal/spec"
)

// Progressive strategies handled by Advance.
const (
	StrategyCanary    = "canary"
	StrategyBlueGreen = "bluegreen"
)

// Phases of a progressive deployment, as stored in Progress.Phase.
const (
	// PhaseProvision: new tasks are starting, for the next canary weight or
	// the full blue/green fleet; traffic has not moved.
	PhaseProvision = "provision"
	// PhaseChecks (canary): smoke checks and webhook run against the new
	// fleet before it gets its first traffic.
	PhaseChecks = "checks"
	// PhasePause (canary): holding a weight for Pause (Linear.Every).
	PhasePause = "pause"
	// PhaseGate (canary): waiting for `berth promote`.
	PhaseGate = "gate"
	// PhasePreview (blue/green): the new fleet answers only the preview
	// header or host; pre-traffic checks run.
	PhasePreview = "preview"
	// PhaseSwitch (blue/green): all traffic has been switched to the new
	// fleet; the next call, once the switch is applied, starts the bake.
	PhaseSwitch = "switch"
	// PhaseBake (blue/green): live traffic on the new fleet, the old fleet
	// kept whole for an instant switch back.
	PhaseBake = "bake"
	// PhaseDone: the new release has all traffic; the old fleet goes.
	PhaseDone = "done"
	// PhaseRolledBack: all traffic is back on the old release; the new
	// fleet goes.
	PhaseRolledBack = "rolled_back"
)

// Tick is the longest Advance asks to wait between two calls while a
// deployment runs, so live analysis is evaluated at least this often.
const Tick = time.Second

// Progress is the state of one progressive deployment. It is JSON so the
// control plane stores it in the deployment record and a restarted
// control plane resumes from it.
type Progress struct {
	Strategy string `json:"strategy"`
	Phase    string `json:"phase"`
	// Step is the index in CanaryPlan of the step being worked on (canary).
	Step int `json:"step"`
	// Weight is the % of traffic meant for the new release. Always route
	// with Decision.Weight, which is 0 while the new fleet has no healthy
	// task.
	Weight     int       `json:"weight"`
	PhaseSince time.Time `json:"phase_since"`
	// Promoted is a `berth promote` received and not yet used up by a
	// pause, gate or bake.
	Promoted bool `json:"promoted,omitempty"`
	// SmokePassed and WebhookPassed record passed pre-traffic checks.
	SmokePassed   bool `json:"smoke_passed,omitempty"`
	WebhookPassed bool `json:"webhook_passed,omitempty"`
	// Reason is the final outcome once done or rolled back.
	Reason string `json:"reason,omitempty"`
	// Signals is what was seen at each step, oldest first, for history.
	Signals []StepRecord `json:"signals,omitempty"`
}

// StepRecord is what a deployment saw when it left a step or phase, and
// the verdict it reached there.
type StepRecord struct {
	At      time.Time     `json:"at"`
	Phase   string        `json:"phase"`
	Step    int           `json:"step"`
	Weight  int           `json:"weight"`
	Signals Signals       `json:"signals"`
	Checks  []CheckResult `json:"checks,omitempty"`
	// Verdict is "passed", "promoted", "checks passed", "succeeded",
	// "aborted" or "failed: <reason>".
	Verdict string `json:"verdict"`
}

// AdvanceInput is everything one progressive decision is made on.
type AdvanceInput struct {
	Now time.Time
	// Deploy is the new release's resolved deploy config (spec defaults
	// applied).
	Deploy   spec.Deploy
	Progress Progress
	// Count is the desired number of tasks; below 1 counts as 1.
	Count int
	// NewHealthy and OldHealthy are the healthy tasks of each release.
	NewHealthy, OldHealthy int
	// Signals are the new release's over the analysis window.
	Signals Signals
	// Smoke and Webhook are results of checks run because the previous
	// Decision asked for them (nil when none were run).
	Smoke   []CheckResult
	Webhook *CheckResult
	// Promote and Abort are set on exactly one call after `berth promote`
	// or `berth abort`; the decision remembers them in Progress.
	Promote, Abort bool
	Service        string
	FromRelease    int
	ToRelease      int
}

// Decision is what to do now. Apply it in this order: publish routing
// (Weight, PreviewOnly), then scale to NewCount/OldCount, so traffic leaves
// a fleet before its tasks are stopped; then store Progress.
type Decision struct {
	Progress Progress
	// NewCount and OldCount are how many tasks each release should have.
	NewCount, OldCount int
	// Weight is the % of traffic for the new release; the stable release
	// gets StableWeight. It is never above 0 while NewHealthy is 0.
	Weight int
	// PreviewOnly asks for the new fleet to be routed only for requests
	// carrying the preview header (or host), with weight 0 otherwise.
	PreviewOnly bool
	// Checks, when set, asks for smoke checks and the webhook to be run
	// against the new fleet and their results passed to the next call.
	Checks *CheckRequest
	// Done: the new release serves all traffic; stop the old fleet.
	Done bool
	// Rollback: all traffic is back on the old release; stop the new fleet.
	Rollback bool
	// Promoted is true when this call used up a `berth promote`.
	Promoted bool
	// Reason says why: the rollback reason, or what is being waited for.
	Reason string
	// Event describes what changed in this call (a weight, a phase), empty
	// when nothing did; for the event stream.
	Event string
	// WakeAt is the latest time to call Advance again; zero once finished.
	WakeAt time.Time
}

// StableWeight is the % of traffic for the release being replaced.
func (d Decision) StableWeight() int { return 100 - d.Weight }

// CheckRequest names the pre-traffic checks to run: GET each Smoke path
// against the new fleet (RunSmoke) and POST Payload to Webhook
// (CallWebhook). An empty field means that check is not wanted.
type CheckRequest struct {
	Smoke   []string
	Webhook string
	Payload WebhookPayload
}

// WebhookPayload is the JSON body POSTed to an analysis webhook.
type WebhookPayload struct {
	Service     string `json:"service"`
	Release     int    `json:"release"`
	FromRelease int    `json:"from_release"`
	Strategy    string `json:"strategy"`
	Phase       string `json:"phase"`
	Weight      int    `json:"weight"`
}

// Advance decides one step of a canary or blue/green deployment. It is
// pure: the same input always gives the same decision. Call it every
// Tick, on every health change of a task, and after `berth promote` or
// `berth abort`.
//
// Every call, before anything else: Abort rolls back ("aborted by user");
// a failed check result rolls back; while the new release has live traffic
// Analyze runs on Signals and a failure rolls back. A rollback's Reason
// ends with "; rolled back to release N" (N = FromRelease) when there is
// a release to go back to.
func Advance(in AdvanceInput) Decision {
	p := in.Progress
	p.Signals = slices.Clone(p.Signals)
	if in.Count < 1 {
		in.Count = 1
	}
	if p.Phase == "" {
		p = start(in)
	}
	switch p.Phase {
	case PhaseDone:
		return done(in, p)
	case PhaseRolledBack:
		return rolledBack(in, p)
	}
	if in.Abort {
		return rollback(in, p, "aborted by user", "aborted")
	}
	if in.Promote {
		p.Promoted = true
	}
	for _, c := range in.Smoke {
		if !c.OK {
			return rollback(in, p, fmt.Sprintf("smoke check %s failed (%s) on %s release %d",
				c.Name, c.Detail, in.Service, in.ToRelease), "")
		}
	}
	if c := in.Webhook; c != nil && !c.OK {
		return rollback(in, p, fmt.Sprintf("%s failed (%s) on %s release %d",
			c.Name, c.Detail, in.Service, in.ToRelease), "")
	}
	if live(p) {
		if ok, why := Analyze(ResolveAnalysis(in.Deploy.Analysis), in.Signals, in.Service, in.ToRelease); !ok {
			return rollback(in, p, why, "")
		}
	}
	switch p.Strategy {
	case StrategyCanary:
		return advanceCanary(in, p)
	case StrategyBlueGreen:
		return advanceBlueGreen(in, p)
	}
	return rollback(in, p, fmt.Sprintf("strategy %q is not progressive", p.Strategy), "")
}

// start is the state before the first decision.
func start(in AdvanceInput) Progress {
	p := Progress{Strategy: in.Deploy.Strategy, Phase: PhaseProvision, PhaseSince: in.Now}
	if p.Strategy == StrategyCanary && CanaryPlan(in.Deploy)[0].Gate {
		p.Phase = PhaseGate
	}
	return p
}

// live reports whether the new release carries user traffic, so its
// signals are judged.
func live(p Progress) bool {
	switch p.Strategy {
	case StrategyCanary:
		return p.Weight > 0
	case StrategyBlueGreen:
		return p.Phase == PhaseSwitch || p.Phase == PhaseBake
	}
	return false
}

// record appends what was seen when leaving the current step or phase.
func record(in AdvanceInput, p *Progress, verdict string, checks []CheckResult) {
	p.Signals = append(p.Signals, StepRecord{At: in.Now, Phase: p.Phase, Step: p.Step,
		Weight: p.Weight, Signals: in.Signals, Checks: checks, Verdict: verdict})
}

// enter moves p to phase as of now.
func enter(in AdvanceInput, p *Progress, phase string) {
	p.Phase, p.PhaseSince = phase, in.Now
}

// usePromote consumes a pending promote, recording it on d.
func usePromote(p *Progress, d *Decision) bool {
	if !p.Promoted {
		return false
	}
	p.Promoted, d.Promoted = false, true
	return true
}

// routed is the weight to publish: none to a fleet with no healthy task.
func routed(weight, healthy int) int {
	if healthy <= 0 {
		return 0
	}
	return min(max(weight, 0), 100)
}

// wake is the time to be called again: at the latest one Tick from now,
// earlier if a phase ends earlier.
func wake(now, end time.Time) time.Time {
	at := now.Add(Tick)
	if !end.IsZero() && end.Before(at) {
		return end
	}
	return at
}

func rollback(in AdvanceInput, p Progress, why, verdict string) Decision {
	reason := why
	if in.FromRelease > 0 {
		reason += fmt.Sprintf("; rolled back to release %d", in.FromRelease)
	}
	if verdict == "" {
		verdict = "failed: " + why
	}
	record(in, &p, verdict, nil)
	enter(in, &p, PhaseRolledBack)
	p.Weight, p.Promoted, p.Reason = 0, false, reason
	d := rolledBack(in, p)
	d.Event = "rolled back: " + reason
	return d
}

func rolledBack(in AdvanceInput, p Progress) Decision {
	return Decision{Progress: p, NewCount: 0, OldCount: in.Count, Weight: 0, Rollback: true, Reason: p.Reason}
}

func succeed(in AdvanceInput, p Progress, d Decision) Decision {
	p.Weight, p.Promoted = 100, false
	record(in, &p, "succeeded", nil)
	enter(in, &p, PhaseDone)
	p.Reason = fmt.Sprintf("%s release %d serves all traffic", in.Service, in.ToRelease)
	out := done(in, p)
	out.Promoted = d.Promoted
	out.Event = joinEvent(d.Event, p.Reason)
	return out
}

func done(in AdvanceInput, p Progress) Decision {
	return Decision{Progress: p, NewCount: in.Count, OldCount: 0,
		Weight: routed(100, in.NewHealthy), Done: true, Reason: p.Reason}
}

func joinEvent(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// checksPending reports whether pre-traffic checks are configured and
// have not all passed yet.
func checksPending(d spec.Deploy, p Progress) bool {
	a := d.Analysis
	return a != nil && (len(a.Smoke) > 0 && !p.SmokePassed || a.Webhook != "" && !p.WebhookPassed)
}

// takeChecks records passed check results from in, and returns the checks
// still to run (nil when none) and the results taken.
func takeChecks(in AdvanceInput, p *Progress) (*CheckRequest, []CheckResult) {
	a := in.Deploy.Analysis
	if a == nil {
		return nil, nil
	}
	var taken []CheckResult
	if len(a.Smoke) > 0 && !p.SmokePassed && len(in.Smoke) > 0 {
		p.SmokePassed = true // Advance rolled back already if one failed
		taken = append(taken, in.Smoke...)
	}
	if a.Webhook != "" && !p.WebhookPassed && in.Webhook != nil {
		p.WebhookPassed = true
		taken = append(taken, *in.Webhook)
	}
	var req CheckRequest
	if len(a.Smoke) > 0 && !p.SmokePassed {
		req.Smoke = slices.Clone(a.Smoke)
	}
	if a.Webhook != "" && !p.WebhookPassed {
		req.Webhook = a.Webhook
	}
	if req.Smoke == nil && req.Webhook == "" {
		return nil, taken
	}
	req.Payload = WebhookPayload{Service: in.Service, Release: in.ToRelease, FromRelease: in.FromRelease,
		Strategy: p.Strategy, Phase: p.Phase, Weight: p.Weight}
	return &req, taken
}
