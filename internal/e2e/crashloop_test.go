package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
)

const crashingSpec = `project: e2e
listen: %[2]s
engine: process
services:
  catalog:
    run: %[1]s
    route: {path: /catalog}
    count: 1
    health: {path: /health, interval: 100ms, deadline: 10s}
    env:
      SHOP_HOST: 127.0.0.1
      E2E_MARKER: %[3]s
      CHAOS_EXIT_AFTER: 2s
`

// TestStatusShowsCrashLoop: a service whose tasks exit a while after a
// successful deploy (CHAOS_EXIT_AFTER) is crash-looping in status, with its
// restarts and last exit, on the terminal and in -o json (issue 11.6).
func TestStatusShowsCrashLoop(t *testing.T) {
	p := deployed(t, crashingSpec)
	p.waitFor("3 restarts", 60*time.Second, func() bool { return p.service("catalog").Restarts >= 3 })

	var st api.Status
	if err := json.Unmarshal([]byte(p.mustBerth("status", "-o", "json")), &st); err != nil {
		t.Fatalf("status -o json: %v", err)
	}
	s := st.Services[0]
	if s.State != api.ServiceCrashLooping || s.Restarts < 3 || s.LastExit == nil || s.LastExit.Code != 3 || s.LastExit.At.IsZero() {
		t.Fatalf("status -o json of a crash-looping service: state %q, restarts %d, last exit %+v", s.State, s.Restarts, s.LastExit)
	}
	out := p.mustBerth("status")
	if !strings.Contains(out, "crash-looping") || !strings.Contains(out, "last exit") || !strings.Contains(out, "exit code 3") {
		t.Fatalf("status of a crash-looping service:\n%s", out)
	}
}
