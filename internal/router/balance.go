package router

import "sync/atomic"

// pickGroup chooses a group by weight among groups that have a healthy
// target. A weight-0 group is chosen only when no weighted group has a
// healthy target. It returns nil when no group has a healthy target.
// Lock-free: one atomic increment on the route's counter.
func pickGroup(groups []*group, rr *atomic.Uint64, now int64) *group {
	total := 0
	zeroEligible := 0
	for _, g := range groups {
		if !g.hasHealthy(now) {
			continue
		}
		if g.weight > 0 {
			total += g.weight
		} else {
			zeroEligible++
		}
	}
	n := rr.Add(1)
	if total > 0 {
		x := int(n % uint64(total))
		for _, g := range groups {
			if g.weight <= 0 || !g.hasHealthy(now) {
				continue
			}
			if x < g.weight {
				return g
			}
			x -= g.weight
		}
	}
	if zeroEligible > 0 {
		x := int(n % uint64(zeroEligible))
		for _, g := range groups {
			if g.weight > 0 || !g.hasHealthy(now) {
				continue
			}
			if x == 0 {
				return g
			}
			x--
		}
	}
	return nil
}

// blameGroup picks the group a failed request is attributed to when no
// group has a healthy target: by weight, ignoring health, so a canary whose
// every task is down shows errors in its signals.
func blameGroup(groups []*group) *group {
	var best *group
	for _, g := range groups {
		if len(g.targets) == 0 {
			continue
		}
		if best == nil || g.weight > best.weight {
			best = g
		}
	}
	return best
}

func (g *group) hasHealthy(now int64) bool {
	for _, t := range g.targets {
		if t.healthy(now) {
			return true
		}
	}
	return false
}

// pickTarget returns the next healthy target round-robin, skipping those in
// tried, or nil.
func (g *group) pickTarget(now int64, tried []*target) *target {
	n := len(g.targets)
	if n == 0 {
		return nil
	}
	start := int(g.rr.Add(1) % uint64(n))
	for i := range n {
		t := g.targets[(start+i)%n]
		if t.healthy(now) && !contains(tried, t) {
			return t
		}
	}
	return nil
}

// pickAny returns a healthy target of any group not in tried, for retries.
// Weighted groups are tried before weight-0 ones.
func pickAny(groups []*group, now int64, tried []*target) *target {
	for _, weighted := range []bool{true, false} {
		for _, g := range groups {
			if (g.weight > 0) != weighted {
				continue
			}
			if t := g.pickTarget(now, tried); t != nil {
				return t
			}
		}
	}
	return nil
}

func contains(ts []*target, t *target) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}
