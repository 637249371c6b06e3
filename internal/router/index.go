package router

import (
	"net"
	"slices"
	"strings"
	"sync/atomic"
)

// index is the matching structure built once per published Table. It is
// immutable after build except for the round-robin counters.
type index struct {
	version  uint64
	byHost   map[string][]*route // routes with a Host, best first
	pathOnly []*route            // routes without a Host, best first
	def      *route              // the catch-all, or nil
	addrs    map[string]*target  // every target of the table
	groups   map[groupKey]bool   // every target group of the table
}

// route is one compiled Route.
type route struct {
	name     string
	host     string // lower-case, no port; "" for path-only
	prefix   string // normalised: "" (anything) or "/x/y" without trailing slash
	priority int
	strip    bool
	groups   []*group
	preview  []*group
	rr       atomic.Uint64
	sticky   Sticky
	byNewest []*group // groups by release, newest first (sticky placement)
}

// group is one compiled TargetGroup.
type group struct {
	name    string
	release int
	weight  int
	targets []*target
	rr      atomic.Uint64
	stats   groupStats
}

// better reports whether a outranks b: higher priority, then longer
// prefix, then a host rule over a path-only rule.
func better(a, b *route) bool {
	if a.priority != b.priority {
		return a.priority > b.priority
	}
	if len(a.prefix) != len(b.prefix) {
		return len(a.prefix) > len(b.prefix)
	}
	return a.host != "" && b.host == ""
}

func sortRoutes(rs []*route) {
	slices.SortStableFunc(rs, func(a, b *route) int {
		switch {
		case better(a, b):
			return -1
		case better(b, a):
			return 1
		}
		return 0
	})
}

// normalizePrefix turns "/api/" into "/api"; "" and "/" both become ""
// (matches all, and ranks as the shortest prefix).
func normalizePrefix(p string) string {
	if p == "" || p == "/" {
		return ""
	}
	if p[0] != '/' {
		p = "/" + p
	}
	return strings.TrimRight(p, "/")
}

// prefixMatch matches p against path on a segment boundary.
func prefixMatch(p, path string) bool {
	if p == "" || p == "/" {
		return true
	}
	if !strings.HasPrefix(path, p) {
		return false
	}
	return len(path) == len(p) || path[len(p)] == '/'
}

// normalizeHost drops the port (and IPv6 brackets) of a Host header;
// case is folded at lookup.
func normalizeHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		if strings.IndexByte(h, ':') == i || strings.HasPrefix(h, "[") {
			h = h[:i]
		}
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	return strings.TrimSuffix(h, ".")
}

// hostRoutes returns the host rules for a normalised host, comparing
// case-insensitively without allocating for ordinary host lengths.
func (x *index) hostRoutes(h string) []*route {
	if len(x.byHost) == 0 {
		return nil
	}
	var buf [128]byte
	if len(h) > len(buf) {
		return x.byHost[strings.ToLower(h)]
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return x.byHost[string(buf[:len(h)])]
}

// match finds the route for a normalised host and a path, or nil.
func (x *index) match(host, path string) *route {
	var best *route
	for _, rt := range x.hostRoutes(host) {
		if prefixMatch(rt.prefix, path) {
			best = rt
			break
		}
	}
	for _, rt := range x.pathOnly {
		if best != nil && !better(rt, best) {
			break // sorted: nothing further can beat best
		}
		if prefixMatch(rt.prefix, path) {
			best = rt
			break
		}
	}
	if best == nil {
		best = x.def
	}
	return best
}

// stripPath removes a route prefix from a path, keeping a leading slash.
func stripPath(prefix, p string) string {
	if prefix == "" || prefix == "/" || !strings.HasPrefix(p, prefix) {
		return p
	}
	p = p[len(prefix):]
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	return p
}

// splitHostIP returns the IP part of a RemoteAddr.
func splitHostIP(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}
