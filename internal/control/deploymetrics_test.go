package control

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/deploy"
	"github.com/berth-dev/berth/internal/release"
	"github.com/berth-dev/berth/internal/router"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// TestDeployMetrics_CountsStartsEndsAndDurations: a deploy that succeeds
// and one rolled back at its health deadline are counted by strategy,
// outcome and bounded reason, and timed on the fake clock.
func TestDeployMetrics_CountsStartsEndsAndDurations(t *testing.T) {
	p := newPlane(t)
	good := p.deploy(nil)
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(good.ID).State == "succeeded" })
	bad := p.deploy(map[string]string{"FAKE_HEALTH": "fail"})
	p.until("release 2 rolled back", time.Second, func() bool { return p.deployment(bad.ID).State == "rolled_back" })

	c := p.srv.DeployMetrics()
	if got := counter(t, c, "berth_deployments_started_total", map[string]string{"service": "web", "strategy": "rolling"}); got != 2 {
		t.Errorf("berth_deployments_started_total{web,rolling} = %v, want 2", got)
	}
	if got := counter(t, c, "berth_deployments_finished_total", map[string]string{"service": "web", "outcome": "succeeded", "reason": "none"}); got != 1 {
		t.Errorf("finished{succeeded,none} = %v, want 1", got)
	}
	if got := counter(t, c, "berth_deployments_finished_total", map[string]string{"service": "web", "outcome": "rolled_back", "reason": "deadline"}); got != 1 {
		t.Errorf("finished{rolled_back,deadline} = %v, want 1", got)
	}
	count, sum := histogram(t, p.srv.DeployMetrics(), "berth_deploy_duration_seconds", map[string]string{"outcome": "rolled_back"})
	if count != 1 || sum < 30 || sum > 32 {
		t.Errorf("deploy duration of the rolled back deployment: count %d sum %.1fs, want 1 around the 30s deadline", count, sum)
	}
}

// TestDeployMetrics_BuildSeconds: a reported build time lands in the
// build histogram; a negative one is a 400 that records nothing.
func TestDeployMetrics_BuildSeconds(t *testing.T) {
	p := newPlane(t)
	raw := webConfig(t)
	_, err := p.srv.Deploy(context.Background(), api.DeployRequest{Commit: "c",
		Releases: []api.ReleaseSpec{{Service: "web", Commit: "c", Config: raw, BuildSeconds: -1}}})
	if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "build_seconds") {
		t.Fatalf("negative build_seconds: err = %v, want a bad request naming build_seconds", err)
	}
	if _, err := p.srv.Deploy(context.Background(), api.DeployRequest{Commit: "c",
		Releases: []api.ReleaseSpec{{Service: "web", Commit: "c", Config: raw, BuildSeconds: 12.5}}}); err != nil {
		t.Fatal(err)
	}
	count, sum := histogram(t, p.srv.DeployMetrics(), "berth_build_duration_seconds", map[string]string{"service": "web"})
	if count != 1 || sum != 12.5 {
		t.Errorf("build histogram count %d sum %v, want 1 and 12.5", count, sum)
	}
}

// TestReasonClass maps the reasons berth writes to bounded labels; the
// reasons come from the functions that write them.
func TestReasonClass(t *testing.T) {
	now := time.Now()
	deadline := deploy.Judge(deploy.JudgeInput{Release: 2, Now: now, Deadline: time.Second,
		Tasks: []deploy.TaskView{{ID: "web-2-a", Release: 2, StartedAt: now.Add(-time.Minute)}}}).Reason
	breaker := deploy.Judge(deploy.JudgeInput{Release: 2, Now: now,
		Failures: []deploy.Failure{{TaskID: "a", Why: "exit code 3"}, {TaskID: "b", Why: "exit code 3"}, {TaskID: "c", Why: "exit code 3"}}}).Reason
	_, analysis := deploy.Analyze(spec.Analysis{}, deploy.Signals{Requests: 1000, Errors5xx: 500}, "web", 2)
	for _, c := range []struct {
		state, reason, want string
	}{
		{store.DeploySucceeded, "", "none"},
		{store.DeployRolledBack, deadline + "; rolled back to release 1", "deadline"},
		{store.DeployRolledBack, breaker + "; rolled back to release 1", "breaker"},
		{store.DeployRolledBack, analysis + "; rolled back to release 1", "analysis"},
		{store.DeployRolledBack, "aborted by user; rolled back to release 1", "manual"},
		{store.DeployRolledBack, "smoke check /ready failed (503) on web release 2", "smoke"},
		{store.DeployFailed, "superseded by a newer deployment", "superseded"},
		{store.DeployFailed, "cannot be decided after a restart: boom", "error"},
	} {
		if got := reasonClass(c.state, c.reason); got != c.want {
			t.Errorf("reasonClass(%s, %q) = %s, want %s", c.state, c.reason, got, c.want)
		}
	}
	if deadline == "" || breaker == "" || analysis == "" {
		t.Fatalf("deploy wrote no reason: %q %q %q", deadline, breaker, analysis)
	}
}

// histogram returns the sample count and sum of the series of name whose
// labels include want.
func histogram(t *testing.T, c prometheus.Collector, name string, want map[string]string) (uint64, float64) {
	t.Helper()
	var count uint64
	var sum float64
	for _, m := range series(t, c, name, want) {
		count += m.GetHistogram().GetSampleCount()
		sum += m.GetHistogram().GetSampleSum()
	}
	return count, sum
}

// counter returns the sum of the counters of name whose labels include want.
func counter(t *testing.T, c prometheus.Collector, name string, want map[string]string) float64 {
	t.Helper()
	var v float64
	for _, m := range series(t, c, name, want) {
		v += m.GetCounter().GetValue()
	}
	return v
}

// series gathers c and returns the series of name whose labels include want.
func series(t *testing.T, c prometheus.Collector, name string, want map[string]string) []*dto.Metric {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metrics
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// webConfig is the release config of a two-task web service.
func webConfig(t *testing.T) json.RawMessage {
	t.Helper()
	sp, err := spec.Parse("/tmp/berth.yaml", []byte("project: test\nservices:\n  web:\n    run: ./web\n    route: {path: /}\n    count: 2\n    health: {path: /health, interval: 1s, deadline: 30s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := release.Config{Root: "/tmp", Service: sp.Services["web"]}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestSignalRing_WindowCapacityAndForgetting: reads return the samples
// inside the window in order, a release keeps at most keep/every samples,
// and a release no longer sampled is dropped after keep.
func TestSignalRing_WindowCapacityAndForgetting(t *testing.T) {
	r := newSignalRing(5*time.Second, time.Minute)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	web1, web2 := releaseKey{"web", 1}, releaseKey{"web", 2}
	for i := range 20 {
		r.add(t0.Add(time.Duration(i)*5*time.Second), web1, router.Signals{Requests: 50, Errors5xx: i, P50: 2 * time.Millisecond, P99: 40 * time.Millisecond})
	}
	now := t0.Add(95 * time.Second)
	got := r.read(now, 30*time.Second, "")
	if len(got) != 1 || len(got[0].Samples) != 6 {
		t.Fatalf("30s window read %+v, want 6 samples of web 1", got)
	}
	s := got[0].Samples[5]
	if s.RPS != 10 || s.Errors5xx != 19 || s.P50Ms != 2 || s.P99Ms != 40 || !s.Time.Equal(now) {
		t.Errorf("newest sample %+v", s)
	}
	if all := r.read(now, time.Hour, "web"); len(all[0].Samples) != 12 {
		t.Errorf("kept %d samples, want capacity 12", len(all[0].Samples))
	}
	r.add(now.Add(61*time.Second), web2, router.Signals{Requests: 5})
	got = r.read(now.Add(61*time.Second), time.Hour, "")
	if len(got) != 1 || got[0].Release != 2 {
		t.Errorf("after a minute without samples of release 1: %+v, want only release 2", got)
	}
	if other := r.read(now, time.Hour, "api"); len(other) != 0 {
		t.Errorf("service filter: %+v", other)
	}
}

// sampledRouter is a fake router that measures a fixed traffic per release.
type sampledRouter struct {
	*fakeRouter
	mu    sync.Mutex
	calls []releaseKey
}

func (r *sampledRouter) ReleaseSignals(route string, rel int, window time.Duration) router.Signals {
	r.mu.Lock()
	r.calls = append(r.calls, releaseKey{route, rel})
	r.mu.Unlock()
	return router.Signals{Requests: 100 * int(window/time.Second), Errors5xx: 1, P50: time.Millisecond, P99: 9 * time.Millisecond}
}

// TestSignalsAPI_SamplesLiveReleases: the control plane samples each live
// release's signals every signalsEvery and GET /v1/signals serves them;
// a bad window is a 400.
func TestSignalsAPI_SamplesLiveReleases(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	rt := &sampledRouter{fakeRouter: &fakeRouter{}}
	p := &plane{t: t, clock: newFakeClock(), drv: newFakeDriver(), rt: rt.fakeRouter, st: st}
	p.srv = New(Config{Project: "test", Store: st, Driver: p.drv, Router: rt, Clock: p.clock,
		Probe: func(context.Context, string, string, time.Duration) error { return nil }})
	if err := p.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.srv.Shutdown(context.Background()); _ = st.Close() })
	d := p.deploy(nil)
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == "succeeded" })
	p.until("two samples", signalsEvery, func() bool {
		got, _ := p.srv.Signals(context.Background(), "", signalsKeep)
		return len(got.Releases) == 1 && len(got.Releases[0].Samples) >= 2
	})
	h := p.srv.Handler("", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/signals?window=15m&service=web", nil))
	var got api.Signals
	if err := json.Unmarshal(rec.Body.Bytes(), &got); rec.Code != 200 || err != nil {
		t.Fatalf("GET /v1/signals: %d %s", rec.Code, rec.Body)
	}
	if len(got.Releases) != 1 || got.Releases[0].Service != "web" || got.Releases[0].Release != 1 || got.IntervalSeconds != 5 {
		t.Fatalf("signals %+v", got)
	}
	if s := got.Releases[0].Samples[0]; s.RPS != 100 || s.Errors5xx != 1 || s.P99Ms != 9 {
		t.Errorf("sample %+v, want 100 rps, 1 5xx, p99 9ms", s)
	}
	for _, q := range []string{"window=1h", "window=-1s", "window=soon", "service=nope", "service=a%20b"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/signals?"+q, nil))
		if rec.Code != 400 && rec.Code != 404 {
			t.Errorf("GET /v1/signals?%s: %d, want 4xx", q, rec.Code)
		}
	}
}

// TestEventsTail: ?tail=N starts the stream at the newest N events (the
// dashboard's first read), in order; a bad tail is a 400.
func TestEventsTail(t *testing.T) {
	p := newPlane(t)
	d := p.deploy(nil)
	p.until("release 1 live", 100*time.Millisecond, func() bool { return p.deployment(d.ID).State == "succeeded" })
	all, err := p.st.Events(context.Background(), store.EventQuery{})
	if err != nil || len(all) < 4 {
		t.Fatalf("events %d %v, want at least 4", len(all), err)
	}
	h := p.srv.Handler("", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/events?tail=2", nil))
	var got []api.Event
	dec := json.NewDecoder(rec.Body)
	for dec.More() {
		var e api.Event
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if len(got) != 2 || got[0].Message != all[len(all)-2].Message || got[1].Message != all[len(all)-1].Message {
		t.Fatalf("tail=2 gave %+v, want the last two of %d events", got, len(all))
	}
	for _, q := range []string{"tail=0", "tail=-3", "tail=x", "tail=10001"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/events?"+q, nil))
		if rec.Code != 400 {
			t.Errorf("GET /v1/events?%s: %d, want 400", q, rec.Code)
		}
	}
}
