package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/deploy"
	"github.com/berth-dev/berth/internal/router"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// signaler is the part of the router that judges a release on its own
// traffic; routers without it get no live analysis.
type signaler interface {
	ReleaseSignals(routeName string, release int, window time.Duration) router.Signals
}

// analysisEvery is how often a progressive deployment re-evaluates its
// release at the latest, so a bad canary is caught within a second.
const analysisEvery = 200 * time.Millisecond

func isProgressive(strategy string) bool {
	return strategy == deploy.StrategyCanary || strategy == deploy.StrategyBlueGreen
}

// checkResults are the pre-traffic checks a decision asked for.
type checkResults struct {
	smoke   []deploy.CheckResult
	webhook *deploy.CheckResult
}

// stepProgressive decides and applies one move of a canary or blue/green
// deployment with deploy.Advance. Caller (step) holds mu.
func (v *svc) stepProgressive(ctx context.Context, now time.Time) {
	d := v.dep
	ri, err := v.release(ctx, d.ToRelease)
	if err != nil {
		v.log.Error("progressive step", "err", err)
		return
	}
	cfg := ri.cfg.Service
	// step has already judged the release (circuit breaker, deadline).

	var progress deploy.Progress
	if len(d.Progress) > 0 {
		if err := json.Unmarshal(d.Progress, &progress); err != nil {
			v.log.Error("decode deployment progress; starting over", "deployment", d.ID, "err", err)
		}
	}
	newHealthy, oldHealthy := 0, 0
	for _, t := range v.tasks {
		if t.draining || t.phase != deploy.Healthy {
			continue
		}
		switch t.rec.Release {
		case d.ToRelease:
			newHealthy++
		case d.FromRelease:
			oldHealthy++
		}
	}
	var sig deploy.Signals
	if s, ok := v.s.cfg.Router.(signaler); ok {
		window := deploy.ResolveAnalysis(cfg.Deploy.Analysis).Window
		rs := s.ReleaseSignals(v.name, d.ToRelease, time.Duration(window))
		sig = deploy.Signals{Requests: rs.Requests, Errors5xx: rs.Errors5xx, P99: rs.P99}
	}
	in := deploy.AdvanceInput{
		Now: now, Deploy: *cfg.Deploy, Progress: progress, Count: v.state.Count,
		NewHealthy: newHealthy, OldHealthy: oldHealthy, Signals: sig,
		Promote: v.promote, Abort: v.abort,
		Service: v.name, FromRelease: d.FromRelease, ToRelease: d.ToRelease,
	}
	if v.checks != nil {
		in.Smoke, in.Webhook = v.checks.smoke, v.checks.webhook
		v.checks = nil
	}
	v.promote, v.abort = false, false
	dec := deploy.Advance(in)

	// Traffic first: routing moves before any task of either fleet stops.
	previewRel := 0
	weights := map[int]int{d.FromRelease: dec.StableWeight(), d.ToRelease: dec.Weight}
	if dec.PreviewOnly {
		previewRel = d.ToRelease
	}
	startNew, stopNew := v.scalePlan(d.ToRelease, dec.NewCount)
	startOld, stopOld := v.scalePlan(d.FromRelease, dec.OldCount)
	stops := append(stopNew, stopOld...)
	v.applyWeighted(weights, previewRel, stops)
	v.saveProgress(ctx, dec.Progress)
	if dec.Event != "" || dec.Progress.Phase != progress.Phase {
		event := dec.Event
		if event == "" {
			event = dec.Progress.Phase
		}
		f := map[string]string{"phase": dec.Progress.Phase, "weight": strconv.Itoa(dec.Weight), "step": strconv.Itoa(dec.Progress.Step)}
		if until, next := deploy.CanaryOutlook(*cfg.Deploy, dec.Progress); !until.IsZero() || next != "" {
			if !until.IsZero() {
				f["pause_until"] = until.UTC().Format(time.RFC3339Nano)
			}
			f["next"] = next
		}
		if dec.Progress.Phase == deploy.PhaseBake && cfg.Deploy.Bake > 0 {
			f["bake_until"] = dec.Progress.PhaseSince.Add(time.Duration(cfg.Deploy.Bake)).UTC().Format(time.RFC3339Nano)
		}
		v.s.emit(store.Event{Service: v.name, Deployment: d.ID, Kind: api.EventDeployProgress, Message: fmt.Sprintf("%s release %d: %s", v.name, d.ToRelease, event),
			Fields: f})
	}
	if dec.Weight > 0 && !dec.Done && !dec.Rollback && now.Sub(v.analyzedAt) >= analysisEventEvery {
		v.analyzedAt = now
		v.emitAnalysis(d, dec.Weight, sig, cfg.Deploy.Analysis)
	}
	if dec.Promoted {
		v.s.emit(store.Event{Service: v.name, Deployment: d.ID, Kind: api.EventDeployPromoted, Message: fmt.Sprintf("%s release %d promoted (%s)", v.name, d.ToRelease, dec.Progress.Phase)})
		v.notify(ri, api.EventDeployPromoted, fmt.Sprintf("%s release %d promoted", v.name, d.ToRelease))
	}
	if dec.Rollback {
		from := d.FromRelease
		v.state.Release = from
		v.state.UpdatedAt = now
		if err := v.s.cfg.Store.PutService(ctx, v.state); err != nil {
			v.log.Error("record service", "err", err)
		}
		v.log.Warn("deployment rolled back", "deployment", d.ID, "release", d.ToRelease, "reason", dec.Reason)
		v.finish(ctx, store.DeployRolledBack, dec.Reason)
		v.kick()
		return
	}
	if dec.Done {
		v.finish(ctx, store.DeploySucceeded, "")
		v.kick()
		return
	}
	for _, id := range stops {
		v.stopTask(id)
	}
	if startNew+startOld > 0 && now.Before(v.crash.NotBefore) {
		v.arm(now, v.crash.NotBefore)
	} else {
		for i := 0; i < startNew; i++ {
			v.startTask(ctx, d.ToRelease, now)
		}
		for i := 0; i < startOld; i++ {
			v.startTask(ctx, d.FromRelease, now)
		}
	}
	if dec.Checks != nil && !v.checking {
		v.runChecks(dec.Checks)
	}
	wake := now.Add(analysisEvery)
	if !dec.WakeAt.IsZero() && dec.WakeAt.Before(wake) {
		wake = dec.WakeAt
	}
	if !wake.After(now) {
		v.kick()
	} else {
		v.arm(now, wake)
	}
}

// scalePlan says how many tasks of release rel to start and which to stop
// so that n run: failing tasks are replaced, extra ones stopped (starting
// ones first, then the newest). Caller holds mu.
func (v *svc) scalePlan(rel, n int) (start int, stop []string) {
	var healthy, starting []*task
	for _, t := range v.tasks {
		if t.draining || t.rec.Release != rel {
			continue
		}
		switch t.phase {
		case deploy.Healthy:
			healthy = append(healthy, t)
		case deploy.Unhealthy:
			stop = append(stop, t.rec.ID)
		default:
			starting = append(starting, t)
		}
	}
	byAge := func(ts []*task) {
		sort.Slice(ts, func(i, j int) bool {
			if !ts[i].startedAt.Equal(ts[j].startedAt) {
				return ts[i].startedAt.Before(ts[j].startedAt)
			}
			return ts[i].rec.ID < ts[j].rec.ID
		})
	}
	byAge(healthy)
	byAge(starting)
	have := len(healthy) + len(starting)
	for have > n && len(starting) > 0 {
		stop = append(stop, starting[len(starting)-1].rec.ID)
		starting = starting[:len(starting)-1]
		have--
	}
	for have > n && len(healthy) > 0 {
		stop = append(stop, healthy[len(healthy)-1].rec.ID)
		healthy = healthy[:len(healthy)-1]
		have--
	}
	if have < n {
		start = n - have
	}
	return start, stop
}

// applyWeighted routes every healthy task except those about to stop,
// weighting each release's group by the given percentages; previewRel's
// tasks, when set, are routed only for preview requests. Caller holds mu.
func (v *svc) applyWeighted(weights map[int]int, previewRel int, stopping []string) {
	skip := map[string]bool{}
	for _, id := range stopping {
		skip[id] = true
	}
	var ids []string
	for id, t := range v.tasks {
		if !t.draining && !skip[id] && t.phase == deploy.Healthy && t.handle.Addr != "" {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	v.applyRoutesWith(ids, weights, previewRel)
}

// saveProgress stores the strategy's state when it changed. Caller holds mu.
func (v *svc) saveProgress(ctx context.Context, p deploy.Progress) {
	raw, err := json.Marshal(p)
	if err != nil || bytes.Equal(raw, v.dep.Progress) {
		return
	}
	v.dep.Progress = raw
	if err := v.s.cfg.Store.UpdateDeployment(ctx, *v.dep); err != nil {
		v.log.Error("record deployment progress", "deployment", v.dep.ID, "err", err)
	}
}

// runChecks runs the smoke checks and webhook a decision asked for against
// one healthy task of the new release, then decides again. Caller holds mu.
func (v *svc) runChecks(req *deploy.CheckRequest) {
	addr := ""
	for _, t := range v.tasks {
		if !t.draining && t.phase == deploy.Healthy && t.rec.Release == v.dep.ToRelease && t.handle.Addr != "" {
			addr = t.handle.Addr
			break
		}
	}
	v.checking = true
	v.s.wg.Add(1)
	v.s.act.begin()
	go func() {
		defer v.s.wg.Done()
		defer v.s.act.end()
		ctx, cancel := context.WithTimeout(v.s.ctx, 30*time.Second)
		defer cancel()
		client := &http.Client{Timeout: 10 * time.Second}
		var res checkResults
		if len(req.Smoke) > 0 {
			if addr == "" {
				res.smoke = []deploy.CheckResult{{Name: "smoke", OK: false, Detail: "no healthy task of the new release"}}
			} else {
				res.smoke = deploy.RunSmoke(ctx, client, "http://"+addr, req.Smoke)
			}
		}
		if req.Webhook != "" {
			r := deploy.CallWebhook(ctx, client, req.Webhook, req.Payload)
			res.webhook = &r
		}
		v.mu.Lock()
		v.checking = false
		v.checks = &res
		v.mu.Unlock()
		v.kick()
	}()
}

// Promote lets a service's progressive deployment go past its current
// pause or gate.
func (s *Server) Promote(ctx context.Context, service string) error {
	return s.signal(service, false, func(v *svc) { v.promote = true })
}

// Abort rolls a service's progressive deployment back.
func (s *Server) Abort(ctx context.Context, service string) error {
	return s.signal(service, true, func(v *svc) { v.abort = true })
}

func (s *Server) signal(service string, abort bool, set func(*svc)) error {
	v, ok := s.service(service)
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownService, service)
	}
	v.mu.Lock()
	if v.dep == nil {
		v.mu.Unlock()
		return fmt.Errorf("%w: %s has no deployment in progress", ErrBadRequest, service)
	}
	if !isProgressive(v.dep.Strategy) {
		strategy := v.dep.Strategy
		if abort {
			v.rollback(context.Background(), "aborted by user")
			v.mu.Unlock()
			v.kick()
			return nil
		}
		v.mu.Unlock()
		return fmt.Errorf("%w: %s's deployment is %s; promote works on canary and bluegreen deployments", ErrBadRequest, service, strategy)
	}
	set(v)
	v.mu.Unlock()
	v.kick()
	return nil
}

// analysisEventEvery is how often a progressive deployment with live
// traffic on its new release records what the analysis sees.
const analysisEventEvery = 2 * time.Second

// emitAnalysis records the new release's signals against the analysis
// thresholds (deploy.analysis), for live views. Caller holds mu.
func (v *svc) emitAnalysis(d *store.Deployment, weight int, sig deploy.Signals, a *spec.Analysis) {
	th := deploy.ResolveAnalysis(a)
	rate := 0.0
	if sig.Requests > 0 {
		rate = float64(sig.Errors5xx) / float64(sig.Requests)
	}
	verdict := "ok"
	switch {
	case sig.Requests < th.MinRequests:
		verdict = "waiting for requests"
	case rate > th.Max5xxRate.Fraction() || th.MaxP99 > 0 && sig.P99 > time.Duration(th.MaxP99):
		verdict = "failing"
	}
	f := map[string]string{
		"release": strconv.Itoa(d.ToRelease), "weight": strconv.Itoa(weight),
		"requests": strconv.Itoa(sig.Requests), "errors_5xx": strconv.Itoa(sig.Errors5xx),
		"p99_ms": strconv.FormatInt(sig.P99.Milliseconds(), 10), "max_5xx_rate": th.Max5xxRate.String(),
		"min_requests": strconv.Itoa(th.MinRequests), "verdict": verdict,
	}
	if th.MaxP99 > 0 {
		f["max_p99_ms"] = strconv.FormatInt(time.Duration(th.MaxP99).Milliseconds(), 10)
	}
	v.s.emit(store.Event{Service: v.name, Deployment: d.ID, Kind: api.EventDeployAnalysis,
		Message: fmt.Sprintf("%s release %d at %d%%: 5xx %.1f%% of %d requests, p99 %s: %s", v.name, d.ToRelease, weight, rate*100, sig.Requests, sig.P99.Round(time.Millisecond), verdict),
		Fields:  f})
}
