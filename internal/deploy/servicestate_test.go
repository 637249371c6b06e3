package deploy

import (
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/spec"
)

func TestServiceStateOf(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ago := func(ds ...time.Duration) []time.Time {
		var out []time.Time
		for _, d := range ds {
			out = append(out, now.Add(-d))
		}
		return out
	}
	s := time.Second
	tests := []struct {
		name string
		snap ServiceSnapshot
		want string
	}{
		{"nothing deployed", ServiceSnapshot{Desired: 2}, api.ServiceStopped},
		{"scaled to zero", ServiceSnapshot{Release: 1}, api.ServiceStopped},
		{"all healthy", ServiceSnapshot{Release: 1, Desired: 2, Healthy: 2}, api.ServiceHealthy},
		{"surge above desired", ServiceSnapshot{Release: 1, Desired: 2, Healthy: 3}, api.ServiceHealthy},
		{"one short", ServiceSnapshot{Release: 1, Desired: 2, Healthy: 1}, api.ServiceDegraded},
		{"deploying", ServiceSnapshot{Release: 2, Desired: 2, Healthy: 2, Deploying: true}, api.ServiceDeploying},
		{"exits every 8s, all healthy between them", ServiceSnapshot{Release: 1, Desired: 2, Healthy: 2, Exits: ago(8*s, 16*s, 24*s)}, api.ServiceCrashLooping},
		{"loop while deploying", ServiceSnapshot{Release: 1, Desired: 2, Healthy: 1, Deploying: true, Exits: ago(1*s, 2*s, 3*s)}, api.ServiceCrashLooping},
		{"loop waiting out the longest backoff", ServiceSnapshot{Release: 1, Desired: 2, Exits: ago(80*s, 110*s, 140*s)}, api.ServiceCrashLooping},
		{"two exits are not a loop", ServiceSnapshot{Release: 1, Desired: 2, Healthy: 2, Exits: ago(8*s, 16*s)}, api.ServiceHealthy},
		{"loop ended minutes ago", ServiceSnapshot{Release: 1, Desired: 2, Healthy: 2, Exits: ago(5*time.Minute, 5*time.Minute+8*s, 5*time.Minute+16*s)}, api.ServiceHealthy},
		{"exits older than the window", ServiceSnapshot{Release: 1, Desired: 2, Healthy: 2, Exits: ago(11*time.Minute, 12*time.Minute, 13*time.Minute)}, api.ServiceHealthy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ServiceStateOf(tt.snap, now); got != tt.want {
				t.Errorf("ServiceStateOf(%+v) = %q, want %q", tt.snap, got, tt.want)
			}
		})
	}
}

func TestRecentExits(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	exits := []time.Time{now.Add(-time.Second), now.Add(-RestartWindow), now.Add(-RestartWindow - time.Second), now.Add(time.Second)}
	if got := RecentExits(exits, now); got != 2 {
		t.Errorf("RecentExits = %d, want 2 (within the window, none from the future)", got)
	}
}

func TestCanaryOutlook(t *testing.T) {
	since := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	steps := spec.Deploy{Strategy: StrategyCanary, Steps: []spec.Step{{Percent: 10}, {Gate: true}, {Percent: 50}}, Pause: spec.Duration(2 * time.Minute)}
	tests := []struct {
		name      string
		d         spec.Deploy
		p         Progress
		wantUntil time.Time
		wantNext  string
	}{
		{"pausing at the first step", steps, Progress{Strategy: StrategyCanary, Phase: PhasePause, Step: 0, Weight: 10, PhaseSince: since}, since.Add(2 * time.Minute), "pause"},
		{"at the gate", steps, Progress{Strategy: StrategyCanary, Phase: PhaseGate, Step: 1, Weight: 10, PhaseSince: since}, time.Time{}, "50%"},
		{"at the implied last step", steps, Progress{Strategy: StrategyCanary, Phase: PhasePause, Step: 3, Weight: 100, PhaseSince: since}, since.Add(2 * time.Minute), ""},
		{"default steps", spec.Deploy{Strategy: StrategyCanary, Pause: spec.Duration(30 * time.Second)}, Progress{Strategy: StrategyCanary, Phase: PhasePause, Step: 0, Weight: 10, PhaseSince: since}, since.Add(30 * time.Second), "50%"},
		{"blue/green has no outlook", spec.Deploy{Strategy: StrategyBlueGreen}, Progress{Strategy: StrategyBlueGreen, Phase: PhaseBake}, time.Time{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			until, next := CanaryOutlook(tt.d, tt.p)
			if !until.Equal(tt.wantUntil) || next != tt.wantNext {
				t.Errorf("CanaryOutlook = %s, %q; want %s, %q", until, next, tt.wantUntil, tt.wantNext)
			}
		})
	}
}

func TestHeldState(t *testing.T) {
	for _, tt := range []struct {
		state string
		held  bool
		want  string
	}{
		{api.ServiceCrashLooping, true, api.ServiceDegraded},
		{api.ServiceHealthy, true, api.ServiceDegraded},
		{api.ServiceDegraded, true, api.ServiceDegraded},
		{api.ServiceDeploying, true, api.ServiceDeploying},
		{api.ServiceStopped, true, api.ServiceStopped},
		{api.ServiceCrashLooping, false, api.ServiceCrashLooping},
	} {
		if got := HeldState(tt.state, tt.held); got != tt.want {
			t.Errorf("HeldState(%q, %v) = %q, want %q", tt.state, tt.held, got, tt.want)
		}
	}
}
