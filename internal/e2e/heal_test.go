package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
)

// healSpec is a catalog with a small restart budget; extra env lines
// follow.
const healSpec = `project: e2e
listen: %[2]s
engine: process
services:
  catalog:
    run: %[1]s
    route: {path: /catalog}
    count: %[4]s
    health: {path: /health, interval: 100ms, deadline: 10s}
    heal: {max_restarts: 3, window: 10m}
    deploy: {drain: 2s}
    env:
      SHOP_HOST: 127.0.0.1
      E2E_MARKER: %[3]s
`

// healProject deploys healSpec with count tasks and the extra env lines.
func healProject(t *testing.T, count int, env string) *project {
	t.Helper()
	p := newProject(t)
	p.writeSpec(strings.Replace(healSpec, "%[4]s", fmt.Sprint(count), 1) + env)
	p.startServe()
	p.mustBerth("deploy")
	return p
}

// A crash-looper is held to its budget: 3 restarts, then none however long
// it waits, state degraded with the last exit and the reason, in status
// -o json and on the terminal; history lists the decisions; berth restart
// resumes it.
func TestHealCrashLooperHeldToBudget(t *testing.T) {
	p := healProject(t, 1, "      CHAOS_EXIT_AFTER: 1500ms\n")
	p.waitFor("held", 60*time.Second, func() bool {
		s := p.service("catalog")
		return s.Heal != nil && s.Heal.Held
	})
	var st api.Status
	if err := json.Unmarshal([]byte(p.mustBerth("status", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	s := st.Services[0]
	if s.State != api.ServiceDegraded || s.LastExit == nil || s.LastExit.Code != 3 || !strings.Contains(s.Reason, "restart budget spent") || !strings.Contains(s.Reason, "exit code 3") ||
		s.Heal == nil || !s.Heal.Held || s.Heal.Used != 3 {
		t.Fatalf("status -o json of a held service: state %q reason %q heal %+v last exit %+v", s.State, s.Reason, s.Heal, s.LastExit)
	}
	// Held to the budget: the first task and 3 restarts, no more.
	started := countEvents(t, p, api.EventTaskStarted)
	if started != 4 {
		t.Fatalf("%d tasks started, want 4 (1 and 3 restarts)", started)
	}
	out := p.mustBerth("status")
	if !strings.Contains(out, "degraded") || !strings.Contains(out, "restart budget spent") || !strings.Contains(out, "berth restart catalog") {
		t.Fatalf("status of a held service:\n%s", out)
	}
	out = p.mustBerth("status", "catalog")
	if !strings.Contains(out, "heal.budget_spent") || !strings.Contains(out, "RESTARTS") {
		t.Fatalf("status catalog of a held service:\n%s", out)
	}
	if out := p.mustBerth("history", "catalog"); !strings.Contains(out, "heal.budget_spent") || !strings.Contains(out, "heal.restarted") {
		t.Fatalf("history of a held service:\n%s", out)
	}
	if n := countEvents(t, p, api.EventTaskStarted); n != started {
		t.Fatalf("%d tasks started while the budget was spent", n-started)
	}
	metrics, err := p.api("GET", "/metrics", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`berth_task_restarts_total{service="catalog"} 3`, `berth_healing_actions_total{action="hold",service="catalog"} 1`,
		`berth_tasks_desired{service="catalog"} 1`, `berth_tasks_running{service="catalog"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("/metrics lacks %s:\n%s", want, metrics)
		}
	}
	p.mustBerth("restart", "catalog")
	p.waitFor("a task started again", 30*time.Second, func() bool { return countEvents(t, p, api.EventTaskStarted) > started })
}

func countEvents(t *testing.T, p *project, kind string) int {
	t.Helper()
	out, err := p.api("GET", "/v1/events?service=catalog", "")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.SplitSeq(out, "\n") {
		var e api.Event
		if json.Unmarshal([]byte(line), &e) == nil && e.Kind == kind {
			n++
		}
	}
	return n
}

// A task that hangs (its process alive, its health check failing) is out
// of routing and replaced, with no request failed at the other tasks.
func TestHealHungTaskOutOfRoutingAndReplaced(t *testing.T) {
	p := healProject(t, 2, "")
	st := p.service("catalog")
	victim := st.Tasks[0]
	pid := 0
	for _, c := range p.taskPIDs() {
		if taskOf(c) == victim.ID {
			pid = c
		}
	}
	if pid == 0 {
		t.Fatalf("no process for task %s", victim.ID)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	frozen := time.Now()
	// Out of routing: marked down, or already removed from the table.
	p.waitFor("the frozen task out of routing", 30*time.Second, func() bool { return routerHealth(t, p, victim.Addr) != "1" })
	out := time.Since(frozen)
	p.waitFor("a replacement healthy", 30*time.Second, func() bool {
		s := p.service("catalog")
		if s.Healthy < 2 {
			return false
		}
		for _, tk := range s.Tasks {
			if tk.ID == victim.ID && tk.State != "draining" && tk.State != "stopped" {
				return false
			}
		}
		return true
	})
	t.Logf("frozen task out of routing %s after SIGSTOP, replaced after %s", out.Round(time.Millisecond), time.Since(frozen).Round(time.Millisecond))
	// 3 failed checks 100ms apart, each timing out after 1s at most.
	if out > 5*time.Second {
		t.Fatalf("the frozen task stayed in routing %s", out)
	}
	p.waitFor("the frozen task stopped", 30*time.Second, func() bool { return processGone(pid) })
}

// Killing half of a service's tasks at once fails no request on the other
// half: the surviving tasks answer everything, while the dead are replaced
// one at a time. The only failures are requests that reached a killed
// task as it died (the router answers "target closed the connection
// before answering", which a serving task never does), all sent within
// moments of the kill; after that a request to a dead task cannot connect
// and is retried on a live one.
func TestHealKillHalfFailsNoRequest(t *testing.T) {
	p := healProject(t, 4, "")
	l := startLoad(t, "http://"+p.listen+"/catalog/items", 4)
	p.waitFor("load flows", 30*time.Second, func() bool { return l.ok.Load() > 50 })
	pids := p.taskPIDs()
	if len(pids) != 4 {
		t.Fatalf("want 4 task processes, found %v", pids)
	}
	victims := map[string]bool{}
	for _, pid := range pids[:2] {
		victims[taskOf(pid)] = true
	}
	killed := time.Now()
	for _, pid := range pids[:2] {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	p.waitFor("4 healthy again", 30*time.Second, func() bool {
		s := p.service("catalog")
		for _, tk := range s.Tasks {
			if victims[tk.ID] {
				return false
			}
		}
		return s.Healthy == 4 && len(s.Tasks) == 4
	})
	t.Logf("2 of 4 tasks killed; 4 healthy again after %s", time.Since(killed).Round(time.Millisecond))
	n := l.ok.Load()
	p.waitFor("load flows after", 30*time.Second, func() bool { return l.ok.Load() > n+50 })
	l.halt()
	dying := 0
	for _, r := range l.results() {
		if r.status == 200 {
			continue
		}
		if strings.Contains(r.body, "closed the connection before answering") && r.sent.Sub(killed) < 100*time.Millisecond {
			dying++
			continue
		}
		t.Errorf("request sent %s after the kill failed: %d %s", r.sent.Sub(killed).Round(time.Millisecond), r.status, strings.TrimSpace(r.body))
	}
	t.Logf("%d requests; %d reached a killed task as it died, no other failed", len(l.results()), dying)
}

// A release whose tasks crash-loop right after its deployment succeeded is
// rolled back to the release before, with the reason in history.
func TestHealCrashLoopAfterSuccessRollsBack(t *testing.T) {
	p := healProject(t, 2, "")
	p.appendTo("berth.yaml", "      CHAOS_EXIT_AFTER: 2s\n")
	out := p.mustBerth("deploy")
	if !strings.Contains(out, "succeeded") {
		t.Fatalf("deploy of the late crasher:\n%s", out)
	}
	p.waitFor("back on release 1", 60*time.Second, func() bool {
		s := p.service("catalog")
		return s.Release == 1 && s.Deployment == nil && s.Healthy == 2
	})
	h := p.mustBerth("history", "catalog")
	if !strings.Contains(h, "heal.rolled_back") || !strings.Contains(h, "after its deployment succeeded") {
		t.Fatalf("history after the rollback:\n%s", h)
	}
}
