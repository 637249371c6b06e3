package ship

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/spec"
)

// fakeEngine records what the flow submits; every deployment it starts
// succeeds at once. Methods the flow must not call panic (nil interface).
type fakeEngine struct {
	engine.Engine
	target    engine.BuildTarget
	submitted []api.DeployRequest
}

func (f *fakeEngine) Target(context.Context) (engine.BuildTarget, error) { return f.target, nil }

func (f *fakeEngine) Status(context.Context) (api.Status, error) { return api.Status{}, nil }

func (f *fakeEngine) Deploy(_ context.Context, r api.DeployRequest) (api.DeployResponse, error) {
	f.submitted = append(f.submitted, r)
	resp := api.DeployResponse{SetID: "set-1"}
	for i, rs := range r.Releases {
		resp.Deployments = append(resp.Deployments, api.Deployment{ID: rs.Service + "-d", Service: rs.Service, ToRelease: i + 1, State: api.DeployRunning})
	}
	return resp, nil
}

func (f *fakeEngine) Events(_ context.Context, q engine.EventQuery, fn func(api.Event) error) error {
	return fn(api.Event{Deployment: q.Deployment, Kind: api.EventDeploySucceeded, Message: "done"})
}

func (f *fakeEngine) Deployment(_ context.Context, id string) (api.Deployment, error) {
	return api.Deployment{ID: id, Service: strings.TrimSuffix(id, "-d"), State: api.DeploySucceeded}, nil
}

// flowSpec is a spec outside git with a service whose build fails and one
// that builds.
func flowSpec(t *testing.T) *spec.Spec {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "berth.yaml")
	data := "project: p\nservices:\n  broken:\n    build: echo nope >&2; exit 1\n    run: $BERTH_ARTIFACT\n  good:\n    build: printf x > $BERTH_ARTIFACT\n    run: $BERTH_ARTIFACT\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	sp, err := spec.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func TestDeploy_BuildFailureSubmitsNothing(t *testing.T) {
	e := &fakeEngine{target: engine.BuildTarget{Kind: engine.TargetArtifact}}
	var out bytes.Buffer
	res, err := Deploy(context.Background(), e, flowSpec(t), Options{StateDir: t.TempDir(), Out: &out})
	var fe *FailedError
	if !errors.As(err, &fe) || len(e.submitted) != 0 {
		t.Fatalf("err %v, submitted %d requests; want a FailedError and nothing submitted", err, len(e.submitted))
	}
	if len(res.Failed) == 0 || res.Failed[0].Service != "broken" || res.Failed[0].Stage != StageBuild || !strings.Contains(res.Failed[0].Reason, "nope") {
		t.Errorf("failures %+v: want broken first, at build, with its output", res.Failed)
	}
}

func TestDeploy_KeepGoingSubmitsWhatBuilt(t *testing.T) {
	e := &fakeEngine{target: engine.BuildTarget{Kind: engine.TargetArtifact}}
	var out bytes.Buffer
	res, err := Deploy(context.Background(), e, flowSpec(t), Options{StateDir: t.TempDir(), KeepGoing: true, Out: &out})
	var fe *FailedError
	if !errors.As(err, &fe) || strings.Join(fe.Services(), ",") != "broken" {
		t.Fatalf("err %v: want a FailedError naming broken only", err)
	}
	if len(e.submitted) != 1 || len(e.submitted[0].Releases) != 1 || e.submitted[0].Releases[0].Service != "good" || e.submitted[0].Releases[0].Artifact == "" {
		t.Fatalf("submitted %+v: want good's artifact release alone", e.submitted)
	}
	if len(res.Deployments) != 1 || res.Deployments[0].State != api.DeploySucceeded {
		t.Errorf("deployments %+v: want good's, succeeded", res.Deployments)
	}
}

func TestDeploy_UnknownTargetKind(t *testing.T) {
	e := &fakeEngine{target: engine.BuildTarget{Kind: "wasm"}}
	_, err := Deploy(context.Background(), e, flowSpec(t), Options{StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), `"wasm"`) || len(e.submitted) != 0 {
		t.Fatalf("err %v, submitted %d: want the unknown kind named and nothing submitted", err, len(e.submitted))
	}
}
