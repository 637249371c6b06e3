package enginetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/spec"
)

// Service is a service the suite deploys. Every release of it runs the
// test server of internal/driver/drivertest (GET /health answers 200; it
// prints "testserver: listening on ADDR" on stdout when it starts).
type Service struct {
	Name string
	// Version tells releases apart: it is the task's VERSION variable, so
	// a new version is a new release.
	Version string
	// Count is the number of tasks; 0 means 1.
	Count int
	// Broken releases never become healthy: their tasks exit at once.
	Broken bool
}

// Harness adapts an engine to the suite.
type Harness struct {
	// New returns an engine for a fresh project with nothing deployed;
	// the harness cleans it up when t ends.
	New func(t *testing.T) engine.Engine
	// Release returns the release of s at commit as the engine runs it,
	// its config made from Resolved(s).
	Release func(t *testing.T, s Service, commit string) api.ReleaseSpec
	// Timeout bounds each wait of the suite; 0 means 2 minutes.
	Timeout time.Duration
}

// Resolved is s as a resolved service spec: the test server's health
// check, quick checks and no drain, so that the suite runs in seconds on
// any engine that honours them.
func Resolved(s Service) *spec.Service {
	h := spec.BuiltinHealth()
	h.Interval, h.Timeout, h.Deadline = spec.Duration(200*time.Millisecond), spec.Duration(time.Second), spec.Duration(30*time.Second)
	d := spec.BuiltinDeploy()
	d.Drain = spec.Duration(100 * time.Millisecond)
	count := max(s.Count, 1)
	env := map[string]string{"VERSION": s.Version}
	if s.Broken {
		env["EXIT_CODE"] = "1"
	}
	return &spec.Service{Name: s.Name, Health: h, Deploy: d, Env: env, Count: &count}
}

// Run runs every case against a fresh engine of the harness.
func Run(t *testing.T, h Harness) {
	if h.Timeout == 0 {
		h.Timeout = 2 * time.Minute
	}
	s := &suite{h: h}
	for _, c := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"DeployStatusHistoryEvents", s.deployStatusHistoryEvents},
		{"UnchangedReleaseMakesNoDeployment", s.unchanged},
		{"RollbackService", s.rollbackService},
		{"RollbackSet", s.rollbackSet},
		{"BrokenReleaseRollsBack", s.brokenRollsBack},
		{"Scale", s.scale},
		{"Logs", s.logs},
		{"Down", s.down},
	} {
		t.Run(c.name, c.run)
	}
}

type suite struct{ h Harness }

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// deploy submits the services as one release set and waits for the
// deployments to finish; it returns the response and their final states.
func (s *suite) deploy(t *testing.T, e engine.Engine, commit string, svcs ...Service) (api.DeployResponse, []api.Deployment) {
	t.Helper()
	ctx := s.ctx(t)
	req := api.DeployRequest{Commit: commit}
	for _, sv := range svcs {
		req.Releases = append(req.Releases, s.h.Release(t, sv, commit))
	}
	resp, err := e.Deploy(ctx, req)
	if err != nil {
		t.Fatalf("deploy %v: %v", names(svcs), err)
	}
	return resp, s.wait(t, e, resp.Deployments)
}

func (s *suite) wait(t *testing.T, e engine.Engine, deps []api.Deployment) []api.Deployment {
	t.Helper()
	final, err := engine.Wait(s.ctx(t), e, deps, nil)
	if err != nil {
		t.Fatalf("follow deployments: %v", err)
	}
	return final
}

func names(svcs []Service) []string {
	out := make([]string, len(svcs))
	for i, s := range svcs {
		out[i] = s.Name
	}
	return out
}

func wantState(t *testing.T, deps []api.Deployment, state string) {
	t.Helper()
	for _, d := range deps {
		if d.State != state {
			t.Fatalf("deployment of %s: %s (%s), want %s", d.Service, d.State, d.Reason, state)
		}
	}
}

// service returns the status of one service; ok is false when the engine
// does not list it.
func (s *suite) service(t *testing.T, e engine.Engine, name string) (api.Service, bool) {
	t.Helper()
	st, err := e.Status(s.ctx(t))
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	for _, sv := range st.Services {
		if sv.Name == name {
			return sv, true
		}
	}
	return api.Service{}, false
}

// eventually polls cond (through the engine's API, the only view the
// suite has) until it holds or the harness's timeout passes.
func (s *suite) eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	ctx := s.ctx(t)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not after %s; last seen: %s", what, s.h.Timeout, last)
		case <-tick.C:
		}
	}
}

func (s *suite) wantLive(t *testing.T, e engine.Engine, name string, release, healthy int) {
	t.Helper()
	s.eventually(t, fmt.Sprintf("%s on release %d with %d healthy tasks", name, release, healthy), func() (bool, string) {
		sv, _ := s.service(t, e, name)
		return sv.Release == release && sv.Healthy == healthy, fmt.Sprintf("release %d, %d healthy of %d desired", sv.Release, sv.Healthy, sv.Desired)
	})
}

func (s *suite) deployStatusHistoryEvents(t *testing.T) {
	e := s.h.New(t)
	resp, final := s.deploy(t, e, "c1", Service{Name: "web", Version: "1", Count: 2})
	wantState(t, final, "succeeded")
	if len(resp.Deployments) != 1 || resp.SetID == "" {
		t.Fatalf("deploy response %+v: want one deployment in a release set", resp)
	}
	sv, ok := s.service(t, e, "web")
	if !ok || sv.Release != 1 || sv.Commit != "c1" || sv.Desired != 2 || sv.Healthy != 2 {
		t.Errorf("status of web: %+v; want release 1 at c1 with 2 of 2 healthy", sv)
	}
	h, err := e.History(s.ctx(t), "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Releases) != 1 || !h.Releases[0].Live || h.Releases[0].Commit != "c1" || h.Releases[0].SetID != resp.SetID {
		t.Errorf("history releases %+v: want release 1, live, from c1, in set %s", h.Releases, resp.SetID)
	}
	if len(h.Deployments) != 1 || h.Deployments[0].State != "succeeded" {
		t.Errorf("history deployments %+v: want one that succeeded", h.Deployments)
	}
	kinds := map[string]bool{}
	err = e.Events(s.ctx(t), engine.EventQuery{Deployment: final[0].ID}, func(ev api.Event) error {
		if ev.Deployment != final[0].ID {
			return fmt.Errorf("event %+v is not of deployment %v", ev, final[0].ID)
		}
		kinds[ev.Kind] = true
		return nil
	})
	if err != nil {
		t.Fatalf("events: %v", err)
	}
	for _, k := range []string{api.EventDeployStarted, api.EventDeploySucceeded} {
		if !kinds[k] {
			t.Errorf("events of the deployment: no %s in %v", k, kinds)
		}
	}
	if _, err := e.History(s.ctx(t), "nope"); err == nil {
		t.Error("history of a service that does not exist: no error")
	}
}

func (s *suite) unchanged(t *testing.T) {
	e := s.h.New(t)
	_, final := s.deploy(t, e, "c1", Service{Name: "web", Version: "1"})
	wantState(t, final, "succeeded")
	resp, _ := s.deploy(t, e, "c2", Service{Name: "web", Version: "1"})
	if len(resp.Deployments) != 0 || len(resp.Unchanged) != 1 || resp.Unchanged[0] != "web" {
		t.Fatalf("deploy of the same release: %+v; want web unchanged and no deployment", resp)
	}
	// Same release, new commit: the service is live at the new commit.
	if sv, _ := s.service(t, e, "web"); sv.Release != 1 || sv.Commit != "c2" {
		t.Errorf("status after the unchanged deploy: release %d at %q; want release 1 live at c2", sv.Release, sv.Commit)
	}
}

func (s *suite) rollbackService(t *testing.T) {
	e := s.h.New(t)
	_, final := s.deploy(t, e, "c1", Service{Name: "web", Version: "1"})
	wantState(t, final, "succeeded")
	_, final = s.deploy(t, e, "c2", Service{Name: "web", Version: "2"})
	wantState(t, final, "succeeded")
	resp, err := e.Rollback(s.ctx(t), api.RollbackRequest{Service: "web"})
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if len(resp.Deployments) != 1 || resp.Deployments[0].ToRelease != 1 {
		t.Fatalf("rollback response %+v: want one deployment to release 1", resp)
	}
	wantState(t, s.wait(t, e, resp.Deployments), "succeeded")
	s.wantLive(t, e, "web", 1, 1)
	if sv, _ := s.service(t, e, "web"); sv.Commit != "c1" {
		t.Errorf("commit after rollback: %q, want c1", sv.Commit)
	}
	if _, err := e.Rollback(s.ctx(t), api.RollbackRequest{Service: "nope"}); err == nil {
		t.Error("rollback of a service that does not exist: no error")
	}
}

func (s *suite) rollbackSet(t *testing.T) {
	e := s.h.New(t)
	_, final := s.deploy(t, e, "c1", Service{Name: "api", Version: "1"}, Service{Name: "web", Version: "1"})
	wantState(t, final, "succeeded")
	resp, final := s.deploy(t, e, "c2", Service{Name: "api", Version: "2"}, Service{Name: "web", Version: "2"}, Service{Name: "jobs", Version: "1"})
	wantState(t, final, "succeeded")
	back, err := e.Rollback(s.ctx(t), api.RollbackRequest{Set: resp.SetID})
	if err != nil {
		t.Fatalf("rollback of set %s: %v", resp.SetID, err)
	}
	wantState(t, s.wait(t, e, back.Deployments), "succeeded")
	s.wantLive(t, e, "api", 1, 1)
	s.wantLive(t, e, "web", 1, 1)
	// The set introduced jobs: rolling it back leaves jobs running nothing.
	s.eventually(t, "jobs stopped", func() (bool, string) {
		sv, ok := s.service(t, e, "jobs")
		return !ok || sv.Release == 0 && sv.Healthy == 0, fmt.Sprintf("%+v", sv)
	})
	if _, err := e.Rollback(s.ctx(t), api.RollbackRequest{Set: "no-such-set"}); err == nil {
		t.Error("rollback of a set that does not exist: no error")
	}
}

func (s *suite) brokenRollsBack(t *testing.T) {
	e := s.h.New(t)
	_, final := s.deploy(t, e, "c1", Service{Name: "web", Version: "1"})
	wantState(t, final, "succeeded")
	_, final = s.deploy(t, e, "c2", Service{Name: "web", Version: "2", Broken: true})
	if len(final) != 1 || final[0].State == "succeeded" || final[0].Reason == "" {
		t.Fatalf("deployment of a broken release: %+v; want it not to succeed, with a reason", final)
	}
	s.wantLive(t, e, "web", 1, 1)
}

func (s *suite) scale(t *testing.T) {
	e := s.h.New(t)
	_, final := s.deploy(t, e, "c1", Service{Name: "web", Version: "1"})
	wantState(t, final, "succeeded")
	if err := e.Scale(s.ctx(t), map[string]int{"web": 3}); err != nil {
		t.Fatalf("scale: %v", err)
	}
	s.wantLive(t, e, "web", 1, 3)
	if err := e.Scale(s.ctx(t), map[string]int{"web": 1}); err != nil {
		t.Fatalf("scale down: %v", err)
	}
	s.wantLive(t, e, "web", 1, 1)
	for _, bad := range []map[string]int{{"web": -1}, {"nope": 1}} {
		if err := e.Scale(s.ctx(t), bad); err == nil {
			t.Errorf("scale %v: no error", bad)
		}
	}
}

func (s *suite) logs(t *testing.T) {
	e := s.h.New(t)
	_, final := s.deploy(t, e, "c1", Service{Name: "web", Version: "1"})
	wantState(t, final, "succeeded")
	s.eventually(t, "the task's start line in the logs", func() (bool, string) {
		rc, err := e.Logs(s.ctx(t), "web", engine.LogOptions{Tail: 100})
		if err != nil {
			return false, err.Error()
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(string(b), "testserver: listening on"), string(b)
	})
}

func (s *suite) down(t *testing.T) {
	e := s.h.New(t)
	_, final := s.deploy(t, e, "c1", Service{Name: "web", Version: "1", Count: 2})
	wantState(t, final, "succeeded")
	ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
	defer cancel()
	if err := e.Down(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("down: %v", err)
	}
	s.eventually(t, "no healthy task after down", func() (bool, string) {
		sv, _ := s.service(t, e, "web")
		return sv.Healthy == 0, fmt.Sprintf("%d healthy", sv.Healthy)
	})
}
