package e2e

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// goodSpec is a 2-task catalog behind the router. DEPLOY_N is bumped by
// tests to make a new release with the same binary.
const goodSpec = `project: e2e
listen: %[2]s
engine: process
services:
  catalog:
    run: %[1]s
    route: {path: /catalog}
    count: 2
    health: {path: /health, interval: 100ms, deadline: 10s}
    deploy: {drain: 5s}
    env:
      SHOP_HOST: 127.0.0.1
      SHOP_DRAIN: 5s
      E2E_MARKER: %[3]s
`

func releaseServed(t *testing.T, p *project) string {
	t.Helper()
	var v struct{ Release string }
	_, body, err := p.get("/catalog/version")
	if err == nil {
		err = json.Unmarshal([]byte(body), &v)
	}
	if err != nil {
		t.Fatal(err)
	}
	return v.Release
}

// TestRollingDeploysAndRollbacksUnderLoad is the zero-downtime promise:
// five rolling deploys and two rollbacks of a 2-task service while a load
// generator runs through the router, and not one request fails.
func TestRollingDeploysAndRollbacksUnderLoad(t *testing.T) {
	p := deployed(t, goodSpec)
	if got := p.service("catalog").Healthy; got != 2 {
		t.Fatalf("healthy tasks after first deploy = %d, want 2", got)
	}

	l := startLoad(t, "http://"+p.listen+"/catalog/items", 4)
	for i := 2; i <= 6; i++ {
		out := p.mustBerth("deploy", "--force")
		if !strings.Contains(out, "all 1 deployments succeeded") {
			t.Fatalf("deploy %d output:\n%s", i, out)
		}
		if got := releaseServed(t, p); got != strconv.Itoa(i) {
			t.Fatalf("after deploy %d the router serves release %s", i, got)
		}
	}
	p.mustBerth("rollback", "catalog")
	if got := releaseServed(t, p); got != "5" {
		t.Fatalf("after the first rollback the router serves release %s, want 5", got)
	}
	p.mustBerth("rollback", "catalog", "--to", "2")
	if got := releaseServed(t, p); got != "2" {
		t.Fatalf("after rollback --to 2 the router serves release %s", got)
	}
	l.check(t)

	// Exactly the desired tasks run: nothing leaked by eight rollouts.
	p.waitFor("old tasks stopped", 20*time.Second, func() bool { return len(p.taskPIDs()) == 2 })
	hist := p.mustBerth("history", "catalog")
	if !strings.Contains(hist, "rolled") && !strings.Contains(hist, "succeeded") {
		t.Fatalf("history:\n%s", hist)
	}
}

// TestBadReleaseRollsBackAutomatically: a release whose tasks exit at
// start, and one whose health never passes, are rolled back by themselves;
// deploy exits non-zero naming the reason, and the old release served every
// request meanwhile.
func TestBadReleaseRollsBackAutomatically(t *testing.T) {
	p := deployed(t, goodSpec)
	l := startLoad(t, "http://"+p.listen+"/catalog/items", 4)

	cases := []struct {
		name, env, reason string
	}{
		{"exits at start", "      CHAOS_HEALTH: bogus\n", "exit code 2"},
		{"health never passes", "      CHAOS_HEALTH: fail\n", "not healthy after"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.writeSpec(strings.Replace(goodSpec, "deadline: 10s", "deadline: 2s", 1) + tc.env)
			out, code := p.berth("deploy")
			if code == 0 {
				t.Fatalf("deploy of a bad release exited 0:\n%s", out)
			}
			if !strings.Contains(out, "rolled back") || !strings.Contains(out, tc.reason) {
				t.Fatalf("deploy output does not name the rollback and %q:\n%s", tc.reason, out)
			}
			if got := releaseServed(t, p); got != "1" {
				t.Fatalf("after the rollback the router serves release %s, want 1", got)
			}
			p.waitFor("bad tasks gone", 20*time.Second, func() bool { return len(p.taskPIDs()) == 2 })
			p.writeSpec(goodSpec)
		})
	}
	l.check(t)
	st := p.service("catalog")
	if st.Release != 1 || st.Healthy != 2 {
		t.Fatalf("catalog after rollbacks: release %d, %d healthy", st.Release, st.Healthy)
	}
}

// TestCrashDuringDeploymentAdoptsTasks: kill -9 of berth serve in the
// middle of a deployment, then a restart. Running tasks are adopted — same
// processes, no duplicates, none orphaned — and the deployment finishes.
func TestCrashDuringDeploymentAdoptsTasks(t *testing.T) {
	p := deployed(t, goodSpec)
	before := p.taskPIDs()
	if len(before) != 2 {
		t.Fatalf("want 2 task processes, found %v", before)
	}

	// Make release 2 slow to become healthy, so the crash lands mid-deployment.
	p.appendTo("berth.yaml", "      CHAOS_READY_AFTER: 3s\n")
	done := make(chan string, 1)
	go func() {
		out, _ := p.berth("deploy")
		done <- out
	}()
	p.waitFor("a task of release 2 started", 30*time.Second, func() bool {
		for _, tk := range p.service("catalog").Tasks {
			if tk.Release == 2 {
				return true
			}
		}
		return false
	})
	p.kill9()
	// The CLI loses its control plane and reconnects to the next one
	// (TestDeployFollowsThroughControlPlaneRestart checks its outcome).
	defer func() { <-done }()

	survivors := p.taskPIDs()
	if len(survivors) < 2 {
		t.Fatalf("tasks died with the control plane: %v", survivors)
	}
	p.startServe()
	p.waitFor("deployment finished after restart", 60*time.Second, func() bool {
		s := p.service("catalog")
		return s.Deployment == nil && s.Release == 2 && s.Healthy == 2
	})
	// The release-1 tasks the deployment replaced may still be draining
	// when it finishes: wait for them, not for luck. A duplicate or an
	// orphan never goes, so this still fails on one.
	var after []int
	p.waitFor("replaced tasks gone", 20*time.Second, func() bool { after = p.taskPIDs(); return len(after) <= 2 })
	if len(after) != 2 {
		t.Fatalf("after recovery %d task processes run, want 2 (duplicates or orphans): %v", len(after), after)
	}
	known := map[string]bool{}
	for _, tk := range p.service("catalog").Tasks {
		known[tk.ID] = true
	}
	for _, pid := range after {
		if !known[taskOf(pid)] {
			t.Fatalf("process %d (task %s) is not a task berth knows: orphan", pid, taskOf(pid))
		}
	}
	// Tasks of release 2 that survived the crash were adopted, not restarted.
	for _, pid := range survivors {
		if strings.HasPrefix(taskOf(pid), "catalog-2-") && processGone(pid) {
			t.Fatalf("task %s of release 2 was restarted instead of adopted", taskOf(pid))
		}
	}
	if got := releaseServed(t, p); got != "2" {
		t.Fatalf("router serves release %s after recovery", got)
	}
}

// TestUpSIGTERMLeavesNoTask: SIGTERM to berth up stops every task.
func TestUpSIGTERMLeavesNoTask(t *testing.T) {
	p := newProject(t)
	p.writeSpec(goodSpec)
	cmd := p.command(context.Background(), "up")
	out := &lockedWriter{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.waitFor("up deployed", 60*time.Second, func() bool { return strings.Contains(out.String(), "press Ctrl-C") })
	if n := len(p.taskPIDs()); n != 2 {
		t.Fatalf("%d task processes, want 2", n)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("berth up after SIGTERM: %v\n%s", err, out.String())
	}
	if pids := p.taskPIDs(); len(pids) != 0 {
		t.Fatalf("task processes left after SIGTERM: %v", pids)
	}
	p.waitFor("the router process to stop", 30*time.Second, func() bool { return len(p.routerPIDs()) == 0 })
}
