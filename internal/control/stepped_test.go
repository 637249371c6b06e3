package control

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/store"
)

// TestStepped_PassesRunOnlyWhenStepped: with Config.Stepped no loop
// goroutine runs; a deploy's passes happen only when the caller steps, and
// wake-ups asked for meanwhile coalesce into one pass per service.
func TestStepped_PassesRunOnlyWhenStepped(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	p := &plane{t: t, clock: newFakeClock(), drv: newFakeDriver(), rt: &fakeRouter{}, st: st}
	p.srv = New(Config{Project: "test", Store: st, Driver: p.drv, Router: p.rt, Clock: p.clock, Stepped: true,
		Probe: func(context.Context, string, string, time.Duration) error { return nil }})
	if err := p.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.srv.Detach(); _ = st.Close() })
	d := p.deploy(nil)
	if n := len(p.drv.snapshot()); n != 0 {
		t.Fatalf("%d tasks started before any step", n)
	}
	v, _ := p.srv.service("web")
	v.kick()
	v.kick() // coalesces with the deploy's wake-up
	if due := len(v.wake); due != 1 {
		t.Fatalf("%d wake-ups pending after three triggers, want 1 (coalesced)", due)
	}
	if n := p.srv.Step(); n != 1 {
		t.Fatalf("Step ran %d passes, want 1", n)
	}
	if n := len(p.srv.Status(context.Background()).Services[0].Tasks); n != 2 {
		t.Fatalf("the pass started %d tasks, want 2", n)
	}
	if got := p.deployment(d.ID).State; got != api.DeployRunning {
		t.Fatalf("deployment %s after one pass, want running", got)
	}
}
