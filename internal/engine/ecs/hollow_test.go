package ecs_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/awsfake"
	"github.com/berth-dev/berth/internal/engine"
)

// TestFake_HollowAnswersNeverCrashTheEngine: each AWS operation a deploy,
// its follow and status call (all but CloudWatch's), answered once with
// every object in it empty (hollow) or as a bare {} (blank) — AWS leaving
// out every field it may omit —
// during a first deploy, a second deploy and status, makes the engine go
// on or fail with an error, never panic. A second deploy afterwards, with
// honest answers, still succeeds.
func TestFake_HollowAnswersNeverCrashTheEngine(t *testing.T) {
	v1 := map[string]string{"web": "reg/shop/web@sha256:1", "api": "reg/shop/api@sha256:1", "worker": "reg/shop/worker@sha256:1"}
	v2 := map[string]string{"web": "reg/shop/web@sha256:2", "api": "reg/shop/api@sha256:2", "worker": "reg/shop/worker@sha256:2"}
	v3 := map[string]string{"web": "reg/shop/web@sha256:3", "api": "reg/shop/api@sha256:3", "worker": "reg/shop/worker@sha256:3"}
	mangled := []string{awsfake.ServiceECS, awsfake.ServiceECR, awsfake.ServiceSSM, awsfake.ServiceSecretsManager, awsfake.ServiceLogs, awsfake.ServiceAutoScaling, awsfake.ServiceELBv2, awsfake.ServiceSTS}

	// The operations an honest run calls.
	w := newWorld(t, fakeSpec)
	w.deploy(w.engine(), releases("aaaaaaa", v1))
	w.deploy(w.engine(), releases("bbbbbbb", v2))
	if _, err := w.engine().Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	var ops [][2]string
	for _, c := range w.srv.Calls() {
		op := [2]string{c.Service, c.Operation}
		if slices.Contains(mangled, c.Service) && !slices.Contains(ops, op) {
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
				w := newWorld(t, fakeSpec)
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
				attempt(releases("aaaaaaa", v1))
				attempt(releases("bbbbbbb", v2))
				tc.mangle(w.srv, op[0], op[1], 1)
				_, _ = e.Status(context.Background())
				// Honest answers again: berth converges.
				tc.mangle(w.srv, op[0], op[1], 0)
				_, final, _ := w.deploy(w.engine(), releases("ccccccc", v3))
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
