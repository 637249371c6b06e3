package deploy

import (
	"reflect"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/spec"
)

func steps(ws ...int) []spec.Step {
	out := make([]spec.Step, 0, len(ws))
	for _, w := range ws {
		if w == 0 {
			out = append(out, spec.Step{Gate: true})
		} else {
			out = append(out, spec.Step{Percent: w})
		}
	}
	return out
}

// canary25 is a canary over 25%, 50%, 100% pausing 30s, on 4 tasks.
func canary25() spec.Deploy {
	return spec.Deploy{Strategy: StrategyCanary, Steps: steps(25, 50, 100), Pause: spec.Duration(30 * time.Second)}
}

const rolledBackTo6 = "; rolled back to release 6"

func wantRolledBack(step int) want {
	return want{phase: PhaseRolledBack, step: step, oldCount: 4, rollback: true}
}

func TestCanaryPlan(t *testing.T) {
	cases := []struct {
		name string
		d    spec.Deploy
		want []spec.Step
	}{
		{"steps as written", spec.Deploy{Steps: steps(5, 25, 50, 100)}, steps(5, 25, 50, 100)},
		{"gates kept in place", spec.Deploy{Steps: steps(10, 0, 100)}, steps(10, 0, 100)},
		{"gates after 100% dropped", spec.Deploy{Steps: steps(10, 100, 0)}, steps(10, 100)},
		{"100% added when missing", spec.Deploy{Steps: steps(10, 0)}, steps(10, 0, 100)},
		{"linear 10% every", spec.Deploy{Linear: &spec.Linear{Step: 10, Every: spec.Duration(time.Minute)}},
			steps(10, 20, 30, 40, 50, 60, 70, 80, 90, 100)},
		{"linear 33%", spec.Deploy{Linear: &spec.Linear{Step: 33, Every: spec.Duration(time.Minute)}},
			steps(33, 66, 99, 100)},
		{"linear 40% caps at 100", spec.Deploy{Linear: &spec.Linear{Step: 40, Every: spec.Duration(time.Minute)}},
			steps(40, 80, 100)},
		{"linear fractional skips repeats", spec.Deploy{Linear: &spec.Linear{Step: 45.5, Every: spec.Duration(time.Minute)}},
			steps(46, 91, 100)},
		{"nothing set", spec.Deploy{}, steps(10, 50, 100)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := CanaryPlan(tc.d); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("CanaryPlan = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCanaryTasks(t *testing.T) {
	cases := []struct{ count, weight, want int }{
		{4, 25, 1}, {4, 26, 2}, {4, 50, 2}, {4, 100, 4}, {10, 5, 1}, {10, 1, 1}, {3, 50, 2}, {1, 10, 1}, {0, 50, 1},
	}
	for _, tc := range cases {
		if got := CanaryTasks(tc.count, tc.weight); got != tc.want {
			t.Errorf("CanaryTasks(%d, %d) = %d, want %d", tc.count, tc.weight, got, tc.want)
		}
	}
}

func TestCanary_StepsWithPause(t *testing.T) {
	ds := run(t, scenario{deploy: canary25(), count: 4, calls: []call{
		{at: 0, oldH: 4, want: want{phase: PhaseProvision, newCount: 1, oldCount: 4, reason: "waiting for 1 of 1 new tasks healthy for 25%", wake: sec(1)}},
		{at: sec(1), newH: 1, oldH: 4, want: want{phase: PhasePause, weight: 25, newCount: 1, oldCount: 4, wake: sec(2)}},
		{at: sec(10), newH: 1, oldH: 4, sig: good, want: want{phase: PhasePause, weight: 25, newCount: 1, oldCount: 4, reason: "holding 25%", wake: sec(11)}},
		{at: sec(30) + 900*time.Millisecond, newH: 1, oldH: 4, sig: good, want: want{phase: PhasePause, weight: 25, newCount: 1, oldCount: 4, wake: sec(31)}},
		{at: sec(31), newH: 1, oldH: 4, sig: good, want: want{phase: PhaseProvision, step: 1, weight: 25, newCount: 2, oldCount: 4, reason: "for 50%"}},
		{at: sec(32), newH: 2, oldH: 4, sig: good, want: want{phase: PhasePause, step: 1, weight: 50, newCount: 2, oldCount: 4}},
		{at: sec(62), newH: 2, oldH: 4, sig: good, want: want{phase: PhaseProvision, step: 2, weight: 50, newCount: 4, oldCount: 4}},
		{at: sec(63), newH: 3, oldH: 4, sig: good, want: want{phase: PhaseProvision, step: 2, weight: 50, newCount: 4, oldCount: 4}},
		{at: sec(64), newH: 4, oldH: 4, sig: good, want: want{phase: PhaseDone, step: 2, weight: 100, newCount: 4, done: true, reason: "catalog release 7 serves all traffic"}},
		{at: sec(65), newH: 4, sig: good, want: want{phase: PhaseDone, step: 2, weight: 100, newCount: 4, done: true}},
	}})
	hist := ds[len(ds)-1].Progress.Signals
	var verdicts []string
	for _, r := range hist {
		verdicts = append(verdicts, r.Verdict)
	}
	if want := []string{"passed", "passed", "succeeded"}; !reflect.DeepEqual(verdicts, want) {
		t.Fatalf("history verdicts = %v, want %v", verdicts, want)
	}
	if hist[0].Weight != 25 || hist[0].Signals != good || !hist[0].At.Equal(t0.Add(sec(31))) {
		t.Fatalf("first record = %+v", hist[0])
	}
	if ds[1].Event == "" || ds[2].Event != "" {
		t.Fatalf("events: weight change %q, no change %q", ds[1].Event, ds[2].Event)
	}
	if ds[len(ds)-1].WakeAt != (time.Time{}) {
		t.Fatalf("finished deployment asks to wake at %v", ds[len(ds)-1].WakeAt)
	}
}

func TestCanary_GateWaitsForPromote(t *testing.T) {
	d := spec.Deploy{Strategy: StrategyCanary, Steps: steps(10, 0, 100), Pause: spec.Duration(30 * time.Second)}
	run(t, scenario{deploy: d, count: 10, calls: []call{
		{at: 0, oldH: 10, want: want{phase: PhaseProvision, newCount: 1, oldCount: 10}},
		{at: sec(1), newH: 1, oldH: 10, want: want{phase: PhaseGate, step: 1, weight: 10, newCount: 1, oldCount: 10, reason: "waiting for berth promote catalog"}},
		{at: time.Hour, newH: 1, oldH: 10, sig: good, want: want{phase: PhaseGate, step: 1, weight: 10, newCount: 1, oldCount: 10, wake: time.Hour + sec(1)}},
		{at: time.Hour + sec(1), newH: 1, oldH: 10, promote: true, want: want{phase: PhaseProvision, step: 2, weight: 10, newCount: 10, oldCount: 10, promoted: true}},
		{at: time.Hour + sec(2), newH: 10, oldH: 10, want: want{phase: PhaseDone, step: 2, weight: 100, newCount: 10, done: true}},
	}})
}

func TestCanary_GateFirstHoldsAtZero(t *testing.T) {
	d := spec.Deploy{Strategy: StrategyCanary, Steps: steps(0, 50, 100), Pause: spec.Duration(30 * time.Second)}
	run(t, scenario{deploy: d, count: 4, calls: []call{
		{at: 0, oldH: 4, want: want{phase: PhaseGate, oldCount: 4}},
		{at: sec(5), oldH: 4, promote: true, want: want{phase: PhaseProvision, step: 1, newCount: 2, oldCount: 4, promoted: true}},
		{at: sec(6), newH: 2, oldH: 4, want: want{phase: PhasePause, step: 1, weight: 50, newCount: 2, oldCount: 4}},
	}})
}

func TestCanary_ConsecutiveGatesNeedOnePromoteEach(t *testing.T) {
	d := spec.Deploy{Strategy: StrategyCanary, Steps: steps(10, 0, 0, 100)}
	run(t, scenario{deploy: d, count: 1, calls: []call{
		{at: 0, newH: 1, oldH: 1, want: want{phase: PhaseGate, step: 1, weight: 10, newCount: 1, oldCount: 1}},
		{at: sec(1), newH: 1, oldH: 1, promote: true, want: want{phase: PhaseGate, step: 2, weight: 10, newCount: 1, oldCount: 1, promoted: true}},
		{at: sec(2), newH: 1, oldH: 1, promote: true, want: want{phase: PhaseDone, step: 3, weight: 100, newCount: 1, done: true, promoted: true}},
	}})
}

func TestCanary_PromoteSkipsPause(t *testing.T) {
	run(t, scenario{deploy: canary25(), count: 4, calls: []call{
		{at: 0, newH: 1, oldH: 4, want: want{phase: PhasePause, weight: 25, newCount: 1, oldCount: 4}},
		{at: sec(5), newH: 1, oldH: 4, promote: true, want: want{phase: PhaseProvision, step: 1, weight: 25, newCount: 2, oldCount: 4, promoted: true}},
		{at: sec(6), newH: 2, oldH: 4, want: want{phase: PhasePause, step: 1, weight: 50, newCount: 2, oldCount: 4, wake: sec(7)}},
		{at: sec(7), newH: 2, oldH: 4, want: want{phase: PhasePause, step: 1, weight: 50, newCount: 2, oldCount: 4}},
	}})
}

func TestCanary_PromoteWhileProvisioningSkipsTheNextPause(t *testing.T) {
	ds := run(t, scenario{deploy: canary25(), count: 4, calls: []call{
		{at: 0, oldH: 4, promote: true, want: want{phase: PhaseProvision, newCount: 1, oldCount: 4}},
		{at: sec(1), newH: 1, oldH: 4, want: want{phase: PhaseProvision, step: 1, weight: 25, newCount: 2, oldCount: 4, promoted: true}},
	}})
	if !ds[0].Progress.Promoted || ds[1].Progress.Promoted {
		t.Fatalf("pending promote: after call 0 %v, after call 1 %v", ds[0].Progress.Promoted, ds[1].Progress.Promoted)
	}
}

func TestCanary_Linear(t *testing.T) {
	d := spec.Deploy{Strategy: StrategyCanary, Linear: &spec.Linear{Step: 25, Every: spec.Duration(time.Minute)},
		Pause: spec.Duration(30 * time.Second)}
	run(t, scenario{deploy: d, count: 4, calls: []call{
		{at: 0, newH: 1, oldH: 4, want: want{phase: PhasePause, weight: 25, newCount: 1, oldCount: 4}},
		{at: sec(30), newH: 1, oldH: 4, sig: good, want: want{phase: PhasePause, weight: 25, newCount: 1, oldCount: 4}},
		{at: sec(60), newH: 1, oldH: 4, sig: good, want: want{phase: PhaseProvision, step: 1, weight: 25, newCount: 2, oldCount: 4}},
		{at: sec(61), newH: 2, oldH: 4, sig: good, want: want{phase: PhasePause, step: 1, weight: 50, newCount: 2, oldCount: 4}},
		{at: sec(121), newH: 3, oldH: 4, sig: good, want: want{phase: PhasePause, step: 2, weight: 75, newCount: 3, oldCount: 4}},
		{at: sec(180), newH: 3, oldH: 4, sig: good, want: want{phase: PhasePause, step: 2, weight: 75, newCount: 3, oldCount: 4, wake: sec(181)}},
		{at: sec(181), newH: 3, oldH: 4, sig: good, want: want{phase: PhaseProvision, step: 3, weight: 75, newCount: 4, oldCount: 4}},
		{at: sec(182), newH: 4, oldH: 4, sig: good, want: want{phase: PhaseDone, step: 3, weight: 100, newCount: 4, done: true}},
	}})
}

func TestCanary_NoPauseGoesAsFastAsHealthAllows(t *testing.T) {
	d := spec.Deploy{Strategy: StrategyCanary, Steps: steps(25, 50, 100)}
	run(t, scenario{deploy: d, count: 4, calls: []call{
		{at: 0, newH: 1, oldH: 4, want: want{phase: PhaseProvision, step: 1, weight: 25, newCount: 2, oldCount: 4}},
		{at: sec(1), newH: 4, oldH: 4, want: want{phase: PhaseDone, step: 2, weight: 100, newCount: 4, done: true}},
	}})
}

func TestCanary_NoWeightToAFleetWithoutHealthyTasks(t *testing.T) {
	ds := run(t, scenario{deploy: canary25(), count: 4, calls: []call{
		{at: 0, newH: 1, oldH: 4, want: want{phase: PhasePause, weight: 25, newCount: 1, oldCount: 4}},
		{at: sec(1), newH: 0, oldH: 4, want: want{phase: PhasePause, weight: 0, newCount: 1, oldCount: 4}},
		{at: sec(2), newH: 1, oldH: 4, want: want{phase: PhasePause, weight: 25, newCount: 1, oldCount: 4}},
	}})
	if ds[1].Progress.Weight != 25 {
		t.Fatalf("the step's weight was forgotten while the fleet was down: %d", ds[1].Progress.Weight)
	}
}

// reachStep25 are the calls that bring canary25 to holding 25%.
var reachStep25 = []call{{at: 0, newH: 1, oldH: 4, sig: good,
	want: want{phase: PhasePause, weight: 25, newCount: 1, oldCount: 4}}}

func TestCanary_AnalysisFailureAtEachStep(t *testing.T) {
	const why = "5xx 31% > 5% over 10s on catalog release 7" + rolledBackTo6
	cases := []struct {
		name   string
		deploy spec.Deploy
		reach  []call
		step   int
	}{
		{"holding 25%", canary25(), reachStep25, 0},
		{"provisioning 50% while 25% is live", canary25(), append(append([]call{}, reachStep25...),
			call{at: sec(31), newH: 1, oldH: 4, sig: good, want: want{phase: PhaseProvision, step: 1, weight: 25, newCount: 2, oldCount: 4}}), 1},
		{"holding 50%", canary25(), append(append([]call{}, reachStep25...),
			call{at: sec(31), newH: 2, oldH: 4, sig: good, want: want{phase: PhasePause, step: 1, weight: 50, newCount: 2, oldCount: 4}}), 1},
		{"provisioning 100% while 50% is live", canary25(), append(append([]call{}, reachStep25...),
			call{at: sec(31), newH: 2, oldH: 4, sig: good, want: want{phase: PhasePause, step: 1, weight: 50, newCount: 2, oldCount: 4}},
			call{at: sec(61), newH: 2, oldH: 4, sig: good, want: want{phase: PhaseProvision, step: 2, weight: 50, newCount: 4, oldCount: 4}}), 2},
		{"at a gate", spec.Deploy{Strategy: StrategyCanary, Steps: steps(25, 0, 100)}, []call{
			{at: 0, newH: 1, oldH: 4, want: want{phase: PhaseGate, step: 1, weight: 25, newCount: 1, oldCount: 4}}}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			last := tc.reach[len(tc.reach)-1]
			calls := append(append([]call{}, tc.reach...),
				call{at: last.at + sec(1), newH: last.newH, oldH: 4, sig: bad, want: func() want {
					w := wantRolledBack(tc.step)
					w.reason = why
					return w
				}()},
				// Afterwards nothing moves traffic back to the bad release.
				call{at: last.at + sec(2), newH: last.newH, oldH: 4, sig: good, promote: true, want: wantRolledBack(tc.step)})
			ds := run(t, scenario{deploy: tc.deploy, count: 4, calls: calls})
			rb := ds[len(tc.reach)]
			if rb.Reason != "5xx 31% > 5% over 10s on catalog release 7"+rolledBackTo6 {
				t.Fatalf("reason = %q", rb.Reason)
			}
			hist := rb.Progress.Signals
			if r := hist[len(hist)-1]; r.Signals != bad || r.Verdict != "failed: 5xx 31% > 5% over 10s on catalog release 7" {
				t.Fatalf("last record = %+v", r)
			}
		})
	}
}

func TestCanary_NoAnalysisBeforeFirstTraffic(t *testing.T) {
	run(t, scenario{deploy: canary25(), count: 4, calls: []call{
		{at: 0, oldH: 4, sig: bad, want: want{phase: PhaseProvision, newCount: 1, oldCount: 4}},
	}})
}

func TestCanary_AnalysisThresholds(t *testing.T) {
	cases := []struct {
		name     string
		analysis *spec.Analysis
		sig      Signals
		reason   string // empty: no rollback
	}{
		{"below the default floor no verdict", nil, Signals{Requests: 19, Errors5xx: 19}, ""},
		{"at the default floor judged", nil, Signals{Requests: 20, Errors5xx: 2}, "5xx 10% > 5% over 10s on catalog release 7"},
		{"at the threshold passes", nil, Signals{Requests: 100, Errors5xx: 5}, ""},
		{"configured floor", &spec.Analysis{MinRequests: 50}, Signals{Requests: 49, Errors5xx: 49}, ""},
		{"configured rate and window", &spec.Analysis{Max5xxRate: 1, Window: spec.Duration(30 * time.Second)},
			Signals{Requests: 200, Errors5xx: 3}, "5xx 1.5% > 1% over 30s on catalog release 7"},
		{"p99 off by default", nil, Signals{Requests: 100, P99: time.Hour}, ""},
		{"p99 above max", &spec.Analysis{MaxP99: spec.Duration(800 * time.Millisecond)},
			Signals{Requests: 100, P99: 1200 * time.Millisecond}, "p99 1.2s > 800ms over 10s on catalog release 7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := canary25()
			d.Analysis = tc.analysis
			w := want{phase: PhasePause, weight: 25, newCount: 1, oldCount: 4}
			if tc.reason != "" {
				w = wantRolledBack(0)
				w.reason = tc.reason + rolledBackTo6
			}
			run(t, scenario{deploy: d, count: 4, calls: append(append([]call{}, reachStep25...),
				call{at: sec(1), newH: 1, oldH: 4, sig: tc.sig, want: w})})
		})
	}
}

func TestCanary_AbortInEachPhase(t *testing.T) {
	const why = "aborted by user" + rolledBackTo6
	withChecks := canary25()
	withChecks.Analysis = &spec.Analysis{Smoke: []string{"/ready"}}
	gated := spec.Deploy{Strategy: StrategyCanary, Steps: steps(25, 0, 100)}
	cases := []struct {
		name   string
		deploy spec.Deploy
		reach  []call
		step   int
	}{
		{"provision", canary25(), []call{{at: 0, oldH: 4, want: want{phase: PhaseProvision, newCount: 1, oldCount: 4}}}, 0},
		{"checks", withChecks, []call{{at: 0, newH: 1, oldH: 4, want: want{phase: PhaseChecks, newCount: 1, oldCount: 4, preview: true, checks: true}}}, 0},
		{"pause", canary25(), reachStep25, 0},
		{"gate", gated, []call{{at: 0, newH: 1, oldH: 4, want: want{phase: PhaseGate, step: 1, weight: 25, newCount: 1, oldCount: 4}}}, 1},
		{"provision of a later step", canary25(), append(append([]call{}, reachStep25...),
			call{at: sec(31), newH: 1, oldH: 4, want: want{phase: PhaseProvision, step: 1, weight: 25, newCount: 2, oldCount: 4}}), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := wantRolledBack(tc.step)
			w.reason = why
			run(t, scenario{deploy: tc.deploy, count: 4, calls: append(append([]call{}, tc.reach...),
				call{at: sec(40), newH: 1, oldH: 4, abort: true, want: w})})
		})
	}
}

func TestCanary_AbortAfterDoneChangesNothing(t *testing.T) {
	d := spec.Deploy{Strategy: StrategyCanary, Steps: steps(100)}
	run(t, scenario{deploy: d, count: 2, calls: []call{
		{at: 0, newH: 2, oldH: 2, want: want{phase: PhaseDone, weight: 100, newCount: 2, done: true}},
		{at: sec(1), newH: 2, abort: true, want: want{phase: PhaseDone, weight: 100, newCount: 2, done: true}},
	}})
}

func TestCanary_ChecksBeforeFirstTraffic(t *testing.T) {
	d := canary25()
	d.Analysis = &spec.Analysis{Smoke: []string{"/ready", "/catalog"}, Webhook: "http://127.0.0.1:1/check?token=s3cret"}
	smokeOK := []CheckResult{{Name: "GET /ready", OK: true}, {Name: "GET /catalog", OK: true}}
	hookOK := &CheckResult{Name: "webhook http://127.0.0.1:1/check", OK: true}
	checking := want{phase: PhaseChecks, newCount: 1, oldCount: 4, preview: true, checks: true, reason: "pre-traffic checks"}
	t.Run("both pass", func(t *testing.T) {
		ds := run(t, scenario{deploy: d, count: 4, calls: []call{
			{at: 0, oldH: 4, want: want{phase: PhaseProvision, newCount: 1, oldCount: 4}},
			{at: sec(1), newH: 1, oldH: 4, sig: bad, want: checking},
			{at: sec(2), newH: 1, oldH: 4, smoke: smokeOK, want: checking},
			{at: sec(3), newH: 1, oldH: 4, webhook: hookOK, want: want{phase: PhasePause, weight: 25, newCount: 1, oldCount: 4}},
		}})
		req := ds[1].Checks
		if !reflect.DeepEqual(req.Smoke, []string{"/ready", "/catalog"}) || req.Webhook != d.Analysis.Webhook ||
			req.Payload != (WebhookPayload{Service: "catalog", Release: 7, FromRelease: 6, Strategy: StrategyCanary, Phase: PhaseChecks}) {
			t.Fatalf("check request = %+v", req)
		}
		if req := ds[2].Checks; req.Smoke != nil || req.Webhook == "" {
			t.Fatalf("after smoke passed, request = %+v", req)
		}
		hist := ds[3].Progress.Signals
		if len(hist) != 2 || hist[0].Verdict != "checks passed" || len(hist[0].Checks) != 2 || hist[1].Checks[0] != *hookOK {
			t.Fatalf("history = %+v", hist)
		}
	})
	t.Run("smoke fails", func(t *testing.T) {
		w := wantRolledBack(0)
		w.reason = "smoke check GET /catalog failed (503 Service Unavailable) on catalog release 7" + rolledBackTo6
		run(t, scenario{deploy: d, count: 4, calls: []call{
			{at: 0, newH: 1, oldH: 4, want: checking},
			{at: sec(1), newH: 1, oldH: 4, smoke: []CheckResult{smokeOK[0], {Name: "GET /catalog", Detail: "503 Service Unavailable"}}, want: w},
		}})
	})
	t.Run("webhook fails", func(t *testing.T) {
		w := wantRolledBack(0)
		w.reason = "webhook http://127.0.0.1:1/check failed (answered pass: false: error budget spent) on catalog release 7" + rolledBackTo6
		run(t, scenario{deploy: d, count: 4, calls: []call{
			{at: 0, newH: 1, oldH: 4, want: checking},
			{at: sec(1), newH: 1, oldH: 4, smoke: smokeOK, webhook: &CheckResult{Name: hookOK.Name, Detail: "answered pass: false: error budget spent"}, want: w},
		}})
	})
}
