package e2e

import (
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
)

// TestTimelineOfBlueGreenMatchesDeployWallTime: `berth timeline` of a
// blue/green deployment names its phases with their durations, and the
// phases the deploy waited for add up to the wall time of `berth deploy`
// (measured here, around the process) within 5%.
func TestTimelineOfBlueGreenMatchesDeployWallTime(t *testing.T) {
	p := deployed(t, progressiveSpec("bluegreen", ""))

	start := time.Now()
	out := p.mustBerth("deploy", "--force")
	wall := time.Since(start)
	m := regexp.MustCompile(`deployment (d[0-9a-z]+)\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("berth deploy printed no deployment id:\n%s", out)
	}
	id := m[1]

	var tl api.Timeline
	raw := p.mustBerth("timeline", id, "-o", "json")
	if err := json.Unmarshal([]byte(raw), &tl); err != nil {
		t.Fatalf("timeline -o json: %v\n%s", err, raw)
	}
	names := map[string]bool{}
	var sum time.Duration
	for _, ph := range tl.Phases {
		names[ph.Name] = true
		if ph.DurationMS < 0 || ph.End.Before(ph.Start) {
			t.Errorf("phase %s runs backwards: %+v", ph.Name, ph)
		}
		if !ph.AfterFinish {
			sum += time.Duration(ph.DurationMS) * time.Millisecond
		}
	}
	for _, want := range []string{"plan", "submit", "task start", "first healthy", "switch", "bake"} {
		if !names[want] {
			t.Errorf("timeline has no %q phase: %+v", want, tl.Phases)
		}
	}
	if tl.Slowest == nil || tl.Slowest.Name != "bake" || tl.Slowest.GovernedBy != "deploy.bake" {
		t.Errorf("slowest phase = %+v, want the 3 s bake governed by deploy.bake", tl.Slowest)
	}
	off := math.Abs(float64(sum-wall)) / float64(wall)
	t.Logf("berth deploy took %s; its phases add up to %s (%.1f%% off); timeline wall %d ms", wall, sum, off*100, tl.WallMS)
	if off > 0.05 {
		t.Errorf("phases add up to %s, berth deploy took %s: %.1f%% off, want within 5%%\n%+v", sum, wall, off*100, tl.Phases)
	}

	// The old release drains after the switch: once it stopped, the
	// timeline shows it, outside the wall time.
	p.waitFor("the old release's drain on the timeline", 30*time.Second, func() bool {
		var again api.Timeline
		if err := p.apiJSON("/v1/deployments/"+id+"/timeline", &again); err != nil {
			return false
		}
		for _, ph := range again.Phases {
			if ph.Name == "drain old release" && ph.AfterFinish && ph.GovernedBy == "deploy.drain" {
				return true
			}
		}
		return false
	})

	text := p.mustBerth("timeline", id)
	for _, want := range []string{"first healthy", "bake", "wall time", "slowest: bake", "deploy.bake"} {
		if !strings.Contains(text, want) {
			t.Errorf("berth timeline does not show %q:\n%s", want, text)
		}
	}
	set := regexp.MustCompile(`release set (\S+) \(commit`).FindStringSubmatch(out)
	if set == nil {
		t.Fatalf("berth deploy printed no release set:\n%s", out)
	}
	setText := p.mustBerth("timeline", set[1])
	if !strings.Contains(setText, "release set "+set[1]) || !strings.Contains(setText, "bake") {
		t.Errorf("berth timeline SET does not show the set's phases:\n%s", setText)
	}
	hist := p.mustBerth("history", "catalog")
	if !strings.Contains(hist, "DURATION") {
		t.Errorf("berth history shows no durations:\n%s", hist)
	}
}
