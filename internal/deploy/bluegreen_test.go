package deploy

import (
	"reflect"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/spec"
)

// blueGreen is a blue/green with a preview, a smoke check and a 1m bake,
// as the spec loader resolves it.
func blueGreen() spec.Deploy {
	return spec.Deploy{Strategy: StrategyBlueGreen, Bake: spec.Duration(time.Minute),
		Preview:  &spec.Preview{Header: spec.DefaultPreviewHeader},
		Analysis: &spec.Analysis{Max5xxRate: 5, MinRequests: 20, Window: spec.Duration(10 * time.Second), Smoke: []string{"/ready"}}}
}

var (
	bgProvision = want{phase: PhaseProvision, newCount: 3, oldCount: 3}
	bgSwitch    = want{phase: PhaseSwitch, weight: 100, newCount: 3, oldCount: 3}
	bgBake      = want{phase: PhaseBake, weight: 100, newCount: 3, oldCount: 3}
	bgDone      = want{phase: PhaseDone, weight: 100, newCount: 3, done: true}
	bgBack      = want{phase: PhaseRolledBack, oldCount: 3, rollback: true}
	smokeReady  = []CheckResult{{Name: "GET /ready", OK: true, Detail: "200 OK"}}
)

// reachBake are the calls that bring blueGreen() to its bake, at t0+4s.
var reachBake = []call{
	{at: 0, oldH: 3, want: bgProvision},
	{at: sec(2), newH: 3, oldH: 3, want: want{phase: PhasePreview, newCount: 3, oldCount: 3, preview: true, checks: true}},
	{at: sec(3), newH: 3, oldH: 3, smoke: smokeReady, want: bgSwitch},
	{at: sec(4), newH: 3, oldH: 3, sig: good, want: bgBake},
}

func TestBlueGreen_ProvisionPreviewSwitchBakeDone(t *testing.T) {
	ds := run(t, scenario{deploy: blueGreen(), count: 3, calls: []call{
		{at: 0, oldH: 3, want: with(bgProvision, "waiting for 3 of 3 new tasks healthy", sec(1))},
		{at: sec(1), newH: 2, oldH: 3, want: with(bgProvision, "waiting for 1 of 3", 0)},
		{at: sec(2), newH: 3, oldH: 3, want: want{phase: PhasePreview, newCount: 3, oldCount: 3, preview: true, checks: true, wake: sec(2)}},
		{at: sec(3), newH: 3, oldH: 3, smoke: smokeReady, want: with(bgSwitch, "", sec(3))},
		{at: sec(4), newH: 3, oldH: 3, sig: good, want: with(bgBake, "baking until", sec(5))},
		{at: sec(63), newH: 3, oldH: 3, sig: good, want: with(bgBake, "", sec(64))},
		{at: sec(64), newH: 3, oldH: 3, sig: good, want: with(bgDone, "catalog release 7 serves all traffic", 0)},
		{at: sec(65), newH: 3, want: bgDone},
	}})
	req := ds[2].Checks
	if !reflect.DeepEqual(req.Smoke, []string{"/ready"}) || req.Webhook != "" || req.Payload.Phase != PhasePreview {
		t.Fatalf("check request = %+v", req)
	}
	var verdicts []string
	for _, r := range ds[len(ds)-1].Progress.Signals {
		verdicts = append(verdicts, r.Phase+" "+r.Verdict)
	}
	want := []string{"provision passed", "preview checks passed", "preview passed", "bake succeeded"}
	if !reflect.DeepEqual(verdicts, want) {
		t.Fatalf("history = %q, want %q", verdicts, want)
	}
	if ds[3].Event == "" || ds[6].Event == "" {
		t.Fatalf("switch and done must be events: %q, %q", ds[3].Event, ds[6].Event)
	}
}

func with(w want, reason string, wake time.Duration) want {
	w.reason, w.wake = reason, wake
	return w
}

func TestBlueGreen_WithoutPreviewSwitchesOnceHealthy(t *testing.T) {
	d := spec.Deploy{Strategy: StrategyBlueGreen}
	run(t, scenario{deploy: d, count: 3, calls: []call{
		{at: 0, newH: 3, oldH: 3, want: bgSwitch},
		{at: sec(1), newH: 3, oldH: 3, want: bgDone},
	}})
}

func TestBlueGreen_PreviewPause(t *testing.T) {
	d := spec.Deploy{Strategy: StrategyBlueGreen, Pause: spec.Duration(30 * time.Second), Preview: &spec.Preview{Header: spec.DefaultPreviewHeader}}
	preview := want{phase: PhasePreview, newCount: 3, oldCount: 3, preview: true}
	t.Run("held for the pause", func(t *testing.T) {
		run(t, scenario{deploy: d, count: 3, calls: []call{
			{at: 0, newH: 3, oldH: 3, want: with(preview, "preview until", sec(1))},
			{at: sec(29) + 500*time.Millisecond, newH: 3, oldH: 3, want: with(preview, "", sec(30))},
			{at: sec(30), newH: 3, oldH: 3, want: bgSwitch},
		}})
	})
	t.Run("promote skips it", func(t *testing.T) {
		sw := bgSwitch
		sw.promoted = true
		run(t, scenario{deploy: d, count: 3, calls: []call{
			{at: 0, newH: 3, oldH: 3, want: preview},
			{at: sec(5), newH: 3, oldH: 3, promote: true, want: sw},
		}})
	})
}

func TestBlueGreen_GateWaitsForPromote(t *testing.T) {
	d := spec.Deploy{Strategy: StrategyBlueGreen, Steps: steps(0), Preview: &spec.Preview{Header: spec.DefaultPreviewHeader}}
	preview := want{phase: PhasePreview, newCount: 3, oldCount: 3, preview: true}
	sw := bgSwitch
	sw.promoted = true
	run(t, scenario{deploy: d, count: 3, calls: []call{
		{at: 0, newH: 3, oldH: 3, want: with(preview, "waiting for berth promote catalog", 0)},
		{at: time.Hour, newH: 3, oldH: 3, want: preview},
		// A promote while the new fleet is short is kept until it is whole.
		{at: time.Hour + sec(1), newH: 2, oldH: 3, promote: true, want: with(preview, "before the switch", 0)},
		{at: time.Hour + sec(2), newH: 3, oldH: 3, want: sw},
	}})
}

func TestBlueGreen_PromoteEndsBakeEarly(t *testing.T) {
	done := bgDone
	done.promoted = true
	run(t, scenario{deploy: blueGreen(), count: 3, calls: append(append([]call{}, reachBake...),
		call{at: sec(10), newH: 3, oldH: 3, promote: true, want: done})})
}

func TestBlueGreen_FailureSwitchesBack(t *testing.T) {
	const why = "5xx 31% > 5% over 10s on catalog release 7" + rolledBackTo6
	cases := []struct {
		name  string
		reach []call
	}{
		{"during the bake", reachBake},
		{"right after the switch", reachBake[:3]},
		{"at the end of the bake", append(append([]call{}, reachBake...),
			call{at: sec(63), newH: 3, oldH: 3, sig: good, want: bgBake})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			last := tc.reach[len(tc.reach)-1]
			run(t, scenario{deploy: blueGreen(), count: 3, calls: append(append([]call{}, tc.reach...),
				call{at: last.at + 500*time.Millisecond, newH: 3, oldH: 3, sig: bad, want: with(bgBack, why, 0)},
				call{at: last.at + sec(100), newH: 3, oldH: 3, sig: good, promote: true, want: bgBack})})
		})
	}
}

func TestBlueGreen_NoAnalysisBeforeTheSwitch(t *testing.T) {
	run(t, scenario{deploy: blueGreen(), count: 3, calls: []call{
		{at: 0, oldH: 3, sig: bad, want: bgProvision},
		{at: sec(2), newH: 3, oldH: 3, sig: bad, want: want{phase: PhasePreview, newCount: 3, oldCount: 3, preview: true, checks: true}},
	}})
}

func TestBlueGreen_FailedChecksInPreview(t *testing.T) {
	d := blueGreen()
	d.Analysis.Webhook = "https://ci.example/hooks/gate"
	previewing := want{phase: PhasePreview, newCount: 3, oldCount: 3, preview: true, checks: true}
	t.Run("smoke", func(t *testing.T) {
		run(t, scenario{deploy: d, count: 3, calls: []call{
			{at: 0, newH: 3, oldH: 3, want: previewing},
			{at: sec(1), newH: 3, oldH: 3, smoke: []CheckResult{{Name: "GET /ready", Detail: "Get \"http://127.0.0.1:9/ready\": connection refused"}},
				want: with(bgBack, "smoke check GET /ready failed (Get \"http://127.0.0.1:9/ready\": connection refused) on catalog release 7"+rolledBackTo6, 0)},
		}})
	})
	t.Run("webhook", func(t *testing.T) {
		run(t, scenario{deploy: d, count: 3, calls: []call{
			{at: 0, newH: 3, oldH: 3, want: previewing},
			{at: sec(1), newH: 3, oldH: 3, smoke: smokeReady, webhook: &CheckResult{Name: "webhook https://ci.example/hooks/gate", Detail: "500 Internal Server Error"},
				want: with(bgBack, "webhook https://ci.example/hooks/gate failed (500 Internal Server Error) on catalog release 7"+rolledBackTo6, 0)},
		}})
	})
	t.Run("both pass", func(t *testing.T) {
		run(t, scenario{deploy: d, count: 3, calls: []call{
			{at: 0, newH: 3, oldH: 3, want: previewing},
			{at: sec(1), newH: 3, oldH: 3, smoke: smokeReady, want: previewing},
			{at: sec(2), newH: 3, oldH: 3, webhook: &CheckResult{Name: "webhook https://ci.example/hooks/gate", OK: true}, want: bgSwitch},
		}})
	})
}

func TestBlueGreen_AbortInEachPhase(t *testing.T) {
	const why = "aborted by user" + rolledBackTo6
	for n, phase := range []string{PhaseProvision, PhasePreview, PhaseSwitch, PhaseBake} {
		t.Run(phase, func(t *testing.T) {
			calls := append(append([]call{}, reachBake[:n+1]...),
				call{at: sec(30), newH: 3, oldH: 3, abort: true, want: with(bgBack, why, 0)})
			ds := run(t, scenario{deploy: blueGreen(), count: 3, calls: calls})
			if got := ds[n].Progress.Phase; got != phase {
				t.Fatalf("reached %q, want %q", got, phase)
			}
			hist := ds[n+1].Progress.Signals
			if r := hist[len(hist)-1]; r.Verdict != "aborted" || r.Phase != phase {
				t.Fatalf("last record = %+v", r)
			}
		})
	}
}

func TestBlueGreen_FleetLosingAllHealthDuringBakeGetsNoWeight(t *testing.T) {
	run(t, scenario{deploy: blueGreen(), count: 3, calls: append(append([]call{}, reachBake...),
		call{at: sec(5), oldH: 3, want: want{phase: PhaseBake, newCount: 3, oldCount: 3}},
		call{at: sec(6), newH: 1, oldH: 3, want: bgBake})})
}
