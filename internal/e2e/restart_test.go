package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The data plane outlives the control plane: `berth serve` killed with
// SIGKILL (a crash) under continuous load, then started again, fails no
// request; the tasks and the router process are adopted (same processes),
// and a deployment after the restart succeeds, still under load.
func TestServeKill9UnderLoadFailsNoRequest(t *testing.T) {
	p := deployed(t, goodSpec)
	tasks, routers := p.taskPIDs(), p.routerPIDs()
	if len(tasks) != 2 || len(routers) != 1 {
		t.Fatalf("want 2 task processes and 1 router process, found %v and %v", tasks, routers)
	}
	l := startLoad(t, "http://"+p.listen+"/catalog/items", 4)
	p.waitFor("load flows", 30*time.Second, func() bool { return l.ok.Load() > 50 })
	kills := restarts(3)
	start := time.Now()
	for range kills {
		p.kill9()
		// The router serves on its own while no control plane runs.
		n := l.ok.Load()
		p.waitFor("requests served with the control plane down", 30*time.Second, func() bool { return l.ok.Load() > n+100 })
		p.startServe()
		p.waitFor("tasks adopted healthy", 30*time.Second, func() bool { return p.service("catalog").Healthy == 2 })
	}
	t.Logf("%d kill -9 and restarts in %s", kills, time.Since(start).Round(time.Millisecond))
	assertSamePIDs(t, "task", tasks, p.taskPIDs())
	assertSamePIDs(t, "router", routers, p.routerPIDs())

	out := p.mustBerth("deploy", "--force")
	if !strings.Contains(out, "all 1 deployments succeeded") {
		t.Fatalf("deploy after the restarts:\n%s", out)
	}
	if got := releaseServed(t, p); got != "2" {
		t.Fatalf("router serves release %s after the deploy, want 2", got)
	}
	l.check(t)
}

// A graceful restart (SIGTERM then start, what `systemctl restart` does)
// under load fails no request and replaces no task.
func TestServeGracefulRestartUnderLoadKeepsTasks(t *testing.T) {
	p := deployed(t, goodSpec)
	tasks := p.taskPIDs()
	ids := taskIDs(p)
	l := startLoad(t, "http://"+p.listen+"/catalog/items", 4)
	p.waitFor("load flows", 30*time.Second, func() bool { return l.ok.Load() > 50 })
	times := restarts(2)
	start := time.Now()
	for range times {
		p.stopServe()
		if !strings.Contains(p.transcript.String(), "tasks and the router keep running") {
			t.Fatalf("serve's output on SIGTERM does not say the tasks keep running:\n%s", p.transcript.String())
		}
		n := l.ok.Load()
		p.waitFor("requests served with the control plane down", 30*time.Second, func() bool { return l.ok.Load() > n+100 })
		p.startServe()
		p.waitFor("tasks adopted healthy", 30*time.Second, func() bool { return p.service("catalog").Healthy == 2 })
	}
	t.Logf("%d SIGTERM and restarts in %s", times, time.Since(start).Round(time.Millisecond))
	assertSamePIDs(t, "task", tasks, p.taskPIDs())
	if got := taskIDs(p); !slices.Equal(got, ids) {
		t.Fatalf("tasks after the restarts %v, want the same %v: a task was replaced", got, ids)
	}
	l.check(t)

	// Only berth down stops the tasks and the router.
	p.mustBerth("down")
	<-p.exited
	p.serve = nil
	p.waitFor("router and tasks gone after down", 30*time.Second, func() bool {
		return len(p.taskPIDs()) == 0 && len(p.routerPIDs()) == 0
	})
}

// Active health checks go on in the router while no control plane runs:
// a task that stops answering is marked unhealthy, and healthy again when
// it answers.
func TestRouterChecksHealthWithoutControlPlane(t *testing.T) {
	p := deployed(t, goodSpec)
	st := p.service("catalog")
	addr, pid := st.Tasks[0].Addr, 0
	for _, candidate := range p.taskPIDs() {
		if taskOf(candidate) == st.Tasks[0].ID {
			pid = candidate
		}
	}
	if addr == "" || pid == 0 {
		t.Fatalf("no address or process for task %+v", st.Tasks[0])
	}
	p.kill9()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	p.waitFor("router marks the frozen task unhealthy", 30*time.Second, func() bool { return routerHealth(t, p, addr) == "0" })
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	p.waitFor("router marks the task healthy again", 30*time.Second, func() bool { return routerHealth(t, p, addr) == "1" })
}

// A binary upgrade: `berth serve` of a new build hands the router's
// listening socket to a router process of its build under load, failing
// no request, and adopts the tasks.
func TestServeUpgradeHandsRouterOverUnderLoad(t *testing.T) {
	p := deployed(t, goodSpec)
	tasks, routers := p.taskPIDs(), p.routerPIDs()
	l := startLoad(t, "http://"+p.listen+"/catalog/items", 4)
	p.waitFor("load flows", 30*time.Second, func() bool { return l.ok.Load() > 50 })

	// The "new build": the same program with a different executable.
	next := filepath.Join(t.TempDir(), "berth-next")
	data, err := os.ReadFile(berthBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(next, append(data, "upgrade"...), 0o755); err != nil {
		t.Fatal(err)
	}
	p.stopServe()
	p.bin = next
	p.startServe()
	p.waitFor("old router gone", 60*time.Second, func() bool { return processGone(routers[0]) })
	now := p.routerPIDs()
	if len(now) != 1 || now[0] == routers[0] {
		t.Fatalf("router processes after the upgrade %v (before %v): want one new", now, routers)
	}
	n := l.ok.Load()
	p.waitFor("requests served by the new router", 30*time.Second, func() bool { return l.ok.Load() > n+100 })
	assertSamePIDs(t, "task", tasks, p.taskPIDs())
	out := p.mustBerth("deploy", "--force")
	if !strings.Contains(out, "all 1 deployments succeeded") {
		t.Fatalf("deploy after the upgrade:\n%s", out)
	}
	l.check(t)
}

// A deploy whose control plane is killed mid-deployment reconnects to the
// restarted one and reports the real outcome.
func TestDeployFollowsThroughControlPlaneRestart(t *testing.T) {
	p := deployed(t, goodSpec)
	p.appendTo("berth.yaml", "      CHAOS_READY_AFTER: 3s\n")
	type result struct {
		out  string
		code int
	}
	done := make(chan result, 1)
	go func() {
		out, code := p.berth("deploy")
		done <- result{out, code}
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
	p.startServe()
	select {
	case r := <-done:
		if r.code != 0 || !strings.Contains(r.out, "all 1 deployments succeeded") {
			t.Fatalf("deploy across the restart exited %d:\n%s", r.code, r.out)
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("deploy did not finish after the restart")
	}
}

// restarts is how many restarts a test makes: def, or E2E_RESTARTS (for a
// measurement).
func restarts(def int) int {
	if n, err := strconv.Atoi(os.Getenv("E2E_RESTARTS")); err == nil && n > 0 {
		return n
	}
	return def
}

// assertSamePIDs fails unless got holds exactly the processes of want.
func assertSamePIDs(t *testing.T, what string, want, got []int) {
	t.Helper()
	w, g := slices.Sorted(slices.Values(want)), slices.Sorted(slices.Values(got))
	if !slices.Equal(w, g) {
		t.Fatalf("%s processes %v, want the adopted %v", what, g, w)
	}
}

// taskIDs lists the catalog's task ids, sorted.
func taskIDs(p *project) []string {
	var ids []string
	for _, tk := range p.service("catalog").Tasks {
		ids = append(ids, tk.ID)
	}
	slices.Sort(ids)
	return ids
}

// routerHealth reads berth_router_target_healthy of a target from the
// router process's control socket ("" when absent).
func routerHealth(t *testing.T, p *project, addr string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", filepath.Join(p.state, "router.sock"))
		},
	}}
	resp, err := c.Get("http://router/metrics")
	if err != nil {
		t.Fatalf("router metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	prefix := `berth_router_target_healthy{target="` + addr + `"} `
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return v
		}
	}
	return ""
}

// A router process that dies while the control plane runs is replaced on
// the same address and given the current table.
func TestControlPlaneReplacesADeadRouter(t *testing.T) {
	p := deployed(t, goodSpec)
	routers := p.routerPIDs()
	if len(routers) != 1 {
		t.Fatalf("router processes %v, want 1", routers)
	}
	if err := syscall.Kill(routers[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.waitFor("a new router process serves the catalog", 30*time.Second, func() bool {
		code, _, err := p.get("/catalog/items")
		return err == nil && code == http.StatusOK
	})
	now := p.routerPIDs()
	if len(now) != 1 || now[0] == routers[0] {
		t.Fatalf("router processes %v after killing %d: want one new", now, routers[0])
	}
}
