package control

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/release"
	"github.com/berth-dev/berth/internal/spec"
)

func (p *plane) web() api.Service {
	p.t.Helper()
	for _, s := range p.srv.Status(context.Background()).Services {
		if s.Name == "web" {
			return s
		}
	}
	p.t.Fatal("status has no service web")
	return api.Service{}
}

// A service whose tasks exit every few seconds after a good deploy is
// crash-looping in status, with its restarts and last exit, although every
// replacement passes its health check for a while (issue 11.6).
func TestStatus_CrashLoopingServiceShowsRestartsAndLastExit(t *testing.T) {
	p := newPlane(t)
	d := p.deploy(nil)
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == "succeeded" })
	if s := p.web(); s.State != api.ServiceHealthy || s.Restarts != 0 || s.LastExit != nil {
		t.Fatalf("after the deploy: state %q, restarts %d, last exit %+v; want healthy, 0, none", s.State, s.Restarts, s.LastExit)
	}
	var lastAt time.Time
	for i := range 4 {
		p.clock.Advance(8 * time.Second) // CHAOS_EXIT_AFTER: 8s
		victim := p.drv.live()[0]
		lastAt = p.clock.Now()
		p.drv.end(victim, driver.ExitStatus{Code: 2})
		p.waitEvent(api.EventTaskExited, victim)
		p.until(fmt.Sprintf("replacement %d healthy", i+1), 100*time.Millisecond, func() bool {
			s := p.web()
			return len(p.drv.live()) == 2 && s.Healthy == 2
		})
	}
	s := p.web()
	if s.State != api.ServiceCrashLooping {
		t.Errorf("state = %q with %d/%d healthy after 4 exits, want %q", s.State, s.Healthy, s.Desired, api.ServiceCrashLooping)
	}
	if s.Restarts != 4 {
		t.Errorf("restarts = %d, want 4", s.Restarts)
	}
	if e := s.LastExit; e == nil || e.Code != 2 || e.Reason != "exit code 2" || !e.At.Equal(lastAt) {
		t.Errorf("last exit = %+v, want code 2, reason \"exit code 2\" at %s", e, lastAt)
	}

	// Ten quiet minutes later the loop is over: healthy, no restarts
	// counted, the last exit still shown.
	p.clock.Advance(api.RestartWindow + time.Minute)
	p.settle(context.Background(), "quiet time")
	s = p.web()
	if s.State != api.ServiceHealthy || s.Restarts != 0 || s.LastExit == nil {
		t.Errorf("after a quiet window: state %q, restarts %d, last exit %+v; want healthy, 0, kept", s.State, s.Restarts, s.LastExit)
	}
}

// deployCount posts a release of web whose spec asks for count tasks.
func (p *plane) deployCount(count int, env map[string]string) api.Deployment {
	p.t.Helper()
	src := fmt.Sprintf("project: test\nservices:\n  web:\n    run: ./web\n    route: {path: /}\n    count: %d\n    health: {path: /health, interval: 1s, deadline: 30s}\n", count)
	sp, err := spec.Parse("/tmp/berth.yaml", []byte(src))
	if err != nil {
		p.t.Fatal(err)
	}
	svc := sp.Services["web"]
	svc.Env = env
	raw, _ := release.Config{Root: "/tmp", Service: svc}.Encode()
	resp, err := p.srv.Deploy(context.Background(), api.DeployRequest{Commit: "c", Force: true,
		Releases: []api.ReleaseSpec{{Service: "web", Commit: "c", Config: raw}}})
	if err != nil {
		p.t.Fatal(err)
	}
	return resp.Deployments[0]
}

// A scaled count survives a deploy whose spec count is unchanged, and a
// changed spec count wins over it (issue 11.15).
func TestScale_PersistsAcrossDeployUntilSpecCountChanges(t *testing.T) {
	p := newPlane(t)
	d := p.deployCount(2, nil)
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == "succeeded" })
	if err := p.srv.Scale(context.Background(), api.ScaleRequest{Counts: map[string]int{"web": 3}}); err != nil {
		t.Fatal(err)
	}
	p.until("3 tasks", 100*time.Millisecond, func() bool { return p.web().Healthy == 3 })

	d = p.deployCount(2, map[string]string{"V": "2"})
	p.until("release 2 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == "succeeded" })
	if s := p.web(); s.Release != 2 || s.Desired != 3 || s.Healthy != 3 {
		t.Fatalf("after a deploy with the same spec count: release %d, %d/%d healthy; want release 2 keeping the scaled 3", s.Release, s.Healthy, s.Desired)
	}

	d = p.deployCount(4, map[string]string{"V": "3"})
	p.until("release 3 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == "succeeded" })
	if s := p.web(); s.Release != 3 || s.Desired != 4 || s.Healthy != 4 {
		t.Fatalf("after a deploy changing the spec count to 4: release %d, %d/%d healthy; want release 3 at 4", s.Release, s.Healthy, s.Desired)
	}
}

func TestReleaseShares(t *testing.T) {
	by := func() map[int]*api.ReleaseShare {
		return map[int]*api.ReleaseShare{4: {Release: 4, Tasks: 2, Healthy: 2}, 5: {Release: 5, Tasks: 1, Healthy: 1}}
	}
	canary := &api.Deployment{FromRelease: 4, ToRelease: 5, Phase: "pause", Weight: 10}
	got := releaseShares(by(), 5, canary)
	want := []api.ReleaseShare{{Release: 4, Tasks: 2, Healthy: 2, Weight: 90}, {Release: 5, Tasks: 1, Healthy: 1, Weight: 10}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("canary at 10%%: %+v, want %+v", got, want)
	}
	got = releaseShares(map[int]*api.ReleaseShare{5: {Release: 5, Tasks: 2, Healthy: 2}}, 5, nil)
	if fmt.Sprint(got) != fmt.Sprint([]api.ReleaseShare{{Release: 5, Tasks: 2, Healthy: 2, Weight: 100}}) {
		t.Errorf("no deployment: %+v, want release 5 with 100%%", got)
	}
}
