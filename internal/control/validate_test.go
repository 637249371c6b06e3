package control

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/release"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// goodRelease is a release of name as `berth deploy` would send it.
func goodRelease(t *testing.T, name string) api.ReleaseSpec {
	t.Helper()
	sp, err := spec.Parse("/tmp/berth.yaml", []byte("project: test\nservices:\n  "+name+":\n    run: ./x\n    count: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := release.ForArtifact(sp, sp.Services[name]).Encode()
	if err != nil {
		t.Fatal(err)
	}
	return api.ReleaseSpec{Service: name, Commit: "c", Config: raw}
}

// TestDeploy_InvalidReleaseRecordsNothing: one bad release of a
// multi-service request rejects the whole request, naming the service and
// the field, and nothing of it is recorded or started.
func TestDeploy_InvalidReleaseRecordsNothing(t *testing.T) {
	p := newPlane(t)
	bad := func(mut func(m map[string]any)) api.ReleaseSpec {
		r := goodRelease(t, "db")
		var m map[string]any
		if err := json.Unmarshal(r.Config, &m); err != nil {
			t.Fatal(err)
		}
		mut(m["service"].(map[string]any))
		r.Config, _ = json.Marshal(m)
		return r
	}
	cases := []struct {
		name string
		rel  api.ReleaseSpec
		want string
	}{
		{"no health", bad(func(s map[string]any) { delete(s, "health") }), "service.health"},
		{"no deploy", bad(func(s map[string]any) { delete(s, "deploy") }), "service.deploy"},
		{"huge count", bad(func(s map[string]any) { s["count"] = 101 }), "service.count"},
		{"negative count", bad(func(s map[string]any) { s["count"] = -3 }), "service.count"},
		{"wrong type", bad(func(s map[string]any) { s["count"] = "three" }), "service.count"},
		{"name mismatch", bad(func(s map[string]any) { s["name"] = "web" }), "service.name"},
		{"hostile name", api.ReleaseSpec{Service: "../../x", Config: goodRelease(t, "db").Config}, "../../x"},
		{"nothing to run", bad(func(s map[string]any) { delete(s, "run") }), "nothing to run"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.srv.Deploy(context.Background(), api.DeployRequest{Commit: "c",
				Releases: []api.ReleaseSpec{goodRelease(t, "web"), tc.rel}})
			if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a bad request naming %q", err, tc.want)
			}
		})
	}
	for _, n := range []string{"web", "db"} {
		if rels, err := p.st.Releases(context.Background(), n); err != nil || len(rels) != 0 {
			t.Errorf("%s: releases %v (%v), want none", n, rels, err)
		}
	}
	if sets, err := p.st.ReleaseSets(context.Background(), 0); err != nil || len(sets) != 0 {
		t.Errorf("release sets %v (%v), want none", sets, err)
	}
	if st := p.srv.Status(context.Background()); len(st.Services) != 0 {
		// A rejected request may have named services; none may run.
		for _, s := range st.Services {
			if s.Release != 0 || len(s.Tasks) != 0 {
				t.Errorf("service %s runs after a rejected deploy: %+v", s.Name, s)
			}
		}
	}
	if live := p.drv.live(); len(live) != 0 {
		t.Errorf("tasks started: %v", live)
	}
}

// TestStart_UndecidableDeploymentIsFailed: a deployment whose release
// cannot run (recorded by hand, or by an older berth) is failed with its
// reason when the control plane starts, instead of crashing it.
func TestStart_UndecidableDeploymentIsFailed(t *testing.T) {
	p := newPlane(t)
	ctx := context.Background()
	rec, err := p.st.RecordRollout(ctx, store.Rollout{Steps: []store.RolloutStep{{
		Release:    &store.Release{Service: "web", Commit: "c", Config: json.RawMessage(`{"service":{"name":"web","run":"x","deploy":{"strategy":"yolo"},"health":{}}}`)},
		Deployment: store.Deployment{Service: "web", Strategy: "rolling", State: store.DeployRunning},
		Service:    store.ServiceState{Name: "web", Count: 1},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Project: "test", Store: p.st, Driver: p.drv, Router: p.rt, Clock: p.clock, Stepped: true})
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("start with an undecidable deployment: %v", err)
	}
	defer srv.Detach()
	d, err := srv.Deployment(ctx, deploymentID(rec.Steps[0].Deployment.ID))
	if err != nil {
		t.Fatal(err)
	}
	if d.State != api.DeployFailed || !strings.Contains(d.Reason, "cannot be decided") || !strings.Contains(d.Reason, "deploy.strategy") {
		t.Fatalf("deployment = %s: %q, want failed naming the field", d.State, d.Reason)
	}
}

// TestStart_ClampsARecordedCountAboveTheMaximum: a count an older berth
// accepted (scale tiny=10000) is lowered to the maximum at start instead of
// starting the storm again.
func TestStart_ClampsARecordedCountAboveTheMaximum(t *testing.T) {
	p := newPlane(t)
	ctx := context.Background()
	raw := goodRelease(t, "tiny").Config
	if _, err := p.st.RecordRollout(ctx, store.Rollout{Steps: []store.RolloutStep{{
		Release:    &store.Release{Service: "tiny", Commit: "c", Config: raw},
		Deployment: store.Deployment{Service: "tiny", Strategy: "rolling", State: store.DeploySucceeded},
		Service:    store.ServiceState{Name: "tiny", Count: 10000},
	}}}); err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Project: "test", Store: p.st, Driver: p.drv, Router: p.rt, Clock: p.clock, Stepped: true, MaxCount: 7})
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Detach()
	// The release came from a spec, whose max_count (100) wins over the
	// control plane's default.
	if got := srv.Status(ctx).Services[0].Desired; got != 100 {
		t.Fatalf("desired = %d after start, want the maximum 100", got)
	}
	if st, err := p.st.Service(ctx, "tiny"); err != nil || st.Count != 100 {
		t.Fatalf("recorded count %d (%v), want 100", st.Count, err)
	}
}
