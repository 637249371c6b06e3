package deploy

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/berth-dev/berth/internal/spec"
)

// Scaling directions, as a ScaleDecision and the scale.* events name them.
const (
	ScaleOut = "out"
	ScaleIn  = "in"
)

// ScaleInMargin is how far below its target a metric must stay, over the
// whole scale-in window, as projected onto one task fewer, before a task
// is removed: the removal must not push the metric back over the target
// (which would scale out again: an oscillation).
const ScaleInMargin = 0.9

// DefaultScaleSamples is the fewest samples a scaling decision needs when
// AutoscaleInput.MinSamples is not set: never one sample alone.
const DefaultScaleSamples = 3

// ScaleSample is one observation of an autoscaled service's live release.
type ScaleSample struct {
	At time.Time
	// Tasks is how many healthy tasks of the release served while it was
	// taken; a sample with no task measured nothing and blocks decisions.
	Tasks int
	// Value is the tracked metric, per task, in its unit: requests per
	// second (rps_per_task), percent (cpu, memory) or seconds (p99).
	Value float64
}

// AutoscaleInput is what one autoscaling decision is made on.
type AutoscaleInput struct {
	Now     time.Time
	Service string
	// Metric is spec.MetricCPU, MetricMemory, MetricRPSPerTask or
	// MetricP99; Target is its target in ScaleSample.Value's unit.
	Metric string
	Target float64
	// Min and Max bound the count; a count outside them is brought back
	// at once.
	Min, Max int
	// UpCooldown is the least time between two scale-outs; DownCooldown
	// the least time between two scale-ins, and after a scale-out before a
	// scale-in. DownCooldown is also the scale-in window: the metric must
	// have been low for all of it.
	UpCooldown, DownCooldown time.Duration
	// Current is the desired count now; Healthy how many tasks of the
	// release pass their health checks now. A service short of healthy
	// tasks (being healed, or still carrying out a scale-out) never
	// scales in.
	Current, Healthy int
	// Deploying is true while a deployment of the service is in progress:
	// nothing is decided.
	Deploying bool
	// Samples are the release's samples since it went live (or since the
	// last deployment ended), oldest first.
	Samples []ScaleSample
	// LastOut and LastIn are when the service last scaled out and in
	// (zero: never).
	LastOut, LastIn time.Time
	// OutWindow is how far back the scale-out evidence reaches: every
	// sample in it must be over the target. MinSamples is the fewest
	// samples any decision needs (DefaultScaleSamples when < 2).
	OutWindow  time.Duration
	MinSamples int
}

// ScaleDecision is the outcome of Autoscale: a new desired count with the
// direction and a message carrying its inputs, or why nothing changes.
type ScaleDecision struct {
	// Desired is the count to run; equal to Current when nothing changes.
	Desired int
	// Direction is ScaleOut, ScaleIn or "" (hold).
	Direction string
	// Message is the decision with its inputs, for the scale.* event:
	// "rps/task 412 > 200: 2 → 5".
	Message string
	// Hold says why nothing changes ("" when Direction is set).
	Hold string
}

// Autoscale decides a service's next count. It scales out fast: as soon
// as every sample of OutWindow (at least MinSamples) is over the target,
// to the count that brings the metric back to it, proportionally like
// target tracking (ceil(tasks × value / target) of the window's median
// sample), at most once per UpCooldown. It scales in slowly:
// one task at a time, once per DownCooldown and not within DownCooldown of
// a scale-out, not while fewer than Current tasks are healthy, and only
// when every sample of the last DownCooldown, projected onto one task
// fewer, stays under ScaleInMargin of the target.
// It never leaves [Min, Max], never decides during a deployment, and
// never on fewer than MinSamples samples. It is pure.
func Autoscale(in AutoscaleInput) ScaleDecision {
	hold := func(why string) ScaleDecision { return ScaleDecision{Desired: in.Current, Hold: why} }
	move := func(to int, why string) ScaleDecision {
		dir := ScaleOut
		if to < in.Current {
			dir = ScaleIn
		}
		return ScaleDecision{Desired: to, Direction: dir, Message: fmt.Sprintf("%s: %d → %d", why, in.Current, to)}
	}
	if in.Deploying {
		return hold("a deployment is in progress")
	}
	if in.Max < in.Min || in.Max <= 0 || in.Target <= 0 {
		return hold(fmt.Sprintf("no valid scale (min %d, max %d, target %g)", in.Min, in.Max, in.Target))
	}
	if in.Current > in.Max {
		return move(in.Max, fmt.Sprintf("count %d is above max %d", in.Current, in.Max))
	}
	if in.Current < in.Min {
		return move(in.Min, fmt.Sprintf("count %d is below min %d", in.Current, in.Min))
	}
	if in.Current == 0 {
		return hold("no task runs to measure")
	}
	need := in.MinSamples
	if need < 2 {
		need = DefaultScaleSamples
	}

	// Scale out: every sample of the out window is over the target.
	out := window(in.Samples, in.Now, in.OutWindow)
	if in.OutWindow <= 0 {
		out = in.Samples[max(len(in.Samples)-need, 0):]
	}
	if len(out) >= need && allMeasured(out) && allOver(out, in.Target) {
		// The median sample's proposal: a burst in one sample neither
		// triggers nor sizes a scale-out, and a step of load that began
		// within the window is sized by its full samples.
		byLoad := slices.Clone(out)
		slices.SortFunc(byLoad, func(a, b ScaleSample) int {
			return cmp.Compare(float64(a.Tasks)*a.Value, float64(b.Tasks)*b.Value)
		})
		med := byLoad[(len(byLoad)-1)/2]
		proposal := min(ceilCount(float64(med.Tasks)*med.Value/in.Target), in.Max)
		if proposal > in.Current {
			if !in.LastOut.IsZero() && in.Now.Sub(in.LastOut) < in.UpCooldown {
				return hold(fmt.Sprintf("%s over target, but the last scale-out was %s ago (up_cooldown %s)",
					describeMetric(in.Metric, med.Value), in.Now.Sub(in.LastOut).Round(time.Second), in.UpCooldown))
			}
			return move(proposal, fmt.Sprintf("%s > %s", describeMetric(in.Metric, med.Value), describeValue(in.Metric, in.Target)))
		}
	}

	// Scale in: one task fewer, when the whole down window stays low.
	if in.Current <= max(in.Min, 1) {
		return hold("at the minimum")
	}
	if in.Healthy < in.Current {
		return hold(fmt.Sprintf("%d of %d tasks healthy: no scale-in while tasks are missing", in.Healthy, in.Current))
	}
	for _, last := range []time.Time{in.LastIn, in.LastOut} {
		if !last.IsZero() && in.Now.Sub(last) < in.DownCooldown {
			return hold(fmt.Sprintf("last scaled %s ago (down_cooldown %s)", in.Now.Sub(last).Round(time.Second), in.DownCooldown))
		}
	}
	span := max(in.DownCooldown, in.OutWindow)
	if len(in.Samples) == 0 || in.Samples[0].At.After(in.Now.Add(-span)) {
		return hold(fmt.Sprintf("not measured for the whole scale-in window (%s) yet", span))
	}
	win := window(in.Samples, in.Now, span)
	if len(win) < need || !allMeasured(win) {
		return hold(fmt.Sprintf("%d samples in the scale-in window, %d needed", len(win), need))
	}
	fewer := float64(in.Current - 1)
	high := 0.0
	for _, s := range win {
		high = max(high, s.Value)
		if float64(s.Tasks)*s.Value/fewer >= ScaleInMargin*in.Target {
			return hold(fmt.Sprintf("%s would be %s on %d tasks, not under %d%% of the target",
				describeMetric(in.Metric, s.Value), describeValue(in.Metric, float64(s.Tasks)*s.Value/fewer), in.Current-1, int(ScaleInMargin*100)))
		}
	}
	return move(in.Current-1, fmt.Sprintf("%s < %s for %s", describeMetric(in.Metric, high), describeValue(in.Metric, in.Target), span))
}

// window returns the samples taken within d before now.
func window(ss []ScaleSample, now time.Time, d time.Duration) []ScaleSample {
	from := now.Add(-d)
	i := len(ss)
	for i > 0 && !ss[i-1].At.Before(from) {
		i--
	}
	return ss[i:]
}

func allOver(ss []ScaleSample, target float64) bool {
	for _, s := range ss {
		if s.Value <= target {
			return false
		}
	}
	return true
}

func allMeasured(ss []ScaleSample) bool {
	for _, s := range ss {
		if s.Tasks <= 0 || math.IsNaN(s.Value) || math.IsInf(s.Value, 0) || s.Value < 0 {
			return false
		}
	}
	return true
}

// ceilCount rounds a task count up, forgiving float noise (3.0000000001
// is 3).
func ceilCount(x float64) int {
	if x > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(math.Ceil(x - 1e-9))
}

// describeMetric renders a value of metric for a decision's message:
// "rps/task 412", "cpu 84%", "memory 71%", "p99 450ms".
func describeMetric(metric string, v float64) string {
	name := metric
	if metric == spec.MetricRPSPerTask {
		name = "rps/task"
	}
	return name + " " + describeValue(metric, v)
}

// describeValue renders a value in its metric's unit: "412", "84%",
// "450ms".
func describeValue(metric string, v float64) string {
	switch metric {
	case spec.MetricCPU, spec.MetricMemory:
		return trimFloat(v) + "%"
	case spec.MetricP99:
		return time.Duration(v * float64(time.Second)).Round(time.Millisecond).String()
	}
	return trimFloat(v)
}

// trimFloat prints whole numbers and numbers from 100 up without
// decimals, others with one.
func trimFloat(v float64) string {
	if v >= 100 || v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// ScaleTargetOf returns the metric a scale tracks and its target in
// ScaleSample.Value's unit ("" when it tracks none).
func ScaleTargetOf(sc *spec.Scale) (metric string, target float64) {
	if sc == nil || sc.Target == nil {
		return "", 0
	}
	t := sc.Target
	switch m := t.Metric(); m {
	case spec.MetricCPU:
		return m, float64(t.CPU)
	case spec.MetricMemory:
		return m, float64(t.Memory)
	case spec.MetricRPSPerTask:
		return m, float64(t.RPSPerTask)
	case spec.MetricP99:
		return m, time.Duration(t.P99).Seconds()
	}
	return "", 0
}
