package router

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Router is berth's L7 proxy. It serves HTTP (http.Handler) by routing each
// request through the most recently published Table. All methods are safe
// for concurrent use.
type Router struct {
	cfg     Config
	log     *slog.Logger
	table   atomic.Pointer[index]
	metrics *metrics
	signals signalStore
	access  *accessLog // nil: no access log

	noGroupOnce sync.Once
	noGroup     groupStats

	ctx    context.Context // ends on Close; parent of health checkers and drainers
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex         // guards targets and target check fields; never taken per request
	targets map[string]*target // by address, including removed targets still draining
	// groups is, for each target group a table named, when it left the
	// published table (zero while it is in it); guarded by mu. Groups gone
	// for statsTTL lose their signals and metric children.
	groups map[groupKey]time.Time
	// watches are the addresses Watch checks, by address; guarded by mu.
	// A watched target has no checker of its own.
	watches        map[string]*watch
	watchTransport *http.Transport
}

// groupKey names one target group's statistics.
type groupKey struct {
	route, group string
	release      int
}

// statsTTL is how long a group's signals and metrics outlive its last
// table: long enough for analysis and a scrape to read a rolled-back
// release, short enough that a router serving many releases does not grow.
const statsTTL = 5 * time.Minute

// New returns a Router with no table: until the first Publish every request
// is answered 503.
func New(cfg Config) *Router {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Router{
		cfg:     cfg,
		log:     cfg.Logger,
		ctx:     ctx,
		cancel:  cancel,
		targets: map[string]*target{},
		groups:  map[groupKey]time.Time{},
	}
	r.metrics = newMetrics(r)
	if cfg.AccessLog != nil {
		r.access = &accessLog{w: cfg.AccessLog}
		if r.cfg.AccessLogSample <= 0 {
			r.cfg.AccessLogSample = 1
		}
	}
	return r
}

// Close stops health checkers and drain watchers and closes idle upstream
// connections. Requests in flight are not interrupted.
func (r *Router) Close() error {
	r.cancel()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.targets {
		t.client.closeIdle(true)
		t.transport.CloseIdleConnections()
	}
	return nil
}

// Collector returns the router's Prometheus metrics (requests by route,
// group and status class; latency histogram; per-target in-flight and
// health; table version) for registration on a registry.
func (r *Router) Collector() prometheus.Collector { return r.metrics }

// Publish atomically replaces the routing table. Targets that left the
// table stop receiving new requests at once; their health checks stop and
// their idle connections are closed once their in-flight requests finish.
// The Table must not be modified afterwards.
func (r *Router) Publish(t *Table) {
	r.mu.Lock()
	defer r.mu.Unlock()
	x := r.build(t)
	r.table.Store(x)
	r.forgetGroups(x)
	for addr, tg := range r.targets {
		if _, ok := x.addrs[addr]; ok || tg.removed.Load() {
			continue
		}
		// Set after the new table is visible: see target.acquire.
		tg.removed.Store(true)
		if tg.stopChecker != nil {
			tg.stopChecker()
			tg.stopChecker = nil
			tg.check = HealthCheck{}
		}
		r.wg.Add(1)
		go r.drain(tg)
	}
	r.log.Info("routing table published", "version", t.Version, "routes", len(t.Routes), "targets", len(x.addrs))
}

// forgetGroups notes which groups left the table x replaced, and drops the
// signal series and metric children of groups gone for statsTTL. Called
// with r.mu held.
func (r *Router) forgetGroups(x *index) {
	now := r.cfg.Now()
	cut := now.Add(-statsTTL)
	for k := range x.groups {
		r.groups[k] = time.Time{}
	}
	live := map[string]bool{}
	for k, left := range r.groups {
		if !x.groups[k] && left.IsZero() {
			r.groups[k] = now
			left = now
		}
		if left.IsZero() || !left.Before(cut) {
			live[k.group] = true
			live[releaseKey(k.route, k.release)] = true
		}
	}
	for k, left := range r.groups {
		if left.IsZero() || !left.Before(cut) {
			continue
		}
		delete(r.groups, k)
		r.metrics.forget(k.route, k.group)
		for _, key := range []string{k.group, releaseKey(k.route, k.release)} {
			if !live[key] {
				r.signals.forget(key)
			}
		}
	}
}

// build compiles a Table into an index. Called with r.mu held.
func (r *Router) build(t *Table) *index {
	x := &index{version: t.Version, byHost: map[string][]*route{}, addrs: map[string]*target{}, groups: map[groupKey]bool{}}
	checks := map[string]HealthCheck{}
	compileGroups := func(rt *route, in []TargetGroup, hc HealthCheck) []*group {
		out := make([]*group, 0, len(in))
		for _, tg := range in {
			g := &group{name: tg.Name, release: tg.Release, weight: max(tg.Weight, 0)}
			g.stats = r.metrics.statsFor(rt.name, tg.Name)
			x.groups[groupKey{rt.name, tg.Name, tg.Release}] = true
			g.stats.sig = r.signals.get(tg.Name)
			g.stats.rel = r.signals.get(releaseKey(rt.name, tg.Release))
			for _, tt := range tg.Targets {
				g.targets = append(g.targets, r.targetFor(x, tt.Addr))
				if _, seen := checks[tt.Addr]; !seen {
					checks[tt.Addr] = hc
				}
			}
			out = append(out, g)
		}
		return out
	}
	for _, rr := range t.Routes {
		rt := &route{
			name:     rr.Name,
			host:     strings.ToLower(normalizeHost(rr.Host)),
			prefix:   normalizePrefix(rr.PathPrefix),
			priority: rr.Priority,
			strip:    rr.StripPrefix,
		}
		rt.groups = compileGroups(rt, rr.Groups, rr.Health)
		rt.sticky = rr.Sticky
		if rt.sticky.Header != "" {
			rt.sticky.Header = http.CanonicalHeaderKey(rt.sticky.Header)
		}
		rt.byNewest = slices.Clone(rt.groups)
		slices.SortStableFunc(rt.byNewest, func(a, b *group) int { return b.release - a.release })
		rt.preview = compileGroups(rt, rr.Preview, rr.Health)
		if rr.Default {
			if x.def == nil || rt.priority > x.def.priority {
				x.def = rt
			}
			if rr.Host == "" && rr.PathPrefix == "" {
				continue // only the catch-all
			}
		}
		if rt.host != "" {
			x.byHost[rt.host] = append(x.byHost[rt.host], rt)
		} else {
			x.pathOnly = append(x.pathOnly, rt)
		}
	}
	for _, rs := range x.byHost {
		sortRoutes(rs)
	}
	sortRoutes(x.pathOnly)
	for addr, hc := range checks {
		r.ensureChecker(x.addrs[addr], hc)
	}
	return x
}

// targetFor returns the live target for addr, creating it or reviving a
// draining one. Called with r.mu held.
func (r *Router) targetFor(x *index, addr string) *target {
	if t, ok := x.addrs[addr]; ok {
		return t
	}
	t, ok := r.targets[addr]
	if !ok {
		t = newTarget(addr, r.cfg)
		r.targets[addr] = t
	}
	t.removed.Store(false)
	x.addrs[addr] = t
	return t
}

// drain waits until a removed target has no request in flight, then closes
// its idle connections and forgets it (unless it was re-added meanwhile).
func (r *Router) drain(t *target) {
	defer r.wg.Done()
	if err := r.waitIdle(r.ctx, t); err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !t.removed.Load() || r.targets[t.addr] != t {
		return
	}
	delete(r.targets, t.addr)
	t.client.closeIdle(true)
	t.transport.CloseIdleConnections()
	r.log.Info("target drained", "target", t.addr)
}

// drainPoll is how often drain waiters re-check in-flight counts.
const drainPoll = 5 * time.Millisecond

func (r *Router) waitIdle(ctx context.Context, t *target) error {
	if t.inflight.Load() == 0 {
		return nil
	}
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if t.inflight.Load() == 0 {
				return nil
			}
		}
	}
}

// InFlight returns the number of requests currently being proxied to addr.
func (r *Router) InFlight(addr string) int {
	r.mu.Lock()
	t := r.targets[addr]
	r.mu.Unlock()
	if t == nil {
		return 0
	}
	return int(t.inflight.Load())
}

// WaitDrained blocks until addr is absent from the published table and no
// request is in flight to it, or ctx ends. Publish a table without the
// target first; for an unknown address it returns nil at once. When ctx
// ends first (the drain window is over), upgraded connections to addr
// (websockets) are closed, so they do not hold a stopped task.
func (r *Router) WaitDrained(ctx context.Context, addr string) error {
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for {
		r.mu.Lock()
		t := r.targets[addr]
		r.mu.Unlock()
		if t == nil || (t.removed.Load() && t.inflight.Load() == 0) {
			return nil
		}
		select {
		case <-ctx.Done():
			// The drain window is over: long-lived upgraded connections
			// (websockets) would hold the task forever; close them.
			if n := t.closeUpgraded(); n > 0 {
				r.log.Info("drain window over: closed upgraded connections", "target", addr, "connections", n)
			}
			return fmt.Errorf("wait for target %s to drain (%d in flight): %w", addr, t.inflight.Load(), ctx.Err())
		case <-tick.C:
		}
	}
}

// Signals returns the traffic summary of the target group named group over
// the last window (1 s resolution, at most 60 s). Unknown groups return the
// zero Signals.
func (r *Router) Signals(group string, window time.Duration) Signals {
	s := r.signals.lookup(group)
	if s == nil {
		return Signals{}
	}
	return s.read(r.cfg.Now(), window)
}

// ReleaseSignals is Signals for every group of route routeName that carries
// release, whatever the groups' names.
func (r *Router) ReleaseSignals(routeName string, release int, window time.Duration) Signals {
	s := r.signals.lookup(releaseKey(routeName, release))
	if s == nil {
		return Signals{}
	}
	return s.read(r.cfg.Now(), window)
}
