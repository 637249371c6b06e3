package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
)

// An autoscaled service shows its bounds, desired and running tasks and
// its last decision with the decision's inputs; history lists decisions.
func TestStatus_RendersAutoscaling(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	st := api.Status{Project: "shop", Router: "http://127.0.0.1:8080", Services: []api.Service{
		{Name: "web", Release: 3, Desired: 5, Healthy: 2, State: api.ServiceScaling,
			Autoscale: &api.Autoscale{Min: 1, Max: 6, Metric: "rps_per_task", Target: "100", Desired: 5, Running: 5,
				Last:    &api.ScaleDecision{At: now.Add(-4 * time.Second), Direction: "out", From: 1, To: 5, Message: "rps/task 450 > 100: 1 → 5"},
				Holding: "last scaled 4s ago (down_cooldown 10s)"}},
	}}
	var out bytes.Buffer
	c := &statusCommand{g: &globals{stdout: &out}, now: func() time.Time { return now }}
	if err := c.print(st, true); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"web      scaling",
		"2/5 healthy",
		"web: autoscales 1..6 on rps_per_task 100, 5 desired, 5 running; last scaled out 4s ago: rps/task 450 > 100: 1 → 5",
		"web: holding at 5: last scaled 4s ago (down_cooldown 10s)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status does not show %q:\n%s", want, got)
		}
	}

	out.Reset()
	if err := printDecisions(&out, []api.Event{{Kind: api.EventScaleIn, Time: now, Message: "web scaled in: rps/task 2 < 100 for 10s: 5 → 4"}}); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "DECISION") || !strings.Contains(got, "scale.in") || !strings.Contains(got, "5 → 4") {
		t.Errorf("decisions printed:\n%s", got)
	}
}
