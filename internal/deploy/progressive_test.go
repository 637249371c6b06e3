package deploy

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/spec"
)

// call is one Advance call of a scenario, at t0+at, with what is observed
// then and what the decision must be.
type call struct {
	at         time.Duration
	newH, oldH int
	sig        Signals
	promote    bool
	abort      bool
	smoke      []CheckResult
	webhook    *CheckResult
	want       want
}

// want is what a decision must show. Phase, weight, counts and flags are
// always compared; reason (a substring) and wake only when set.
type want struct {
	phase              string
	step               int
	weight             int
	newCount, oldCount int
	done, rollback     bool
	preview, checks    bool
	promoted           bool
	reason             string
	wake               time.Duration
}

type scenario struct {
	deploy spec.Deploy
	count  int
	calls  []call
}

var (
	good = Signals{Requests: 100, Errors5xx: 1, P99: 50 * time.Millisecond}
	bad  = Signals{Requests: 100, Errors5xx: 31, P99: 50 * time.Millisecond}
)

// run plays a scenario twice: carrying Progress as is, and through a JSON
// round trip before every call (a control-plane restart at every point).
// Both must give the same decisions, and each must match its want.
func run(t *testing.T, sc scenario) []Decision {
	t.Helper()
	direct := play(t, sc, false)
	resumed := play(t, sc, true)
	for i := range direct {
		if !reflect.DeepEqual(direct[i], resumed[i]) {
			t.Fatalf("call %d: resumed from JSON decided\n%+v\nwithout a restart\n%+v", i, resumed[i], direct[i])
		}
	}
	for i, c := range sc.calls {
		check(t, i, direct[i], c.want)
	}
	return direct
}

func play(t *testing.T, sc scenario, roundTrip bool) []Decision {
	t.Helper()
	var p Progress
	out := make([]Decision, 0, len(sc.calls))
	for _, c := range sc.calls {
		if roundTrip {
			data, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("marshal progress: %v", err)
			}
			p = Progress{}
			if err := json.Unmarshal(data, &p); err != nil {
				t.Fatalf("unmarshal progress: %v", err)
			}
		}
		d := Advance(AdvanceInput{
			Now: t0.Add(c.at), Deploy: sc.deploy, Progress: p, Count: sc.count,
			NewHealthy: c.newH, OldHealthy: c.oldH, Signals: c.sig,
			Smoke: c.smoke, Webhook: c.webhook, Promote: c.promote, Abort: c.abort,
			Service: "catalog", FromRelease: 6, ToRelease: 7,
		})
		out = append(out, d)
		p = d.Progress
	}
	return out
}

func check(t *testing.T, i int, d Decision, w want) {
	t.Helper()
	got := want{phase: d.Progress.Phase, step: d.Progress.Step, weight: d.Weight,
		newCount: d.NewCount, oldCount: d.OldCount, done: d.Done, rollback: d.Rollback,
		preview: d.PreviewOnly, checks: d.Checks != nil, promoted: d.Promoted,
		reason: w.reason, wake: w.wake}
	if w.reason != "" && !strings.Contains(d.Reason, w.reason) {
		got.reason = d.Reason
	}
	if w.wake != 0 && !d.WakeAt.Equal(t0.Add(w.wake)) {
		got.wake = d.WakeAt.Sub(t0)
	}
	if got != w {
		t.Errorf("call %d:\n got %+v\nwant %+v\n(reason %q, event %q)", i, got, w, d.Reason, d.Event)
	}
	if d.Weight+d.StableWeight() != 100 {
		t.Errorf("call %d: weights %d + %d != 100", i, d.Weight, d.StableWeight())
	}
}

func sec(n int) time.Duration { return time.Duration(n) * time.Second }

func TestAdvance_UnknownStrategyRollsBack(t *testing.T) {
	d := Advance(AdvanceInput{Now: t0, Deploy: spec.Deploy{Strategy: "rolling"}, Count: 2,
		Service: "catalog", FromRelease: 6, ToRelease: 7})
	if !d.Rollback || d.Weight != 0 || !strings.Contains(d.Reason, `"rolling" is not progressive`) {
		t.Fatalf("decision = %+v", d)
	}
}

func TestAdvance_DoesNotAliasCallerHistory(t *testing.T) {
	in := AdvanceInput{Now: t0, Deploy: spec.Deploy{Strategy: StrategyCanary, Steps: []spec.Step{{Percent: 50}, {Percent: 100}}},
		Count: 2, NewHealthy: 1, Service: "catalog", FromRelease: 6, ToRelease: 7}
	in.Progress = Advance(in).Progress
	hist := make([]StepRecord, len(in.Progress.Signals), len(in.Progress.Signals)+8)
	copy(hist, in.Progress.Signals)
	in.Progress.Signals = hist
	in.Abort = true
	Advance(in)
	if got := hist[:cap(hist)][len(hist)]; got.Verdict != "" {
		t.Fatalf("Advance wrote into the caller's history array: %+v", got)
	}
}
