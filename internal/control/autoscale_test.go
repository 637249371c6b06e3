package control

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/release"
	"github.com/berth-dev/berth/internal/router"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// signalRouter is a fakeRouter that reports a settable request rate for
// every release, as the router's signals would over a window.
type signalRouter struct {
	*fakeRouter
	mu  sync.Mutex
	rps int
	// holdNew fails the health checks of tasks that never passed one.
	holdNew atomic.Bool
	passed  sync.Map // addr → true
}

func (r *signalRouter) probe(_ context.Context, addr, _ string, _ time.Duration) error {
	if _, ok := r.passed.Load(addr); !ok && r.holdNew.Load() {
		return errors.New("starting")
	}
	r.passed.Store(addr, true)
	return nil
}

func (r *signalRouter) setRPS(n int) {
	r.mu.Lock()
	r.rps = n
	r.mu.Unlock()
}

func (r *signalRouter) ReleaseSignals(_ string, _ int, window time.Duration) router.Signals {
	r.mu.Lock()
	defer r.mu.Unlock()
	return router.Signals{Requests: r.rps * int(window/time.Second), P99: 20 * time.Millisecond}
}

func newScalePlane(t *testing.T) (*plane, *signalRouter) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	sr := &signalRouter{fakeRouter: &fakeRouter{}}
	p := &plane{t: t, clock: newFakeClock(), drv: newFakeDriver(), rt: sr.fakeRouter, st: st}
	p.srv = New(Config{Project: "test", Store: st, Driver: p.drv, Router: sr, Clock: p.clock,
		Probe: sr.probe})
	if err := p.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.srv.Shutdown(context.Background())
		_ = st.Close()
	})
	return p, sr
}

// deployScaled posts a release of web autoscaled on rps_per_task 100
// between 1 and 6 tasks, up_cooldown 5s, down_cooldown 10s.
func (p *plane) deployScaled(version string) api.Deployment {
	p.t.Helper()
	return p.deployScale(version, "{min: 1, max: 6, target: {rps_per_task: 100}, up_cooldown: 5s, down_cooldown: 10s}")
}

// deployScale posts a release of web with the given scale: flow map and
// webhooks.
func (p *plane) deployScale(version, scale string, hooks ...spec.Notify) api.Deployment {
	p.t.Helper()
	src := "project: test\nservices:\n  web:\n    run: ./web\n    route: {path: /}\n" +
		"    health: {path: /health, interval: 1s, deadline: 30s}\n" +
		"    scale: " + scale + "\n"
	sp, err := spec.Parse("/tmp/berth.yaml", []byte(src))
	if err != nil {
		p.t.Fatal(err)
	}
	svc := sp.Services["web"]
	svc.Env = map[string]string{"VERSION": version}
	raw, _ := release.Config{Root: "/tmp", Service: svc, Notify: hooks}.Encode()
	resp, err := p.srv.Deploy(context.Background(), api.DeployRequest{Commit: version, Force: true,
		Releases: []api.ReleaseSpec{{Service: "web", Commit: version, Config: raw}}})
	if err != nil {
		p.t.Fatal(err)
	}
	return resp.Deployments[0]
}

// scaleEvents returns the scale.* events, oldest first.
func (p *plane) scaleEvents() []store.Event {
	p.t.Helper()
	evs, err := p.st.Events(context.Background(), store.EventQuery{Service: "web", KindPrefixes: []string{"scale."}})
	if err != nil {
		p.t.Fatal(err)
	}
	return evs
}

func TestAutoscale_LoadStep_ScalesOutAndBackIn(t *testing.T) {
	p, sr := newScalePlane(t)
	d := p.deployScaled("v1")
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == api.DeploySucceeded })
	if got := p.web(); got.Desired != 1 || got.Autoscale == nil || got.Autoscale.Min != 1 || got.Autoscale.Max != 6 || got.Autoscale.Target != "100" {
		t.Fatalf("status before load: desired %d, autoscale %+v", got.Desired, got.Autoscale)
	}

	sr.holdNew.Store(true)
	sr.setRPS(450)
	step := p.clock.Now()
	p.until("scale-out", time.Second, func() bool { return len(p.scaleEvents()) > 0 })
	out := p.scaleEvents()[0]
	if out.Kind != api.EventScaleOut || !strings.Contains(out.Message, "rps/task 450 > 100: 1 → 5") {
		t.Fatalf("first decision %s %q, want scale.out with rps/task 450 > 100: 1 → 5", out.Kind, out.Message)
	}
	if react := p.clock.Now().Sub(step); react > 4*time.Second {
		t.Errorf("scale-out %s after the load step, want ≤ 4s", react)
	}
	if got := p.web(); got.State != api.ServiceScaling || got.Desired != 5 || got.Autoscale.Last == nil || got.Autoscale.Last.To != 5 {
		t.Errorf("status right after the decision: state %s desired %d last %+v; want scaling, 5", got.State, got.Desired, got.Autoscale.Last)
	}
	sr.holdNew.Store(false)
	p.until("5 healthy", 100*time.Millisecond, func() bool { return p.web().Healthy == 5 })
	if got := p.web(); got.State != api.ServiceHealthy || got.Autoscale.Running != 5 {
		t.Errorf("after scaling out: state %s running %d; want healthy, 5", got.State, got.Autoscale.Running)
	}

	// Steady high load: nothing more happens for a minute.
	for range 60 {
		p.clock.Advance(time.Second)
		p.settle(context.Background(), "steady load")
	}
	if n := len(p.scaleEvents()); n != 1 {
		t.Fatalf("%d decisions under steady load, want the one scale-out: %v", n, p.scaleEvents())
	}

	sr.setRPS(10)
	drop := p.clock.Now()
	var at []time.Time // when each scale-in was seen, on the fake clock
	p.until("back to 1 task", time.Second, func() bool {
		if n := len(p.scaleEvents()) - 1; n > len(at) {
			at = append(at, p.clock.Now())
		}
		return p.web().Desired == 1
	})
	evs := p.scaleEvents()[1:]
	if len(evs) != 4 || len(at) != 4 {
		t.Fatalf("%d decisions after the load dropped, want 4 scale-ins of one task: %v", len(evs), evs)
	}
	prev := drop
	for i, e := range evs {
		if e.Kind != api.EventScaleIn {
			t.Fatalf("decision %d after the drop is %s %q, want scale.in", i, e.Kind, e.Message)
		}
		if i < len(at) {
			if gap := at[i].Sub(prev); gap < 10*time.Second {
				t.Errorf("scale-in %d came %s after the previous step, want ≥ down_cooldown 10s", i, gap)
			}
			prev = at[i]
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(p.srv.AutoscaleCollector())
	if got := decisionsTotal(t, reg, "web", "in"); got != 4 {
		t.Errorf("berth_autoscale_decisions_total{service=web,direction=in} = %v, want 4", got)
	}
	if got := decisionsTotal(t, reg, "web", "out"); got != 1 {
		t.Errorf("berth_autoscale_decisions_total{service=web,direction=out} = %v, want 1", got)
	}

	h, err := p.srv.History(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Decisions) != 5 || h.Decisions[0].Kind != api.EventScaleIn || h.Decisions[4].Kind != api.EventScaleOut {
		t.Errorf("history decisions %v, want 5, newest (a scale-in) first", h.Decisions)
	}
}

// decisionsTotal gathers berth_autoscale_decisions_total{service,direction}
// from reg as /metrics would serve it (-1 when absent).
func decisionsTotal(t *testing.T, reg *prometheus.Registry, service, direction string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "berth_autoscale_decisions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["service"] == service && labels["direction"] == direction {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func TestAutoscale_NeverDuringDeployment_AndDeployKeepsTheCount(t *testing.T) {
	p, sr := newScalePlane(t)
	d := p.deployScaled("v1")
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == api.DeploySucceeded })
	sr.setRPS(300)
	p.until("scaled out to 3", time.Second, func() bool { return p.web().Desired == 3 })
	p.until("3 healthy", 100*time.Millisecond, func() bool { return p.web().Healthy == 3 })

	// A new release deploys with the autoscaled count, not the spec's 1.
	sr.setRPS(600)
	d2 := p.deployScaled("v2")
	if got := p.web(); got.Desired != 3 {
		t.Fatalf("deploy of release 2 asks for %d tasks, want the autoscaled 3", got.Desired)
	}
	decided := len(p.scaleEvents())
	p.until("release 2 live", 100*time.Millisecond, func() bool { return p.deployment(d2.ID).State == api.DeploySucceeded })
	if n := len(p.scaleEvents()); n != decided {
		t.Fatalf("%d decisions during the deployment, want none", n-decided)
	}
	// After it, the new release is measured from scratch and scales.
	p.until("release 2 scaled out", time.Second, func() bool { return p.web().Desired == 6 })
	last := p.scaleEvents()[len(p.scaleEvents())-1]
	if last.Fields["release"] != "2" || !strings.Contains(last.Message, "rps/task 200 > 100: 3 → 6") {
		t.Errorf("decision after the deployment: %q (release %s), want rps/task 200 > 100: 3 → 6 on release 2", last.Message, last.Fields["release"])
	}
}

func TestAutoscale_ManualScaleSetsTheMinimum(t *testing.T) {
	p, sr := newScalePlane(t)
	d := p.deployScaled("v1")
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == api.DeploySucceeded })
	if err := p.srv.Scale(context.Background(), api.ScaleRequest{Counts: map[string]int{"web": 3}}); err != nil {
		t.Fatal(err)
	}
	p.waitEvent(api.EventServiceScaled, "3 is now its minimum")
	sr.setRPS(5)
	for range 60 {
		p.clock.Advance(time.Second)
		p.settle(context.Background(), "low load")
	}
	got := p.web()
	if got.Desired != 3 || got.Autoscale.Min != 3 || len(p.scaleEvents()) != 0 {
		t.Fatalf("after berth scale web=3 and a minute of low load: desired %d, min %d, decisions %v; want 3, 3, none", got.Desired, got.Autoscale.Min, p.scaleEvents())
	}
	st, err := p.st.Service(context.Background(), "web")
	if err != nil || st.ScaleMin == nil || *st.ScaleMin != 3 {
		t.Fatalf("stored scale min %v (%v), want 3", st.ScaleMin, err)
	}
	// A deploy with the same scale: keeps that minimum and the count.
	d2 := p.deployScaled("v2")
	p.until("release 2 live", 100*time.Millisecond, func() bool { return p.deployment(d2.ID).State == api.DeploySucceeded })
	if got := p.web(); got.Desired != 3 || got.Autoscale.Min != 3 {
		t.Errorf("after a deploy: desired %d, min %d; want 3, 3", got.Desired, got.Autoscale.Min)
	}
}

// The cpu target reads the driver's usage samples (the fake driver
// reports 12.5% per task): over a 10% target, 2 tasks become 3.
func TestAutoscale_CPUTarget_FromUsageSamples(t *testing.T) {
	p, _ := newScalePlane(t)
	d := p.deployScale("v1", "{min: 2, max: 6, target: {cpu: 10%}, up_cooldown: 5s, down_cooldown: 10s}")
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == api.DeploySucceeded })
	p.until("a decision", time.Second, func() bool { return len(p.scaleEvents()) > 0 })
	if e := p.scaleEvents()[0]; e.Kind != api.EventScaleOut || !strings.Contains(e.Message, "cpu 12.5% > 10%: 2 → 3") {
		t.Fatalf("decision %s %q, want scale.out cpu 12.5%% > 10%%: 2 → 3", e.Kind, e.Message)
	}
}

// A memory target without the service's memory: holds and says why.
func TestAutoscale_MemoryTargetWithoutMemoryHolds(t *testing.T) {
	p, _ := newScalePlane(t)
	d := p.deployScale("v1", "{min: 1, max: 6, target: {memory: 70%}}")
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == api.DeploySucceeded })
	p.until("holding", time.Second, func() bool { a := p.web().Autoscale; return a != nil && a.Holding != "" })
	if h := p.web().Autoscale.Holding; !strings.Contains(h, "memory:") {
		t.Errorf("holding = %q, want it to name memory:", h)
	}
}

// A webhook that lists scale.out hears of the decision, with its inputs.
func TestAutoscale_DecisionNotifiesWebhooks(t *testing.T) {
	got := make(chan string, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Kind    string `json:"kind"`
			Message string `json:"message"`
		}
		_ = json.NewDecoder(r.Body).Decode(&ev)
		got <- ev.Kind + " " + ev.Message
	}))
	defer hook.Close()
	p, sr := newScalePlane(t)
	d := p.deployScale("v1", "{min: 1, max: 6, target: {rps_per_task: 100}, up_cooldown: 5s, down_cooldown: 10s}",
		spec.Notify{URL: hook.URL, Events: []string{api.EventScaleOut, api.EventScaleIn}})
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == api.DeploySucceeded })
	sr.setRPS(250)
	p.until("a decision", time.Second, func() bool { return len(p.scaleEvents()) > 0 })
	select {
	case m := <-got:
		if !strings.HasPrefix(m, "scale.out ") || !strings.Contains(m, "rps/task 250 > 100: 1 → 3") {
			t.Errorf("webhook got %q, want the scale.out with its inputs", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the webhook heard nothing of the scale-out within 10s")
	}
}
