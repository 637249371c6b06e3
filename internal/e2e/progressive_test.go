package e2e

import (
	"strings"
	"testing"
	"time"
)

// progressiveSpec is goodSpec with a deploy of the given strategy: canary
// steps 10%, 50%, 100%, short pauses and a tight analysis window; extraEnv
// is more env for the release under test.
func progressiveSpec(strategy, extraEnv string) string {
	deploy := "    deploy:\n      strategy: " + strategy + "\n"
	if strategy == "canary" {
		deploy += "      steps: [10%%, 50%%, 100%%]\n"
	}
	deploy += "      pause: 1s\n      bake: 3s\n      drain: 5s\n      analysis: {max_5xx_rate: 5%%, min_requests: 20, window: 5s}\n"
	return strings.Replace(goodSpec, "    deploy: {drain: 5s}\n", deploy, 1) + extraEnv
}

// haltAfter keeps the load on until it has answered a request made over
// 500ms after at (nothing may fail then), stops it and returns every result.
func (l *load) haltAfter(p *project, what string, at time.Time) []result {
	p.t.Helper()
	p.waitFor(what, 10*time.Second, func() bool {
		for _, r := range l.results() {
			if r.at.After(at.Add(500 * time.Millisecond)) {
				return true
			}
		}
		return false
	})
	l.halt()
	return l.results()
}

// failedSentAfter returns a failed request sent after at. One sent
// before (already on its way to the bad release) may complete after at:
// the router and the CLI's exit race it, so only the send time says the
// switch failed a request.
func failedSentAfter(rs []result, at time.Time) (result, bool) {
	for _, r := range rs {
		if r.status/100 != 2 && r.sent.After(at) {
			return r, true
		}
	}
	return result{}, false
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
	p := deployed(t, progressiveSpec("canary", ""))
	l := startLoad(t, "http://"+p.listen+"/catalog/items", 4)

	p.writeSpec(progressiveSpec("canary", "      CHAOS_ERROR_RATE: \"0.3\"\n"))
	out, code := p.berth("deploy")
	if code == 0 {
		t.Fatalf("a failing canary deployed:\n%s", out)
	}
	if !strings.Contains(out, "5xx") || !strings.Contains(out, "rolled back to release 1") {
		t.Fatalf("deploy output does not explain the rollback:\n%s", out)
	}
	rolledBackAt := time.Now()
	rs := l.haltAfter(p, "load after rollback", rolledBackAt)
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
	if r, ok := failedSentAfter(rs, rolledBackAt); ok {
		t.Errorf("a request sent after the rollback finished failed (sent %s after): %d %q", r.sent.Sub(rolledBackAt), r.status, r.body)
	}
	if got := releaseServed(t, p); got != "1" {
		t.Fatalf("router serves release %s after the rollback", got)
	}
}

// TestCanaryGoodReleaseReachesFullTraffic: a good release walks through
// every step to 100% with no failed request.
func TestCanaryGoodReleaseReachesFullTraffic(t *testing.T) {
	p := deployed(t, progressiveSpec("canary", ""))
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
	p := deployed(t, progressiveSpec("bluegreen", ""))
	l := startLoad(t, "http://"+p.listen+"/catalog/items", 4)

	// A good green first: the switches fail nothing.
	p.mustBerth("deploy", "--force")
	if got := releaseServed(t, p); got != "2" {
		t.Fatalf("router serves release %s after a good blue/green, want 2", got)
	}
	if n := l.failed.Load(); n != 0 {
		t.Fatalf("%d requests failed during a good blue/green switch: %v", n, l.errs)
	}

	p.writeSpec(progressiveSpec("bluegreen", "      CHAOS_ERROR_RATE: \"0.3\"\n"))
	out, code := p.berth("deploy")
	if code == 0 {
		t.Fatalf("a failing green deployed:\n%s", out)
	}
	if !strings.Contains(out, "rolled back to release 2") {
		t.Fatalf("deploy output does not explain the switch back:\n%s", out)
	}
	switchedBack := time.Now()
	rs := l.haltAfter(p, "load after the switch back", switchedBack)
	first, last, total, failed, kinds := badWindow(rs)
	t.Logf("green failed %d of %d requests over %s before the switch back; statuses %v", failed, total, last.Sub(first), kinds)
	if first.IsZero() {
		t.Fatal("the bad green never took traffic: the bake was not exercised")
	}
	for status := range kinds {
		if status != 500 {
			t.Errorf("the switch failed requests itself: statuses %v, errors %v", kinds, l.errs)
		}
	}
	if r, ok := failedSentAfter(rs, switchedBack); ok {
		t.Errorf("a request sent after the switch back failed (sent %s after): %d %q", r.sent.Sub(switchedBack), r.status, r.body)
	}
	if got := releaseServed(t, p); got != "2" {
		t.Fatalf("router serves release %s after the switch back, want 2", got)
	}
}
