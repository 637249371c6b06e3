package cli

import (
	"bytes"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
)

// During a canary, status shows both releases with their shares, the
// pause left and the next step, the engine and the restarts; a
// crash-looping service says so with its last exit (issue 11.6, 11.15).
func TestStatus_RendersCanaryAndCrashLoop(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	st := api.Status{Project: "shop", Router: "http://127.0.0.1:8080", Engine: "process", Services: []api.Service{
		{Name: "catalog", Release: 5, Commit: "abc1234", Desired: 2, Healthy: 3, Route: "/catalog", State: api.ServiceDeploying,
			Releases: []api.ReleaseShare{{Release: 4, Tasks: 2, Healthy: 2, Weight: 90}, {Release: 5, Tasks: 1, Healthy: 1, Weight: 10}},
			Deployment: &api.Deployment{Strategy: "canary", FromRelease: 4, ToRelease: 5, State: api.DeployRunning, Phase: "pause", Weight: 10,
				PauseUntil: now.Add(80 * time.Second), NextStep: "50%"}},
		{Name: "orders", Release: 2, Commit: "def5678", Desired: 2, Healthy: 2, Route: "/orders", State: api.ServiceCrashLooping, Restarts: 7,
			Releases: []api.ReleaseShare{{Release: 2, Tasks: 2, Healthy: 2, Weight: 100}},
			LastExit: &api.Exit{Code: 1, Reason: "exit code 1", At: now.Add(-12 * time.Second)}},
	}}
	var out bytes.Buffer
	c := &statusCommand{g: &globals{stdout: &out}, now: func() time.Time { return now }}
	if err := c.print(st, false); err != nil {
		t.Fatal(err)
	}
	want := `project shop, router http://127.0.0.1:8080, engine process
SERVICE  STATE          RELEASE            COMMIT   TASKS                       RESTARTS  ROUTE     DEPLOYMENT
catalog  deploying      4 (90%) → 5 (10%)  abc1234  2/2 on 4, 1/1 on 5 healthy  0         /catalog  canary 4→5 pause (1m20s left), 10% on 5 / 90% on 4, next 50%
orders   crash-looping  2                  def5678  2/2 healthy                 7         /orders   -
orders: crash-looping, 7 restarts in the last 10m; last exit 12s ago: exit code 1 — see ` + "`berth logs orders`" + `
`
	if got := out.String(); got != want {
		t.Errorf("status printed:\n%s\nwant:\n%s", got, want)
	}
}
