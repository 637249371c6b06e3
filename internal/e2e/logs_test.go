package e2e

import (
	"context"
	"strings"
	"testing"
	"time"
)

// twoServices is goodSpec with a second service, so `berth logs` with no
// service has two to interleave.
const twoServices = goodSpec + `  admin:
    run: %[1]s
    route: {path: /admin}
    health: {path: /health, interval: 100ms, deadline: 10s}
    env:
      SHOP_HOST: 127.0.0.1
      E2E_MARKER: %[3]s
`

// TestLogsFollowTheServiceThroughADeploy: `logs -f SERVICE` keeps going
// through a deploy and shows the new release's tasks from their first
// line; `logs` without a service shows every service, prefixed.
func TestLogsFollowTheServiceThroughADeploy(t *testing.T) {
	p := deployed(t, twoServices)

	all := p.mustBerth("logs")
	for _, prefix := range []string{"catalog-1-", "admin-1-"} {
		if !strings.Contains(all, "\n"+prefix) && !strings.HasPrefix(all, prefix) {
			t.Errorf("berth logs (no service) has no line of %s*:\n%s", prefix, all)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	follow := p.command(ctx, "logs", "catalog", "-f")
	out := &lockedWriter{}
	follow.Stdout, follow.Stderr = out, out
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = follow.Wait() }()
	p.waitFor("logs -f shows release 1", 30*time.Second, func() bool { return strings.Contains(out.String(), "catalog-1-") })

	p.writeSpec(strings.Replace(twoServices, "SHOP_DRAIN: 5s", "SHOP_DRAIN: 4s", 1))
	p.mustBerth("deploy", "catalog")
	p.waitFor("logs -f shows the tasks of release 2", 30*time.Second, func() bool {
		return strings.Contains(out.String(), "\ncatalog-2-")
	})
	if strings.Contains(out.String(), "admin-") {
		t.Errorf("logs -f catalog shows another service's lines:\n%s", out.String())
	}
}
