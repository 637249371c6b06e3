package deploy

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/spec"
	"pgregory.net/rapid"
)

// genDeploy draws a canary or blue/green config the spec loader accepts.
func genDeploy(t *rapid.T) spec.Deploy {
	d := spec.Deploy{
		Strategy: rapid.SampledFrom([]string{StrategyCanary, StrategyBlueGreen}).Draw(t, "strategy"),
		Pause:    spec.Duration(time.Duration(rapid.IntRange(0, 60).Draw(t, "pause")) * time.Second),
		Bake:     spec.Duration(time.Duration(rapid.IntRange(0, 60).Draw(t, "bake")) * time.Second),
		Analysis: &spec.Analysis{
			MaxP99:      spec.Duration(time.Duration(rapid.IntRange(0, 2000).Draw(t, "maxp99")) * time.Millisecond),
			MinRequests: rapid.IntRange(0, 30).Draw(t, "minrequests"),
		},
	}
	if rapid.Bool().Draw(t, "smoke") {
		d.Analysis.Smoke = []string{"/ready"}
	}
	if rapid.Bool().Draw(t, "webhook") {
		d.Analysis.Webhook = "http://127.0.0.1:1/hook"
	}
	if rapid.Bool().Draw(t, "preview") {
		d.Preview = &spec.Preview{Header: spec.DefaultPreviewHeader}
	}
	if d.Strategy == StrategyCanary && rapid.Bool().Draw(t, "linear") {
		d.Linear = &spec.Linear{Step: spec.Percent(rapid.IntRange(1, 100).Draw(t, "linstep")),
			Every: spec.Duration(time.Duration(rapid.IntRange(1, 60).Draw(t, "every")) * time.Second)}
		return d
	}
	n := rapid.IntRange(0, 4).Draw(t, "nsteps")
	w := 0
	for i := 0; i < n && w < 99; i++ {
		if d.Strategy == StrategyCanary && rapid.Bool().Draw(t, "gate") {
			d.Steps = append(d.Steps, spec.Step{Gate: true})
			continue
		}
		if d.Strategy == StrategyCanary {
			w = rapid.IntRange(w+1, 99).Draw(t, "weight")
			d.Steps = append(d.Steps, spec.Step{Percent: w})
		}
	}
	if d.Strategy == StrategyCanary {
		d.Steps = append(d.Steps, spec.Step{Percent: 100})
	} else if rapid.Bool().Draw(t, "bggate") {
		d.Steps = []spec.Step{{Gate: true}}
	}
	return d
}

// TestAdvance_Properties checks the safety of every decision over random
// configs and observations: weights within 0..100 summing to 100, no
// weight to a fleet without a healthy task, weight moving up only onto a
// healthy fleet, a rollback is final and sends nothing to the new release,
// and a JSON round trip of Progress never changes a decision.
func TestAdvance_Properties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := genDeploy(t)
		count := rapid.IntRange(1, 6).Draw(t, "count")
		plan := CanaryPlan(d)
		var p, resumed Progress
		now := t0
		rolledBack, done := false, false
		var asked *CheckRequest
		for i := range rapid.IntRange(1, 40).Draw(t, "calls") {
			now = now.Add(time.Duration(rapid.IntRange(0, 40_000).Draw(t, "dt")) * time.Millisecond)
			req := rapid.IntRange(0, 200).Draw(t, "requests")
			in := AdvanceInput{
				Now: now, Deploy: d, Count: count, Progress: p,
				NewHealthy: rapid.IntRange(0, count).Draw(t, "newH"),
				OldHealthy: rapid.IntRange(0, count).Draw(t, "oldH"),
				Signals: Signals{Requests: req, Errors5xx: rapid.IntRange(0, req).Draw(t, "errors"),
					P99: time.Duration(rapid.IntRange(0, 3000).Draw(t, "p99")) * time.Millisecond},
				Promote: rapid.IntRange(0, 9).Draw(t, "promote") == 0,
				Abort:   rapid.IntRange(0, 29).Draw(t, "abort") == 0,
				Service: "catalog", FromRelease: 6, ToRelease: 7,
			}
			if asked != nil {
				if len(asked.Smoke) > 0 {
					in.Smoke = []CheckResult{{Name: "GET /ready", OK: rapid.IntRange(0, 4).Draw(t, "smokeok") > 0}}
				}
				if asked.Webhook != "" {
					in.Webhook = &CheckResult{Name: "webhook", OK: rapid.IntRange(0, 4).Draw(t, "hookok") > 0}
				}
			}
			dec := Advance(in)

			// Resuming from JSON decides the same.
			data, err := json.Marshal(resumed)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			var back Progress
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			in.Progress = back
			if dec2 := Advance(in); !reflect.DeepEqual(dec, dec2) {
				t.Fatalf("call %d: resumed decision differs:\n%+v\n%+v", i, dec2, dec)
			}

			if dec.Weight < 0 || dec.Weight > 100 || dec.Weight+dec.StableWeight() != 100 {
				t.Fatalf("call %d: weights %d/%d", i, dec.Weight, dec.StableWeight())
			}
			if dec.Weight > 0 && in.NewHealthy == 0 {
				t.Fatalf("call %d: weight %d to a release with no healthy task", i, dec.Weight)
			}
			if dec.NewCount < 0 || dec.NewCount > count || dec.OldCount < 0 || dec.OldCount > count {
				t.Fatalf("call %d: counts new %d old %d of %d", i, dec.NewCount, dec.OldCount, count)
			}
			if dec.Done && dec.Rollback {
				t.Fatalf("call %d: done and rolled back", i)
			}
			if rolledBack && (!dec.Rollback || dec.Weight != 0 || dec.NewCount != 0) {
				t.Fatalf("call %d: after a rollback: %+v", i, dec)
			}
			if done && !dec.Done {
				t.Fatalf("call %d: after done: %+v", i, dec)
			}
			if dec.Rollback && (dec.Weight != 0 || dec.NewCount != 0 || dec.OldCount != count) {
				t.Fatalf("call %d: rollback keeps traffic or tasks on the new release: %+v", i, dec)
			}
			if up := dec.Progress.Weight; up > p.Weight {
				need := count
				if d.Strategy == StrategyCanary {
					need = CanaryTasks(count, up)
					if !inPlan(plan, up) {
						t.Fatalf("call %d: weight %d is not a step of %v", i, up, plan)
					}
				}
				if in.NewHealthy < need {
					t.Fatalf("call %d: weight up to %d with %d of %d new tasks healthy", i, up, in.NewHealthy, need)
				}
				if p.Weight == 0 && checksPending(d, p) && !(len(in.Smoke) > 0 || in.Webhook != nil) {
					t.Fatalf("call %d: first traffic before the pre-traffic checks ran", i)
				}
			}
			if !dec.Rollback && dec.Progress.Weight < p.Weight {
				t.Fatalf("call %d: weight went down from %d to %d without a rollback", i, p.Weight, dec.Progress.Weight)
			}
			if dec.Rollback != (dec.Progress.Phase == PhaseRolledBack) || dec.Done != (dec.Progress.Phase == PhaseDone) {
				t.Fatalf("call %d: flags disagree with phase %q: %+v", i, dec.Progress.Phase, dec)
			}
			if !dec.Rollback && !dec.Done && (dec.WakeAt.Before(now) || dec.WakeAt.After(now.Add(Tick))) {
				t.Fatalf("call %d: wake at %v, now %v", i, dec.WakeAt, now)
			}
			rolledBack = rolledBack || dec.Rollback
			done = done || dec.Done
			asked = dec.Checks
			p, resumed = dec.Progress, dec.Progress
		}
	})
}

func inPlan(plan []spec.Step, w int) bool {
	for _, s := range plan {
		if !s.Gate && s.Percent == w {
			return true
		}
	}
	return false
}
