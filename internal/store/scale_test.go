package store

import (
	"context"
	"path/filepath"
	"testing"
)

// TestScaleMin_PersistsAcrossReopen: the minimum berth scale sets on an
// autoscaled service survives a restart of the control plane, and nil
// (the spec's minimum) stays nil.
func TestScaleMin_PersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	three := 3
	if err := s.PutService(ctx, ServiceState{Name: "web", Release: 1, Count: 4, ScaleMin: &three}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutService(ctx, ServiceState{Name: "api", Release: 1, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	web, err := s.Service(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if web.ScaleMin == nil || *web.ScaleMin != 3 || web.Count != 4 {
		t.Errorf("web after reopen: count %d, scale min %v; want 4 and 3", web.Count, web.ScaleMin)
	}
	api, err := s.Service(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	if api.ScaleMin != nil {
		t.Errorf("api scale min = %d, want nil", *api.ScaleMin)
	}
}

// TestEvents_KindPrefixes keeps only the events of the kinds asked for.
func TestEvents_KindPrefixes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, k := range []string{"task.started", "scale.out", "deploy.started", "scale.in", "heal.restart", "scaled"} {
		if _, err := s.AddEvent(ctx, Event{Service: "web", Kind: k, Message: k}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := s.Events(ctx, EventQuery{Service: "web", KindPrefixes: []string{"scale.", "heal."}})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	if len(kinds) != 3 || kinds[0] != "scale.out" || kinds[1] != "scale.in" || kinds[2] != "heal.restart" {
		t.Errorf("kinds = %v, want [scale.out scale.in heal.restart]", kinds)
	}
}
