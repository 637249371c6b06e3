package control_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/deploy"
	"github.com/berth-dev/berth/internal/store"
)

// The deploy: blocks under test. The canary's plan is 10% (pause 1s),
// 50%, a gate, 100%; the blue/green previews for 1s and bakes for 2s. New
// tasks take 1s to pass their health check (CHAOS_READY_AFTER), so each
// provision phase lasts long enough to be caught.
const (
	restartCanary = `      strategy: canary
      steps: [10%, 50%, pause, 100%]
      pause: 1s
      analysis: {max_5xx_rate: 5%, min_requests: 20, window: 5s}`
	restartBlueGreen = `      strategy: bluegreen
      pause: 1s
      bake: 2s
      analysis: {max_5xx_rate: 5%, min_requests: 20, window: 5s}`
	slowStart = "      CHAOS_READY_AFTER: 1s\n"
)

// progPhase is a moment of a progressive deployment to act in.
type progPhase struct {
	name     string
	strategy string // the deploy: block
	// at reports whether the deployment is in the phase to act in.
	at func(p *progPlane, d api.Deployment) bool
	// timed is how long the phase lasts by itself (0: until tasks are
	// healthy or a promote): a restart must not lengthen it.
	timed time.Duration
}

// provisioning: the deployment is in phase provision at step, and the new
// tasks it started (want of them) run but are not healthy yet.
func provisioning(step, want int) func(*progPlane, api.Deployment) bool {
	return func(p *progPlane, d api.Deployment) bool {
		if d.Phase != deploy.PhaseProvision || d.Step != step {
			return false
		}
		started := 0
		for _, task := range p.tasks() {
			if task.Release == d.ToRelease && task.Addr != "" && task.State == store.TaskStarting {
				started++
			}
		}
		return started >= want
	}
}

func inPhase(phase string) func(*progPlane, api.Deployment) bool {
	return func(_ *progPlane, d api.Deployment) bool { return d.Phase == phase }
}

var progPhases = []progPhase{
	{name: "canary/provision", strategy: restartCanary, at: provisioning(0, 1)},
	{name: "canary/pause", strategy: restartCanary, at: inPhase(deploy.PhasePause), timed: time.Second},
	{name: "canary/gate", strategy: restartCanary, at: inPhase(deploy.PhaseGate)},
	{name: "canary/100%", strategy: restartCanary, at: provisioning(3, 1)},
	{name: "bluegreen/provision", strategy: restartBlueGreen, at: provisioning(0, 2)},
	{name: "bluegreen/preview", strategy: restartBlueGreen, at: inPhase(deploy.PhasePreview), timed: time.Second},
	{name: "bluegreen/bake", strategy: restartBlueGreen, at: inPhase(deploy.PhaseBake), timed: 2 * time.Second},
}

// startAt deploys release 1, puts it under load, starts a progressive
// deployment of release 2 and waits until it is in the phase, promoting
// past a gate on the way.
func startAt(t *testing.T, ph progPhase) (*progPlane, *progLoad, api.Deployment) {
	t.Helper()
	p := newProgPlane(t)
	p.deployStable()
	l := startProgLoad(t, p.url+"/catalog/items", 2)
	d := p.deploy(ph.strategy, slowStart)
	at := p.waitDeployment(d.ID, "phase "+ph.name, 20*time.Second, func(got api.Deployment) bool {
		if got.Finished() {
			t.Fatalf("deployment ended (%s: %s) before reaching %s", got.State, got.Reason, ph.name)
		}
		if ph.at(p, got) {
			return true
		}
		if got.Phase == deploy.PhaseGate {
			// On the way to a later phase: go past the gate.
			if err := p.srv.Promote(context.Background(), "catalog"); err != nil {
				t.Fatalf("promote at the gate: %v", err)
			}
		}
		return false
	})
	return p, l, at
}

// TestProgressiveRestart_ResumesInEveryPhase: a control plane that
// crashes in any phase of a canary or blue/green is replaced by a new one
// that adopts the same task processes (starts no duplicate), resumes
// where the old one was — a timed phase ends when it would have — and
// takes the release to 100% with no failed request on the way.
func TestProgressiveRestart_ResumesInEveryPhase(t *testing.T) {
	for _, ph := range progPhases {
		t.Run(ph.name, func(t *testing.T) {
			p, l, at := startAt(t, ph)
			since := progressOf(t, at).PhaseSince

			before, after := p.restart()
			if ids(before) != ids(after) {
				t.Fatalf("the new control plane runs tasks %s, the crashed one ran %s", ids(after), ids(before))
			}
			for i := range before {
				if before[i].Addr != after[i].Addr {
					t.Errorf("task %s moved from %s to %s: it was not adopted", before[i].ID, before[i].Addr, after[i].Addr)
				}
			}
			if got := p.deployment(at.ID); got.Finished() {
				t.Fatalf("the restart ended the deployment (%s: %s)", got.State, got.Reason)
			}

			final := p.finishPromoting(at.ID, 30*time.Second)
			if final.State != store.DeploySucceeded {
				t.Fatalf("deployment %s after the restart: %s", final.State, final.Reason)
			}
			pr := progressOf(t, final)
			if ph.timed > 0 {
				checkPhaseLength(t, pr, at.Phase, since, ph.timed)
			}
			if strings.HasPrefix(ph.name, "canary/") && !passedGateByPromote(pr) {
				t.Errorf("the canary went past its gate without a promote: %+v", pr.Signals)
			}

			l.waitMore(t, final.FinishedAt, 20)
			l.checkServedBy(t, final.FinishedAt, "2")
			l.checkNoFailures(t)

			// The old fleet goes; the adopted new tasks stay; nothing else runs.
			var adoptedNew []string
			for _, task := range after {
				if task.Release == 2 {
					adoptedNew = append(adoptedNew, task.ID)
				}
			}
			waitUntil(t, "only release 2's two tasks running", 20*time.Second, p.srv, func() bool {
				running := p.taskIDsRunning()
				return len(running) == 2 && allOfRelease(running, 2)
			})
			running := p.taskIDsRunning()
			for _, id := range adoptedNew {
				if !slices.Contains(running, id) {
					t.Errorf("adopted task %s no longer runs; running: %v", id, running)
				}
			}
		})
	}
}

// TestProgressiveAbort_RollsBackInEveryPhase: `berth abort` in any phase
// puts all traffic back on the stable release at once, with no failed
// request, and stops the new fleet.
func TestProgressiveAbort_RollsBackInEveryPhase(t *testing.T) {
	for _, ph := range progPhases {
		t.Run(ph.name, func(t *testing.T) {
			p, l, at := startAt(t, ph)
			if err := p.srv.Abort(context.Background(), "catalog"); err != nil {
				t.Fatal(err)
			}
			final := p.waitFinished(at.ID, 10*time.Second)
			if final.State != store.DeployRolledBack {
				t.Fatalf("aborted deployment ended %s: %s", final.State, final.Reason)
			}
			if want := "aborted by user; rolled back to release 1"; !strings.Contains(final.Reason, want) {
				t.Errorf("reason %q does not say %q", final.Reason, want)
			}
			if d := final.FinishedAt.Sub(at.StartedAt); d <= 0 {
				t.Errorf("finished %s before it started", d)
			}
			l.waitMore(t, final.FinishedAt, 20)
			l.checkServedBy(t, final.FinishedAt, "1")
			l.checkNoFailures(t)
			waitUntil(t, "only release 1's two tasks running", 20*time.Second, p.srv, func() bool {
				running := p.taskIDsRunning()
				return len(running) == 2 && allOfRelease(running, 1)
			})
		})
	}
}

// TestProgressiveRestart_AbortAfterRestart: an abort given to the new
// control plane rolls back a deployment the crashed one started.
func TestProgressiveRestart_AbortAfterRestart(t *testing.T) {
	p, l, at := startAt(t, progPhases[2]) // canary at its gate
	p.restart()
	if err := p.srv.Abort(context.Background(), "catalog"); err != nil {
		t.Fatal(err)
	}
	final := p.waitFinished(at.ID, 10*time.Second)
	if final.State != store.DeployRolledBack || !strings.Contains(final.Reason, "aborted by user") {
		t.Fatalf("aborted after a restart: %s: %s", final.State, final.Reason)
	}
	l.waitMore(t, final.FinishedAt, 20)
	l.checkServedBy(t, final.FinishedAt, "1")
	l.checkNoFailures(t)
}

// checkPhaseLength fails the test unless the timed phase that began at
// since ended no earlier than its length and not much later: a restart
// neither cut it short nor started it over.
func checkPhaseLength(t *testing.T, pr deploy.Progress, phase string, since time.Time, length time.Duration) {
	t.Helper()
	for _, rec := range pr.Signals {
		if rec.Phase != phase || rec.At.Before(since) {
			continue
		}
		got := rec.At.Sub(since)
		if got < length || got > length+time.Second {
			t.Errorf("phase %s lasted %s across the restart, want %s (+ at most 1s)", phase, got, length)
		}
		return
	}
	t.Errorf("no record of leaving phase %s in %+v", phase, pr.Signals)
}

// passedGateByPromote reports whether the canary's gate was left by a promote.
func passedGateByPromote(pr deploy.Progress) bool {
	for _, rec := range pr.Signals {
		if rec.Phase == deploy.PhaseGate {
			return rec.Verdict == "promoted"
		}
	}
	return false
}

// ids is the sorted list of the tasks' IDs, for comparing.
func ids(ts []api.Task) string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.ID)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// allOfRelease reports whether every task ID belongs to release rel
// (IDs are <service>-<release>-<random>).
func allOfRelease(taskIDs []string, rel int) bool {
	for _, id := range taskIDs {
		if !strings.HasPrefix(id, fmt.Sprintf("catalog-%d-", rel)) {
			return false
		}
	}
	return true
}

// TestProgressiveRestart_AdoptedStartingTaskIsStillProbed: a new task
// that was starting when the control plane crashed is adopted as starting
// and becomes healthy only once its health check passes (here 1s after it
// started), never at adoption: traffic must not move onto it earlier.
func TestProgressiveRestart_AdoptedStartingTaskIsStillProbed(t *testing.T) {
	p, _, at := startAt(t, progPhases[0]) // canary provisioning its first task
	before, _ := p.restart()
	var adopted string
	for _, task := range before {
		if task.Release == 2 {
			adopted = task.ID
		}
	}
	final := p.finishPromoting(at.ID, 30*time.Second)
	if final.State != store.DeploySucceeded {
		t.Fatalf("deployment %s: %s", final.State, final.Reason)
	}
	evs, err := p.st.Events(context.Background(), store.EventQuery{Service: "catalog"})
	if err != nil {
		t.Fatal(err)
	}
	var started, healthy time.Time
	for _, e := range evs {
		if !strings.Contains(e.Message, adopted) {
			continue
		}
		switch e.Kind {
		case "task.started":
			started = e.Time
		case "task.healthy":
			healthy = e.Time
		}
	}
	if started.IsZero() || healthy.IsZero() {
		t.Fatalf("no started/healthy events for adopted task %s", adopted)
	}
	if d := healthy.Sub(started); d < time.Second {
		t.Errorf("adopted task %s was counted healthy %s after it started; its health check fails for the first 1s", adopted, d)
	}
}
