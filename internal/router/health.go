package router

import (
	"context"
	"io"
	"net/http"
	"time"
)

// healthState is the active-check verdict of one target and the run of
// consecutive results that may flip it.
type healthState struct {
	Up        bool
	Successes int // consecutive passes while down
	Failures  int // consecutive failures while up
}

// withCheckDefaults fills a HealthCheck's zero fields (Path aside).
func withCheckDefaults(hc HealthCheck) HealthCheck {
	if hc.Interval <= 0 {
		hc.Interval = 5 * time.Second
	}
	if hc.Timeout <= 0 {
		hc.Timeout = 2 * time.Second
	}
	if hc.HealthyThreshold <= 0 {
		hc.HealthyThreshold = 2
	}
	if hc.UnhealthyThreshold <= 0 {
		hc.UnhealthyThreshold = 3
	}
	return hc
}

// observe is the pure health transition: a target goes down after
// UnhealthyThreshold consecutive failures and back up after
// HealthyThreshold consecutive passes.
func (s healthState) observe(pass bool, hc HealthCheck) healthState {
	if s.Up {
		if pass {
			return healthState{Up: true}
		}
		s.Failures++
		if s.Failures >= hc.UnhealthyThreshold {
			return healthState{Up: false}
		}
		return s
	}
	if !pass {
		return healthState{Up: false}
	}
	s.Successes++
	if s.Successes >= hc.HealthyThreshold {
		return healthState{Up: true}
	}
	return s
}

// ensureChecker starts, restarts or stops the active checker of t so it
// matches hc. Called with r.mu held.
func (r *Router) ensureChecker(t *target, hc HealthCheck) {
	if hc.Path != "" {
		hc = withCheckDefaults(hc)
	}
	if up, watched := r.watchedUp(t.addr); watched {
		// Watch checks this address: one prober, one verdict.
		if t.stopChecker != nil {
			t.stopChecker()
			t.stopChecker = nil
		}
		t.check = hc
		t.up.Store(up)
		return
	}
	if t.stopChecker != nil && t.check == hc {
		return
	}
	if t.stopChecker != nil {
		t.stopChecker()
		t.stopChecker = nil
	}
	t.check = hc
	if hc.Path == "" {
		t.up.Store(true) // passive ejection only
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	t.stopChecker = cancel
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.runChecker(ctx, t, hc)
	}()
}

// runChecker probes t every hc.Interval until ctx ends and applies the
// verdicts.
func (r *Router) runChecker(ctx context.Context, t *target, hc HealthCheck) {
	tick := time.NewTicker(hc.Interval)
	defer tick.Stop()
	state := healthState{Up: t.up.Load()}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := r.probe(ctx, t, hc)
		if ctx.Err() != nil {
			return
		}
		next := state.observe(err == nil, hc)
		if next.Up != state.Up {
			t.up.Store(next.Up)
			if next.Up {
				r.log.Info("target healthy", "target", t.addr)
			} else {
				r.log.Warn("target unhealthy", "target", t.addr, "err", err)
			}
		}
		state = next
	}
}

// errCheckStatus is a health check answered outside 200–399.
type errCheckStatus int

func (e errCheckStatus) Error() string { return "health check answered " + http.StatusText(int(e)) }

// probe is one active check: GET hc.Path must answer 2xx or 3xx within
// hc.Timeout.
func (r *Router) probe(ctx context.Context, t *target, hc HealthCheck) error {
	ctx, cancel := context.WithTimeout(ctx, hc.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.addr+hc.Path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "berth-health-check")
	resp, err := t.transport.RoundTrip(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return errCheckStatus(resp.StatusCode)
	}
	return nil
}
