package timeline

import (
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/spec"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func ev(ms int, kind string, fields map[string]string) api.Event {
	return api.Event{Time: at(ms), Kind: kind, Deployment: "d1", Service: "web", Fields: fields}
}

type want struct {
	name  string
	ms    int64
	gov   string
	after bool
}

func TestBuild(t *testing.T) {
	bg := &spec.Service{Name: "web", Deploy: &spec.Deploy{Strategy: "bluegreen", Bake: spec.Duration(3 * time.Second), Drain: spec.Duration(5 * time.Second)},
		Health: &spec.Health{Interval: spec.Duration(100 * time.Millisecond)}}
	rel2 := map[string]string{"task": "web-2-a", "release": "2"}
	rel1 := map[string]string{"task": "web-1-a", "release": "1"}
	tests := []struct {
		name  string
		in    Input
		wants []want
	}{
		{
			name: "blue/green from build to drain",
			in: Input{
				Deployment: api.Deployment{ID: "d1", Service: "web", FromRelease: 1, ToRelease: 2, Strategy: "bluegreen", StartedAt: at(2500), FinishedAt: at(7000)},
				Client: []api.PhaseTiming{
					{Name: "plan", Start: at(0), End: at(500)},
					{Name: "build", Service: "web", Start: at(500), End: at(2400), GovernedBy: "services.web.build"},
				},
				Events: []api.Event{
					ev(2500, api.EventDeployStarted, nil),
					ev(2600, api.EventTaskStarted, rel2),
					ev(3000, api.EventTaskHealthy, rel2),
					ev(3100, api.EventDeployProgress, map[string]string{"phase": "switch", "weight": "100"}),
					ev(4000, api.EventDeployProgress, map[string]string{"phase": "bake", "weight": "100"}),
					ev(7000, api.EventDeploySucceeded, nil),
					{Time: at(7200), Kind: api.EventTaskStopped, Service: "web", Fields: rel1},
				},
				Service: bg,
			},
			wants: []want{
				{"plan", 500, "", false}, {"build", 1900, "services.web.build", false}, {PhaseSubmit, 100, "", false},
				{PhaseStart, 100, "", false}, {PhaseHealthy, 400, "health.interval", false}, {PhaseShift, 100, "", false},
				{PhaseSwitch, 900, "", false}, {PhaseBake, 3000, "deploy.bake", false}, {PhaseDrain, 200, "deploy.drain", true},
			},
		},
		{
			name: "rolling still running ends at now; repeated progress is one phase",
			in: Input{
				Deployment: api.Deployment{ID: "d1", Service: "web", FromRelease: 1, ToRelease: 2, Strategy: "rolling", StartedAt: at(0)},
				Events: []api.Event{
					ev(0, api.EventDeployStarted, nil),
					ev(100, api.EventTaskStarted, rel2),
					ev(300, api.EventTaskHealthy, rel2),
					// a stop of the old release during the deployment is no drain phase
					{Time: at(400), Kind: api.EventTaskStopped, Service: "web", Fields: rel1},
				},
				Now: at(1000),
			},
			wants: []want{{PhaseStart, 100, "", false}, {PhaseHealthy, 200, "health.interval", false}, {PhaseRollout, 700, "deploy.max_surge", false}},
		},
		{
			name: "canary steps and pauses",
			in: Input{
				Deployment: api.Deployment{ID: "d1", Service: "web", FromRelease: 1, ToRelease: 2, Strategy: "canary", StartedAt: at(0), FinishedAt: at(5000)},
				Events: []api.Event{
					ev(100, api.EventTaskStarted, rel2),
					ev(200, api.EventTaskHealthy, rel2),
					ev(300, api.EventDeployProgress, map[string]string{"phase": "pause", "weight": "10"}),
					ev(1300, api.EventDeployProgress, map[string]string{"phase": "pause", "weight": "10"}),
					ev(2300, api.EventDeployProgress, map[string]string{"phase": "provision", "weight": "50"}),
					ev(2500, api.EventDeployProgress, map[string]string{"phase": "pause", "weight": "50"}),
				},
				Service: &spec.Service{Deploy: &spec.Deploy{Strategy: "canary", Pause: spec.Duration(2 * time.Second)}},
			},
			wants: []want{{PhaseStart, 100, "", false}, {PhaseHealthy, 100, "health.interval", false}, {PhaseShift, 100, "", false},
				{"canary 10%", 2000, "deploy.pause", false}, {"canary 50%", 200, "deploy.steps", false}, {"canary 50%", 2500, "deploy.pause", false}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Build(tt.in)
			if len(got) != len(tt.wants) {
				t.Fatalf("got %d phases, want %d: %+v", len(got), len(tt.wants), got)
			}
			for i, w := range tt.wants {
				g := got[i]
				if g.Name != w.name || g.DurationMS != w.ms || g.GovernedBy != w.gov || g.AfterFinish != w.after {
					t.Errorf("phase %d = %s %d ms gov %q after %v; want %s %d ms gov %q after %v", i, g.Name, g.DurationMS, g.GovernedBy, g.AfterFinish, w.name, w.ms, w.gov, w.after)
				}
			}
			// Phases up to the end are contiguous: they add up to the wall.
			var sum int64
			for _, p := range got {
				if !p.AfterFinish {
					sum += p.DurationMS
				}
			}
			tl := api.Timeline{Phases: got}
			end := tt.in.Deployment.FinishedAt
			if end.IsZero() {
				end = tt.in.Now
			}
			Summarize(&tl, []time.Time{end})
			if sum != tl.WallMS {
				t.Errorf("phases add up to %d ms, wall is %d ms", sum, tl.WallMS)
			}
		})
	}
}

func TestSummarizeNamesSlowest(t *testing.T) {
	tl := api.Timeline{Phases: []api.Phase{
		{Name: "a", Start: at(0), End: at(100), DurationMS: 100},
		{Name: "drain old release", Start: at(100), End: at(30100), DurationMS: 30000, GovernedBy: "deploy.drain", Detail: "release 1: 1 task drained"},
	}}
	Summarize(&tl, []time.Time{at(100)})
	if tl.Slowest == nil || tl.Slowest.Name != "drain old release" {
		t.Fatalf("slowest = %+v", tl.Slowest)
	}
	if got, want := Explain(*tl.Slowest), "drain old release 30s: deploy.drain; release 1: 1 task drained"; got != want {
		t.Errorf("Explain = %q, want %q", got, want)
	}
	if tl.WallMS != 100 {
		t.Errorf("wall = %d, want 100", tl.WallMS)
	}
}

// TestDrainDetail: the drain phase says how long the old tasks' in-flight
// requests took to finish, or how many were cut off by deploy.drain.
func TestDrainDetail(t *testing.T) {
	svc := &spec.Service{Name: "web", Deploy: &spec.Deploy{Strategy: "rolling", Drain: spec.Duration(30 * time.Second)}}
	stopped := func(ms int, task, in, drained string) api.Event {
		return api.Event{Time: at(ms), Kind: api.EventTaskStopped, Service: "web",
			Fields: map[string]string{"task": task, "release": "1", "drained_in": in, "drained": drained}}
	}
	for _, tc := range []struct {
		name   string
		events []api.Event
		want   string
	}{
		{"drained", []api.Event{stopped(1200, "web-1-a", "200ms", "true"), stopped(1500, "web-1-b", "450ms", "true")},
			"release 1: 2 tasks drained and stopped in 500ms (limit 30s); in-flight requests done after 450ms"},
		{"cut off", []api.Event{stopped(1200, "web-1-a", "200ms", "true"), stopped(31000, "web-1-b", "30s", "false")},
			"release 1: 2 tasks drained and stopped in 30s (limit 30s); 1 task still had requests in flight when the limit ran out"},
		{"older events", []api.Event{{Time: at(1300), Kind: api.EventTaskStopped, Service: "web", Fields: map[string]string{"task": "web-1-a", "release": "1"}}},
			"release 1: 1 task drained and stopped in 300ms (limit 30s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Build(Input{Deployment: api.Deployment{ID: "d1", Service: "web", FromRelease: 1, ToRelease: 2, Strategy: "rolling", StartedAt: at(0), FinishedAt: at(1000)},
				Events: tc.events, Service: svc})
			var drain *api.Phase
			for i := range got {
				if got[i].Name == PhaseDrain {
					drain = &got[i]
				}
			}
			if drain == nil {
				t.Fatalf("no drain phase in %+v", got)
			}
			if drain.Detail != tc.want {
				t.Errorf("drain detail = %q\nwant           %q", drain.Detail, tc.want)
			}
		})
	}
}
