package ecs_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/awsfake"
	"github.com/berth-dev/berth/internal/engine"
)

// TestFake_HollowAnswersNeverCrashTheEngine: each AWS operation a deploy,
// its follow and status call, answered once with every object in it empty
// (hollow) or as a bare {} (blank) — AWS leaving out every field it may
// omit — during a first deploy, a second deploy and status, makes the
// engine go on or fail with an error, never panic. A deploy afterwards,
// with honest answers, still succeeds. Two projects: three rolling
// services, and one autoscaled canary with alarms.
func TestFake_HollowAnswersNeverCrashTheEngine(t *testing.T) {
	all := func(n string) api.DeployRequest {
		return releases(strings.Repeat(n, 7), map[string]string{"web": "reg/shop/web@sha256:" + n, "api": "reg/shop/api@sha256:" + n, "worker": "reg/shop/worker@sha256:" + n})
	}
	web := func(n string) api.DeployRequest { return webRelease(strings.Repeat(n, 7), "w@sha256:"+n) }
	canary := strings.Replace(progressiveSpec, "DEPLOY", `{strategy: canary, steps: [10%, 100%], pause: 1m, analysis: {max_5xx_rate: 2%, min_requests: 10, window: 60s}}
    scale: {min: 2, max: 4, target: {cpu: 60%}}`, 1)
	for _, p := range []struct {
		name    string
		spec    string
		release func(n string) api.DeployRequest
	}{{"rolling", fakeSpec, all}, {"canary", canary, web}} {
		t.Run(p.name, func(t *testing.T) { mangleEach(t, p.spec, p.release) })
	}
}

// mangleEach runs the operations an honest deploy of src calls, one by
// one, with hollow and then blank answers (see the test above).
func mangleEach(t *testing.T, src string, release func(n string) api.DeployRequest) {
	w := newWorld(t, src)
	w.deploy(w.engine(), release("1"))
	w.deploy(w.engine(), release("2"))
	if _, err := w.engine().Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	var ops [][2]string
	for _, c := range w.srv.Calls() {
		if op := [2]string{c.Service, c.Operation}; !slices.Contains(ops, op) {
			ops = append(ops, op)
		}
	}
	if len(ops) < 5 {
		t.Fatalf("only %d operations called: %v", len(ops), ops)
	}
	for _, tc := range []struct {
		mode   string
		mangle func(srv *awsfake.Server, service, op string, n int)
	}{{"hollow", (*awsfake.Server).Hollow}, {"blank", (*awsfake.Server).Blank}} {
		failed := 0 // attempts a mangled answer failed: proof they arrive mangled
		for _, op := range ops {
			t.Run(tc.mode+"/"+op[0]+"."+op[1], func(t *testing.T) {
				w := newWorld(t, src)
				e := w.engine()
				attempt := func(req api.DeployRequest) {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					tc.mangle(w.srv, op[0], op[1], 1)
					resp, err := e.Deploy(ctx, req)
					if err == nil {
						_, err = engine.Wait(ctx, e, resp.Deployments, func(api.Event) {})
					}
					if err != nil {
						failed++
						t.Logf("%s with a %s %s answer: %v", req.Commit, tc.mode, op[1], err)
					}
				}
				attempt(release("1"))
				attempt(release("2"))
				tc.mangle(w.srv, op[0], op[1], 1)
				_, _ = e.Status(context.Background())
				// Honest answers again: berth converges.
				tc.mangle(w.srv, op[0], op[1], 0)
				_, final, _ := w.deploy(w.engine(), release("3"))
				for n, s := range states(final) {
					if s != api.DeploySucceeded {
						t.Errorf("after %s %s answers, %s: %s", tc.mode, op[1], n, s)
					}
				}
			})
		}
		if failed == 0 {
			t.Fatalf("no %s answer made any deploy fail: the fake did not mangle them", tc.mode)
		}
	}
}
