package store

import (
	"context"
	"testing"
	"time"
)

func TestPrune_DropsOldEventsAndFinishedTasksOnly(t *testing.T) {
	s, clock := openTest(t)
	ctx := context.Background()
	old := clock.Now()
	for _, st := range []string{TaskStopped, TaskExited, TaskHealthy} {
		if err := s.PutTask(ctx, Task{ID: "old-" + st, Service: "web", Release: 1, State: st}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddEvent(ctx, Event{Kind: "old", Message: "old"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(48 * time.Hour)
	if err := s.PutTask(ctx, Task{ID: "new-stopped", Service: "web", Release: 2, State: TaskStopped}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddEvent(ctx, Event{Kind: "new", Message: "new"}); err != nil {
		t.Fatal(err)
	}

	events, tasks, err := s.Prune(ctx, old.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if events != 1 || tasks != 2 {
		t.Fatalf("Prune deleted %d events and %d tasks, want 1 and 2", events, tasks)
	}
	left, err := s.Tasks(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tk := range left {
		ids = append(ids, tk.ID)
	}
	if len(ids) != 2 || ids[0] != "old-healthy" || ids[1] != "new-stopped" {
		t.Fatalf("tasks left %v, want the live one and the recent one", ids)
	}
	evs, err := s.Events(ctx, EventQuery{})
	if err != nil || len(evs) != 1 || evs[0].Kind != "new" {
		t.Fatalf("events left %+v, %v", evs, err)
	}
}
