package deployview

import (
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func sec(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Second))) }

func e(at float64, service, kind string, f map[string]string) api.Event {
	return api.Event{Time: sec(at), Service: service, Kind: kind, Fields: f}
}

// step is one input to the model: a stage, a build line or an event.
type step struct {
	stage, line string
	ev          *api.Event
	at          float64
}

func TestRows(t *testing.T) {
	started := func(strategy string) *api.Event {
		ev := e(2, "catalog", api.EventDeployStarted, map[string]string{"release": "6", "from": "5", "strategy": strategy})
		return &ev
	}
	evp := func(ev api.Event) *api.Event { return &ev }
	tests := []struct {
		name        string
		steps       []step
		now         float64
		phase, wait string
		progress    float64
		final       bool
	}{
		{name: "build output folded: last line", steps: []step{{stage: "building", at: 0}, {line: "step 1/3", at: 0.5}, {line: "step 2/3", at: 0.7}},
			now: 1, phase: PhaseBuilding, wait: "step 2/3", progress: -1},
		{name: "health wait with deadline", steps: []step{{stage: "submitting", at: 1}, {ev: started("canary")},
			{ev: evp(e(3, "catalog", api.EventTaskStarted, map[string]string{"task": "catalog-6-31df", "release": "6"}))},
			{ev: evp(e(4, "catalog", api.EventTaskChecking, map[string]string{"task": "catalog-6-31df", "release": "6", "check": "503",
				"since": sec(3).Format(time.RFC3339Nano), "deadline": sec(63).Format(time.RFC3339Nano)}))}},
			now: 15, phase: PhaseHealth, wait: "catalog-6-31df health 503, 12 s of 60 s", progress: 0.2},
		{name: "canary pause counts down to the next step", steps: []step{{ev: started("canary")},
			{ev: evp(e(5, "catalog", api.EventDeployProgress, map[string]string{"phase": "pause", "weight": "10", "next": "50%", "pause_until": sec(35).Format(time.RFC3339Nano)}))}},
			now: 17, phase: "canary 10%", wait: "pause, next step 50% in 18 s", progress: 0.4},
		{name: "canary moving to the next weight, analysis shown", steps: []step{{ev: started("canary")},
			{ev: evp(e(5, "catalog", api.EventDeployProgress, map[string]string{"phase": "pause", "weight": "10"}))},
			{ev: evp(e(6, "catalog", api.EventDeployProgress, map[string]string{"phase": "provision", "weight": "50"}))},
			{ev: evp(e(7, "catalog", api.EventDeployAnalysis, map[string]string{"release": "6", "requests": "1000", "errors_5xx": "2", "p99_ms": "41", "verdict": "ok"}))}},
			now: 8, phase: "canary 10% → 50%", wait: "5xx 0.2% / p99 41 ms on release 6 (ok)", progress: 0.5},
		{name: "blue/green bake", steps: []step{{ev: started("bluegreen")},
			{ev: evp(e(5, "catalog", api.EventDeployProgress, map[string]string{"phase": "bake", "weight": "100", "bake_until": sec(35).Format(time.RFC3339Nano)}))}},
			now: 20, phase: PhaseBaking, wait: "bake, old release kept 15 s more", progress: 0.5},
		{name: "rolled back keeps the reason", steps: []step{{ev: started("canary")},
			{ev: evp(api.Event{Time: sec(9), Service: "catalog", Kind: api.EventDeployRollback, Message: "catalog release 6: 5xx 30% over 5%; rolled back to release 5"})}},
			now: 10, phase: PhaseRolledBack, wait: "catalog release 6: 5xx 30% over 5%; rolled back to release 5", progress: -1, final: true},
		{name: "done", steps: []step{{ev: started("rolling")},
			{ev: evp(e(3, "catalog", api.EventTaskStarted, map[string]string{"task": "catalog-6-a", "release": "6"}))},
			{ev: evp(e(4, "catalog", api.EventTaskHealthy, map[string]string{"task": "catalog-6-a", "release": "6"}))},
			{ev: evp(e(5, "catalog", api.EventDeploySucceeded, nil))}},
			now: 6, phase: PhaseDone, wait: "", progress: 1, final: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New()
			for _, s := range tt.steps {
				switch {
				case s.ev != nil:
					m.Event(*s.ev)
				case s.stage != "":
					m.Stage("catalog", s.stage, sec(s.at))
				default:
					m.BuildLine("catalog", s.line, sec(s.at))
				}
			}
			rows := m.Rows(sec(tt.now))
			if len(rows) != 1 {
				t.Fatalf("%d rows, want 1", len(rows))
			}
			r := rows[0]
			if r.Phase != tt.phase || r.Waiting != tt.wait || r.Progress != tt.progress || r.Final != tt.final {
				t.Errorf("row = phase %q, waiting %q, progress %v, final %v;\nwant  phase %q, waiting %q, progress %v, final %v",
					r.Phase, r.Waiting, r.Progress, r.Final, tt.phase, tt.wait, tt.progress, tt.final)
			}
			if m.Done() != tt.final {
				t.Errorf("Done() = %v, want %v", m.Done(), tt.final)
			}
		})
	}
}

func TestRowsKeepServiceOrderAndOutputBound(t *testing.T) {
	m := New()
	m.Stage("web", "building", t0)
	m.Stage("api", "building", t0)
	for i := 0; i < maxOutput+50; i++ {
		m.BuildLine("web", "line", t0)
	}
	m.Event(api.Event{Service: "", Kind: api.EventServiceScaled}) // no row for service-less events
	rows := m.Rows(t0)
	if len(rows) != 2 || rows[0].Service != "web" || rows[1].Service != "api" {
		t.Fatalf("rows = %+v, want web then api", rows)
	}
	if len(rows[0].Output) != maxOutput {
		t.Errorf("kept %d lines of output, want %d", len(rows[0].Output), maxOutput)
	}
}

func TestFailedBuildKeepsItsWholeOutput(t *testing.T) {
	m := New()
	m.Stage("web", "building", t0)
	for _, l := range []string{"compiling", "main.go:3: undefined: x", "exit status 1"} {
		m.BuildLine("web", l, t0)
	}
	m.Fail("web", "build web: exit status 1\nmain.go:3: undefined: x", t0)
	r := m.Rows(t0)[0]
	if r.Phase != PhaseFailed || !r.Failed || r.Waiting != "build web: exit status 1" || len(r.Output) != 3 {
		t.Fatalf("failed row = %+v", r)
	}
}
