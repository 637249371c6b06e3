package store

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

func TestRecordRollout_AllOrNothing(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	cfg := json.RawMessage(`{"service":{}}`)
	ok := Rollout{Set: &ReleaseSet{ID: "set-1", Commit: "c"}, Steps: []RolloutStep{
		{Release: &Release{Service: "web", Config: cfg}, Deployment: Deployment{Service: "web", Strategy: "rolling"}, Service: ServiceState{Name: "web", Count: 2}},
		{Release: &Release{Service: "db", Config: cfg}, Deployment: Deployment{Service: "db", Strategy: "rolling"}, Service: ServiceState{Name: "db", Count: 1}},
	}}
	got, err := s.RecordRollout(ctx, ok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Steps[1].Deployment.ToRelease != 1 || got.Steps[1].Service.Release != 1 || got.Steps[0].Deployment.ID == 0 {
		t.Fatalf("recorded = %+v", got.Steps)
	}
	set, err := s.ReleaseSet(ctx, "set-1")
	if err != nil || len(set.Members) != 2 || set.Members[0].Release != 1 {
		t.Fatalf("set = %+v, %v", set, err)
	}

	// The second step supersedes a deployment that does not exist: the
	// whole rollout, web's new release included, is not recorded.
	bad := Rollout{Set: &ReleaseSet{ID: "set-2"}, Steps: []RolloutStep{
		{Release: &Release{Service: "web", Config: cfg}, Deployment: Deployment{Service: "web"}, Service: ServiceState{Name: "web", Count: 2}},
		{Superseded: &Deployment{ID: 999, Service: "db", State: DeployFailed}, Deployment: Deployment{Service: "db"}, Service: ServiceState{Name: "db"}},
	}}
	if _, err := s.RecordRollout(ctx, bad); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if rels, _ := s.Releases(ctx, "web"); len(rels) != 1 {
		t.Fatalf("web has %d releases after a failed rollout, want 1", len(rels))
	}
	if _, err := s.ReleaseSet(ctx, "set-2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("set-2 recorded: %v", err)
	}
	if deps, _ := s.Deployments(ctx, "web", 0); len(deps) != 1 {
		t.Fatalf("web has %d deployments, want 1", len(deps))
	}
	if svc, _ := s.Service(ctx, "web"); svc.Release != 1 {
		t.Fatalf("web desired release %d, want 1", svc.Release)
	}
}
