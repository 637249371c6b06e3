package router

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

// TestPickProperties checks the safety invariants of target selection for
// arbitrary groups, weights and health: no traffic to a weight-0 group
// while a weighted group has a healthy target, and never to an unhealthy or
// ejected target while a healthy one exists.
func TestPickProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		now := int64(1_000_000)
		nGroups := rapid.IntRange(1, 4).Draw(rt, "groups")
		var groups []*group
		for i := range nGroups {
			g := &group{name: fmt.Sprintf("g%d", i), weight: rapid.IntRange(0, 5).Draw(rt, "weight")}
			for j := range rapid.IntRange(0, 4).Draw(rt, "targets") {
				tg := &target{addr: fmt.Sprintf("t%d-%d", i, j)}
				tg.up.Store(rapid.Bool().Draw(rt, "up"))
				if rapid.Bool().Draw(rt, "ejected") {
					tg.ejectedTo.Store(now + 1)
				}
				g.targets = append(g.targets, tg)
			}
			groups = append(groups, g)
		}
		weightedHealthy, anyHealthy := false, false
		for _, g := range groups {
			if g.hasHealthy(now) {
				anyHealthy = true
				weightedHealthy = weightedHealthy || g.weight > 0
			}
		}
		var rr route
		for range rapid.IntRange(1, 30).Draw(rt, "picks") {
			g := pickGroup(groups, &rr.rr, now)
			if !anyHealthy {
				if g != nil {
					rt.Fatalf("picked %s with no healthy target anywhere", g.name)
				}
				continue
			}
			if g == nil {
				rt.Fatalf("no group picked although a healthy target exists")
			}
			if weightedHealthy && g.weight == 0 {
				rt.Fatalf("picked weight-0 group %s while a weighted group is healthy", g.name)
			}
			tg := g.pickTarget(now, nil)
			if tg == nil || !tg.healthy(now) {
				rt.Fatalf("picked unhealthy or no target %v in %s", tg, g.name)
			}
			if r := pickAny(groups, now, nil); r == nil || !r.healthy(now) {
				rt.Fatalf("retry pick %v is not healthy", r)
			}
		}
	})
}
