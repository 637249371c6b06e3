package control

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/router"
	"github.com/berth-dev/berth/internal/store"
)

// fakeHealth is the router's Watch as the control plane sees it: the test
// decides every verdict.
type fakeHealth struct {
	mu      sync.Mutex
	reports map[string]func(router.Check)
	stopped map[string]bool
}

func (h *fakeHealth) Watch(addr string, _ router.HealthCheck, _ bool, report func(router.Check)) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reports[addr] = report
	return func() {
		h.mu.Lock()
		h.stopped[addr] = true
		h.mu.Unlock()
	}
}

// report sends a verdict about addr as the router's checker would.
func (h *fakeHealth) report(addr string, c router.Check) {
	h.mu.Lock()
	f := h.reports[addr]
	h.mu.Unlock()
	f(c)
}

func (h *fakeHealth) watched() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for a := range h.reports {
		if !h.stopped[a] {
			out = append(out, a)
		}
	}
	return out
}

// TestHealth_RouterIsTheOneProber: with a HealthWatcher the control plane
// probes nothing itself and follows the router's verdicts: a task is
// healthy when the router says so, and unhealthy (and replaced in the
// deployment's judgement) when the router says so.
func TestHealth_RouterIsTheOneProber(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	p := &plane{t: t, clock: newFakeClock(), drv: newFakeDriver(), rt: &fakeRouter{}, st: st}
	health := &fakeHealth{reports: map[string]func(router.Check){}, stopped: map[string]bool{}}
	p.srv = New(Config{
		Project: "test", Store: st, Driver: p.drv, Router: p.rt, Clock: p.clock, Health: health,
		Probe: func(context.Context, string, string, time.Duration) error {
			t.Error("the control plane probed a task itself")
			return nil
		},
	})
	if err := p.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.srv.Shutdown(context.Background()); _ = st.Close() })
	d := p.deploy(nil)
	p.until("both tasks watched", 100*time.Millisecond, func() bool { return len(health.watched()) == 2 })
	if got := p.deployment(d.ID).State; got != api.DeployRunning {
		t.Fatalf("deployment %s before the router said anything", got)
	}
	for _, addr := range health.watched() {
		health.report(addr, router.Check{Up: true, Changed: true})
	}
	p.until("deployment succeeded", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == api.DeploySucceeded })
	if s := p.srv.Status(context.Background()).Services[0]; s.Healthy != 2 {
		t.Fatalf("healthy = %d, want 2", s.Healthy)
	}
	sick := health.watched()[0]
	health.report(sick, router.Check{Up: false, Changed: true, Err: errors.New("health check answered Service Unavailable")})
	p.settle(context.Background(), "the verdict applied")
	p.waitEvent(api.EventTaskUnhealthy, "Service Unavailable")
	// The control plane acted on the router's verdict: the sick task is no
	// longer counted healthy (it is replaced).
	for _, task := range p.srv.Status(context.Background()).Services[0].Tasks {
		if task.Addr == sick && task.State == store.TaskHealthy {
			t.Fatalf("task at %s still healthy after the router's down verdict", sick)
		}
	}
}
