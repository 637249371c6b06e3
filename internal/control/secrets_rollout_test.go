package control_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/control"
	"github.com/berth-dev/berth/internal/driver/drivertest"
	"github.com/berth-dev/berth/internal/driver/process"
	"github.com/berth-dev/berth/internal/release"
	"github.com/berth-dev/berth/internal/router"
	"github.com/berth-dev/berth/internal/secrets"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// secretsPlane is a real control plane (process driver, router, SQLite
// store) whose secret hooks resolve from a real encrypted provider.
type secretsPlane struct {
	t      *testing.T
	srv    *control.Server
	st     *store.Store
	prov   *secrets.Store
	spec   *spec.Spec
	server string // the test server binary
}

// newSecretsPlane starts a control plane for a spec whose services run the
// driver test server; specBody is the services: section.
func newSecretsPlane(t *testing.T, specBody string) *secretsPlane {
	t.Helper()
	bin := drivertest.BuildTestServer(t)
	dir := t.TempDir()
	yaml := "project: secrets\ndefaults:\n  health:\n    path: /health\n  deploy:\n    drain: 2s\nservices:\n" +
		strings.ReplaceAll(specBody, "$SERVER", bin)
	if err := os.WriteFile(filepath.Join(dir, "berth.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	sp, err := spec.Load(filepath.Join(dir, "berth.yaml"))
	if err != nil {
		t.Fatalf("load spec: %v", err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "state", "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := secrets.ParseKey(strings.Repeat("ab", 32), "test")
	if err != nil {
		t.Fatal(err)
	}
	prov := secrets.New(st, key)
	refs := func(cfg *spec.Service) map[string]string {
		m := map[string]string{}
		for k, v := range cfg.Secrets {
			m[k] = v
		}
		for k, v := range cfg.Config {
			m[k] = v
		}
		return m
	}
	rt := router.New(router.Config{})
	logDir := filepath.Join(dir, "logs")
	srv := control.New(control.Config{
		Project: "secrets", Store: st, Router: rt, LogDir: logDir,
		Driver: process.New(process.Config{LogDir: logDir}),
		Env: func(ctx context.Context, rel store.Release, cfg *spec.Service) (map[string]string, error) {
			vals, _, err := prov.Resolve(ctx, "", refs(cfg), rel.Secrets)
			return vals, err
		},
		SecretVersions: func(ctx context.Context, cfg *spec.Service) (map[string]int, error) {
			_, versions, err := prov.Resolve(ctx, "", refs(cfg), nil)
			return versions, err
		},
	})
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = rt.Close()
		_ = st.Close()
	})
	return &secretsPlane{t: t, srv: srv, st: st, prov: prov, spec: sp, server: bin}
}

func (p *secretsPlane) set(name, value string) int {
	p.t.Helper()
	v, err := p.prov.Set(context.Background(), name, []byte(value))
	if err != nil {
		p.t.Fatal(err)
	}
	return v
}

// deployReq is the request the CLI would send for the named services.
func (p *secretsPlane) deployReq(names ...string) api.DeployRequest {
	p.t.Helper()
	req := api.DeployRequest{Commit: "abc123"}
	for _, n := range names {
		raw, err := release.ForArtifact(p.spec, p.spec.Services[n]).Encode()
		if err != nil {
			p.t.Fatal(err)
		}
		req.Releases = append(req.Releases, api.ReleaseSpec{Service: n, Commit: "abc123", Config: raw, Fingerprint: "fp-" + n})
	}
	return req
}

// wait waits until every deployment finished and fails unless all succeeded.
func (p *secretsPlane) wait(deps []api.Deployment) {
	p.t.Helper()
	for _, d := range deps {
		var got api.Deployment
		waitUntil(p.t, "deployment "+d.ID+" of "+d.Service+" to finish", 60*time.Second, p.srv, func() bool {
			var err error
			if got, err = p.srv.Deployment(context.Background(), d.ID); err != nil {
				p.t.Fatal(err)
			}
			return got.Finished()
		})
		if got.State != store.DeploySucceeded {
			p.t.Fatalf("deployment %s of %s: %s: %s", got.ID, got.Service, got.State, got.Reason)
		}
	}
}

// env reads variable name from every live task of service.
func (p *secretsPlane) env(service, name string) []string {
	p.t.Helper()
	var out []string
	for _, s := range p.srv.Status(context.Background()).Services {
		if s.Name != service {
			continue
		}
		for _, task := range s.Tasks {
			if task.Release != s.Release || task.State != store.TaskHealthy {
				continue
			}
			resp, err := http.Get("http://" + task.Addr + "/env/" + name)
			if err != nil {
				p.t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			out = append(out, fmt.Sprintf("%d %s", resp.StatusCode, b))
		}
	}
	return out
}

func (p *secretsPlane) release(service string, n int) store.Release {
	p.t.Helper()
	r, err := p.st.Release(context.Background(), service, n)
	if err != nil {
		p.t.Fatal(err)
	}
	return r
}

const threeServices = `  a:
    run: $SERVER
    secrets: {TOKEN: token}
  b:
    run: $SERVER
    config: {LEVEL: log-level}
  c:
    run: $SERVER
`

func TestRolloutSecrets_RollsExactlyTheServicesThatUseTheName(t *testing.T) {
	p := newSecretsPlane(t, threeServices)
	ctx := context.Background()
	p.set("token", "token-one")
	p.set("log-level", "debug")
	resp, err := p.srv.Deploy(ctx, p.deployReq("a", "b", "c"))
	if err != nil {
		t.Fatal(err)
	}
	p.wait(resp.Deployments)
	if got := p.env("a", "TOKEN"); len(got) != 1 || got[0] != "200 token-one" {
		t.Fatalf("a's TOKEN = %q, want the first version", got)
	}
	if got := p.release("a", 1).Secrets; got["token"] != 1 {
		t.Fatalf("release a#1 secrets = %v, want token:1", got)
	}

	p.set("token", "token-two")
	roll, err := p.srv.RolloutSecrets(ctx, api.SecretsRolloutRequest{Names: []string{"token"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(roll.Deployments) != 1 || roll.Deployments[0].Service != "a" || roll.Deployments[0].FromRelease != 1 || roll.Deployments[0].ToRelease != 2 {
		t.Fatalf("rollout = %+v, want a: 1 → 2 only", roll.Deployments)
	}
	p.wait(roll.Deployments)
	if got := p.env("a", "TOKEN"); len(got) != 1 || got[0] != "200 token-two" {
		t.Fatalf("a's TOKEN after the roll = %q, want the second version", got)
	}
	old, rolled := p.release("a", 1), p.release("a", 2)
	if string(rolled.Config) != string(old.Config) || rolled.Commit != old.Commit || rolled.Artifact != old.Artifact || rolled.Secrets["token"] != 2 {
		t.Fatalf("rolled release = %+v, want a copy of %+v with token:2", rolled, old)
	}

	// Already current: nothing to roll.
	again, err := p.srv.RolloutSecrets(ctx, api.SecretsRolloutRequest{Names: []string{"token"}})
	if err != nil || len(again.Deployments) != 0 {
		t.Fatalf("second rollout = %+v, %v; want nothing", again.Deployments, err)
	}

	// A config value rolls its user the same way.
	p.set("log-level", "info")
	cfgRoll, err := p.srv.RolloutSecrets(ctx, api.SecretsRolloutRequest{Names: []string{"log-level", "unused"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgRoll.Deployments) != 1 || cfgRoll.Deployments[0].Service != "b" {
		t.Fatalf("config rollout = %+v, want b only", cfgRoll.Deployments)
	}
	p.wait(cfgRoll.Deployments)
	if got := p.env("b", "LEVEL"); len(got) != 1 || got[0] != "200 info" {
		t.Fatalf("b's LEVEL = %q, want info", got)
	}

	// Rolling back a restores the first secret version.
	back, err := p.srv.Rollback(ctx, api.RollbackRequest{Service: "a"})
	if err != nil {
		t.Fatal(err)
	}
	p.wait(back.Deployments)
	if got := p.env("a", "TOKEN"); len(got) != 1 || got[0] != "200 token-one" {
		t.Fatalf("a's TOKEN after rollback = %q, want the first version", got)
	}
	for _, s := range []string{"c"} {
		if h, _ := p.srv.History(ctx, s); len(h.Releases) != 1 {
			t.Errorf("%s has %d releases, want 1 (never rolled)", s, len(h.Releases))
		}
	}
}

func TestDeploy_MissingSecretStartsNothing(t *testing.T) {
	p := newSecretsPlane(t, threeServices)
	ctx := context.Background()
	p.set("log-level", "debug") // b resolves; a's "token" is missing
	_, err := p.srv.Deploy(ctx, p.deployReq("b", "a", "c"))
	if !errors.Is(err, control.ErrBadRequest) {
		t.Fatalf("deploy error = %v, want ErrBadRequest", err)
	}
	for _, want := range []string{"service a", "TOKEN", "token", "not found"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	for _, s := range []string{"a", "b", "c"} {
		if rels, err := p.st.Releases(ctx, s); err != nil || len(rels) != 0 {
			t.Errorf("%s: releases %v (%v), want none: nothing may start", s, rels, err)
		}
	}
	if st := p.srv.Status(ctx); len(st.Services) != 0 {
		t.Errorf("status lists %+v, want no service", st.Services)
	}
}

func TestDeploy_RunningReleaseKeepsServingWhenASecretGoesMissing(t *testing.T) {
	p := newSecretsPlane(t, threeServices)
	ctx := context.Background()
	p.set("token", "kept")
	resp, err := p.srv.Deploy(ctx, p.deployReq("a"))
	if err != nil {
		t.Fatal(err)
	}
	p.wait(resp.Deployments)
	if err := p.prov.Delete(ctx, "token"); err != nil {
		t.Fatal(err)
	}
	req := p.deployReq("a")
	req.Force = true
	if _, err := p.srv.Deploy(ctx, req); err == nil || !strings.Contains(err.Error(), "TOKEN=token") {
		t.Fatalf("deploy with a deleted secret: %v, want an error naming TOKEN=token", err)
	}
	if got := p.env("a", "TOKEN"); len(got) != 1 || got[0] != "200 kept" {
		t.Fatalf("a's TOKEN = %q, want the running release untouched", got)
	}
}

func TestDeploy_ChangedSecretMakesANewReleaseOfAnUnchangedService(t *testing.T) {
	p := newSecretsPlane(t, threeServices)
	ctx := context.Background()
	p.set("token", "one")
	resp, err := p.srv.Deploy(ctx, p.deployReq("a"))
	if err != nil {
		t.Fatal(err)
	}
	p.wait(resp.Deployments)
	same, err := p.srv.Deploy(ctx, p.deployReq("a"))
	if err != nil || len(same.Deployments) != 0 {
		t.Fatalf("redeploy of an unchanged service = %+v, %v; want unchanged", same, err)
	}
	p.set("token", "two") // e.g. set with --no-rollout
	next, err := p.srv.Deploy(ctx, p.deployReq("a"))
	if err != nil || len(next.Deployments) != 1 {
		t.Fatalf("deploy after a secret change = %+v, %v; want one deployment", next, err)
	}
	p.wait(next.Deployments)
	if got := p.env("a", "TOKEN"); len(got) != 1 || got[0] != "200 two" {
		t.Fatalf("a's TOKEN = %q, want two", got)
	}
}
