package router

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestWatch_OneProberOneVerdict: a watched address is reported down until
// it passes, then up; while it is a routed target too, routing follows the
// watch's verdict, and the route's own checker does not run.
func TestWatch_OneProberOneVerdict(t *testing.T) {
	var healthy atomic.Bool
	var probes atomic.Int64
	addr := backend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			probes.Add(1)
			if !healthy.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("b"))
	})
	rt := New(Config{Logger: quietLogger(t)})
	t.Cleanup(func() { _ = rt.Close() })
	checks := make(chan Check, 100)
	hc := HealthCheck{Path: "/health", Interval: 20 * time.Millisecond, Timeout: time.Second, HealthyThreshold: 1, UnhealthyThreshold: 2}
	stop := rt.Watch(addr, hc, false, func(c Check) { checks <- c })
	defer stop()
	next := func() Check {
		t.Helper()
		select {
		case c := <-checks:
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("no check reported")
			return Check{}
		}
	}
	if c := next(); c.Up || c.Err == nil {
		t.Fatalf("first check of a failing address = %+v, want down with its error", c)
	}
	// Routed while watched: the target follows the watch (down).
	rt.Publish(&Table{Version: 1, Routes: []Route{{Name: "b", PathPrefix: "/", Health: hc,
		Groups: []TargetGroup{{Name: "b@1", Release: 1, Weight: 1, Targets: []Target{{ID: "b1", Addr: addr}}}}}}})
	rt.mu.Lock()
	target := rt.targets[addr]
	ownChecker := target.stopChecker != nil
	rt.mu.Unlock()
	if ownChecker {
		t.Fatal("a watched target got a checker of its own")
	}
	if target.up.Load() {
		t.Fatal("routed target is up while its watch says down")
	}
	healthy.Store(true)
	for c := next(); !c.Changed; c = next() {
	}
	if !target.up.Load() {
		t.Fatal("routed target still down after the watch saw it up")
	}
	healthy.Store(false)
	var down Check
	for down = next(); !down.Changed; down = next() {
	}
	if down.Up || down.Err == nil || target.up.Load() {
		t.Fatalf("after failures: %+v, target up %v; want down", down, target.up.Load())
	}
}

// TestWatch_StopHandsTheTargetBackToItsChecker: when the watcher goes
// away (a control plane restarting while the router runs on), a target
// still routed to is checked by the router again, from the watch's last
// verdict, and is taken out of rotation when it fails.
func TestWatch_StopHandsTheTargetBackToItsChecker(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	addr := backend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("b"))
	})
	unhealthy := make(chan struct{}, 1)
	rt := New(Config{Logger: slog.New(&onMessage{msg: "target unhealthy", ch: unhealthy})})
	t.Cleanup(func() { _ = rt.Close() })
	hc := HealthCheck{Path: "/health", Interval: 20 * time.Millisecond, Timeout: time.Second, HealthyThreshold: 1, UnhealthyThreshold: 1}
	stop := rt.Watch(addr, hc, true, func(Check) {})
	rt.Publish(&Table{Version: 1, Routes: []Route{{Name: "b", PathPrefix: "/", Health: hc,
		Groups: []TargetGroup{{Name: "b@1", Release: 1, Weight: 1, Targets: []Target{{ID: "b1", Addr: addr}}}}}}})
	stop()
	rt.mu.Lock()
	target := rt.targets[addr]
	ownChecker := target.stopChecker != nil
	rt.mu.Unlock()
	if !ownChecker {
		t.Fatal("a routed target whose watch stopped has no checker")
	}
	if !target.up.Load() {
		t.Fatal("the target lost the watch's verdict (up) when the watch stopped")
	}
	healthy.Store(false)
	select {
	case <-unhealthy:
	case <-time.After(10 * time.Second):
		t.Fatal("the router's own checker never saw the target fail")
	}
	if target.up.Load() {
		t.Fatal("the router's checker saw the target fail but it is still up")
	}
}

// onMessage is a log handler that signals ch on each record with msg.
type onMessage struct {
	msg string
	ch  chan struct{}
}

func (h *onMessage) Enabled(context.Context, slog.Level) bool { return true }
func (h *onMessage) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}
func (h *onMessage) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *onMessage) WithGroup(string) slog.Handler      { return h }

// TestWatch_FailureConfirmedWithinAnInterval: once an up address fails a
// check, the checks that confirm it follow at once rather than an
// interval apart, so the verdict comes well within one interval of the
// first failure; a single failure followed by passes keeps it up.
func TestWatch_FailureConfirmedWithinAnInterval(t *testing.T) {
	var failing atomic.Int64 // checks still to fail
	addr := backend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && failing.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("b"))
	})
	rt := New(Config{Logger: quietLogger(t)})
	t.Cleanup(func() { _ = rt.Close() })
	type at struct {
		c  Check
		at time.Time
	}
	checks := make(chan at, 100)
	interval := 3 * time.Second
	hc := HealthCheck{Path: "/health", Interval: interval, Timeout: time.Second, HealthyThreshold: 1, UnhealthyThreshold: 3}
	failing.Store(1) // a blip: one failure, then passes
	stop := rt.Watch(addr, hc, true, func(c Check) { checks <- at{c, time.Now()} })
	defer stop()
	next := func() at {
		t.Helper()
		select {
		case c := <-checks:
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("no check reported")
			return at{}
		}
	}
	if c := next(); c.c.Err == nil || !c.c.Up {
		t.Fatalf("the blip's check = %+v, want a failure that keeps the address up", c.c)
	}
	for range hc.UnhealthyThreshold - 1 {
		if c := next(); c.c.Err != nil || !c.c.Up {
			t.Fatalf("a confirming check after a blip = %+v, want a pass, up", c.c)
		}
	}
	// The next check comes an interval later; make it and the following
	// ones fail (with the interval of 3s, waiting for it is the test).
	failing.Store(100)
	first := next()
	if first.c.Err == nil {
		t.Fatalf("check after the blip = %+v, want a failure", first.c)
	}
	var down at
	for down = next(); !down.c.Changed; down = next() {
	}
	if down.c.Up {
		t.Fatalf("verdict %+v, want down", down.c)
	}
	if took := down.at.Sub(first.at); took >= interval {
		t.Fatalf("down %s after the first failure, want within one interval (%s)", took, interval)
	}
}

// TestWatch_HungTargetDownWithinAnIntervalOfItsFirstCheck: a target that
// stops answering (its checks time out) is down about one timeout after
// the first check it does not answer, not unhealthy × (interval +
// timeout): the checks that confirm it start while the first still waits.
func TestWatch_HungTargetDownWithinAnIntervalOfItsFirstCheck(t *testing.T) {
	var hung atomic.Bool
	addr := backend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && hung.Load() {
			<-r.Context().Done()
			return
		}
		_, _ = w.Write([]byte("b"))
	})
	rt := New(Config{Logger: quietLogger(t)})
	t.Cleanup(func() { _ = rt.Close() })
	checks := make(chan Check, 100)
	interval, timeout := 2*time.Second, 500*time.Millisecond
	hc := HealthCheck{Path: "/health", Interval: interval, Timeout: timeout, HealthyThreshold: 1, UnhealthyThreshold: 3}
	stop := rt.Watch(addr, hc, true, func(c Check) { checks <- c })
	defer stop()
	select {
	case c := <-checks:
		if c.Err != nil {
			t.Fatalf("first check %+v, want a pass", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no check")
	}
	hung.Store(true)
	since := time.Now()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case c := <-checks:
			if !c.Changed {
				continue
			}
			if c.Up {
				t.Fatalf("verdict %+v, want down", c)
			}
			// The next check starts within an interval; it and the two
			// confirming it time out together.
			if took, most := time.Since(since), interval+timeout+500*time.Millisecond; took > most {
				t.Fatalf("down %s after the target hung, want within %s", took, most)
			}
			return
		case <-deadline:
			t.Fatal("a hung target never went down")
		}
	}
}
