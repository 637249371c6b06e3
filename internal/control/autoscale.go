package control

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/deploy"
	"github.com/berth-dev/berth/internal/notify"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// autoscaleEvery is how often the control plane samples every autoscaled
// service and decides its count (deploy.Autoscale).
const autoscaleEvery = time.Second

// rateWindow is how many whole seconds of the router's counts make one
// requests-per-second sample; the second in progress is left out. One
// second: a step of load shows in the next sample, and the decision still
// waits for a window of them (deploy.Autoscale).
const rateWindow = 1

// p99Window is how far back a p99 sample reaches.
const p99Window = 5 * time.Second

// autoState is one service's autoscaling memory: the samples of its live
// release and its last decisions. Guarded by the service's mu.
type autoState struct {
	release         int
	samples         []deploy.ScaleSample
	lastOut, lastIn time.Time
	last            *api.ScaleDecision
	// pending: the last decision's tasks are not all started or stopped.
	pending bool
	holding string
	outs    uint64
	ins     uint64
}

// scaleBounds are the bounds autoscaling keeps a service's count in.
type scaleBounds struct {
	min, max int
}

// boundsOf returns the bounds of sc for a service whose minimum berth
// scale may have set (floor; nil: the spec's): a floor above max raises
// max, as the ECS engine does with the scalable target.
func boundsOf(sc *spec.Scale, floor *int) scaleBounds {
	b := scaleBounds{min: sc.MinCount(), max: sc.Max}
	if floor != nil {
		b.min = *floor
	}
	b.max = max(b.max, b.min)
	return b
}

// clamp keeps n within the bounds.
func (b scaleBounds) clamp(n int) int { return min(max(n, b.min), b.max) }

// liveScale returns the live release's scale: (nil when not autoscaled).
// Caller holds mu.
func (v *svc) liveScale(ctx context.Context) (*spec.Scale, *spec.Service) {
	if v.state.Release == 0 {
		return nil, nil
	}
	ri, err := v.release(ctx, v.state.Release)
	if err != nil || ri.cfg.Service == nil {
		return nil, nil
	}
	return ri.cfg.Service.Scale, ri.cfg.Service
}

// autoscaledCount is the count a deploy of cfg starts with, given the
// count it would otherwise use: an autoscaled service keeps the count it
// runs (or starts from its spec count) within its bounds, so a deploy
// never undoes what autoscaling decided. It also says whether the
// minimum berth scale set still applies (it does not once the new
// release's scale: bounds differ from the live one's). Caller holds mu.
func (v *svc) autoscaledCount(ctx context.Context, cfg *spec.Service, count int) (int, *int) {
	if cfg == nil || cfg.Scale == nil {
		return count, nil
	}
	floor := v.state.ScaleMin
	if old, _ := v.liveScale(ctx); old == nil || old.MinCount() != cfg.Scale.MinCount() || old.Max != cfg.Scale.Max {
		floor = nil
	}
	b := boundsOf(cfg.Scale, floor)
	if v.state.Release != 0 && v.state.Count > 0 {
		count = v.state.Count
	}
	return b.clamp(count), floor
}

// setCount records and applies a new desired count. Caller holds mu.
func (v *svc) setCount(ctx context.Context, n int, now time.Time) (old int, err error) {
	old = v.state.Count
	v.state.Count = n
	v.state.UpdatedAt = now
	if err := v.s.cfg.Store.PutService(ctx, v.state); err != nil {
		v.state.Count = old
		return old, fmt.Errorf("record count of %s: %w", v.name, err)
	}
	v.kick()
	return old, nil
}

// autoscaleTick samples and decides every autoscaled service now, then
// again every autoscaleEvery until the server stops.
func (s *Server) autoscaleTick() {
	if s.ctx.Err() != nil {
		return
	}
	s.act.begin()
	go func() {
		defer s.act.end()
		for _, v := range s.allServices() {
			v.autoscale(s.ctx)
		}
		if s.ctx.Err() == nil {
			s.cfg.Clock.AfterFunc(autoscaleEvery, s.autoscaleTick)
		}
	}()
}

// autoscale takes one sample of the service's live release and applies
// deploy.Autoscale's decision.
func (v *svc) autoscale(ctx context.Context) {
	v.mu.Lock()
	sc, cfg := v.liveScale(ctx)
	if v.closed || sc == nil {
		v.auto = nil
		v.mu.Unlock()
		return
	}
	if v.auto == nil {
		v.auto = &autoState{}
	}
	a := v.auto
	rel := v.state.Release
	if v.dep != nil || a.release != rel {
		// Nothing is decided during a deployment; after it, the new
		// release is measured from scratch.
		a.release, a.samples = rel, nil
	}
	metric, target := deploy.ScaleTargetOf(sc)
	if metric == spec.MetricMemory && cfg.Memory <= 0 {
		a.holding = "a memory target is a share of the service's memory: (MiB), which is not set"
		v.mu.Unlock()
		return
	}
	healthy, value, measured := v.usageSample(metric, cfg)
	v.mu.Unlock()

	// The router is asked outside the lock.
	if metric == spec.MetricRPSPerTask || metric == spec.MetricP99 {
		measured = false
		if sg, ok := v.s.cfg.Router.(signaler); ok && healthy > 0 {
			all := sg.ReleaseSignals(v.name, rel, (rateWindow+1)*time.Second)
			current := sg.ReleaseSignals(v.name, rel, time.Second)
			value, measured = float64(all.Requests-current.Requests)/rateWindow/float64(healthy), true
			if metric == spec.MetricP99 {
				value = sg.ReleaseSignals(v.name, rel, p99Window).P99.Seconds()
			}
		}
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed || v.auto != a || v.state.Release != rel {
		return
	}
	now := v.s.cfg.Clock.Now()
	b := boundsOf(sc, v.state.ScaleMin)
	outWindow := 3 * autoscaleEvery
	if metric == spec.MetricCPU || metric == spec.MetricMemory {
		outWindow = 3 * usageEvery
	}
	if v.dep == nil {
		s := deploy.ScaleSample{At: now, Tasks: healthy, Value: value}
		if !measured {
			s.Tasks = 0
		}
		a.samples = append(a.samples, s)
		keep := now.Add(-2 * max(time.Duration(sc.DownCooldown), outWindow))
		i := 0
		for i < len(a.samples)-1 && a.samples[i].At.Before(keep) {
			i++
		}
		a.samples = a.samples[i:]
	}
	if a.pending && v.converged() {
		a.pending = false
	}
	d := deploy.Autoscale(deploy.AutoscaleInput{
		Now: now, Service: v.name, Metric: metric, Target: target, Min: b.min, Max: b.max,
		UpCooldown: time.Duration(sc.UpCooldown), DownCooldown: time.Duration(sc.DownCooldown),
		Current: v.state.Count, Healthy: healthy, Deploying: v.dep != nil, Samples: a.samples,
		LastOut: a.lastOut, LastIn: a.lastIn, OutWindow: outWindow, MinSamples: deploy.DefaultScaleSamples,
	})
	a.holding = d.Hold
	if d.Direction == "" {
		return
	}
	old, err := v.setCount(ctx, d.Desired, now)
	if err != nil {
		v.log.Error("autoscale", "err", err)
		return
	}
	kind := api.EventScaleOut
	if d.Direction == deploy.ScaleOut {
		a.lastOut = now
		a.outs++
	} else {
		kind = api.EventScaleIn
		a.lastIn = now
		a.ins++
	}
	a.pending = true
	a.last = &api.ScaleDecision{At: now, Direction: d.Direction, From: old, To: d.Desired, Message: d.Message}
	v.log.Info("autoscaled", "direction", d.Direction, "from", old, "to", d.Desired, "why", d.Message)
	msg := fmt.Sprintf("%s scaled %s: %s", v.name, d.Direction, d.Message)
	v.s.emit(store.Event{Service: v.name, Kind: kind, Message: msg,
		Fields: map[string]string{"direction": d.Direction, "from": strconv.Itoa(old), "to": strconv.Itoa(d.Desired),
			"metric": metric, "release": strconv.Itoa(rel)}})
	// The release's webhooks hear of it too (those whose events: list it).
	if ri, err := v.release(ctx, rel); err == nil {
		if n := v.notifierFor(ri); n != nil {
			n.Send(ctx, notify.Event{Kind: kind, Service: v.name, Release: rel, Message: msg, Time: now})
		}
	}
}

// usageSample counts the healthy tasks of the live release and, for the
// cpu and memory metrics, averages their last usage samples (tasks not
// sampled yet are left out). Caller holds mu.
func (v *svc) usageSample(metric string, cfg *spec.Service) (healthy int, value float64, measured bool) {
	sampled := 0
	sum := 0.0
	for _, t := range v.tasks {
		if t.draining || t.rec.Release != v.state.Release || t.phase != deploy.Healthy {
			continue
		}
		healthy++
		if !t.usage.Running {
			continue
		}
		switch metric {
		case spec.MetricCPU:
			sum += t.usage.CPUPercent
			sampled++
		case spec.MetricMemory:
			if cfg.Memory > 0 {
				sum += float64(t.usage.MemoryBytes) / float64(uint64(cfg.Memory)<<20) * 100
				sampled++
			}
		}
	}
	if sampled == 0 || sampled < healthy {
		return healthy, 0, false
	}
	return healthy, sum / float64(sampled), true
}

// running counts the tasks of the live release that are starting or
// healthy. Caller holds mu.
func (v *svc) running() int {
	n := 0
	for _, t := range v.tasks {
		if !t.draining && t.rec.Release == v.state.Release && t.phase != deploy.Unhealthy {
			n++
		}
	}
	return n
}

// converged reports whether the live release runs exactly the desired
// count, all healthy, with nothing left draining. Caller holds mu.
func (v *svc) converged() bool {
	healthy := 0
	for _, t := range v.tasks {
		if t.draining || t.rec.Release != v.state.Release {
			return false
		}
		if t.phase == deploy.Healthy {
			healthy++
		}
	}
	return healthy == v.state.Count && len(v.tasks) == v.state.Count
}

// scaling reports whether the last autoscaling decision is still being
// carried out. Caller holds mu.
func (v *svc) scaling() bool {
	return v.auto != nil && v.auto.pending && !v.converged()
}

// autoscaleStatus is the service's autoscaling for status (nil when the
// live release has no scale:). Caller holds mu.
func (v *svc) autoscaleStatus(ctx context.Context) *api.Autoscale {
	sc, _ := v.liveScale(ctx)
	if sc == nil {
		return nil
	}
	b := boundsOf(sc, v.state.ScaleMin)
	out := &api.Autoscale{Min: b.min, Max: b.max, Metric: sc.Target.Metric(), Target: scaleTargetString(sc), Desired: v.state.Count, Running: v.running()}
	if a := v.auto; a != nil {
		if a.last != nil {
			last := *a.last
			out.Last = &last
		}
		out.Holding = a.holding
	}
	return out
}

// scaleTargetString is a scale target as written in berth.yaml.
func scaleTargetString(sc *spec.Scale) string {
	t := sc.Target
	switch t.Metric() {
	case spec.MetricCPU:
		return strconv.FormatFloat(float64(t.CPU), 'f', -1, 64) + "%"
	case spec.MetricMemory:
		return strconv.FormatFloat(float64(t.Memory), 'f', -1, 64) + "%"
	case spec.MetricRPSPerTask:
		return strconv.Itoa(t.RPSPerTask)
	case spec.MetricP99:
		return time.Duration(t.P99).String()
	}
	return ""
}

// decisionsDesc is berth_autoscale_decisions_total.
var decisionsDesc = prometheus.NewDesc("berth_autoscale_decisions_total",
	"Autoscaling decisions that changed a service's count, by service and direction (out, in).",
	[]string{"service", "direction"}, nil)

// AutoscaleCollector exports the control plane's autoscaling decisions to
// Prometheus (berth_autoscale_decisions_total{service,direction}).
func (s *Server) AutoscaleCollector() prometheus.Collector { return autoscaleCollector{s} }

type autoscaleCollector struct{ s *Server }

func (c autoscaleCollector) Describe(ch chan<- *prometheus.Desc) { ch <- decisionsDesc }

func (c autoscaleCollector) Collect(ch chan<- prometheus.Metric) {
	for _, v := range c.s.allServices() {
		v.mu.Lock()
		a := v.auto
		var outs, ins uint64
		if a != nil {
			outs, ins = a.outs, a.ins
		}
		v.mu.Unlock()
		if a == nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(decisionsDesc, prometheus.CounterValue, float64(outs), v.name, deploy.ScaleOut)
		ch <- prometheus.MustNewConstMetric(decisionsDesc, prometheus.CounterValue, float64(ins), v.name, deploy.ScaleIn)
	}
}

// decisionsShown is how many decisions history lists.
const decisionsShown = 100

// decisions lists the service's decision events (api.DecisionKindPrefixes:
// scaling, healing), newest first.
func (s *Server) decisions(ctx context.Context, name string) ([]api.Event, error) {
	evs, err := s.cfg.Store.Events(ctx, store.EventQuery{Service: name, KindPrefixes: api.DecisionKindPrefixes})
	if err != nil {
		return nil, fmt.Errorf("list decisions of %s: %w", name, err)
	}
	out := make([]api.Event, 0, min(len(evs), decisionsShown))
	for i := len(evs) - 1; i >= 0 && len(out) < decisionsShown; i-- {
		out = append(out, apiEvent(evs[i]))
	}
	return out, nil
}

// apiEvent is a stored event as the API shows it.
func apiEvent(e store.Event) api.Event {
	return api.Event{ID: eventID(e.ID), Time: e.Time, Service: e.Service, Deployment: deploymentID(e.Deployment),
		Kind: e.Kind, Message: e.Message, Fields: e.Fields}
}
