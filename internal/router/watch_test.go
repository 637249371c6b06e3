package router

import (
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
