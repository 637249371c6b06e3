package deploy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/berth-dev/berth/internal/spec"
)

var st0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// samples builds one sample per second ending at now, each of tasks tasks
// at value per task.
func samples(now time.Time, n, tasks int, value float64) []ScaleSample {
	out := make([]ScaleSample, n)
	for i := range out {
		out[i] = ScaleSample{At: now.Add(-time.Duration(n-1-i) * time.Second), Tasks: tasks, Value: value}
	}
	return out
}

func rpsInput(current int, ss []ScaleSample) AutoscaleInput {
	return AutoscaleInput{
		Now: st0, Service: "web", Metric: spec.MetricRPSPerTask, Target: 200,
		Min: 1, Max: 10, UpCooldown: 30 * time.Second, DownCooldown: time.Minute,
		Current: current, Healthy: current, Samples: ss, OutWindow: 3 * time.Second, MinSamples: 3,
	}
}

func TestAutoscale_Decisions(t *testing.T) {
	tests := []struct {
		name    string
		in      AutoscaleInput
		want    int
		dir     string
		message string // substring of the event message, or of Hold
	}{
		{
			name: "load over target scales out proportionally",
			in:   rpsInput(2, samples(st0, 3, 2, 412)),
			want: 5, dir: ScaleOut, message: "rps/task 412 > 200: 2 → 5",
		},
		{
			name: "the median sample of the window sizes the scale-out, not a burst",
			in: rpsInput(2, []ScaleSample{{At: st0.Add(-2 * time.Second), Tasks: 2, Value: 412},
				{At: st0.Add(-time.Second), Tasks: 2, Value: 5000}, {At: st0, Tasks: 2, Value: 450}}),
			want: 5, dir: ScaleOut, message: "rps/task 450 > 200: 2 → 5",
		},
		{
			name: "a step of load within the window is sized by its full samples",
			in: rpsInput(1, []ScaleSample{{At: st0.Add(-2 * time.Second), Tasks: 1, Value: 250},
				{At: st0.Add(-time.Second), Tasks: 1, Value: 500}, {At: st0, Tasks: 1, Value: 500}}),
			want: 3, dir: ScaleOut, message: "rps/task 500 > 200: 1 → 3",
		},
		{
			name: "a single sample over target is not enough",
			in:   rpsInput(2, samples(st0, 1, 2, 900)),
			want: 2, message: "window",
		},
		{
			name: "one sample under target in the window holds",
			in: rpsInput(2, append(samples(st0.Add(-time.Second), 2, 2, 900),
				ScaleSample{At: st0, Tasks: 2, Value: 150})),
			want: 2,
		},
		{
			name: "never above max",
			in:   rpsInput(2, samples(st0, 3, 2, 5000)),
			want: 10, dir: ScaleOut, message: "2 → 10",
		},
		{
			name: "at max nothing moves",
			in:   rpsInput(10, samples(st0, 3, 10, 5000)),
			want: 10,
		},
		{
			name: "up cooldown holds a second scale-out",
			in: func() AutoscaleInput {
				in := rpsInput(3, samples(st0, 3, 3, 400))
				in.LastOut = st0.Add(-10 * time.Second)
				return in
			}(),
			want: 3, message: "up_cooldown",
		},
		{
			name: "after the up cooldown it scales out again",
			in: func() AutoscaleInput {
				in := rpsInput(3, samples(st0, 3, 3, 400))
				in.LastOut = st0.Add(-30 * time.Second)
				return in
			}(),
			want: 6, dir: ScaleOut,
		},
		{
			name: "tasks still starting: the proposal from the serving tasks is already met",
			in:   rpsInput(5, samples(st0, 3, 2, 412)),
			want: 5,
		},
		{
			name: "during a deployment nothing is decided",
			in: func() AutoscaleInput {
				in := rpsInput(2, samples(st0, 3, 2, 900))
				in.Deploying = true
				return in
			}(),
			want: 2, message: "deployment",
		},
		{
			name: "low load for the whole down window scales in one step",
			in:   rpsInput(5, samples(st0, 61, 5, 20)),
			want: 4, dir: ScaleIn, message: "rps/task 20 < 200 for 1m0s: 5 → 4",
		},
		{
			name: "low load measured for less than the down window holds",
			in:   rpsInput(5, samples(st0, 30, 5, 20)),
			want: 5, message: "whole scale-in window",
		},
		{
			name: "one busy second in the down window holds the scale-in",
			in: func() AutoscaleInput {
				ss := samples(st0, 61, 5, 20)
				ss[40].Value = 190 // 5×190/4 = 237 ≥ 180
				return rpsInput(5, ss)
			}(),
			want: 5, message: "not under 90%",
		},
		{
			name: "a scale-in that would land near the target holds",
			in:   rpsInput(3, samples(st0, 61, 3, 125)), // 3×125/2 = 187.5 ≥ 180
			want: 3,
		},
		{
			name: "down cooldown since the last scale-in holds",
			in: func() AutoscaleInput {
				in := rpsInput(5, samples(st0, 61, 5, 20))
				in.LastIn = st0.Add(-59 * time.Second)
				return in
			}(),
			want: 5, message: "down_cooldown",
		},
		{
			name: "down cooldown after a scale-out holds a scale-in",
			in: func() AutoscaleInput {
				in := rpsInput(5, samples(st0, 61, 5, 20))
				in.LastOut = st0.Add(-30 * time.Second)
				return in
			}(),
			want: 5, message: "down_cooldown",
		},
		{
			name: "a service short of healthy tasks does not scale in",
			in: func() AutoscaleInput {
				in := rpsInput(5, samples(st0, 61, 4, 20))
				in.Healthy = 4
				return in
			}(),
			want: 5, message: "4 of 5 tasks healthy",
		},
		{
			name: "never below min",
			in: func() AutoscaleInput {
				in := rpsInput(2, samples(st0, 61, 2, 1))
				in.Min = 2
				return in
			}(),
			want: 2, message: "minimum",
		},
		{
			name: "a count below min is raised at once",
			in: func() AutoscaleInput {
				in := rpsInput(1, nil)
				in.Min = 3
				return in
			}(),
			want: 3, dir: ScaleOut, message: "below min 3: 1 → 3",
		},
		{
			name: "a count above max is lowered at once",
			in:   rpsInput(12, nil),
			want: 10, dir: ScaleIn, message: "above max 10",
		},
		{
			name: "a sample with no healthy task blocks a scale-in",
			in: func() AutoscaleInput {
				ss := samples(st0, 61, 5, 20)
				ss[10].Tasks = 0
				return rpsInput(5, ss)
			}(),
			want: 5,
		},
		{
			name: "cpu message",
			in: AutoscaleInput{Now: st0, Metric: spec.MetricCPU, Target: 60, Min: 1, Max: 8, Current: 2,
				Samples: samples(st0, 3, 2, 84), OutWindow: 3 * time.Second},
			want: 3, dir: ScaleOut, message: "cpu 84% > 60%: 2 → 3",
		},
		{
			name: "p99 message",
			in: AutoscaleInput{Now: st0, Metric: spec.MetricP99, Target: 0.3, Min: 1, Max: 8, Current: 2,
				Samples: samples(st0, 3, 2, 0.45), OutWindow: 3 * time.Second},
			want: 3, dir: ScaleOut, message: "p99 450ms > 300ms: 2 → 3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Autoscale(tt.in)
			if got.Desired != tt.want || got.Direction != tt.dir {
				t.Fatalf("Autoscale = %d %q (%s%s), want %d %q", got.Desired, got.Direction, got.Message, got.Hold, tt.want, tt.dir)
			}
			text := got.Message
			if tt.dir == "" {
				text = got.Hold
			}
			if !strings.Contains(text, tt.message) {
				t.Errorf("message %q does not contain %q", text, tt.message)
			}
		})
	}
}

// simulation runs Autoscale once per second over a load (total requests
// per second as a function of time), with new tasks serving lag seconds
// after a scale-out, as the control plane does.
type simulation struct {
	in      AutoscaleInput
	lag     int
	jitter  func(i int) float64 // multiplier per sample
	serving int
	pending []struct {
		at time.Time
		n  int
	}
	decisions []ScaleDecision
	at        []time.Time
	counts    []int
}

func (s *simulation) run(seconds int, load func(sec int) float64) {
	for sec := 0; sec < seconds; sec++ {
		now := st0.Add(time.Duration(sec) * time.Second)
		s.in.Now = now
		for len(s.pending) > 0 && !s.pending[0].at.After(now) {
			s.serving = s.pending[0].n
			s.pending = s.pending[1:]
		}
		if s.serving > 0 {
			v := load(sec) / float64(s.serving) * s.jitter(sec)
			s.in.Samples = append(s.in.Samples, ScaleSample{At: now, Tasks: s.serving, Value: v})
		}
		s.in.Healthy = s.serving
		d := Autoscale(s.in)
		if d.Direction != "" {
			s.decisions = append(s.decisions, d)
			s.at = append(s.at, now)
			if d.Direction == ScaleOut {
				s.in.LastOut = now
				s.pending = append(s.pending, struct {
					at time.Time
					n  int
				}{now.Add(time.Duration(s.lag) * time.Second), d.Desired})
			} else {
				s.in.LastIn = now
				s.serving = d.Desired // stopping is immediate
			}
			s.in.Current = d.Desired
		}
		s.counts = append(s.counts, s.in.Current)
	}
}

// TestAutoscale_Property_SteadyLoadNeverOscillates: under any steady load
// (measured with up to 4% noise), any bounds, cooldowns and start count,
// the decisions all go one way (no scale-in after a scale-out or the
// reverse), the count stays within [min, max] once brought there, and
// two scale-ins are at least down_cooldown apart.
func TestAutoscale_Property_SteadyLoadNeverOscillates(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		lo := rapid.IntRange(0, 5).Draw(rt, "min")
		hi := rapid.IntRange(max(lo, 1), 20).Draw(rt, "max")
		target := float64(rapid.IntRange(10, 500).Draw(rt, "target"))
		load := target * rapid.Float64Range(0, float64(hi)+2).Draw(rt, "load per target")
		seeds := rapid.SliceOfN(rapid.Float64Range(-0.04, 0.04), 64, 64).Draw(rt, "jitter")
		s := &simulation{
			in: AutoscaleInput{
				Service: "web", Metric: spec.MetricRPSPerTask, Target: target, Min: lo, Max: hi,
				UpCooldown:   time.Duration(rapid.IntRange(0, 60).Draw(rt, "up")) * time.Second,
				DownCooldown: time.Duration(rapid.IntRange(1, 120).Draw(rt, "down")) * time.Second,
				Current:      rapid.IntRange(max(lo, 1), hi).Draw(rt, "start"),
				OutWindow:    3 * time.Second, MinSamples: 3,
			},
			lag:    rapid.IntRange(0, 10).Draw(rt, "lag"),
			jitter: func(i int) float64 { return 1 + seeds[i%len(seeds)] },
		}
		s.serving = s.in.Current
		s.run(900, func(int) float64 { return load })
		for i := 1; i < len(s.decisions); i++ {
			if s.decisions[i].Direction != s.decisions[0].Direction {
				rt.Fatalf("steady load %.0f rps (target %.0f/task) oscillated: %s", load, target, describe(s))
			}
			if s.decisions[i].Direction == ScaleIn && s.at[i].Sub(s.at[i-1]) < s.in.DownCooldown {
				rt.Fatalf("two scale-ins %s apart, down_cooldown %s: %s", s.at[i].Sub(s.at[i-1]), s.in.DownCooldown, describe(s))
			}
		}
		for _, c := range s.counts {
			if c < lo || c > hi {
				rt.Fatalf("count %d outside [%d, %d]: %s", c, lo, hi, describe(s))
			}
		}
	})
}

func describe(s *simulation) string {
	var b strings.Builder
	for i, d := range s.decisions {
		fmt.Fprintf(&b, "\n  %s %s", s.at[i].Sub(st0), d.Message)
	}
	return b.String()
}

// TestAutoscale_LoadStep_OutFastInSlowly is the load step of the chaos
// test on a fake clock: 10 rps, then 500 rps, then 10 rps again, with a
// target of 100 rps per task.
func TestAutoscale_LoadStep_OutFastInSlowly(t *testing.T) {
	s := &simulation{
		in: AutoscaleInput{Service: "web", Metric: spec.MetricRPSPerTask, Target: 100, Min: 1, Max: 8,
			UpCooldown: 5 * time.Second, DownCooldown: 10 * time.Second, Current: 1,
			OutWindow: 3 * time.Second, MinSamples: 3},
		lag:    2,
		jitter: func(int) float64 { return 1 },
	}
	s.serving = 1
	s.run(200, func(sec int) float64 {
		if sec >= 20 && sec < 80 {
			return 500
		}
		return 10
	})
	if len(s.decisions) == 0 || s.decisions[0].Direction != ScaleOut || s.decisions[0].Desired != 5 {
		t.Fatalf("first decision %v, want out to 5: %s", s.decisions, describe(s))
	}
	if react := s.at[0].Sub(st0.Add(20 * time.Second)); react > 3*time.Second {
		t.Errorf("scale-out took %s after the step, want ≤ 3s (one out window)", react)
	}
	ins := s.decisions[1:]
	if len(ins) != 4 {
		t.Fatalf("%d decisions after the scale-out, want 4 scale-ins (5 → 1): %s", len(ins), describe(s))
	}
	for i, d := range ins {
		if d.Direction != ScaleIn || d.Desired != 4-i {
			t.Fatalf("decision %d = %s, want in to %d: %s", i+1, d.Message, 4-i, describe(s))
		}
	}
	if first := s.at[1]; first.Before(st0.Add(90 * time.Second)) {
		t.Errorf("first scale-in at %s, want a whole down window (10s) after the load dropped at 80s", first.Sub(st0))
	}
	if last := s.counts[len(s.counts)-1]; last != 1 {
		t.Errorf("count at the end %d, want 1", last)
	}
}

// A service carrying out a scaling decision is scaling; deploying and
// crash-looping win over it.
func TestServiceStateOf_Scaling(t *testing.T) {
	now := st0
	tests := []struct {
		snap ServiceSnapshot
		want string
	}{
		{ServiceSnapshot{Release: 1, Desired: 5, Healthy: 2, Scaling: true}, "scaling"},
		{ServiceSnapshot{Release: 1, Desired: 5, Healthy: 2, Scaling: true, Deploying: true}, "deploying"},
		{ServiceSnapshot{Release: 1, Desired: 5, Healthy: 5}, "healthy"},
		{ServiceSnapshot{Release: 1, Desired: 5, Healthy: 2, Scaling: true,
			Exits: []time.Time{now.Add(-3 * time.Second), now.Add(-2 * time.Second), now.Add(-time.Second)}}, "crash-looping"},
	}
	for _, tt := range tests {
		if got := ServiceStateOf(tt.snap, now); got != tt.want {
			t.Errorf("ServiceStateOf(%+v) = %s, want %s", tt.snap, got, tt.want)
		}
	}
}
