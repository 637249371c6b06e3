package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestPhases: client phases are kept per deployment in the order added,
// across calls and a close-and-reopen; a set lists its deployments.
func TestPhases(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "berth.db")
	clock := newFakeClock()
	s, err := Open(ctx, path, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.CreateDeployment(ctx, Deployment{Service: "web", ToRelease: 1, Strategy: "bluegreen", SetID: "set-a"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateDeployment(ctx, Deployment{Service: "api", ToRelease: 1, Strategy: "rolling", SetID: "set-a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDeployment(ctx, Deployment{Service: "api", ToRelease: 2, Strategy: "rolling", SetID: "set-b"}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	build := Phase{Name: "build", Service: "web", Start: t0, End: t0.Add(2 * time.Second), GovernedBy: "services.web.build", Detail: "go build"}
	push := Phase{Name: "push", Service: "web", Start: t0.Add(2 * time.Second), End: t0.Add(3 * time.Second)}
	if err := s.AddPhases(ctx, d.ID, []Phase{build}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPhases(ctx, d.ID, []Phase{push}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	got, err := s.Phases(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "Phases", got, []Phase{build, push})
	none, err := s.Phases(ctx, other.ID)
	if err != nil || len(none) != 0 {
		t.Fatalf("Phases of a deployment without any = %v, %v; want none", none, err)
	}
	set, err := s.DeploymentsOfSet(ctx, "set-a")
	if err != nil {
		t.Fatal(err)
	}
	if len(set) != 2 || set[0].ID != d.ID || set[1].ID != other.ID {
		t.Fatalf("DeploymentsOfSet(set-a) = %+v, want web then api", set)
	}
}
