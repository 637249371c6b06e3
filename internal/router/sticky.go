package router

import (
	"hash/fnv"
	"net/http"
)

// preview reports whether groups are rt's preview groups.
func preview(rt *route, groups []*group) bool {
	return len(rt.preview) > 0 && len(groups) > 0 && groups[0] == rt.preview[0]
}

// pickSticky places the client of req on one of rt's groups by the hash
// of its sticky cookie or header, laid over the groups newest release
// first and weighted: while the weights hold, the same client lands on
// the same group, and a growing canary keeps its clients. A client with
// no cookie is given one. It returns nil when the request carries no
// key, or no weighted group has a healthy target.
func (r *Router) pickSticky(w http.ResponseWriter, req *http.Request, rt *route, now int64) *group {
	var key string
	if name := rt.sticky.Cookie; name != "" {
		if c, err := req.Cookie(name); err == nil && c.Value != "" {
			key = c.Value
		} else {
			key = newRequestID()
			w.Header().Add("Set-Cookie", (&http.Cookie{Name: name, Value: key, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}).String())
		}
	} else if v := req.Header[rt.sticky.Header]; len(v) > 0 && v[0] != "" {
		key = v[0]
	}
	if key == "" {
		return nil
	}
	total := 0
	for _, g := range rt.byNewest {
		if g.weight > 0 && g.hasHealthy(now) {
			total += g.weight
		}
	}
	if total == 0 {
		return nil
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	pos := float64(h.Sum64()>>11) / (1 << 53) * float64(total) // in [0, total)
	var last *group
	for _, g := range rt.byNewest {
		if g.weight <= 0 || !g.hasHealthy(now) {
			continue
		}
		if pos < float64(g.weight) {
			return g
		}
		pos -= float64(g.weight)
		last = g
	}
	return last // rounding
}
