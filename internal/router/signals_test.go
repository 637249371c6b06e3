package router

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestSignalsWindowAndRing(t *testing.T) {
	clock := newFakeClock()
	var s series
	rec := func(d time.Duration, is5xx bool) { s.record(clock.Now(), d, is5xx) }

	for range 98 {
		rec(2*time.Millisecond, false)
	}
	rec(100*time.Millisecond, false)
	firstErr := clock.Now()
	rec(2*time.Millisecond, true)
	clock.Advance(10 * time.Second)
	rec(2*time.Millisecond, true)

	got := s.read(clock.Now(), time.Minute)
	if got.Requests != 101 || got.Errors5xx != 2 || !got.FirstErrorAt.Equal(firstErr) {
		t.Errorf("60s window = %+v, want 101 requests, 2 errors, first error at %v", got, firstErr)
	}
	if got.P50 < 2*time.Millisecond || got.P50 > 2500*time.Microsecond {
		t.Errorf("P50 = %v, want about 2ms", got.P50)
	}
	if got.P99 < 2*time.Millisecond || got.P99 > 2500*time.Microsecond {
		t.Errorf("P99 = %v, want about 2ms (1 slow request in 101)", got.P99)
	}
	if got := s.read(clock.Now(), 5*time.Second); got.Requests != 1 || got.Errors5xx != 1 {
		t.Errorf("5s window = %+v, want only the last request", got)
	}
	// After the ring wraps, old seconds are gone and reused buckets reset.
	clock.Advance(60 * time.Second)
	rec(time.Millisecond, false)
	if got := s.read(clock.Now(), time.Minute); got.Requests != 1 || got.Errors5xx != 0 || !got.FirstErrorAt.IsZero() {
		t.Errorf("after wrap = %+v, want 1 request and no errors", got)
	}
}

func TestLatencyBuckets(t *testing.T) {
	for _, d := range []time.Duration{0, 3 * time.Microsecond, 9 * time.Microsecond, 250 * time.Microsecond, 7 * time.Millisecond, 1300 * time.Millisecond, 40 * time.Second} {
		i := latIndex(d)
		up := latUpper(i)
		if up <= d.Truncate(time.Microsecond) || (i > 0 && latUpper(i-1) > d) {
			t.Errorf("%v: bucket %d has upper bound %v, previous %v", d, i, up, latUpper(i-1))
		}
		if float64(up) > 1.26*float64(d)+float64(time.Microsecond) {
			t.Errorf("%v: upper bound %v is too coarse", d, up)
		}
	}
}

func TestRouterSignalsUseInjectedClock(t *testing.T) {
	clock := newFakeClock()
	b := backend(t, "ok", nil)
	r, base := startRouter(t, Config{Now: clock.Now})
	r.Publish(&Table{Routes: []Route{one("web", "", b)}})
	for range 3 {
		get(t, base+"/")
	}
	if s := r.Signals("web@1", time.Second); s.Requests != 3 {
		t.Fatalf("signals = %+v, want 3 requests", s)
	}
	clock.Advance(2 * time.Second)
	if s := r.Signals("web@1", time.Second); s.Requests != 0 {
		t.Fatalf("signals after 2s = %+v, want none in the last second", s)
	}
	if s := r.Signals("nope", time.Minute); s != (Signals{}) {
		t.Fatalf("unknown group signals = %+v", s)
	}
}

// TestRouterForgetsGroupsNoTableNames: a group's signals and metric
// children outlive its last table by statsTTL, then go, so a router that
// serves release after release does not grow.
func TestRouterForgetsGroupsNoTableNames(t *testing.T) {
	clock := newFakeClock()
	b := backend(t, "ok", nil)
	r, base := startRouter(t, Config{Now: clock.Now})
	r.Publish(&Table{Routes: []Route{one("web", "", b)}})
	// Time in the table does not count toward forgetting.
	clock.Advance(2 * statsTTL)
	get(t, base+"/")
	next := one("web", "", b)
	next.Groups[0].Name, next.Groups[0].Release = "web@2", 2
	r.Publish(&Table{Version: 2, Routes: []Route{next}})
	if s := r.Signals("web@1", time.Minute); s.Requests != 1 {
		t.Fatalf("signals of the group just replaced = %+v, want its request", s)
	}
	clock.Advance(statsTTL + time.Second)
	r.Publish(&Table{Version: 3, Routes: []Route{next}})
	if s := r.signals.lookup("web@1"); s != nil {
		t.Fatal("signals of a group unnamed for statsTTL are kept")
	}
	if s := r.signals.lookup("web@2"); s == nil {
		t.Fatal("the live group's signals were dropped")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "group" && l.GetValue() == "web@1" {
					t.Fatalf("metric %s still has the forgotten group", mf.GetName())
				}
			}
		}
	}
}
