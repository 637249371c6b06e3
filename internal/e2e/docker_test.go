package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/driver/docker/dockertest"
	"github.com/berth-dev/berth/internal/registry"
)

// TestDockerShop takes examples/shop from a git repository to FROM-scratch
// images pushed to a real loopback registry and run, by the image ID the
// local engine already holds (nothing pulled back), as containers by a real
// `berth serve --engine docker`; then checks change
// detection (deploy --changed twice, an own-dir change, --services) and a
// rolling deploy under load that fails not one request.
func TestDockerShop(t *testing.T) {
	cli := dockertest.Require(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	regCtx, stopReg := context.WithCancel(context.Background())
	regDone := make(chan error, 1)
	go func() { regDone <- registry.Serve(regCtx, ln) }()
	t.Cleanup(func() { stopReg(); <-regDone })
	reg := ln.Addr().String()

	shop := newDockerShop(t, reg)
	t.Cleanup(func() { shop.stopServe(); removeProject(t, cli, shop.name) })
	shop.startServe()

	// 1. Nothing runs: every service deploys, built and pushed; the local
	// engine runs the image it holds, by ID.
	out := shop.mustBerth("deploy", "--changed")
	for _, svc := range []string{"web", "auth", "catalog", "orders"} {
		for _, want := range []string{
			svc + " ", // plan row
			"building " + svc,
			svc + ": pushed " + reg + "/" + shop.name + "/" + svc + "@sha256:",
		} {
			if !strings.Contains(out, want) {
				t.Fatalf("first deploy --changed: no %q in output:\n%s", want, out)
			}
		}
	}
	if !strings.Contains(out, "no live commit") || !strings.Contains(out, "all 4 deployments succeeded") {
		t.Fatalf("first deploy --changed:\n%s", out)
	}
	cs := containers(t, cli, shop.name)
	if len(cs) != 5 { // web ×2, auth, catalog, orders
		t.Fatalf("want 5 containers of %s, got %d", shop.name, len(cs))
	}
	for _, c := range cs {
		if !strings.HasPrefix(c.Image, "sha256:") {
			t.Errorf("container %s runs %q, want the local image by ID (sha256:…), not one pulled back from the registry", c.Names, c.Image)
		}
		if c.Labels["berth.release"] != "1" || c.Labels["berth.commit"] == "" || c.Labels["berth.task"] == "" {
			t.Errorf("container %s labels: %v", c.Names, c.Labels)
		}
	}
	if code, body, err := shop.get("/"); err != nil || code != http.StatusOK || !strings.Contains(body, "shop") {
		t.Fatalf("GET / through the router: %d %q %v", code, body, err)
	}
	// orders calls catalog through the router (CATALOG_URL, from its
	// depends_on): containers reach the router on the host's loopback.
	if code, body, err := shop.get("/orders/42"); err != nil || code != http.StatusOK || !strings.Contains(body, `"catalog_release"`) {
		t.Fatalf("GET /orders/42 (orders → catalog through the router) in container mode: %d %q %v", code, body, err)
	}

	// 2. No new commit: nothing is built, pushed or deployed.
	out = shop.mustBerth("deploy", "--changed")
	if !strings.Contains(out, "nothing changed since the live commits: nothing built, pushed or deployed") ||
		strings.Contains(out, "building") || strings.Contains(out, ": pushed") || strings.Contains(out, "release set") {
		t.Fatalf("second deploy --changed did something:\n%s", out)
	}

	// 3. A commit touching only auth deploys only auth.
	shop.appendTo("services/auth/main.go", "// e2e: auth changed\n")
	shop.commitAll("auth changed")
	out = shop.mustBerth("deploy", "--changed")
	if !strings.Contains(out, "building auth") || strings.Contains(out, "building web") ||
		strings.Contains(out, "building catalog") || strings.Contains(out, "building orders") {
		t.Fatalf("deploy --changed after an auth commit:\n%s", out)
	}
	if !strings.Contains(out, "own dir changed") || !strings.Contains(out, "all 1 deployments succeeded") {
		t.Fatalf("deploy --changed after an auth commit:\n%s", out)
	}

	// 4. A shared package change fans out; --services deploys exactly those.
	shop.appendTo("packages/shopkit/doc.go", "// e2e: shared changed\n")
	shop.commitAll("shopkit changed")
	out = shop.mustBerth("deploy", "--services", "auth,catalog")
	if !strings.Contains(out, "building auth") || !strings.Contains(out, "building catalog") ||
		strings.Contains(out, "building web") || strings.Contains(out, "building orders") ||
		!strings.Contains(out, "all 2 deployments succeeded") {
		t.Fatalf("deploy --services auth,catalog:\n%s", out)
	}
	var plan []struct{ Service, Action, Reason string }
	if err := json.Unmarshal([]byte(shop.mustBerth("plan", "-o", "json")), &plan); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"web": "deploy", "auth": "skip", "catalog": "skip", "orders": "deploy"}
	for _, d := range plan {
		if d.Action != want[d.Service] {
			t.Errorf("plan after --services auth,catalog: %s %s (%s), want %s", d.Service, d.Action, d.Reason, want[d.Service])
		}
	}

	// 5. Rolling deploys of web (2 tasks) under load: not one request fails.
	t.Run("RollingZeroFailed", func(t *testing.T) { rollingUnderLoad(t, shop) })
}

// rollingUnderLoad runs a load loop through the router while web is rolled
// three times, and fails on any failed request.
func rollingUnderLoad(t *testing.T, shop *project) {
	l := startLoad(t, "http://"+shop.listen+"/", 4)
	for i := range 3 {
		if out, code := shop.berth("deploy", "web", "--force"); code != 0 || !strings.Contains(out, "all 1 deployments succeeded") {
			t.Fatalf("rolling deploy %d of web exited %d:\n%s", i+1, code, out)
		}
	}
	l.check(t)
	if n := l.ok.Load(); n < 100 {
		t.Fatalf("only %d requests went through: the load loop did not run", n)
	}
}
