package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// canarySpec: 2 tasks, canary steps with short pauses and a tight
// analysis window; %[4]s is extra env for the release under test.
const progressiveSpec = `project: e2e
listen: %[2]s
engine: process
services:
  catalog:
    run: %[1]s
    route: {path: /catalog}
    count: 2
    health: {path: /health, interval: 100ms, deadline: 10s}
    deploy:
      strategy: STRATEGY
      steps: [10%%, 50%%, 100%%]
      pause: 1s
      bake: 3s
      drain: 5s
      analysis: {max_5xx_rate: 5%%, min_requests: 20, window: 5s}
    env:
      SHOP_HOST: 127.0.0.1
      SHOP_DRAIN: 5s
      E2E_MARKER: %[3]s
`

func (p *project) writeProgressive(strategy, extraEnv string) {
	p.t.Helper()
	spec := strings.Replace(progressiveSpec, "STRATEGY", strategy, 1)
	if strategy != "canary" {
		spec = strings.Replace(spec, "      steps: [10%%, 50%%, 100%%]\n", "", 1)
	}
	p.writeSpec(spec)
	if extraEnv == "" {
		return
	}
	path := filepath.Join(p.dir, "berth.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, append(data, []byte(extraEnv)...), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// badWindow finds the first and last failed request of a load run and
// the requests made between them.
func badWindow(rs []result) (first, last time.Time, inWindow, failedInWindow int, kinds map[int]int) {
	kinds = map[int]int{}
	for _, r := range rs {
		if r.status/100 == 2 {
			continue
		}
		kinds[r.status]++
		if first.IsZero() {
			first = r.at
		}
		last = r.at
	}
	for _, r := range rs {
		if !r.at.Before(first) && !r.at.After(last) {
			inWindow++
			if r.status/100 != 2 {
				failedInWindow++
			}
		}
	}
	return
}

// TestCanaryBadReleaseRollsBackFast: a canary whose release fails 30% of
// requests is rolled back on its own traffic. From the first bad answer to
// all traffic on the stable release takes under 2 s, the client sees no
// more failures than the canary's share, and none after the rollback.
func TestCanaryBadReleaseRollsBackFast(t *testing.T) {
	p := newProject(t)
	p.writeProgressive("canary", "")
	p.startServe()
	p.mustBerth("deploy")
	l := startLoad(t, "http://"+p.listen+"/catalog/items", 4)

	p.writeProgressive("canary", "      CHAOS_ERROR_RATE: \"0.3\"\n")
	out, code := p.berth("deploy")
	if code == 0 {
		t.Fatalf("a failing canary deployed:\n%s", out)
	}
	if !strings.Contains(out, "5xx") || !strings.Contains(out, "rolled back to release 1") {
		t.Fatalf("deploy output does not explain the rollback:\n%s", out)
	}
	rolledBackAt := time.Now()
	// Keep the load on a while after the rollback: nothing may fail.
	p.waitFor("load after rollback", 10*time.Second, func() bool {
		for _, r := range l.results() {
			if r.at.After(rolledBackAt.Add(500 * time.Millisecond)) {
				return true
			}
		}
		return false
	})
	l.halt()
	rs := l.results()
	first, last, total, failed, kinds := badWindow(rs)
	if first.IsZero() {
		t.Fatal("the bad canary never answered a request: nothing was measured")
	}
	t.Logf("first bad answer to last: %s; %d of %d requests failed in that window; statuses %v", last.Sub(first), failed, total, kinds)
	if d := last.Sub(first); d >= 2*time.Second {
		t.Errorf("rollback took %s from the first bad response, want < 2s", d)
	}
	if share := float64(failed) / float64(total); share > 0.10 {
		t.Errorf("clients saw %.1f%% failures, more than the canary's 10%% weight", share*100)
	}
	for status := range kinds {
		if status != 500 {
			t.Errorf("failures other than the release's own 500s: %v", kinds)
		}
	}
	if last.After(rolledBackAt) {
		t.Errorf("a request failed after the rollback finished (%s after)", last.Sub(rolledBackAt))
	}
	if got := releaseServed(t, p); got != "1" {
		t.Fatalf("router serves release %s after the rollback", got)
	}
}

// TestCanaryGoodReleaseReachesFullTraffic: a good release walks through
// every step to 100% with no failed request.
func TestCanaryGoodReleaseReachesFullTraffic(t *testing.T) {
	p := newProject(t)
	p.writeProgressive("canary", "")
	p.startServe()
	p.mustBerth("deploy")
	l := startLoad(t, "http://"+p.listen+"/catalog/items", 4)
	out := p.mustBerth("deploy", "--force")
	for _, step := range []string{"10%", "50%", "100%"} {
		if !strings.Contains(out, step) {
			t.Errorf("deploy output never mentions step %s:\n%s", step, out)
		}
	}
	l.check(t)
	if got := releaseServed(t, p); got != "2" {
		t.Fatalf("router serves release %s, want 2", got)
	}
	p.waitFor("old fleet stopped", 20*time.Second, func() bool { return len(p.taskPIDs()) == 2 })
}

// TestBlueGreenBadGreenSwitchedBack: a green that fails on live traffic is
// switched back during the bake; the switch itself fails no request — the
// only failures are the green's own 500s — and none after.
func TestBlueGreenBadGreenSwitchedBack(t *testing.T) {
	p := newProject(t)
	p.writeProgressive("bluegreen", "")
	p.startServe()
	p.mustBerth("deploy")
	l := startLoad(t, "http://"+p.listen+"/catalog/items", 4)

	// A good green first: the switches fail nothing.
	p.mustBerth("deploy", "--force")
	if got := releaseServed(t, p); got != "2" {
		t.Fatalf("router serves release %s after a good blue/green, want 2", got)
	}
	if n := l.failed.Load(); n != 0 {
		t.Fatalf("%d requests failed during a good blue/green switch: %v", n, l.errs)
	}

	p.writeProgressive("bluegreen", "      CHAOS_ERROR_RATE: \"0.3\"\n")
	out, code := p.berth("deploy")
	if code == 0 {
		t.Fatalf("a failing green deployed:\n%s", out)
	}
	if !strings.Contains(out, "rolled back to release 2") {
		t.Fatalf("deploy output does not explain the switch back:\n%s", out)
	}
	switchedBack := time.Now()
	p.waitFor("load after the switch back", 10*time.Second, func() bool {
		for _, r := range l.results() {
			if r.at.After(switchedBack.Add(500 * time.Millisecond)) {
				return true
			}
		}
		return false
	})
	l.halt()
	first, last, total, failed, kinds := badWindow(l.results())
	t.Logf("green failed %d of %d requests over %s before the switch back; statuses %v", failed, total, last.Sub(first), kinds)
	if first.IsZero() {
		t.Fatal("the bad green never took traffic: the bake was not exercised")
	}
	for status := range kinds {
		if status != 500 {
			t.Errorf("the switch failed requests itself: statuses %v, errors %v", kinds, l.errs)
		}
	}
	if last.After(switchedBack) {
		t.Errorf("a request failed after the switch back")
	}
	if got := releaseServed(t, p); got != "2" {
		t.Fatalf("router serves release %s after the switch back, want 2", got)
	}
}
