package store

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestReopen_EverythingPersists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "berth.db")
	clock := newFakeClock()

	s, err := Open(ctx, path, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	svc := ServiceState{Name: "web", Release: 1, Count: 2, Spec: json.RawMessage(`{"port":8080}`), UpdatedAt: clock.Now().UTC()}
	if err := s.PutService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	rel, err := s.CreateRelease(ctx, Release{Service: "web", Commit: "abc1234", Image: "web@sha256:00",
		Config: json.RawMessage(`{"count":2}`), Secrets: map[string]int{"DB": 1}, SetID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	dep, err := s.CreateDeployment(ctx, Deployment{Service: "web", ToRelease: 1, Strategy: "rolling", SetID: "s1",
		Progress: json.RawMessage(`{"step":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	task := Task{ID: "web-1-a", Service: "web", Release: 1, State: TaskHealthy, Handle: json.RawMessage(`{"pid":7}`),
		Addr: "127.0.0.1:4001", Restarts: 1, CreatedAt: clock.Now().UTC(), UpdatedAt: clock.Now().UTC()}
	if err := s.PutTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	ev, err := s.AddEvent(ctx, Event{Service: "web", Deployment: dep.ID, Kind: "deploy.start", Message: "go",
		Fields: map[string]string{"to": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	set := ReleaseSet{ID: "s1", Commit: "abc1234", CreatedAt: clock.Now().UTC(),
		Members: []SetMember{{Service: "web", Release: 1}}}
	if err := s.CreateReleaseSet(ctx, set); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutSecretVersion(ctx, "DB", []byte{0, 1, 2, 255}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path)
	gotSvc, err := s.Service(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "service", gotSvc, svc)
	gotRel, err := s.LatestRelease(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "release", gotRel, rel)
	active, err := s.ActiveDeployments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "active deployments", active, []Deployment{dep})
	gotTasks, err := s.Tasks(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "tasks", gotTasks, []Task{task})
	gotEvents, err := s.Events(ctx, EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "events", gotEvents, []Event{ev})
	gotSet, err := s.ReleaseSetByCommit(ctx, "abc")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "release set", gotSet, set)
	sec, err := s.SecretVersion(ctx, "DB", 0)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "secret", sec, SecretVersion{Name: "DB", Version: 1, Ciphertext: []byte{0, 1, 2, 255}, CreatedAt: clock.Now().UTC()})

	// Numbering continues after a reopen.
	next, err := s.CreateRelease(ctx, Release{Service: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if next.Number != 2 {
		t.Fatalf("release after reopen numbered %d, want 2", next.Number)
	}
	if v, err := s.PutSecretVersion(ctx, "DB", []byte("x")); err != nil || v != 2 {
		t.Fatalf("secret version after reopen = %d, %v; want 2", v, err)
	}
}

// TestTwoStores_ShareFile opens the file twice, as the daemon and a CLI
// command would, and writes from both at once: every write must succeed
// (no "database is locked") and per-service numbering must stay unique.
func TestTwoStores_ShareFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "berth.db")
	stores := []*Store{openAt(t, path), openAt(t, path)}

	const perStore, each = 3, 10
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*(perStore*each*4+each*2))
	releases := make(chan int, len(stores)*perStore*each)
	secrets := make(chan int, len(stores)*perStore*each)
	for i, s := range stores {
		for g := range perStore {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range each {
					r, err := s.CreateRelease(ctx, Release{Service: "web"})
					errs <- err
					releases <- r.Number
					v, err := s.PutSecretVersion(ctx, "DB", []byte("c"))
					errs <- err
					secrets <- v
					_, err = s.AddEvent(ctx, Event{Kind: "test", Message: fmt.Sprint(i, g, k)})
					errs <- err
					errs <- s.PutTask(ctx, Task{ID: fmt.Sprintf("t-%d-%d", i, g), Service: "web", Restarts: k})
				}
			}()
		}
	}
	// Reads from both stores while they write.
	for _, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				_, err := s.Events(ctx, EventQuery{})
				errs <- err
				_, err = s.Releases(ctx, "web")
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(releases)
	close(secrets)
	for err := range errs {
		if err != nil {
			if strings.Contains(err.Error(), "locked") || strings.Contains(err.Error(), "busy") {
				t.Fatalf("lock contention surfaced: %v", err)
			}
			t.Fatal(err)
		}
	}
	total := len(stores) * perStore * each
	for name, ch := range map[string]chan int{"release": releases, "secret version": secrets} {
		seen := map[int]bool{}
		for n := range ch {
			if seen[n] {
				t.Fatalf("%s %d handed out twice", name, n)
			}
			seen[n] = true
		}
		for n := 1; n <= total; n++ {
			if !seen[n] {
				t.Errorf("%s %d missing", name, n)
			}
		}
	}
	evs, err := stores[1].Events(ctx, EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != total {
		t.Errorf("%d events, want %d", len(evs), total)
	}
}
