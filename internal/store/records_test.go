package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func mustEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func mustNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("%s: err = %v, want ErrNotFound", what, err)
	}
}

func TestServices(t *testing.T) {
	ctx := context.Background()
	s, clock := openTest(t)

	_, err := s.Service(ctx, "web")
	mustNotFound(t, "Service before put", err)
	mustNotFound(t, "DeleteService of absent", s.DeleteService(ctx, "web"))
	if err := s.PutService(ctx, ServiceState{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("PutService without name: %v, want ErrInvalid", err)
	}
	if err := s.PutService(ctx, ServiceState{Name: "x", Spec: json.RawMessage("{nope")}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("PutService with bad JSON: %v, want ErrInvalid", err)
	}

	web := ServiceState{Name: "web", Release: 1, Count: 2, Spec: json.RawMessage(`{"port":8080}`)}
	if err := s.PutService(ctx, web); err != nil {
		t.Fatal(err)
	}
	web.UpdatedAt = clock.Now().UTC()
	got, err := s.Service(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "web after insert", got, web)
	if got.UpdatedAt.Location() != time.UTC {
		t.Errorf("UpdatedAt location = %v, want UTC", got.UpdatedAt.Location())
	}

	clock.Advance(time.Minute)
	web.Release, web.Count, web.Spec = 2, 3, nil
	if err := s.PutService(ctx, web); err != nil {
		t.Fatal(err)
	}
	web.UpdatedAt = clock.Now().UTC()
	got, err = s.Service(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "web after upsert", got, web)

	api := ServiceState{Name: "api", UpdatedAt: clock.Now().UTC()}
	if err := s.PutService(ctx, api); err != nil {
		t.Fatal(err)
	}
	all, err := s.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "Services", all, []ServiceState{api, web})

	if err := s.DeleteService(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Service(ctx, "web")
	mustNotFound(t, "Service after delete", err)
}

func TestReleases(t *testing.T) {
	ctx := context.Background()
	s, clock := openTest(t)

	_, err := s.LatestRelease(ctx, "web")
	mustNotFound(t, "LatestRelease with none", err)
	_, err = s.Release(ctx, "web", 1)
	mustNotFound(t, "Release with none", err)
	if rs, err := s.Releases(ctx, "web"); err != nil || len(rs) != 0 {
		t.Fatalf("Releases with none = %v, %v", rs, err)
	}
	if _, err := s.CreateRelease(ctx, Release{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("CreateRelease without service: %v, want ErrInvalid", err)
	}
	if _, err := s.CreateRelease(ctx, Release{Service: "web", Config: json.RawMessage("[")}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("CreateRelease with bad config: %v, want ErrInvalid", err)
	}

	var web []Release
	for i, commit := range []string{"aaa1111", "bbb2222", "ccc3333"} {
		clock.Advance(time.Second)
		r, err := s.CreateRelease(ctx, Release{
			Service: "web", Commit: commit, Image: "web:" + commit,
			Config:  json.RawMessage(`{"count":2}`),
			Secrets: map[string]int{"DB_PASSWORD": i + 1},
			SetID:   "set-" + commit,
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.Number != i+1 {
			t.Fatalf("release %d numbered %d", i+1, r.Number)
		}
		if !r.CreatedAt.Equal(clock.Now()) || r.CreatedAt.Location() != time.UTC {
			t.Fatalf("CreatedAt = %v, want %v in UTC", r.CreatedAt, clock.Now())
		}
		web = append(web, r)
	}
	// Another service numbers independently; a given CreatedAt is kept.
	at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	api, err := s.CreateRelease(ctx, Release{Service: "api", Artifact: "/var/berth/api-1", CreatedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	if api.Number != 1 || !api.CreatedAt.Equal(at) {
		t.Fatalf("api release = %+v, want number 1 created %v", api, at)
	}

	got, err := s.Release(ctx, "web", 2)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "Release(web, 2)", got, web[1])
	got, err = s.Release(ctx, "api", 1)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "Release(api, 1)", got, api)
	_, err = s.Release(ctx, "web", 4)
	mustNotFound(t, "Release(web, 4)", err)

	latest, err := s.LatestRelease(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "LatestRelease", latest, web[2])

	list, err := s.Releases(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "Releases newest first", list, []Release{web[2], web[1], web[0]})
}

func TestCreateRelease_ConcurrentNumbersUniqueAndConsecutive(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	const workers, each = 8, 10
	type result struct {
		service string
		number  int
		err     error
	}
	results := make(chan result, 2*workers*each)
	for w := range workers {
		go func() {
			for range each {
				for _, svc := range []string{"web", "api"} {
					r, err := s.CreateRelease(ctx, Release{Service: svc, Commit: fmt.Sprint(w)})
					results <- result{svc, r.Number, err}
				}
			}
		}()
	}
	seen := map[string]map[int]bool{"web": {}, "api": {}}
	for range 2 * workers * each {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if seen[r.service][r.number] {
			t.Fatalf("%s release %d handed out twice", r.service, r.number)
		}
		seen[r.service][r.number] = true
	}
	for svc, nums := range seen {
		for n := 1; n <= workers*each; n++ {
			if !nums[n] {
				t.Errorf("%s: release %d missing; numbers not consecutive", svc, n)
			}
		}
	}
}

func TestDeployments(t *testing.T) {
	ctx := context.Background()
	s, clock := openTest(t)

	_, err := s.Deployment(ctx, 1)
	mustNotFound(t, "Deployment before create", err)
	mustNotFound(t, "UpdateDeployment of absent", s.UpdateDeployment(ctx, Deployment{ID: 42, Service: "web", State: DeployFailed}))
	if _, err := s.CreateDeployment(ctx, Deployment{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("CreateDeployment without service: %v, want ErrInvalid", err)
	}

	d1, err := s.CreateDeployment(ctx, Deployment{Service: "web", FromRelease: 0, ToRelease: 1, Strategy: "rolling"})
	if err != nil {
		t.Fatal(err)
	}
	if d1.ID == 0 || d1.State != DeployRunning || !d1.StartedAt.Equal(clock.Now()) {
		t.Fatalf("created %+v: want an ID, state running, started now", d1)
	}
	clock.Advance(time.Second)
	d2, err := s.CreateDeployment(ctx, Deployment{Service: "api", ToRelease: 1, Strategy: "canary", SetID: "s1",
		Progress: json.RawMessage(`{"step":0}`)})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	d3, err := s.CreateDeployment(ctx, Deployment{Service: "web", FromRelease: 1, ToRelease: 2, Strategy: "bluegreen"})
	if err != nil {
		t.Fatal(err)
	}
	if !(d1.ID < d2.ID && d2.ID < d3.ID) {
		t.Fatalf("IDs not increasing: %d %d %d", d1.ID, d2.ID, d3.ID)
	}

	got, err := s.Deployment(ctx, d2.ID)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "Deployment(d2)", got, d2)

	clock.Advance(time.Second)
	d1.State, d1.Reason, d1.FinishedAt = DeploySucceeded, "all tasks healthy", clock.Now().UTC()
	d1.Progress = json.RawMessage(`{"step":3}`)
	if err := s.UpdateDeployment(ctx, d1); err != nil {
		t.Fatal(err)
	}
	got, err = s.Deployment(ctx, d1.ID)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "Deployment(d1) after update", got, d1)

	tests := []struct {
		service string
		limit   int
		want    []Deployment
	}{
		{"", 0, []Deployment{d3, d2, d1}},
		{"", 2, []Deployment{d3, d2}},
		{"web", 0, []Deployment{d3, d1}},
		{"web", 1, []Deployment{d3}},
		{"api", -1, []Deployment{d2}},
		{"db", 0, nil},
	}
	for _, tt := range tests {
		got, err := s.Deployments(ctx, tt.service, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, fmt.Sprintf("Deployments(%q, %d)", tt.service, tt.limit), got, tt.want)
	}

	active, err := s.ActiveDeployments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "ActiveDeployments", active, []Deployment{d2, d3})
}

func TestTasks(t *testing.T) {
	ctx := context.Background()
	s, clock := openTest(t)

	_, err := s.Task(ctx, "web-1-a")
	mustNotFound(t, "Task before put", err)
	mustNotFound(t, "DeleteTask of absent", s.DeleteTask(ctx, "web-1-a"))
	if err := s.PutTask(ctx, Task{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("PutTask without id: %v, want ErrInvalid", err)
	}

	created := clock.Now().UTC()
	a := Task{ID: "web-1-a", Service: "web", Release: 1, State: TaskStarting,
		Handle: json.RawMessage(`{"driver":"process","pid":42}`), Addr: "127.0.0.1:4001"}
	if err := s.PutTask(ctx, a); err != nil {
		t.Fatal(err)
	}
	a.CreatedAt, a.UpdatedAt = created, created
	got, err := s.Task(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "task after insert", got, a)

	clock.Advance(time.Second)
	b := Task{ID: "api-1-b", Service: "api", Release: 1, State: TaskHealthy}
	if err := s.PutTask(ctx, b); err != nil {
		t.Fatal(err)
	}
	b.CreatedAt, b.UpdatedAt = clock.Now().UTC(), clock.Now().UTC()

	clock.Advance(time.Second)
	c := Task{ID: "web-1-c", Service: "web", Release: 1, State: TaskStarting}
	if err := s.PutTask(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.CreatedAt, c.UpdatedAt = clock.Now().UTC(), clock.Now().UTC()

	// Update keeps CreatedAt (even when the caller passes none) and moves UpdatedAt.
	clock.Advance(time.Second)
	a.State, a.Restarts, a.Exit, a.CreatedAt = TaskExited, 1, "exit status 2", time.Time{}
	if err := s.PutTask(ctx, a); err != nil {
		t.Fatal(err)
	}
	a.CreatedAt, a.UpdatedAt = created, clock.Now().UTC()
	got, err = s.Task(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "task after update", got, a)

	all, err := s.Tasks(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "Tasks(all)", all, []Task{a, b, c})
	web, err := s.Tasks(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "Tasks(web)", web, []Task{a, c})

	if err := s.DeleteTask(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Task(ctx, a.ID)
	mustNotFound(t, "Task after delete", err)
}

func TestEvents(t *testing.T) {
	ctx := context.Background()
	s, clock := openTest(t)

	given := time.Date(2025, 6, 1, 0, 0, 0, 0, time.FixedZone("X", -7200))
	inputs := []Event{
		{Service: "web", Deployment: 1, Kind: "deploy.start", Message: "rolling 0 -> 1"},
		{Service: "api", Deployment: 2, Kind: "deploy.start", Message: "canary 0 -> 1", Fields: map[string]string{"weight": "10"}},
		{Service: "web", Deployment: 1, Kind: "task.healthy", Message: "web-1-a healthy", Time: given},
		{Kind: "control.start", Message: "control plane started"},
	}
	var evs []Event
	for _, in := range inputs {
		clock.Advance(time.Millisecond)
		e, err := s.AddEvent(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		want := in.Time
		if want.IsZero() {
			want = clock.Now()
		}
		if e.ID == 0 || !e.Time.Equal(want) || e.Time.Location() != time.UTC {
			t.Fatalf("AddEvent(%s) = %+v: want an ID and time %v in UTC", in.Kind, e, want)
		}
		evs = append(evs, e)
	}

	tests := []struct {
		name string
		q    EventQuery
		want []Event
	}{
		{"all", EventQuery{}, evs},
		{"after", EventQuery{AfterID: evs[1].ID}, evs[2:]},
		{"limit", EventQuery{Limit: 2}, evs[:2]},
		{"after and limit", EventQuery{AfterID: evs[0].ID, Limit: 1}, evs[1:2]},
		{"service", EventQuery{Service: "web"}, []Event{evs[0], evs[2]}},
		{"deployment", EventQuery{Deployment: 2}, []Event{evs[1]}},
		{"service after", EventQuery{Service: "web", AfterID: evs[0].ID}, []Event{evs[2]}},
		{"nothing newer", EventQuery{AfterID: evs[3].ID}, nil},
		{"kind prefixes", EventQuery{KindPrefixes: []string{"task.", "control."}}, []Event{evs[2], evs[3]}},
		{"kind prefix is not a pattern", EventQuery{KindPrefixes: []string{"deploy%"}}, nil},
		{"newest", EventQuery{Limit: 2, Newest: true}, evs[2:]},
		{"newest of a service", EventQuery{Service: "web", Limit: 1, Newest: true}, evs[2:3]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Events(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "Events", got, tt.want)
		})
	}
}

func TestReleaseSets(t *testing.T) {
	ctx := context.Background()
	s, clock := openTest(t)

	_, err := s.ReleaseSet(ctx, "s1")
	mustNotFound(t, "ReleaseSet before create", err)
	_, err = s.ReleaseSetByCommit(ctx, "abc")
	mustNotFound(t, "ReleaseSetByCommit before create", err)
	if err := s.CreateReleaseSet(ctx, ReleaseSet{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("CreateReleaseSet without id: %v, want ErrInvalid", err)
	}

	s1 := ReleaseSet{ID: "s1", Commit: "abc1234", Members: []SetMember{
		{Service: "web", Release: 1}, {Service: "api", Release: 1},
	}}
	s2 := ReleaseSet{ID: "s2", Commit: "def5678", Members: []SetMember{
		{Service: "web", Release: 2, PrevRelease: 1},
	}}
	s3 := ReleaseSet{ID: "s3", Commit: "abc1234", Members: []SetMember{
		{Service: "api", Release: 2, PrevRelease: 1}, {Service: "db", Release: 1},
	}}
	s4 := ReleaseSet{ID: "s4", Commit: "abd0000", Members: []SetMember{}}
	for _, set := range []*ReleaseSet{&s1, &s2, &s3, &s4} {
		clock.Advance(time.Second)
		if err := s.CreateReleaseSet(ctx, *set); err != nil {
			t.Fatal(err)
		}
		set.CreatedAt = clock.Now().UTC()
	}
	if err := s.CreateReleaseSet(ctx, ReleaseSet{ID: "s1", Commit: "zzz"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate CreateReleaseSet: %v, want ErrExists", err)
	}

	got, err := s.ReleaseSet(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "ReleaseSet(s1)", got, s1)

	all, err := s.ReleaseSets(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "ReleaseSets newest first", all, []ReleaseSet{s4, s3, s2, s1})
	two, err := s.ReleaseSets(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "ReleaseSets(2)", two, []ReleaseSet{s4, s3})

	tests := []struct {
		commit string
		want   string // set id; "" = ErrNotFound
	}{
		{"abc1234", "s3"}, // newest of two with that commit
		{"abc", "s3"},     // prefix
		{"ab", "s4"},      // prefix shared by several commits: newest set wins
		{"def", "s2"},
		{"abc1234ffffffffffffffffffffffffffffffff", "s3"}, // full SHA finds stored short SHA
		{"abc9", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := s.ReleaseSetByCommit(ctx, tt.commit)
		if tt.want == "" {
			mustNotFound(t, "ReleaseSetByCommit("+tt.commit+")", err)
			continue
		}
		if err != nil {
			t.Fatalf("ReleaseSetByCommit(%q): %v", tt.commit, err)
		}
		if got.ID != tt.want {
			t.Errorf("ReleaseSetByCommit(%q) = %s, want %s", tt.commit, got.ID, tt.want)
		}
	}
}

func TestSecrets(t *testing.T) {
	ctx := context.Background()
	s, clock := openTest(t)

	_, err := s.SecretVersion(ctx, "DB", 0)
	mustNotFound(t, "SecretVersion before put", err)
	_, err = s.SecretHistory(ctx, "DB")
	mustNotFound(t, "SecretHistory before put", err)
	mustNotFound(t, "DeleteSecret of absent", s.DeleteSecret(ctx, "DB"))
	if _, err := s.PutSecretVersion(ctx, "", []byte("x")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("PutSecretVersion without name: %v, want ErrInvalid", err)
	}

	put := func(name, ct string) SecretVersion {
		t.Helper()
		clock.Advance(time.Second)
		v, err := s.PutSecretVersion(ctx, name, []byte(ct))
		if err != nil {
			t.Fatal(err)
		}
		return SecretVersion{Name: name, Version: v, Ciphertext: []byte(ct), CreatedAt: clock.Now().UTC()}
	}
	db1 := put("DB", "c1")
	db2 := put("DB", "c2")
	api1 := put("API_KEY", "k1")
	if db1.Version != 1 || db2.Version != 2 || api1.Version != 1 {
		t.Fatalf("versions = %d %d %d, want 1 2 1", db1.Version, db2.Version, api1.Version)
	}

	latest, err := s.SecretVersion(ctx, "DB", 0)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "latest DB", latest, db2)
	first, err := s.SecretVersion(ctx, "DB", 1)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "DB v1", first, db1)
	_, err = s.SecretVersion(ctx, "DB", 3)
	mustNotFound(t, "DB v3", err)

	list, err := s.SecretVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "SecretVersions", list, []SecretVersion{api1, db2})
	hist, err := s.SecretHistory(ctx, "DB")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "SecretHistory", hist, []SecretVersion{db2, db1})

	// Delete: gone from latest and the list, kept (marked) in history.
	if err := s.DeleteSecret(ctx, "DB"); err != nil {
		t.Fatal(err)
	}
	mustNotFound(t, "DeleteSecret twice", s.DeleteSecret(ctx, "DB"))
	_, err = s.SecretVersion(ctx, "DB", 0)
	mustNotFound(t, "latest DB after delete", err)
	old, err := s.SecretVersion(ctx, "DB", 2)
	if err != nil {
		t.Fatal(err)
	}
	if !old.Deleted {
		t.Errorf("DB v2 after delete: Deleted = false")
	}
	list, err = s.SecretVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "SecretVersions after delete", list, []SecretVersion{api1})
	db1.Deleted, db2.Deleted = true, true
	hist, err = s.SecretHistory(ctx, "DB")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "SecretHistory after delete", hist, []SecretVersion{db2, db1})

	// Setting it again continues the numbering and makes it live.
	db3 := put("DB", "c3")
	if db3.Version != 3 {
		t.Fatalf("version after re-put = %d, want 3", db3.Version)
	}
	latest, err = s.SecretVersion(ctx, "DB", 0)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "latest DB after re-put", latest, db3)

	// PutSecretVersionFunc seals for the version it stores; a seal error stores nothing.
	v, err := s.PutSecretVersionFunc(ctx, "DB", func(v int) ([]byte, error) { return []byte(fmt.Sprint("sealed-for-", v)), nil })
	if err != nil || v != 4 {
		t.Fatalf("PutSecretVersionFunc = %d, %v; want 4", v, err)
	}
	got, err := s.SecretVersion(ctx, "DB", 4)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Ciphertext) != "sealed-for-4" {
		t.Fatalf("ciphertext = %q, want sealed-for-4", got.Ciphertext)
	}
	boom := errors.New("boom")
	if _, err := s.PutSecretVersionFunc(ctx, "DB", func(int) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("PutSecretVersionFunc with failing seal: %v, want boom", err)
	}
	_, err = s.SecretVersion(ctx, "DB", 5)
	mustNotFound(t, "version after failed seal", err)
}
