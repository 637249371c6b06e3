package control_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/release"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// scaledCatalog is the catalog autoscaled on 150 requests per second per
// task between 1 and 8 tasks, with short cooldowns so a load step plays
// out in seconds. %[1]s is the binary, %[2]s the marker.
const scaledCatalog = `project: prog
services:
  catalog:
    run: %[1]s
    route: {path: /catalog}
    health: {path: /health, interval: 200ms, deadline: 20s}
    deploy:
      drain: 3s
    scale: {min: 1, max: 8, target: {rps_per_task: 150}, up_cooldown: 2s, down_cooldown: 3s}
    env:
      SHOP_HOST: 127.0.0.1
      SHOP_DRAIN: 1s
      PROG_MARKER: %[2]s
`

// pacedLoad sends GET url at a set rate (requests per second) through a
// pool of clients until halted, counting answers and failures.
type pacedLoad struct {
	rate     atomic.Int64
	sent     atomic.Int64
	ok       atomic.Int64
	failed   atomic.Int64
	mu       sync.Mutex
	firstErr string
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startPacedLoad(t *testing.T, url string, rate int) *pacedLoad {
	l := &pacedLoad{stop: make(chan struct{})}
	l.rate.Store(int64(rate))
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	jobs := make(chan struct{}, 256)
	for range 48 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				case <-jobs:
				}
				resp, err := client.Get(url)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode/100 == 2 {
						l.ok.Add(1)
						continue
					}
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
				l.failed.Add(1)
				l.mu.Lock()
				if l.firstErr == "" {
					l.firstErr = err.Error()
				}
				l.mu.Unlock()
			}
		}()
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		const tick = 10 * time.Millisecond
		t := time.NewTicker(tick)
		defer t.Stop()
		start := time.Now()
		var due float64
		last := start
		for {
			select {
			case <-l.stop:
				return
			case now := <-t.C:
				due += float64(l.rate.Load()) * now.Sub(last).Seconds()
				last = now
				for ; due >= 1; due-- {
					select {
					case jobs <- struct{}{}:
						l.sent.Add(1)
					default: // every client busy: the request is not sent
					}
				}
			}
		}
	}()
	t.Cleanup(l.halt)
	return l
}

func (l *pacedLoad) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// TestAutoscale_E2E_LoadStepScalesOutAndBackInWithoutOscillating runs the
// catalog as real processes behind berth's router and steps the load from
// 10 to 500 requests per second and back: the service scales out at once
// to the count the target asks for, holds it while the load holds, and
// scales back in one task per down_cooldown, never changing direction.
func TestAutoscale_E2E_LoadStepScalesOutAndBackInWithoutOscillating(t *testing.T) {
	if testing.Short() {
		t.Skip("a load step of real processes takes about 40s")
	}
	p := newProgPlane(t)
	yaml := fmt.Sprintf(scaledCatalog, catalogBin, p.marker)
	sp, err := spec.Parse(filepath.Join(p.dir, "berth.yaml"), []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := release.ForArtifact(sp, sp.Services["catalog"]).Encode()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.srv.Deploy(context.Background(), api.DeployRequest{Commit: "c0ffee", Force: true,
		Releases: []api.ReleaseSpec{{Service: "catalog", Commit: "c0ffee", Config: raw}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.waitFinished(resp.Deployments[0].ID, 30*time.Second); got.State != store.DeploySucceeded {
		t.Fatalf("release 1: %s: %s", got.State, got.Reason)
	}

	decisions := func() []store.Event {
		evs, err := p.st.Events(context.Background(), store.EventQuery{Service: "catalog", KindPrefixes: []string{"scale."}})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	desired := func() int {
		for _, s := range p.srv.Status(context.Background()).Services {
			if s.Name == "catalog" {
				return s.Desired
			}
		}
		return -1
	}
	healthy := func() int {
		for _, s := range p.srv.Status(context.Background()).Services {
			if s.Name == "catalog" {
				return s.Healthy
			}
		}
		return -1
	}

	load := startPacedLoad(t, p.url+"/catalog/items", 10)
	// 10 requests per second for a few seconds: one task is enough.
	quiet := time.Now()
	waitUntil(t, "3s of quiet load", 10*time.Second, p.srv, func() bool { return time.Since(quiet) > 3*time.Second })
	if n := len(decisions()); n != 0 || desired() != 1 {
		t.Fatalf("at 10 rps: %d decisions, %d desired; want none and 1", n, desired())
	}

	step := time.Now()
	load.rate.Store(500)
	waitUntil(t, "a scale-out", 15*time.Second, p.srv, func() bool { return len(decisions()) > 0 })
	out := decisions()[0]
	reaction := out.Time.Sub(step)
	t.Logf("scale-out %s after the step: %s", reaction.Round(time.Millisecond), out.Message)
	if out.Kind != api.EventScaleOut {
		t.Fatalf("first decision %s %q, want scale.out", out.Kind, out.Message)
	}
	// Proportional: several tasks at once (one task saturated on a busy
	// machine may have served less than the 500 offered, so the first
	// decision can be 3 and a second one completes it).
	if to, _ := strconv.Atoi(out.Fields["to"]); to < 3 || to > 5 {
		t.Errorf("scaled out to %d tasks for ~500 rps at 150 per task, want 4 at once (3 when one task could not serve 500)", to)
	}
	// The window is 3s of 5s rates; the reaction is bounded by both.
	if reaction > 10*time.Second {
		t.Errorf("scale-out took %s, want a few seconds", reaction)
	}
	waitUntil(t, "the scaled-out tasks healthy", 20*time.Second, p.srv, func() bool { return healthy() >= desired() && desired() >= 4 })

	// Steady high load: no scale-in, no second thoughts.
	steady := time.Now()
	waitUntil(t, "10s of steady high load", 20*time.Second, p.srv, func() bool { return time.Since(steady) > 10*time.Second })
	for _, e := range decisions() {
		if e.Kind == api.EventScaleIn {
			t.Fatalf("scaled in under steady 500 rps: %s", e.Message)
		}
	}
	high := desired()
	if high < 4 || high > 5 {
		t.Errorf("%d tasks under 500 rps at 150 per task, want 4 (5 if a burst was measured)", high)
	}
	outs := 0
	for _, e := range decisions() {
		if e.Kind == api.EventScaleOut {
			outs++
		}
	}
	if outs > 2 {
		t.Errorf("%d scale-outs for one load step, want one (two when the first measured a saturated task)", outs)
	}

	drop := time.Now()
	load.rate.Store(10)
	waitUntil(t, "back to 1 task", 60*time.Second, p.srv, func() bool { return desired() == 1 })
	t.Logf("back to 1 task %s after the load dropped", time.Since(drop).Round(time.Millisecond))
	load.halt()

	evs := decisions()
	seenIn := false
	var lastIn time.Time
	ins := 0
	for _, e := range evs {
		t.Logf("%s %s", e.Time.Sub(step).Round(10*time.Millisecond), e.Message)
		switch e.Kind {
		case api.EventScaleOut:
			if seenIn {
				t.Errorf("scaled out after scaling in under a falling load: oscillation (%s)", e.Message)
			}
		case api.EventScaleIn:
			if !lastIn.IsZero() && e.Time.Sub(lastIn) < 3*time.Second-50*time.Millisecond {
				t.Errorf("two scale-ins %s apart, down_cooldown 3s", e.Time.Sub(lastIn))
			}
			seenIn, lastIn = true, e.Time
			ins++
		}
	}
	if ins != high-1 {
		t.Errorf("%d scale-ins from %d to 1, want %d (one task each)", ins, high, high-1)
	}
	t.Logf("requests: %d sent, %d ok, %d failed", load.sent.Load(), load.ok.Load(), load.failed.Load())
	if f := load.failed.Load(); f > 0 {
		t.Errorf("%d requests failed while scaling; first: %s", f, load.firstErr)
	}
}
