package deploy

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func task(id string, rel int, ph TaskPhase) TaskView {
	return TaskView{ID: id, Release: rel, Phase: ph, StartedAt: t0}
}

func TestConverge_Scenarios(t *testing.T) {
	cases := []struct {
		name string
		in   Input
		want Plan
	}{
		{"first deploy starts count", Input{Release: 1, Count: 2, MaxSurge: 1},
			Plan{Start: 2}},
		{"rolling surges one", Input{Release: 2, Count: 2, MaxSurge: 1, Tasks: []TaskView{
			task("a", 1, Healthy), task("b", 1, Healthy)}},
			Plan{Start: 1, Route: []string{"a", "b"}}},
		{"rolling waits for health", Input{Release: 2, Count: 2, MaxSurge: 1, Tasks: []TaskView{
			task("a", 1, Healthy), task("b", 1, Healthy), task("c", 2, Starting)}},
			Plan{Route: []string{"a", "b"}}},
		{"healthy new replaces one old", Input{Release: 2, Count: 2, MaxSurge: 1, Tasks: []TaskView{
			task("a", 1, Healthy), task("b", 1, Healthy), task("c", 2, Healthy)}},
			Plan{Start: 1, Route: []string{"b", "c"}, Stop: []string{"a"}}},
		{"converged", Input{Release: 2, Count: 2, MaxSurge: 1, Tasks: []TaskView{
			task("c", 2, Healthy), task("d", 2, Healthy)}},
			Plan{Route: []string{"c", "d"}, Converged: true}},
		{"unhealthy new replaced", Input{Release: 2, Count: 1, MaxSurge: 1, Tasks: []TaskView{
			task("c", 2, Unhealthy)}},
			Plan{Start: 1, Stop: []string{"c"}}},
		{"crashed task replaced", Input{Release: 1, Count: 2, MaxSurge: 1, Tasks: []TaskView{
			task("a", 1, Healthy)}},
			Plan{Start: 1, Route: []string{"a"}}},
		{"scale down", Input{Release: 1, Count: 1, MaxSurge: 1, Tasks: []TaskView{
			task("a", 1, Healthy), task("b", 1, Healthy)}},
			Plan{Route: []string{"a"}, Stop: []string{"b"}}},
		{"rollback drops bad starting tasks at once", Input{Release: 1, Count: 2, MaxSurge: 1, Tasks: []TaskView{
			task("a", 1, Healthy), task("b", 1, Healthy), task("c", 2, Starting)}},
			Plan{Route: []string{"a", "b"}, Stop: []string{"c"}, Converged: false}},
		{"max unavailable allows stop first", Input{Release: 2, Count: 2, MaxUnavailable: 1, Tasks: []TaskView{
			task("a", 1, Healthy), task("b", 1, Healthy)}},
			Plan{Start: 1, Route: []string{"b"}, Stop: []string{"a"}}},
		{"zero surge and unavailable still progresses", Input{Release: 2, Count: 1, Tasks: []TaskView{
			task("a", 1, Healthy)}},
			Plan{Start: 1, Route: []string{"a"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Converge(tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Converge:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// sim applies plans to a simulated fleet: started tasks become healthy on
// the next step (or never, when bad), stopped tasks vanish.
type sim struct {
	tasks []TaskView
	next  int
}

func (s *sim) apply(p Plan, rel int, bad bool) {
	stop := map[string]bool{}
	for _, id := range p.Stop {
		stop[id] = true
	}
	var kept []TaskView
	for _, t := range s.tasks {
		if stop[t.ID] {
			continue
		}
		if t.Phase == Starting && !bad {
			t.Phase = Healthy
		}
		kept = append(kept, t)
	}
	for i := 0; i < p.Start; i++ {
		s.next++
		kept = append(kept, TaskView{ID: fmt.Sprintf("t%03d", s.next), Release: rel, Phase: Starting})
	}
	s.tasks = kept
}

func routable(p Plan) int { return len(p.Route) }

func TestConverge_Property_SafeRollingDeploy(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		count := rapid.IntRange(1, 6).Draw(rt, "count")
		surge := rapid.IntRange(0, 3).Draw(rt, "surge")
		unavail := rapid.IntRange(0, count).Draw(rt, "unavail")
		s := &sim{}
		// Bring release 1 up.
		for i := 0; i < 50; i++ {
			p := Converge(Input{Release: 1, Count: count, MaxSurge: surge, MaxUnavailable: unavail, Tasks: s.tasks})
			if p.Converged {
				break
			}
			s.apply(p, 1, false)
		}
		// Roll to release 2, checking invariants at every step.
		eff := surge
		if surge == 0 && unavail == 0 {
			eff = 1
		}
		for i := 0; ; i++ {
			if i > 100 {
				rt.Fatalf("no convergence after 100 steps: %+v", s.tasks)
			}
			p := Converge(Input{Release: 2, Count: count, MaxSurge: surge, MaxUnavailable: unavail, Tasks: s.tasks})
			if routable(p) < count-unavail {
				rt.Fatalf("step %d: routable %d below floor %d", i, routable(p), count-unavail)
			}
			for _, id := range p.Route {
				for _, tv := range s.tasks {
					if tv.ID == id && tv.Phase != Healthy {
						rt.Fatalf("step %d: routes to unhealthy task %s", i, id)
					}
				}
			}
			if p.Converged {
				break
			}
			s.apply(p, 2, false)
			if len(s.tasks) > count+eff {
				rt.Fatalf("step %d: %d live tasks exceed count+surge %d", i, len(s.tasks), count+eff)
			}
		}
	})
}

func TestConverge_BadReleaseNeverTakesTraffic(t *testing.T) {
	s := &sim{}
	for i := 0; i < 10; i++ {
		p := Converge(Input{Release: 1, Count: 2, MaxSurge: 1, Tasks: s.tasks})
		if p.Converged {
			break
		}
		s.apply(p, 1, false)
	}
	for i := 0; i < 10; i++ {
		p := Converge(Input{Release: 2, Count: 2, MaxSurge: 1, Tasks: s.tasks})
		if len(p.Route) != 2 {
			t.Fatalf("step %d: old release lost capacity: %v", i, p.Route)
		}
		for _, id := range p.Route {
			for _, tv := range s.tasks {
				if tv.ID == id && tv.Release != 1 {
					t.Fatalf("bad release task %s routed", id)
				}
			}
		}
		s.apply(p, 2, true)
	}
}

func TestJudge(t *testing.T) {
	now := t0.Add(time.Minute)
	cases := []struct {
		name   string
		in     JudgeInput
		failed bool
		reason string
	}{
		{"healthy", JudgeInput{Now: now, Release: 2, Deadline: 30 * time.Second,
			Tasks: []TaskView{{ID: "a", Release: 2, Phase: Healthy, StartedAt: t0}}}, false, ""},
		{"deadline", JudgeInput{Now: now, Release: 2, Deadline: 30 * time.Second,
			Tasks:     []TaskView{{ID: "a", Release: 2, Phase: Starting, StartedAt: t0}},
			LastCheck: map[string]string{"a": "GET /health: 503"}}, true,
			"task a of release 2 not healthy after 30s (last check: GET /health: 503)"},
		{"old tasks ignored", JudgeInput{Now: now, Release: 2, Deadline: 30 * time.Second,
			Tasks: []TaskView{{ID: "a", Release: 1, Phase: Starting, StartedAt: t0}}}, false, ""},
		{"breaker", JudgeInput{Now: now, Release: 2, Breaker: 2, Failures: []Failure{
			{TaskID: "a", Why: "exited with exit code 1"}, {TaskID: "b", Why: "exited with exit code 2"}}}, true,
			"release 2 failed 2 times in a row; last: task b exited with exit code 2"},
		{"below breaker", JudgeInput{Now: now, Release: 2, Breaker: 3, Failures: []Failure{
			{TaskID: "a", Why: "exited with exit code 1"}}}, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := Judge(tc.in)
			if v.Failed != tc.failed || v.Reason != tc.reason {
				t.Fatalf("Judge = %+v, want failed=%v reason=%q", v, tc.failed, tc.reason)
			}
		})
	}
}

func TestNextDeadlineAndBackoff(t *testing.T) {
	in := JudgeInput{Release: 2, Deadline: 10 * time.Second, Tasks: []TaskView{
		{ID: "a", Release: 2, Phase: Starting, StartedAt: t0.Add(5 * time.Second)},
		{ID: "b", Release: 2, Phase: Starting, StartedAt: t0},
		{ID: "c", Release: 1, Phase: Starting, StartedAt: t0.Add(-time.Hour)},
	}}
	if got := NextDeadline(in); !got.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("NextDeadline = %v", got)
	}
	want := []time.Duration{0, 500 * time.Millisecond, time.Second, 2 * time.Second}
	for n, w := range want {
		if got := Backoff(n); got != w {
			t.Fatalf("Backoff(%d) = %v, want %v", n, got, w)
		}
	}
	if Backoff(100) != 30*time.Second {
		t.Fatalf("Backoff not capped: %v", Backoff(100))
	}
}
