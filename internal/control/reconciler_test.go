package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/release"
	"github.com/berth-dev/berth/internal/router"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// fakeClock fires AfterFunc callbacks only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[int]fakeTimer
	next   int
}

type fakeTimer struct {
	at time.Time
	f  func()
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), timers: map[int]fakeTimer{}}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	id := c.next
	c.timers[id] = fakeTimer{at: c.now.Add(d), f: f}
	return func() {
		c.mu.Lock()
		delete(c.timers, id)
		c.mu.Unlock()
	}
}

// Advance moves time forward and runs every timer that came due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	for id, t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t.f)
			delete(c.timers, id)
		}
	}
	c.mu.Unlock()
	// Synchronously: once Advance returns, every timer that came due has
	// run (and what it started is tracked by Server.Settle).
	for _, f := range due {
		f()
	}
}

// fakeDriver runs no process: a task lives until stopped or crashed.
type fakeDriver struct {
	mu      sync.Mutex
	n       int
	tasks   map[string]*fakeTask
	started []driver.TaskSpec
}

type fakeTask struct {
	spec driver.TaskSpec
	exit chan driver.ExitStatus
	done bool
}

func newFakeDriver() *fakeDriver { return &fakeDriver{tasks: map[string]*fakeTask{}} }

func (d *fakeDriver) Name() string { return "fake" }

func (d *fakeDriver) Start(_ context.Context, t driver.TaskSpec) (driver.Handle, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n++
	d.tasks[t.ID] = &fakeTask{spec: t, exit: make(chan driver.ExitStatus, 1)}
	d.started = append(d.started, t)
	return driver.Handle{Driver: "fake", Version: 1, TaskID: t.ID, PID: d.n, Addr: fmt.Sprintf("127.0.0.1:%d", 20000+d.n)}, nil
}

func (d *fakeDriver) end(id string, st driver.ExitStatus) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t := d.tasks[id]; t != nil && !t.done {
		t.done = true
		t.exit <- st
	}
}

func (d *fakeDriver) task(id string) *fakeTask {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tasks[id]
}

func (d *fakeDriver) Wait(ctx context.Context, h driver.Handle) (driver.ExitStatus, error) {
	t := d.task(h.TaskID)
	if t == nil {
		return driver.ExitStatus{}, driver.ErrNotFound
	}
	select {
	case st := <-t.exit:
		t.exit <- st
		return st, nil
	case <-ctx.Done():
		return driver.ExitStatus{}, ctx.Err()
	}
}

func (d *fakeDriver) Stop(_ context.Context, h driver.Handle, _ time.Duration) error {
	d.end(h.TaskID, driver.ExitStatus{Code: 0})
	return nil
}

func (d *fakeDriver) Inspect(_ context.Context, h driver.Handle) (driver.State, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tasks[h.TaskID]
	if t == nil {
		return driver.State{}, driver.ErrNotFound
	}
	return driver.State{Running: !t.done, CPUPercent: 12.5, MemoryBytes: 4 << 20}, nil
}

func (d *fakeDriver) Recover(_ context.Context, h driver.Handle) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t := d.tasks[h.TaskID]; t == nil || t.done {
		return driver.ErrNotFound
	}
	return nil
}

func (d *fakeDriver) Logs(context.Context, driver.Handle, driver.LogOptions) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("")), nil
}

// live lists the tasks that have not ended, by id.
func (d *fakeDriver) live() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ids []string
	for id, t := range d.tasks {
		if !t.done {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// fakeRouter records every published table.
type fakeRouter struct {
	mu     sync.Mutex
	tables []*router.Table
}

func (r *fakeRouter) Publish(t *router.Table) {
	r.mu.Lock()
	r.tables = append(r.tables, t)
	r.mu.Unlock()
}

func (r *fakeRouter) WaitDrained(context.Context, string) error { return nil }

// routedReleases returns, for every table ever published, the releases
// that had targets.
func (r *fakeRouter) routedReleases() [][]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]int
	for _, t := range r.tables {
		var rels []int
		for _, rt := range t.Routes {
			for _, g := range rt.Groups {
				if len(g.Targets) > 0 && g.Weight > 0 {
					rels = append(rels, g.Release)
				}
			}
		}
		out = append(out, rels)
	}
	return out
}

// plane is a control plane on a fake clock, driver, router and health
// probe, with a real SQLite store.
type plane struct {
	t     *testing.T
	srv   *Server
	clock *fakeClock
	drv   *fakeDriver
	rt    *fakeRouter
	st    *store.Store
}

func newPlane(t *testing.T) *plane {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	p := &plane{t: t, clock: newFakeClock(), drv: newFakeDriver(), rt: &fakeRouter{}, st: st}
	p.srv = New(Config{
		Project: "test", Store: st, Driver: p.drv, Router: p.rt, Clock: p.clock,
		// Tasks whose release sets FAKE_HEALTH=fail never pass.
		Probe: func(_ context.Context, addr, _ string, _ time.Duration) error {
			for _, ts := range p.drv.snapshot() {
				if ts.addr == addr && ts.spec.Env["FAKE_HEALTH"] == "fail" {
					return errors.New("GET /health: 503 Service Unavailable")
				}
			}
			return nil
		},
	})
	if err := p.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.srv.Shutdown(context.Background())
		_ = st.Close()
	})
	return p
}

type taskAddr struct {
	spec driver.TaskSpec
	addr string
}

func (d *fakeDriver) snapshot() []taskAddr {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []taskAddr
	for i, s := range d.started {
		out = append(out, taskAddr{spec: s, addr: fmt.Sprintf("127.0.0.1:%d", 20001+i)})
	}
	return out
}

// deploy posts one release of service web with the given env.
func (p *plane) deploy(env map[string]string) api.Deployment {
	p.t.Helper()
	src := "project: test\nservices:\n  web:\n    run: ./web\n    route: {path: /}\n    count: 2\n    health: {path: /health, interval: 1s, deadline: 30s}\n"
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

// until advances the fake clock in steps, letting the control plane
// settle after each (no sleeping), until cond holds; it fails the test
// when cond does not hold within 10s of real time.
func (p *plane) until(what string, step time.Duration, cond func() bool) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.settle(ctx, what)
	for !cond() {
		if ctx.Err() != nil {
			p.t.Fatalf("never reached: %s (fake time %s)", what, p.clock.Now().Format(time.TimeOnly))
		}
		p.clock.Advance(step)
		p.settle(ctx, what)
	}
}

// settle waits until the control plane has applied everything the last
// clock step caused.
func (p *plane) settle(ctx context.Context, what string) {
	p.t.Helper()
	if err := p.srv.Settle(ctx); err != nil {
		p.t.Fatalf("control plane never settled while waiting for %s: %v", what, err)
	}
}

// waitEvent waits (on the event stream, with a deadline) until an event
// of kind whose message contains text has been recorded: the way to wait
// for what a task's own exit causes, which starts outside the control
// plane.
func (p *plane) waitEvent(kind, text string) {
	p.t.Helper()
	wake, unsub := p.srv.events.subscribe()
	defer unsub()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		evs, err := p.st.Events(context.Background(), store.EventQuery{Limit: 10000})
		if err != nil {
			p.t.Fatal(err)
		}
		for _, e := range evs {
			if e.Kind == kind && strings.Contains(e.Message, text) {
				return
			}
		}
		select {
		case <-wake:
		case <-deadline.C:
			p.t.Fatalf("no %s event about %q within 10s", kind, text)
		}
	}
}

func (p *plane) deployment(id string) api.Deployment {
	d, err := p.srv.Deployment(context.Background(), id)
	if err != nil {
		p.t.Fatal(err)
	}
	return d
}

func TestReconciler_FirstDeploy_Succeeds(t *testing.T) {
	p := newPlane(t)
	d := p.deploy(nil)
	p.until("deployment succeeded", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == "succeeded" })
	if live := p.drv.live(); len(live) != 2 {
		t.Fatalf("live tasks %v, want 2", live)
	}
}

func TestReconciler_UnhealthyRelease_RolledBackAtDeadline(t *testing.T) {
	p := newPlane(t)
	good := p.deploy(nil)
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(good.ID).State == "succeeded" })
	start := p.clock.Now()
	bad := p.deploy(map[string]string{"FAKE_HEALTH": "fail"})
	p.until("release 2 rolled back", time.Second, func() bool { return p.deployment(bad.ID).State == "rolled_back" })
	got := p.deployment(bad.ID)
	if elapsed := p.clock.Now().Sub(start); elapsed < 30*time.Second || elapsed > 32*time.Second {
		t.Errorf("rolled back after %s of fake time, want the 30s deadline", elapsed)
	}
	if !strings.Contains(got.Reason, "not healthy after 30s") || !strings.Contains(got.Reason, "503") || !strings.Contains(got.Reason, "rolled back to release 1") {
		t.Errorf("reason = %q", got.Reason)
	}
	for i, rels := range p.rt.routedReleases() {
		for _, r := range rels {
			if r == 2 {
				t.Fatalf("table %d routed the unhealthy release: %v", i, rels)
			}
		}
	}
	p.until("bad tasks stopped", 100*time.Millisecond, func() bool { return len(p.drv.live()) == 2 })
}

func TestReconciler_CrashLoop_TripsBreaker(t *testing.T) {
	p := newPlane(t)
	good := p.deploy(nil)
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(good.ID).State == "succeeded" })
	bad := p.deploy(map[string]string{"FAKE_HEALTH": "fail"})
	crashed := map[string]bool{}
	p.until("breaker tripped", 100*time.Millisecond, func() bool {
		for _, id := range p.drv.live() {
			if strings.HasPrefix(id, "web-2-") && !crashed[id] {
				crashed[id] = true
				p.drv.end(id, driver.ExitStatus{Code: 3})
				p.waitEvent(api.EventTaskExited, id)
			}
		}
		return p.deployment(bad.ID).State == "rolled_back"
	})
	if r := p.deployment(bad.ID).Reason; !strings.Contains(r, "failed 3 times in a row") || !strings.Contains(r, "exit code 3") {
		t.Errorf("reason = %q", r)
	}
}

func TestReconciler_CrashedTask_ReplacedWithBackoff(t *testing.T) {
	p := newPlane(t)
	d := p.deploy(nil)
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == "succeeded" })
	victim := p.drv.live()[0]
	p.drv.end(victim, driver.ExitStatus{Code: 1})
	p.waitEvent(api.EventTaskExited, victim)
	p.until("replacement running", 100*time.Millisecond, func() bool {
		live := p.drv.live()
		return len(live) == 2 && live[0] != victim && live[1] != victim
	})
	// A second crash right away waits out the backoff before restarting.
	victim2 := p.drv.live()[0]
	p.drv.end(victim2, driver.ExitStatus{Code: 1})
	p.waitEvent(api.EventTaskExited, victim2)
	p.settle(context.Background(), "the exit handled")
	before := len(p.drv.snapshot())
	p.clock.Advance(100 * time.Millisecond)
	p.settle(context.Background(), "a step within the backoff")
	if n := len(p.drv.snapshot()); n != before {
		t.Fatalf("restarted within the backoff: %d starts, want %d", n, before)
	}
	p.until("second replacement after backoff", 100*time.Millisecond, func() bool { return len(p.drv.live()) == 2 })
}

func TestReconciler_RestartAdoptsTasks(t *testing.T) {
	p := newPlane(t)
	d := p.deploy(nil)
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == "succeeded" })
	before := p.drv.live()
	starts := len(p.drv.snapshot())
	p.srv.Detach()
	p.srv = New(p.srv.cfg)
	if err := p.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.clock.Advance(5 * time.Second)
	p.settle(context.Background(), "the restarted control plane")
	st := p.srv.Status(context.Background())
	if len(st.Services) != 1 || len(st.Services[0].Tasks) != 2 {
		t.Fatalf("status after restart: %+v", st)
	}
	if got := p.drv.live(); strings.Join(got, ",") != strings.Join(before, ",") || len(p.drv.snapshot()) != starts {
		t.Fatalf("restart changed tasks: before %v, after %v (%d starts, was %d)", before, got, len(p.drv.snapshot()), starts)
	}
}

func TestReconciler_NotifiesWebhooks(t *testing.T) {
	got := make(chan string, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Kind string `json:"kind"`
		}
		_ = json.NewDecoder(r.Body).Decode(&ev)
		got <- ev.Kind
	}))
	defer hook.Close()
	p := newPlane(t)
	src := "project: test\nservices:\n  web:\n    run: ./web\n    count: 1\n"
	sp, err := spec.Parse("/tmp/berth.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := release.Config{Root: "/tmp", Service: sp.Services["web"], Notify: []spec.Notify{{URL: hook.URL}}}.Encode()
	resp, err := p.srv.Deploy(context.Background(), api.DeployRequest{Commit: "c",
		Releases: []api.ReleaseSpec{{Service: "web", Commit: "c", Config: raw}}})
	if err != nil {
		t.Fatal(err)
	}
	p.until("deployment succeeded", 100*time.Millisecond, func() bool { return p.deployment(resp.Deployments[0].ID).State == "succeeded" })
	var kinds []string
	for len(kinds) < 2 {
		select {
		case k := <-got:
			kinds = append(kinds, k)
		case <-time.After(10 * time.Second):
			t.Fatalf("webhook got %v, want deploy.started and deploy.succeeded", kinds)
		}
	}
	if kinds[0] != "deploy.started" || kinds[1] != "deploy.succeeded" {
		t.Fatalf("webhook got %v", kinds)
	}
}

func TestReconciler_BlueGreenPreviewHost(t *testing.T) {
	p := newPlane(t)
	first := p.deploy(nil)
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(first.ID).State == "succeeded" })
	src := "project: test\nservices:\n  web:\n    run: ./web\n    route: {path: /}\n    count: 2\n" +
		"    health: {path: /health, interval: 1s}\n" +
		"    deploy: {strategy: bluegreen, pause: 1h, preview: {host: next.web.test}}\n"
	sp, err := spec.Parse("/tmp/berth.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := release.ForArtifact(sp, sp.Services["web"]).Encode()
	resp, err := p.srv.Deploy(context.Background(), api.DeployRequest{Commit: "c2",
		Releases: []api.ReleaseSpec{{Service: "web", Commit: "c2", Config: raw}}})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.Deployments[0].ID
	p.until("preview phase", 100*time.Millisecond, func() bool { return p.deployment(id).Phase == "preview" })
	p.rt.mu.Lock()
	last := p.rt.tables[len(p.rt.tables)-1]
	p.rt.mu.Unlock()
	var sawHost, sawMain bool
	for _, r := range last.Routes {
		for _, g := range r.Groups {
			if r.Host == "next.web.test" && g.Release == 2 && len(g.Targets) == 2 && g.Weight > 0 {
				sawHost = true
			}
			if r.Host == "" && g.Release == 2 && g.Weight > 0 {
				t.Fatalf("the new fleet takes live traffic during the preview: %+v", r)
			}
			if r.Host == "" && g.Release == 1 && g.Weight > 0 {
				sawMain = true
			}
		}
	}
	if !sawHost || !sawMain {
		t.Fatalf("preview table: host route to release 2 %v, live route to release 1 %v: %+v", sawHost, sawMain, last.Routes)
	}
}

func TestReconciler_StatusShowsSampledUsage(t *testing.T) {
	p := newPlane(t)
	d := p.deploy(nil)
	p.until("deployment succeeded", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == "succeeded" })
	p.until("usage sampled", time.Second, func() bool {
		st := p.srv.Status(context.Background())
		for _, tk := range st.Services[0].Tasks {
			if tk.CPUPercent != 12.5 || tk.MemoryBytes != 4<<20 {
				return false
			}
		}
		return len(st.Services[0].Tasks) == 2
	})
}

// deploySet posts one release of each named service, as one release set.
func (p *plane) deploySet(commit string, names ...string) api.DeployResponse {
	p.t.Helper()
	req := api.DeployRequest{Commit: commit, Force: true}
	for _, n := range names {
		sp, err := spec.Parse("/tmp/berth.yaml", []byte("project: test\nservices:\n  "+n+":\n    run: ./x\n    count: 1\n"))
		if err != nil {
			p.t.Fatal(err)
		}
		raw, _ := release.ForArtifact(sp, sp.Services[n]).Encode()
		req.Releases = append(req.Releases, api.ReleaseSpec{Service: n, Commit: commit, Config: raw})
	}
	resp, err := p.srv.Deploy(context.Background(), req)
	if err != nil {
		p.t.Fatal(err)
	}
	return resp
}

// finishAll waits until every deployment of resp has finished.
func (p *plane) finishAll(resp api.DeployResponse) {
	p.t.Helper()
	for _, d := range resp.Deployments {
		p.until("deployment "+d.Service+" finished", 100*time.Millisecond, func() bool { return p.deployment(d.ID).Finished() })
	}
}

func (p *plane) releases() map[string]int {
	out := map[string]int{}
	for _, s := range p.srv.Status(context.Background()).Services {
		out[s.Name] = s.Release
	}
	return out
}

func TestReconciler_RollbackSet_ReturnsEveryServiceOfTheSet(t *testing.T) {
	p := newPlane(t)
	p.finishAll(p.deploySet("aaaa111", "api", "web"))
	p.finishAll(p.deploySet("bbbb222", "api", "web", "jobs")) // jobs is new in this set
	if got := p.releases(); got["api"] != 2 || got["web"] != 2 || got["jobs"] != 1 {
		t.Fatalf("before rollback: %v", got)
	}
	resp, err := p.srv.Rollback(context.Background(), api.RollbackRequest{LastSet: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Deployments) != 3 || resp.SetID == "" {
		t.Fatalf("rollback of the set = %+v, want 3 deployments as one set", resp)
	}
	p.finishAll(resp)
	if got := p.releases(); got["api"] != 1 || got["web"] != 1 || got["jobs"] != 0 {
		t.Fatalf("after rollback --set: %v, want api and web on 1 and jobs stopped", got)
	}
	p.until("jobs' task stopped", 100*time.Millisecond, func() bool { return len(p.drv.live()) == 2 })

	// --to-commit returns every service with a release from that commit.
	resp, err = p.srv.Rollback(context.Background(), api.RollbackRequest{ToCommit: "bbbb222"})
	if err != nil {
		t.Fatal(err)
	}
	p.finishAll(resp)
	if got := p.releases(); got["api"] != 2 || got["web"] != 2 || got["jobs"] != 1 {
		t.Fatalf("after rollback --to-commit bbbb222: %v", got)
	}
}
