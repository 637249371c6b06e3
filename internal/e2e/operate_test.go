package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
)

// TestScaleLogsStatusDown: the day-to-day commands against a real control
// plane — scale up and down, logs of every task, status as JSON, and down,
// which stops every task and the daemon.
func TestScaleLogsStatusDown(t *testing.T) {
	p := deployed(t, goodSpec)

	if out := p.mustBerth("scale", "catalog=3"); !strings.Contains(out, "later deploys keep this count") {
		t.Fatalf("scale does not say whether the next deploy keeps the count:\n%s", out)
	}
	p.waitFor("3 healthy tasks", 30*time.Second, func() bool {
		return p.service("catalog").Healthy == 3 && len(p.taskPIDs()) == 3
	})
	p.mustBerth("scale", "catalog=1")
	p.waitFor("1 task left", 30*time.Second, func() bool { return len(p.taskPIDs()) == 1 })
	if out, code := p.berth("scale", "catalog=-1"); code != 2 || !strings.Contains(out, "SERVICE=N") {
		t.Fatalf("scale to a negative count: exit %d\n%s", code, out)
	}
	if out, code := p.berth("scale", "nope=2"); code == 0 || !strings.Contains(out, "nope") {
		t.Fatalf("scale of an unknown service: exit %d\n%s", code, out)
	}

	var st api.Status
	if err := json.Unmarshal([]byte(p.mustBerth("status", "-o", "json")), &st); err != nil {
		t.Fatalf("status -o json: %v", err)
	}
	if len(st.Services) != 1 || st.Services[0].Desired != 1 || len(st.Services[0].Tasks) != 1 {
		t.Fatalf("status after scaling to 1: %+v", st)
	}
	if s := st.Services[0]; s.State != api.ServiceHealthy || s.Restarts != 0 || s.LastExit != nil || st.Engine == "" {
		t.Fatalf("status of a quiet service: engine %q, state %q, restarts %d, last exit %+v", st.Engine, s.State, s.Restarts, s.LastExit)
	}
	task := st.Services[0].Tasks[0].ID

	logs := p.mustBerth("logs", "catalog", "--tail", "1")
	if lines := strings.Split(strings.TrimSpace(logs), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], task+" | ") {
		t.Fatalf("logs --tail 1 of one task:\n%s", logs)
	}

	out := p.mustBerth("down")
	if !strings.Contains(out, "stopped") {
		t.Fatalf("down: %s", out)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("berth serve still runs after berth down")
	}
	p.serve = nil
	if pids := p.taskPIDs(); len(pids) != 0 {
		t.Fatalf("task processes left after down: %v", pids)
	}
	if out, code := p.berth("status"); code != 3 || !strings.Contains(out, "berth serve") {
		t.Fatalf("status with no control plane: exit %d, want 3 and the next step:\n%s", code, out)
	}
}
