package control

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/release"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// deployHeal posts a release of web (count 2) with the given heal: budget
// and env.
func (p *plane) deployHeal(heal string, env map[string]string) api.Deployment {
	p.t.Helper()
	src := "project: test\nservices:\n  web:\n    run: ./web\n    route: {path: /}\n    count: 2\n    health: {path: /health, interval: 1s, deadline: 30s}\n    heal: " + heal + "\n"
	sp, err := spec.Parse("/tmp/berth.yaml", []byte(src))
	if err != nil {
		p.t.Fatal(err)
	}
	svc := sp.Services["web"]
	svc.Env = env
	raw, _ := release.Config{Root: "/tmp", Service: svc}.Encode()
	resp, err := p.srv.Deploy(context.Background(), api.DeployRequest{Commit: "c", Force: true,
		Releases: []api.ReleaseSpec{{Service: "web", Commit: "c", Config: raw}}})
	if err != nil {
		p.t.Fatal(err)
	}
	return resp.Deployments[0]
}

func (p *plane) events(kind string) []store.Event {
	p.t.Helper()
	evs, err := p.st.Events(context.Background(), store.EventQuery{KindPrefixes: []string{kind}})
	if err != nil {
		p.t.Fatal(err)
	}
	return evs
}

// crashLive ends every live task of release rel once, waiting for each
// exit to be recorded; crashed remembers the tasks already crashed.
func (p *plane) crashLive(prefix string, crashed map[string]bool) int {
	n := 0
	for _, id := range p.drv.live() {
		if strings.HasPrefix(id, prefix) && !crashed[id] {
			crashed[id] = true
			p.drv.end(id, driver.ExitStatus{Code: 3})
			p.waitEvent(api.EventTaskExited, id)
			n++
		}
	}
	return n
}

// TestHeal_CrashLooper_HeldToBudgetThenRestartResumes: a service whose
// tasks keep exiting is restarted max_restarts times, then held: no more
// starts however long the window lasts, state degraded with the last exit
// as the reason, one budget event; berth restart resumes it.
func TestHeal_CrashLooper_HeldToBudgetThenRestartResumes(t *testing.T) {
	p := newPlane(t)
	d := p.deployHeal("{max_restarts: 3, window: 10m}", nil)
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == "succeeded" })
	crashed := map[string]bool{}
	p.until("budget spent", 100*time.Millisecond, func() bool {
		p.crashLive("web-1-", crashed)
		return len(p.events(api.EventHealBudgetSpent)) > 0
	})
	if n := len(p.events(api.EventHealRestarted)); n != 3 {
		t.Fatalf("%d restarts before the budget was spent, want 3", n)
	}
	// Whatever still runs is crashed too; nothing is started any more.
	p.crashLive("web-1-", crashed)
	p.settle(context.Background(), "last crashes")
	starts := len(p.drv.snapshot())
	for range 20 {
		p.clock.Advance(5 * time.Second)
		p.settle(context.Background(), "held")
	}
	if n := len(p.drv.snapshot()); n != starts {
		t.Fatalf("%d tasks started while the budget was spent", n-starts)
	}
	s := p.web()
	if s.State != api.ServiceDegraded || !strings.Contains(s.Reason, "restart budget spent") || !strings.Contains(s.Reason, "exit code 3") ||
		s.Heal == nil || !s.Heal.Held || s.Heal.Used != 3 || s.LastExit == nil || s.LastExit.Code != 3 {
		t.Fatalf("held service: state %q reason %q heal %+v last exit %+v", s.State, s.Reason, s.Heal, s.LastExit)
	}
	if n := len(p.events(api.EventHealBudgetSpent)); n != 1 {
		t.Fatalf("%d budget events, want 1", n)
	}
	if err := p.srv.Restart(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	p.until("tasks running again", 100*time.Millisecond, func() bool { return len(p.drv.live()) == 2 })
	if s := p.web(); s.Reason != "" || s.Heal.Held {
		t.Fatalf("after berth restart: reason %q heal %+v", s.Reason, s.Heal)
	}
	if len(p.events(api.EventHealResumed)) != 1 {
		t.Fatal("no heal.resumed event after berth restart")
	}
	h, err := p.srv.History(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Decisions) < 5 || h.Decisions[0].Kind != api.EventHealResumed && h.Decisions[0].Kind != api.EventHealRestart && h.Decisions[0].Kind != api.EventHealRestarted {
		t.Fatalf("history decisions: %+v", h.Decisions)
	}
}

// TestHeal_WindowPassing_Resumes: a held service restarts again once its
// oldest restart leaves the window, with no trigger but the clock.
func TestHeal_WindowPassing_Resumes(t *testing.T) {
	p := newPlane(t)
	d := p.deployHeal("{max_restarts: 2, window: 1m}", nil)
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == "succeeded" })
	crashed := map[string]bool{}
	p.until("budget spent", 100*time.Millisecond, func() bool {
		p.crashLive("web-1-", crashed)
		return len(p.events(api.EventHealBudgetSpent)) > 0
	})
	p.until("resumed after the window", time.Second, func() bool { return len(p.events(api.EventHealResumed)) > 0 })
	p.until("replacements running", 100*time.Millisecond, func() bool { return len(p.drv.live()) == 2 })
}

// TestHeal_TwoTriggersOneReplacement: a task that fails its health check
// and then exits is replaced once.
func TestHeal_TwoTriggersOneReplacement(t *testing.T) {
	p := newPlane(t)
	d := p.deployHeal("{max_restarts: 5, window: 10m}", nil)
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == "succeeded" })
	victim := p.drv.live()[0]
	v, _ := p.srv.service("web")
	v.healthResult(victim, errFake)
	v.healthResult(victim, errFake)
	v.healthResult(victim, errFake) // unhealthy: the third failure
	p.drv.end(victim, driver.ExitStatus{Code: 1})
	p.until("replacement healthy", 100*time.Millisecond, func() bool { return p.web().Healthy == 2 })
	p.settle(context.Background(), "settled")
	if n := len(p.drv.snapshot()); n != 3 {
		t.Fatalf("%d tasks started in all, want 3 (two, then one replacement)", n)
	}
	evs := p.events(api.EventHealRestarted)
	if len(evs) != 1 {
		t.Fatalf("%d heal.restarted events, want 1", len(evs))
	}
	if a := evs[0].Fields["action"]; a != actionReplace {
		t.Fatalf("the replacement of an unhealthy task was recorded as %q, want %q", a, actionReplace)
	}
}

var errFake = &fakeCheckErr{}

type fakeCheckErr struct{}

func (*fakeCheckErr) Error() string { return "GET /health: timeout" }

// TestHeal_ReleaseCrashLoopingAfterSuccess_RolledBack: a release whose
// tasks crash soon after its deployment succeeded goes back to the release
// before, with the reason on its deployment.
func TestHeal_ReleaseCrashLoopingAfterSuccess_RolledBack(t *testing.T) {
	p := newPlane(t)
	good := p.deployHeal("{max_restarts: 5, window: 10m}", nil)
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(good.ID).State == "succeeded" })
	bad := p.deployHeal("{max_restarts: 5, window: 10m}", map[string]string{"V": "2"})
	p.until("release 2 live", 100*time.Millisecond, func() bool { return p.deployment(bad.ID).State == "succeeded" })
	crashed := map[string]bool{}
	p.until("rolled back to release 1", 100*time.Millisecond, func() bool {
		p.crashLive("web-2-", crashed)
		return p.web().Release == 1 && p.web().Deployment == nil
	})
	got := p.deployment(bad.ID)
	if got.State != store.DeployRolledBack || !strings.Contains(got.Reason, "after its deployment succeeded") || !strings.Contains(got.Reason, "rolled back to release 1") {
		t.Fatalf("the crash-looping release's deployment: %s %q", got.State, got.Reason)
	}
	if len(p.events(api.EventHealRolledBack)) != 1 {
		t.Fatal("want one heal.rolled_back event")
	}
}

// TestHeal_Restart_RollsWithoutDowntime: berth restart replaces every
// task, one at a time, and every table published meanwhile routes at
// least count tasks.
func TestHeal_Restart_RollsWithoutDowntime(t *testing.T) {
	p := newPlane(t)
	d := p.deployHeal("{max_restarts: 5, window: 10m}", nil)
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == "succeeded" })
	before := p.drv.live()
	p.rt.mu.Lock()
	from := len(p.rt.tables)
	p.rt.mu.Unlock()
	if err := p.srv.Restart(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	p.until("every task replaced", 100*time.Millisecond, func() bool {
		live := p.drv.live()
		if len(live) != 2 || p.web().Healthy != 2 {
			return false
		}
		for _, id := range live {
			for _, old := range before {
				if id == old {
					return false
				}
			}
		}
		return true
	})
	p.rt.mu.Lock()
	defer p.rt.mu.Unlock()
	for i, tb := range p.rt.tables[from:] {
		n := 0
		for _, r := range tb.Routes {
			for _, g := range r.Groups {
				n += len(g.Targets)
			}
		}
		if n < 2 {
			t.Fatalf("table %d during the restart routes %d tasks, want at least 2", i, n)
		}
	}
	if err := p.srv.Restart(context.Background(), "nope"); err == nil {
		t.Fatal("restart of an unknown service succeeded")
	}
}

// TestHeal_Metrics: the collector exports restarts, actions and counts.
func TestHeal_Metrics(t *testing.T) {
	p := newPlane(t)
	d := p.deployHeal("{max_restarts: 5, window: 10m}", nil)
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == "succeeded" })
	victim := p.drv.live()[0]
	p.drv.end(victim, driver.ExitStatus{Code: 1})
	p.waitEvent(api.EventTaskExited, victim)
	p.until("replaced", 100*time.Millisecond, func() bool { return len(p.drv.live()) == 2 })
	reg := prometheus.NewRegistry()
	reg.MustRegister(p.srv.HealMetrics())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			key := mf.GetName()
			for _, l := range m.Label {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			if c := m.GetCounter(); c != nil {
				got[key] = c.GetValue()
			} else if g := m.GetGauge(); g != nil {
				got[key] = g.GetValue()
			}
		}
	}
	for k, want := range map[string]float64{
		"berth_task_restarts_total,service=web":                  1,
		"berth_healing_actions_total,action=restart,service=web": 1,
		"berth_tasks_desired,service=web":                        2,
		"berth_tasks_running,service=web":                        2,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], want, got)
		}
	}
}

// TestHeal_RestartEndpoint: POST /v1/services/{name}/restart answers 202
// with the status, 404 for an unknown service and 400 for a bad name or a
// service in the middle of a deployment.
func TestHeal_RestartEndpoint(t *testing.T) {
	p := newPlane(t)
	h := p.srv.Handler("", nil)
	post := func(name string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/services/"+name+"/restart", nil))
		return rec.Code
	}
	d := p.deployHeal("{max_restarts: 5, window: 10m}", nil)
	if code := post("web"); code != http.StatusBadRequest {
		t.Fatalf("restart during a deployment: %d, want 400", code)
	}
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == "succeeded" })
	for name, want := range map[string]int{"web": http.StatusAccepted, "nope": http.StatusNotFound, "Bad..Name": http.StatusBadRequest} {
		if code := post(name); code != want {
			t.Errorf("restart %q: %d, want %d", name, code, want)
		}
	}
}

// TestHeal_BudgetSurvivesControlPlaneRestart: a control plane started on
// the store of one that held a service holds it still, with its reason.
func TestHeal_BudgetSurvivesControlPlaneRestart(t *testing.T) {
	p := newPlane(t)
	d := p.deployHeal("{max_restarts: 2, window: 10m}", nil)
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == "succeeded" })
	crashed := map[string]bool{}
	p.until("budget spent", 100*time.Millisecond, func() bool {
		p.crashLive("web-1-", crashed)
		return len(p.events(api.EventHealBudgetSpent)) > 0
	})
	want := p.web().Reason
	p.srv.Detach()
	srv := New(Config{Project: "test", Store: p.st, Driver: p.drv, Router: p.rt, Clock: p.clock,
		Probe: func(context.Context, string, string, time.Duration) error { return nil }})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	var s api.Service
	for _, x := range srv.Status(context.Background()).Services {
		s = x
	}
	if s.Reason != want || s.Heal == nil || !s.Heal.Held || s.Heal.Used != 2 || s.State != api.ServiceDegraded {
		t.Fatalf("after a control-plane restart: state %q reason %q heal %+v; want held with %q", s.State, s.Reason, s.Heal, want)
	}
}
