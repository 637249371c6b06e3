package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
)

// restartingEngine streams a deployment's events, losing the stream
// (as a control plane restart does) after each event listed in lose.
type restartingEngine struct {
	Engine         // only Events and Deployment are called
	mu             sync.Mutex
	events         []api.Event
	lose           map[string]bool // stream lost right after this event id
	final          api.Deployment
	lostDeployment int      // Deployment fails this many times first
	calls          []string // After of every Events call
}

func (f *restartingEngine) Events(_ context.Context, q EventQuery, fn func(api.Event) error) error {
	f.mu.Lock()
	f.calls = append(f.calls, q.After)
	f.mu.Unlock()
	// Replay the event at After too, as a server with an inclusive cursor
	// would: Wait must not report it twice.
	from := 0
	for i, ev := range f.events {
		if ev.ID == q.After {
			from = i
		}
	}
	for _, ev := range f.events[from:] {
		if err := fn(ev); err != nil {
			return err
		}
		f.mu.Lock()
		lost := f.lose[ev.ID]
		delete(f.lose, ev.ID)
		f.mu.Unlock()
		if lost {
			return fmt.Errorf("event stream: %w: unexpected EOF", ErrStreamLost)
		}
	}
	return fmt.Errorf("%w: stream ended", ErrStreamLost)
}

func (f *restartingEngine) Deployment(context.Context, string) (api.Deployment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lostDeployment > 0 {
		f.lostDeployment--
		return api.Deployment{}, ErrStreamLost
	}
	return f.final, nil
}

func TestWaitResumesALostStreamAfterTheLastEvent(t *testing.T) {
	f := &restartingEngine{
		events: []api.Event{
			{ID: "e1", Deployment: "d7", Kind: api.EventDeployStarted},
			{ID: "e2", Deployment: "d7", Kind: "task.started"},
			{ID: "e3", Deployment: "d7", Kind: "task.healthy"},
			{ID: "e4", Deployment: "d7", Kind: api.EventDeploySucceeded},
		},
		lose:           map[string]bool{"e2": true, "e3": true},
		final:          api.Deployment{ID: "d7", Service: "catalog", State: "succeeded"},
		lostDeployment: 2,
	}
	var seen []string
	out, err := Wait(context.Background(), f, []api.Deployment{{ID: "d7", Service: "catalog"}}, func(ev api.Event) { seen = append(seen, ev.ID) })
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if fmt.Sprint(seen) != "[e1 e2 e3 e4]" {
		t.Fatalf("events reported %v, want each of e1..e4 once", seen)
	}
	if fmt.Sprintf("%q", f.calls) != `["" "e2" "e3"]` {
		t.Fatalf("Events called with After %q, want [\"\" \"e2\" \"e3\"]", f.calls)
	}
	if out[0].State != "succeeded" {
		t.Fatalf("final state %+v", out[0])
	}
}

func TestWaitGivesUpReconnectingAfterTheDeadline(t *testing.T) {
	old := ReconnectWithin
	ReconnectWithin = 300 * time.Millisecond
	t.Cleanup(func() { ReconnectWithin = old })
	f := &restartingEngine{events: []api.Event{{ID: "e1", Kind: api.EventDeployStarted}}}
	start := time.Now()
	_, err := Wait(context.Background(), f, []api.Deployment{{ID: "d7", Service: "catalog"}}, nil)
	if !errors.Is(err, ErrStreamLost) {
		t.Fatalf("Wait = %v, want a lost-stream error", err)
	}
	if d := time.Since(start); d < ReconnectWithin {
		t.Fatalf("gave up after %s, before the %s deadline", d, ReconnectWithin)
	}
	if len(f.calls) < 2 {
		t.Fatalf("never reconnected: %v", f.calls)
	}
}

func TestWaitDoesNotRetryOtherErrors(t *testing.T) {
	boom := errors.New("deployment 7 not found")
	e := &failingEngine{err: boom}
	_, err := Wait(context.Background(), e, []api.Deployment{{ID: "d7", Service: "catalog"}}, nil)
	if !errors.Is(err, boom) || e.calls != 1 {
		t.Fatalf("Wait = %v after %d calls, want %v after 1", err, e.calls, boom)
	}
}

type failingEngine struct {
	Engine
	err   error
	calls int
}

func (f *failingEngine) Events(context.Context, EventQuery, func(api.Event) error) error {
	f.calls++
	return f.err
}
