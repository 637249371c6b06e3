package deploy

import (
	"strings"
	"testing"
	"time"
)

func TestReconcile(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	healthy := func(id string, rel int) TaskView {
		return TaskView{ID: id, Release: rel, Phase: Healthy, StartedAt: now.Add(-time.Hour)}
	}
	dep := func(strategy string) *DeploymentView {
		return &DeploymentView{ToRelease: 2, FromRelease: 1, Strategy: strategy, Deadline: 30 * time.Second, Breaker: 3}
	}
	cases := []struct {
		name  string
		view  View
		check func(t *testing.T, s Step)
	}{
		{"a task past its deadline rolls the deployment back", View{Release: 2, Count: 1, MaxSurge: 1, DepsReady: true, Deployment: dep("rolling"),
			Tasks: []TaskView{healthy("a", 1), {ID: "b", Release: 2, Phase: Starting, StartedAt: now.Add(-31 * time.Second)}}},
			func(t *testing.T, s Step) {
				if !strings.Contains(s.RollBack, "not healthy after 30s") || s.Start != 0 || len(s.Stop) != 0 {
					t.Errorf("step = %+v, want a roll back and no moves", s)
				}
			}},
		{"the breaker rolls back", View{Release: 2, Count: 1, DepsReady: true, Deployment: &DeploymentView{ToRelease: 2, FromRelease: 1, Strategy: "rolling", Breaker: 2,
			Failures: []Failure{{TaskID: "x", Why: "exit 1"}, {TaskID: "y", Why: "exit 1"}}}},
			func(t *testing.T, s Step) {
				if !strings.Contains(s.RollBack, "failed 2 times in a row") {
					t.Errorf("step = %+v", s)
				}
			}},
		{"a dependency still rolling out holds the deployment", View{Release: 2, Count: 1, MaxSurge: 1, Deployment: dep("rolling"), Tasks: []TaskView{healthy("a", 1)}},
			func(t *testing.T, s Step) {
				if s.Waiting == "" || s.Start != 0 || s.Route != nil {
					t.Errorf("step = %+v, want waiting", s)
				}
			}},
		{"canary goes to the progressive controller", View{Release: 2, Count: 1, DepsReady: true, Deployment: dep(StrategyCanary)},
			func(t *testing.T, s Step) {
				if !s.Progressive {
					t.Errorf("step = %+v", s)
				}
			}},
		{"a crash backoff holds starts until it ends", View{Release: 1, Count: 2, MaxSurge: 1, DepsReady: true, NotBefore: now.Add(2 * time.Second), Tasks: []TaskView{healthy("a", 1)}},
			func(t *testing.T, s Step) {
				if s.Start != 0 || !s.WakeAt.Equal(now.Add(2*time.Second)) || len(s.Route) != 1 {
					t.Errorf("step = %+v, want no start and a wake-up at the end of the backoff", s)
				}
			}},
		{"a new task's deadline schedules the next pass", View{Release: 2, Count: 1, MaxSurge: 1, DepsReady: true, Deployment: dep("rolling"), Tasks: []TaskView{healthy("a", 1)}},
			func(t *testing.T, s Step) {
				if s.Start != 1 || !s.WakeAt.Equal(now.Add(30*time.Second)) || s.Finish {
					t.Errorf("step = %+v, want one start and a wake-up at its deadline", s)
				}
			}},
		{"converged finishes the deployment and stops the old release", View{Release: 2, Count: 1, MaxSurge: 1, DepsReady: true, Deployment: dep("rolling"),
			Tasks: []TaskView{healthy("a", 1), healthy("b", 2)}},
			func(t *testing.T, s Step) {
				if len(s.Stop) != 1 || s.Stop[0] != "a" || !s.Again {
					t.Errorf("step = %+v, want a stopped and another pass", s)
				}
			}},
		{"release 0 stops everything", View{Release: 0, Count: 3, DepsReady: true, Tasks: []TaskView{healthy("a", 1)}},
			func(t *testing.T, s Step) {
				if len(s.Stop) != 1 || s.Start != 0 {
					t.Errorf("step = %+v", s)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := Reconcile(tc.view, now)
			tc.check(t, s)
			if again := Reconcile(tc.view, now); !stepsEqual(s, again) {
				t.Errorf("not pure: %+v then %+v", s, again)
			}
		})
	}
}

func stepsEqual(a, b Step) bool {
	return a.RollBack == b.RollBack && a.Progressive == b.Progressive && a.Waiting == b.Waiting && a.Start == b.Start &&
		a.Finish == b.Finish && a.Again == b.Again && a.WakeAt.Equal(b.WakeAt) &&
		strings.Join(a.Route, ",") == strings.Join(b.Route, ",") && strings.Join(a.Stop, ",") == strings.Join(b.Stop, ",")
}

func TestReconcile_FinishesWhenConverged(t *testing.T) {
	now := time.Now()
	s := Reconcile(View{Release: 2, Count: 1, MaxSurge: 1, DepsReady: true,
		Deployment: &DeploymentView{ToRelease: 2, FromRelease: 1, Strategy: "rolling"},
		Tasks:      []TaskView{{ID: "b", Release: 2, Phase: Healthy, StartedAt: now}}}, now)
	if !s.Finish || len(s.Route) != 1 {
		t.Fatalf("step = %+v, want finish", s)
	}
}

func TestCrashes_BackOffInALoopAndForgetAfterAMinute(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var c Crashes
	c = c.Crashed(t0)
	if c.Count != 1 || !c.NotBefore.Equal(t0) {
		t.Fatalf("first crash: %+v, want an immediate restart", c)
	}
	c = c.Crashed(t0.Add(time.Second))
	if c.Count != 2 || c.NotBefore.Sub(t0.Add(time.Second)) != 500*time.Millisecond {
		t.Fatalf("second crash: %+v, want 500ms backoff", c)
	}
	c = c.Crashed(t0.Add(2 * time.Second))
	if c.NotBefore.Sub(t0.Add(2*time.Second)) != time.Second {
		t.Fatalf("third crash: %+v, want 1s backoff", c)
	}
	c = c.Crashed(t0.Add(10 * time.Minute))
	if c.Count != 1 || !c.NotBefore.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("crash after a quiet minute: %+v, want a fresh start", c)
	}
}
