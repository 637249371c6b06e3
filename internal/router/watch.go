package router

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"
)

// Check is one health check of a watched address as Watch reports it.
type Check struct {
	// Up is the verdict after this check: an address starts down, goes up
	// after HealthyThreshold passes in a row and down again after
	// UnhealthyThreshold failures in a row.
	Up bool
	// Changed is set when this check flipped the verdict.
	Changed bool
	// Err is this check's failure, nil when it passed.
	Err error
	// At is when the check's answer (or its timeout) came; the verdict
	// it makes applies when it is reported, which for checks confirming
	// a suspect is once all of them came.
	At time.Time
}

// watch is one Watch in progress.
type watch struct {
	up     atomic.Bool
	cancel context.CancelFunc
}

// watchStartingEvery is how often a watched address that has not yet been
// up is checked, so a starting task is seen healthy quickly whatever its
// interval.
const watchStartingEvery = 100 * time.Millisecond

// watchConfirmEvery is how far apart the checks that confirm a failed
// check of an up address start: a hung task is out of routing after its
// unhealthy-th failure in a row without waiting an interval, or a timeout,
// between them (a passing check puts the interval back).
const watchConfirmEvery = 100 * time.Millisecond

// Watch checks addr's health with hc until stop is called, whether or not
// a route sends it traffic (a starting task, a worker without a route),
// and reports every check to report, in order, from one goroutine. The
// verdict starts at up (true for a task already known healthy, e.g. one
// adopted after a restart; false for a starting one). While
// addr is also a target of the published table, this is its only prober
// and routing follows the same verdict: the control plane and the router
// cannot disagree about a target's health. A second Watch of the same
// address replaces the first. When the watch stops and addr is still a
// target, the router goes back to checking it on its own.
func (r *Router) Watch(addr string, hc HealthCheck, up bool, report func(Check)) (stop func()) {
	if hc.Path == "" {
		hc.Path = "/"
	}
	hc = withCheckDefaults(hc)
	ctx, cancel := context.WithCancel(r.ctx)
	w := &watch{cancel: cancel}
	w.up.Store(up)
	r.mu.Lock()
	if r.watches == nil {
		r.watches = map[string]*watch{}
	}
	if old := r.watches[addr]; old != nil {
		old.cancel()
	}
	r.watches[addr] = w
	if t := r.targets[addr]; t != nil && t.stopChecker != nil {
		// The watch takes over the target's checks.
		t.stopChecker()
		t.stopChecker = nil
		t.up.Store(up)
	}
	if r.watchTransport == nil {
		r.watchTransport = &http.Transport{DisableKeepAlives: true, DisableCompression: true}
	}
	tr := r.watchTransport
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.runWatch(ctx, addr, hc, up, w, tr, report)
	}()
	return func() {
		cancel()
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.watches[addr] != w {
			return
		}
		delete(r.watches, addr)
		if t := r.targets[addr]; t != nil && r.ctx.Err() == nil {
			// Still routed to (the control plane that watched it went
			// away, e.g. the router runs on while it restarts): the
			// router checks it again itself, from the watch's verdict.
			r.ensureChecker(t, t.check)
		}
	}
}

// watchedUp reports whether addr is watched and, if so, its verdict.
// Caller holds r.mu.
func (r *Router) watchedUp(addr string) (up, watched bool) {
	w := r.watches[addr]
	if w == nil {
		return false, false
	}
	return w.up.Load(), true
}

func (r *Router) runWatch(ctx context.Context, addr string, hc HealthCheck, up bool, w *watch, tr *http.Transport, report func(Check)) {
	state := healthState{Up: up}
	everUp := up
	t := &target{addr: addr, transport: tr}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		apply := func(res probeResult) {
			err := res.err
			next := state.observe(err == nil, hc)
			changed := next.Up != state.Up
			state = next
			if changed {
				w.up.Store(next.Up)
				everUp = everUp || next.Up
				r.mu.Lock()
				if rt := r.targets[addr]; rt != nil && r.watches[addr] == w {
					rt.up.Store(next.Up)
				}
				r.mu.Unlock()
			}
			report(Check{Up: next.Up, Changed: changed, Err: err, At: res.at})
		}
		n := 1
		if state.Up {
			n = hc.UnhealthyThreshold - state.Failures
		}
		for _, res := range r.check(ctx, t, hc, n) {
			if ctx.Err() != nil {
				return
			}
			apply(res)
		}
		wait := hc.Interval
		if !everUp && wait > watchStartingEvery {
			wait = watchStartingEvery
		}
		timer.Reset(wait)
	}
}

// probeResult is one check's result and when it came.
type probeResult struct {
	err error
	at  time.Time
}

func (r *Router) timedProbe(ctx context.Context, t *target, hc HealthCheck) probeResult {
	err := r.probe(ctx, t, hc)
	return probeResult{err: err, at: time.Now()}
}

// check checks t once; while up (n > 1 checks from a down verdict), a
// check that fails, or has not answered within watchConfirmEvery, is
// confirmed by the n-1 checks that would make the verdict, started
// watchConfirmEvery apart without waiting for each other (a hung task
// makes each last its whole timeout). It returns the results in order,
// nil when ctx ends first.
func (r *Router) check(ctx context.Context, t *target, hc HealthCheck, n int) []probeResult {
	first := make(chan probeResult, 1)
	go func() { first <- r.timedProbe(ctx, t, hc) }()
	if n <= 1 {
		select {
		case res := <-first:
			return []probeResult{res}
		case <-ctx.Done():
			return nil
		}
	}
	suspect := time.NewTimer(watchConfirmEvery)
	defer suspect.Stop()
	results := []chan probeResult{first}
	select {
	case res := <-first:
		if res.err == nil {
			return []probeResult{res}
		}
		results[0] = make(chan probeResult, 1)
		results[0] <- res
	case <-suspect.C:
	case <-ctx.Done():
		return nil
	}
	for i := range n - 1 {
		ch := make(chan probeResult, 1)
		results = append(results, ch)
		go func() {
			if i > 0 {
				pause := time.NewTimer(time.Duration(i) * watchConfirmEvery)
				defer pause.Stop()
				select {
				case <-ctx.Done():
					ch <- probeResult{err: ctx.Err(), at: time.Now()}
					return
				case <-pause.C:
				}
			}
			ch <- r.timedProbe(ctx, t, hc)
		}()
	}
	out := make([]probeResult, 0, n)
	for _, ch := range results {
		select {
		case res := <-ch:
			out = append(out, res)
		case <-ctx.Done():
			return nil
		}
	}
	return out
}
