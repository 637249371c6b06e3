package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/registry"
)

// TestDockerShop takes examples/shop from a git repository to FROM-scratch
// images pushed to a real loopback registry, pulled back by digest and run
// as containers by a real `berth serve --engine docker`; then checks change
// detection (deploy --changed twice, an own-dir change, --services) and a
// rolling deploy under load that fails not one request.
func TestDockerShop(t *testing.T) {
	cli := requireDocker(t)
	bin, err := buildBerth(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	regCtx, stopReg := context.WithCancel(context.Background())
	regDone := make(chan error, 1)
	go func() { regDone <- registry.Serve(regCtx, ln) }()
	t.Cleanup(func() { stopReg(); <-regDone })
	reg := ln.Addr().String()

	shop := newDockerShop(t, bin, reg)
	t.Cleanup(func() { removeProject(t, cli, shop.project) })
	router := shop.serve(t)

	// 1. Nothing runs: every service deploys, built, pushed, pulled by digest.
	out := shop.berth(t, "deploy", "--changed")
	for _, svc := range []string{"web", "auth", "catalog", "orders"} {
		for _, want := range []string{
			svc + " ", // plan row
			"building " + svc,
			svc + ": pushed " + reg + "/" + shop.project + "/" + svc + "@sha256:",
		} {
			if !strings.Contains(out, want) {
				t.Fatalf("first deploy --changed: no %q in output:\n%s", want, out)
			}
		}
	}
	if !strings.Contains(out, "no live commit") || !strings.Contains(out, "all 4 deployments succeeded") {
		t.Fatalf("first deploy --changed:\n%s", out)
	}
	cs := containers(t, cli, shop.project)
	if len(cs) != 5 { // web ×2, auth, catalog, orders
		t.Fatalf("want 5 containers of %s, got %d", shop.project, len(cs))
	}
	for _, c := range cs {
		if want := reg + "/" + shop.project + "/" + c.Labels["berth.service"] + "@sha256:"; !strings.HasPrefix(c.Image, want) {
			t.Errorf("container %s runs %q, want an image by digest %s…", c.Names, c.Image, want)
		}
		if c.Labels["berth.release"] != "1" || c.Labels["berth.commit"] == "" || c.Labels["berth.task"] == "" {
			t.Errorf("container %s labels: %v", c.Names, c.Labels)
		}
	}
	if code, body := get(t, router+"/"); code != http.StatusOK || !strings.Contains(body, "shop") {
		t.Fatalf("GET / through the router: %d %q", code, body)
	}

	// 2. No new commit: nothing is built, pushed or deployed.
	out = shop.berth(t, "deploy", "--changed")
	if !strings.Contains(out, "nothing changed since the live commits: nothing built, pushed or deployed") ||
		strings.Contains(out, "building") || strings.Contains(out, ": pushed") || strings.Contains(out, "release set") {
		t.Fatalf("second deploy --changed did something:\n%s", out)
	}

	// 3. A commit touching only auth deploys only auth.
	shop.appendTo(t, "examples/shop/services/auth/main.go", "// e2e: auth changed")
	shop.commitAll(t, "auth changed")
	out = shop.berth(t, "deploy", "--changed")
	if !strings.Contains(out, "building auth") || strings.Contains(out, "building web") ||
		strings.Contains(out, "building catalog") || strings.Contains(out, "building orders") {
		t.Fatalf("deploy --changed after an auth commit:\n%s", out)
	}
	if !strings.Contains(out, "own dir changed") || !strings.Contains(out, "all 1 deployments succeeded") {
		t.Fatalf("deploy --changed after an auth commit:\n%s", out)
	}

	// 4. A shared package change fans out; --services deploys exactly those.
	shop.appendTo(t, "examples/shop/packages/shopkit/doc.go", "// e2e: shared changed")
	shop.commitAll(t, "shopkit changed")
	out = shop.berth(t, "deploy", "--services", "auth,catalog")
	if !strings.Contains(out, "building auth") || !strings.Contains(out, "building catalog") ||
		strings.Contains(out, "building web") || strings.Contains(out, "building orders") ||
		!strings.Contains(out, "all 2 deployments succeeded") {
		t.Fatalf("deploy --services auth,catalog:\n%s", out)
	}
	var plan []struct{ Service, Action, Reason string }
	if err := json.Unmarshal([]byte(shop.berth(t, "plan", "-o", "json")), &plan); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"web": "deploy", "auth": "skip", "catalog": "skip", "orders": "deploy"}
	for _, d := range plan {
		if d.Action != want[d.Service] {
			t.Errorf("plan after --services auth,catalog: %s %s (%s), want %s", d.Service, d.Action, d.Reason, want[d.Service])
		}
	}

	// 5. Rolling deploys of web (2 tasks) under load: not one request fails.
	t.Run("RollingZeroFailed", func(t *testing.T) { rollingUnderLoad(t, shop, router) })
}

// rollingUnderLoad runs a load loop through the router while web is rolled
// three times, and fails on any failed request.
func rollingUnderLoad(t *testing.T, shop *dockerShop, router string) {
	ctx, stop := context.WithCancel(context.Background())
	var ok, bad atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 5 * time.Second}
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				resp, err := hc.Get(router + "/")
				if err != nil {
					bad.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad.Add(1)
					firstErr.CompareAndSwap(nil, resp.Status)
					continue
				}
				ok.Add(1)
			}
		})
	}
	for i := range 3 {
		out := shop.berth(t, "deploy", "web", "--force")
		if !strings.Contains(out, "all 1 deployments succeeded") {
			stop()
			wg.Wait()
			t.Fatalf("rolling deploy %d of web:\n%s", i+1, out)
		}
	}
	stop()
	wg.Wait()
	t.Logf("%d requests during 3 rolling deploys, %d failed", ok.Load(), bad.Load())
	if bad.Load() != 0 {
		t.Fatalf("%d of %d requests failed during rolling deploys (first: %v)", bad.Load(), ok.Load()+bad.Load(), firstErr.Load())
	}
	if ok.Load() < 100 {
		t.Fatalf("only %d requests went through: the load loop did not run", ok.Load())
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
