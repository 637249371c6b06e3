package ecs_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/awsfake"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/engine/ecs"
	"github.com/berth-dev/berth/internal/spec"
)

// fakeSpec is a project of three services on ECS; LISTENER is replaced
// by the fake's ALB listener.
const fakeSpec = `project: shop
environments:
  prod:
    engine: ecs
    aws:
      region: us-east-1
      cluster: shop-prod
      subnets: [subnet-a, subnet-b]
      security_groups: [sg-1]
      listener: LISTENER
      execution_role: arn:aws:iam::123456789012:role/shop-exec
defaults:
  cpu: 256
  memory: 512
  health: {interval: 10s, timeout: 5s, healthy: 2}
services:
  web:
    image: web:1
    route: {path: /, default: true}
    depends_on: [api]
  api:
    image: api:1
    count: 2
    route: {path: /api, strip_prefix: true}
    secrets: {DB_PASSWORD: ssm:/shop/prod/db}
  worker:
    image: worker:1
`

type world struct {
	t   *testing.T
	srv *awsfake.Server
	cfg aws.Config
	sp  *spec.Spec
	lb  awsfake.LoadBalancer
}

// newWorld starts a fake (its clock moving 1s per call, so a polling
// follower sees progress) with the ALB berth expects.
func newWorld(t *testing.T, src string) *world {
	t.Helper()
	return newWorldWith(t, src, awsfake.New(awsfake.Options{AutoAdvance: time.Second}))
}

// newWorldWith is newWorld on a given fake, its ALB made with lbOpts.
func newWorldWith(t *testing.T, src string, srv *awsfake.Server, lbOpts ...awsfake.LoadBalancerOption) *world {
	t.Helper()
	t.Cleanup(srv.Close)
	lb := srv.AddLoadBalancer("shop", "application", lbOpts...)
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIAFAKE", "secret", "")),
		config.WithBaseEndpoint(srv.URL()),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
				o.RateLimiter = ratelimit.None
				o.MaxAttempts = 5
			})
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	src = strings.ReplaceAll(src, "LISTENER", lb.ListenerArn)
	s, err := spec.Parse(filepath.Join(t.TempDir(), "berth.yaml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := s.ForEnvironment("prod")
	if err != nil {
		t.Fatal(err)
	}
	srv.SetParameter("/shop/prod/db", "SecureString", "hunter2")
	return &world{t: t, srv: srv, cfg: cfg, sp: sp, lb: lb}
}

func (w *world) engine() *ecs.Engine {
	w.t.Helper()
	e, err := ecs.New(ecs.Config{Spec: w.sp, AWS: w.cfg, PollInterval: time.Millisecond, Now: w.srv.Now})
	if err != nil {
		w.t.Fatal(err)
	}
	return e
}

func releases(commit string, images map[string]string) api.DeployRequest {
	req := api.DeployRequest{Commit: commit}
	for _, n := range []string{"worker", "api", "web"} {
		if img, ok := images[n]; ok {
			req.Releases = append(req.Releases, api.ReleaseSpec{Service: n, Commit: commit, Image: img})
		}
	}
	return req
}

// deploy deploys and follows to the end, returning the outcomes and the
// events seen.
func (w *world) deploy(e *ecs.Engine, req api.DeployRequest) (api.DeployResponse, []api.Deployment, []api.Event) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := e.Deploy(ctx, req)
	if err != nil {
		w.t.Fatalf("Deploy: %v", err)
	}
	final, evs := w.follow(ctx, e, resp.Deployments)
	return resp, final, evs
}

func (w *world) follow(ctx context.Context, e *ecs.Engine, deps []api.Deployment) ([]api.Deployment, []api.Event) {
	w.t.Helper()
	var mu sync.Mutex
	var evs []api.Event
	final, err := engine.Wait(ctx, e, deps, func(ev api.Event) {
		mu.Lock()
		evs = append(evs, ev)
		mu.Unlock()
	})
	if err != nil {
		w.t.Fatalf("Wait: %v", err)
	}
	return final, evs
}

func states(ds []api.Deployment) map[string]string {
	out := map[string]string{}
	for _, d := range ds {
		out[d.Service] = d.State
	}
	return out
}

func (w *world) mutating() []string {
	var out []string
	for _, c := range w.srv.Calls() {
		if c.Mutating() {
			out = append(out, c.Service+":"+c.Operation)
		}
	}
	return out
}

func TestFake_FirstDeployChangeAwareRedeployAndNoOp(t *testing.T) {
	w := newWorld(t, fakeSpec)
	e := w.engine()
	v1 := map[string]string{"web": "reg/shop/web@sha256:1", "api": "reg/shop/api@sha256:1", "worker": "reg/shop/worker@sha256:1"}
	resp, final, evs := w.deploy(e, releases("aaaaaaa", v1))
	if len(resp.Deployments) != 3 || resp.SetID == "" {
		t.Fatalf("first deploy started %+v", resp)
	}
	for n, s := range states(final) {
		if s != "succeeded" {
			t.Errorf("%s: %s", n, s)
		}
	}
	// web depends on api: it is submitted only after api completed.
	var apiDone, webStarted int
	for i, ev := range evs {
		if ev.Service == "api" && ev.Kind == api.EventDeploySucceeded {
			apiDone = i
		}
		if ev.Service == "web" && ev.Kind == api.EventDeployStarted {
			webStarted = i
		}
	}
	if webStarted < apiDone {
		t.Errorf("web started (event %d) before api succeeded (event %d)", webStarted, apiDone)
	}

	st, err := w.engine().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Services) != 3 {
		t.Fatalf("status: %+v", st.Services)
	}
	for _, s := range st.Services {
		if s.Release != 1 || s.Commit != "aaaaaaa" {
			t.Errorf("status of %s: release %d commit %q", s.Name, s.Release, s.Commit)
		}
		if s.Name == "api" && (s.Desired != 2 || s.Healthy != 2) {
			t.Errorf("api: %d/%d", s.Healthy, s.Desired)
		}
	}

	// The same images again: nothing changes, and no mutating call is made.
	w.srv.ResetCalls()
	resp, _, _ = w.deploy(w.engine(), releases("aaaaaaa", v1))
	if len(resp.Deployments) != 0 || len(resp.Unchanged) != 3 {
		t.Errorf("no-op deploy: %+v", resp)
	}
	if m := w.mutating(); len(m) != 0 {
		t.Errorf("a deploy of unchanged releases made mutating calls: %v", m)
	}
	// At a newer commit: the services only learn that commit (a tag).
	w.srv.ResetCalls()
	resp, _, _ = w.deploy(w.engine(), releases("bbbbbbb", v1))
	if len(resp.Deployments) != 0 || len(resp.Unchanged) != 3 {
		t.Errorf("unchanged deploy at a new commit: %+v", resp)
	}
	for _, m := range w.mutating() {
		if m != "ecs:TagResource" {
			t.Errorf("an unchanged deploy at a new commit called %s", m)
		}
	}
	if st, _ := w.engine().Status(context.Background()); st.Services[0].Commit != "bbbbbbb" || st.Services[0].Release != 1 {
		t.Errorf("status after an unchanged deploy at a new commit: %+v", st.Services[0])
	}

	// One new image: only that service rolls, to release 2.
	v2 := map[string]string{"web": v1["web"], "api": "reg/shop/api@sha256:2", "worker": v1["worker"]}
	resp, final, _ = w.deploy(w.engine(), releases("ccccccc", v2))
	if len(resp.Deployments) != 1 || resp.Deployments[0].Service != "api" || final[0].State != "succeeded" || final[0].ToRelease != 2 || final[0].FromRelease != 1 {
		t.Errorf("redeploy of api: %+v → %+v", resp, final)
	}
	h, err := w.engine().History(context.Background(), "api")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Releases) != 2 || !h.Releases[0].Live || h.Releases[0].Commit != "ccccccc" || h.Releases[1].Commit != "aaaaaaa" {
		t.Errorf("history of api: %+v", h.Releases)
	}
}

func TestFake_RollbackAndRollbackOfASet(t *testing.T) {
	w := newWorld(t, fakeSpec)
	v1 := map[string]string{"web": "w@sha256:1", "api": "a@sha256:1", "worker": "k@sha256:1"}
	v2 := map[string]string{"web": "w@sha256:2", "api": "a@sha256:2", "worker": "k@sha256:1"}
	w.deploy(w.engine(), releases("1111111", v1))
	w.deploy(w.engine(), releases("2222222", v2))

	// One service back to the release before.
	e := w.engine()
	ctx := context.Background()
	resp, err := e.Rollback(ctx, api.RollbackRequest{Service: "api"})
	if err != nil {
		t.Fatal(err)
	}
	final, _ := w.follow(ctx, e, resp.Deployments)
	if len(final) != 1 || final[0].State != "succeeded" || final[0].ToRelease != 1 {
		t.Fatalf("rollback of api: %+v", final)
	}
	st, _ := w.engine().Status(ctx)
	live := map[string]string{}
	for _, s := range st.Services {
		live[s.Name] = s.Commit
	}
	if live["api"] != "1111111" || live["web"] != "2222222" {
		t.Errorf("after rolling api back: %v", live)
	}
	// Forward again, then the whole last set back.
	e = w.engine()
	resp, err = e.Rollback(ctx, api.RollbackRequest{Service: "api", To: 2})
	if err != nil {
		t.Fatal(err)
	}
	w.follow(ctx, e, resp.Deployments)
	e = w.engine()
	resp, err = e.Rollback(ctx, api.RollbackRequest{LastSet: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, d := range resp.Deployments {
		got[d.Service] = d.ToRelease
	}
	if len(got) != 2 || got["api"] != 1 || got["web"] != 1 {
		t.Errorf("rollback of the last set moved %v, want api and web to 1 (worker was not in it)", got)
	}
	w.follow(ctx, e, resp.Deployments)
	// Nothing was deregistered: every revision is still there.
	h, _ := w.engine().History(ctx, "web")
	if len(h.Releases) != 2 {
		t.Errorf("web history after rollbacks: %+v", h.Releases)
	}
	// To a commit.
	e = w.engine()
	resp, err = e.Rollback(ctx, api.RollbackRequest{ToCommit: "2222222"})
	if err != nil {
		t.Fatal(err)
	}
	final, _ = w.follow(ctx, e, resp.Deployments)
	if len(final) != 2 {
		t.Errorf("rollback to commit 2222222: %+v (unchanged %v)", final, resp.Unchanged)
	}
	if _, err := w.engine().Rollback(ctx, api.RollbackRequest{Service: "api", To: 9}); !errors.Is(err, ecs.ErrNoRelease) {
		t.Errorf("rollback to a release that does not exist: %v", err)
	}
}

func TestFake_FailedReleaseRolledBackByTheBreakerWithTheReason(t *testing.T) {
	w := newWorld(t, fakeSpec)
	v1 := map[string]string{"api": "a@sha256:1"}
	w.deploy(w.engine(), releases("1111111", v1))
	// Release 2 of api crashes on start.
	w.srv.FailTaskDefinition("shop-prod-api:2", awsfake.TaskFailure{ContainerReason: "panic: no DATABASE_URL", ExitCode: 2,
		LogLines: []string{"starting api", "panic: no DATABASE_URL"}})
	resp, final, evs := w.deploy(w.engine(), releases("2222222", map[string]string{"api": "a@sha256:bad"}))
	if len(resp.Deployments) != 1 || final[0].State != "rolled_back" {
		t.Fatalf("failing release: %+v", final)
	}
	if final[0].Reason == "" {
		t.Error("no reason for the rollback")
	}
	var sawStopped bool
	for _, ev := range evs {
		if ev.Kind == api.EventTaskStopped && strings.Contains(ev.Message, "exited 2") && strings.Contains(ev.Message, "panic: no DATABASE_URL") {
			sawStopped = true
		}
	}
	if !sawStopped {
		t.Errorf("no stopped-task reason among the events: %+v", evs)
	}
	var sawLogs bool
	for _, ev := range evs {
		if strings.Contains(ev.Message, "log lines of task") && strings.Contains(ev.Message, "starting api\n    panic: no DATABASE_URL") {
			sawLogs = true
		}
	}
	if !sawLogs {
		t.Errorf("no last log lines of the failed task among the events: %+v", evs)
	}
	st, _ := w.engine().Status(context.Background())
	if len(st.Services) != 1 || st.Services[0].Release != 1 || st.Services[0].Commit != "1111111" {
		t.Errorf("after the breaker: %+v", st.Services)
	}
}

func TestFake_ScaleLogsAndDown(t *testing.T) {
	w := newWorld(t, fakeSpec)
	w.deploy(w.engine(), releases("1111111", map[string]string{"web": "w@sha256:1", "api": "a@sha256:1", "worker": "k@sha256:1"}))
	ctx := context.Background()
	if err := w.engine().Scale(ctx, map[string]int{"worker": 3}); err != nil {
		t.Fatal(err)
	}
	w.srv.Advance(time.Minute)
	st, _ := w.engine().Status(ctx)
	for _, s := range st.Services {
		if s.Name == "worker" && (s.Desired != 3 || s.Healthy != 3) {
			t.Errorf("worker after scale: %d/%d", s.Healthy, s.Desired)
		}
	}
	if err := w.engine().Scale(ctx, map[string]int{"nope": 1}); err == nil {
		t.Error("scaling an unknown service succeeded")
	}

	w.srv.PutLogLines("/berth/shop/prod/worker", "worker/worker/task1", "one", "two", "three")
	rc, err := w.engine().Logs(ctx, "worker", engine.LogOptions{Tail: 2})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if got := string(b); got != "task1 two\ntask1 three\n" {
		t.Errorf("logs --tail 2 = %q", got)
	}

	// Something berth did not create on the same listener survives down.
	w.srv.ResetCalls()
	if err := w.engine().Down(ctx); err != nil {
		t.Fatal(err)
	}
	w.srv.Advance(time.Minute)
	st, _ = w.engine().Status(ctx)
	if len(st.Services) != 0 {
		t.Errorf("services after down: %+v", st.Services)
	}
	var deleted []string
	for _, m := range w.mutating() {
		if strings.Contains(m, "Delete") {
			deleted = append(deleted, m)
		}
	}
	if want := 3 + 2 + 2 + 2; len(deleted) != want {
		t.Errorf("down deleted %v, want 3 services, 2 rules, 2 target groups and the alarms of 2 routed services", deleted)
	}
	// History survives (task definitions are kept).
	h, err := w.engine().History(ctx, "api")
	if err != nil || len(h.Releases) != 1 {
		t.Errorf("history after down: %+v %v", h.Releases, err)
	}
}

// A deploy that dies half-way (here: ECS refuses CreateService until the
// SDK gives up) leaves a registered task definition, a target group and a
// rule behind; running it again converges on them: nothing is created
// twice.
func TestFake_InterruptedDeployRerunConvergesWithoutDuplicates(t *testing.T) {
	w := newWorld(t, fakeSpec)
	// The test's SDK makes 5 attempts: all of them are throttled.
	w.srv.Throttle(awsfake.ServiceECS, "CreateService", 5)
	v1 := map[string]string{"api": "a@sha256:1"}
	if _, err := w.engine().Deploy(context.Background(), releases("1111111", v1)); err == nil {
		t.Fatal("the deploy succeeded although ECS refused every CreateService")
	}
	before := map[string]int{}
	for _, op := range []string{"RegisterTaskDefinition", "CreateTargetGroup", "CreateRule", "CreateLogGroup", "CreateCluster"} {
		before[op] = callsOf(w.srv, op)
	}
	if before["RegisterTaskDefinition"] != 1 || before["CreateTargetGroup"] != 1 || before["CreateRule"] != 1 {
		t.Fatalf("the interrupted deploy got to %v; the test expects it to stop at CreateService", before)
	}
	_, final, _ := w.deploy(w.engine(), releases("1111111", v1))
	if len(final) != 1 || final[0].State != "succeeded" || final[0].ToRelease != 1 {
		t.Fatalf("re-run: %+v", final)
	}
	for op, n := range before {
		if got := callsOf(w.srv, op); got != n {
			t.Errorf("%s called %d times after the re-run, %d before: the re-run duplicated what the first run made", op, got, n)
		}
	}
	h, _ := w.engine().History(context.Background(), "api")
	if len(h.Releases) != 1 {
		t.Errorf("releases after the re-run: %+v", h.Releases)
	}
}

// callsOf counts successful calls of an operation in the fake's log.
func callsOf(srv *awsfake.Server, op string) int {
	n := 0
	for _, c := range srv.Calls() {
		if c.Operation == op && c.Err == "" {
			n++
		}
	}
	return n
}

// A changed secret value makes a new release of the services that use
// it, and only those; a Secrets Manager value is pinned to its version.
func TestFake_ChangedSecretRollsTheServicesThatUseIt(t *testing.T) {
	w := newWorld(t, strings.Replace(fakeSpec, "    secrets: {DB_PASSWORD: ssm:/shop/prod/db}\n", "    secrets: {DB_PASSWORD: ssm:/shop/prod/db, API_KEY: \"secretsmanager:shop/api#key\"}\n", 1))
	w.srv.SetSecret("shop/api", `{"key":"k1"}`)
	v1 := map[string]string{"web": "w@sha256:1", "api": "a@sha256:1", "worker": "k@sha256:1"}
	w.deploy(w.engine(), releases("1111111", v1))

	list, err := w.engine().ListSecrets(context.Background())
	if err != nil || len(list) != 2 || list[0].Name != "secretsmanager:shop/api#key" || list[1].Name != "ssm:/shop/prod/db" || list[1].Version != 1 || list[1].Value != nil {
		t.Errorf("ListSecrets = %+v, %v", list, err)
	}
	if _, err := w.engine().SetSecret(context.Background(), "DB_PASSWORD", []byte("x")); !errors.Is(err, ecs.ErrUnsupported) {
		t.Errorf("SetSecret on ECS: %v", err)
	}

	w.srv.SetParameter("/shop/prod/db", "SecureString", "hunter3")
	resp, final, _ := w.deploy(w.engine(), releases("1111111", v1))
	if len(resp.Deployments) != 1 || resp.Deployments[0].Service != "api" || final[0].State != "succeeded" || len(resp.Unchanged) != 2 {
		t.Errorf("after changing api's SSM parameter: %+v", resp)
	}
	w.srv.SetSecret("shop/api", `{"key":"k2"}`)
	resp, _, _ = w.deploy(w.engine(), releases("1111111", v1))
	if len(resp.Deployments) != 1 || resp.Deployments[0].Service != "api" || resp.Deployments[0].ToRelease != 3 {
		t.Errorf("after changing api's Secrets Manager value: %+v", resp)
	}
	out, err := ecsClient(w).DescribeTaskDefinition(context.Background(), &awsecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("shop-prod-api:3")})
	if err != nil {
		t.Fatal(err)
	}
	var apiKey string
	for _, s := range out.TaskDefinition.ContainerDefinitions[0].Secrets {
		if aws.ToString(s.Name) == "API_KEY" {
			apiKey = aws.ToString(s.ValueFrom)
		}
	}
	if !strings.Contains(apiKey, ":secret:shop/api") || !strings.Contains(apiKey, ":key::") || strings.HasSuffix(apiKey, "::") {
		t.Errorf("API_KEY valueFrom = %q, want the secret's ARN, its key and a pinned version", apiKey)
	}
}

func ecsClient(w *world) *awsecs.Client { return awsecs.NewFromConfig(w.cfg) }

// abort rolls a deployment in progress back through ECS.
func TestFake_AbortRollsTheDeploymentInProgressBack(t *testing.T) {
	w := newWorld(t, fakeSpec)
	w.deploy(w.engine(), releases("1111111", map[string]string{"api": "a@sha256:1"}))
	e := w.engine()
	ctx := context.Background()
	resp, err := e.Deploy(ctx, releases("2222222", map[string]string{"api": "a@sha256:2"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Abort(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	final, _ := w.follow(ctx, e, resp.Deployments)
	if final[0].State != "rolled_back" {
		t.Errorf("aborted deployment ended %s (%s)", final[0].State, final[0].Reason)
	}
	st, _ := w.engine().Status(ctx)
	if st.Services[0].Release != 1 {
		t.Errorf("after abort api runs release %d", st.Services[0].Release)
	}
}

// logs -f prints lines written after it started, until it is cancelled.
func TestFake_LogsFollow(t *testing.T) {
	w := newWorld(t, fakeSpec)
	w.deploy(w.engine(), releases("1111111", map[string]string{"worker": "k@sha256:1"}))
	w.srv.PutLogLines("/berth/shop/prod/worker", "worker/worker/t1", "old")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc, err := w.engine().Logs(ctx, "worker", engine.LogOptions{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	lines := make(chan string, 10)
	go func() {
		defer close(lines)
		buf := make([]byte, 4096)
		var acc string
		for {
			n, err := rc.Read(buf)
			acc += string(buf[:n])
			for {
				i := strings.IndexByte(acc, '\n')
				if i < 0 {
					break
				}
				lines <- acc[:i]
				acc = acc[i+1:]
			}
			if err != nil {
				return
			}
		}
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the log stream ended")
			}
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("no log line within 10s")
		}
		return ""
	}
	if l := next(); l != "t1 old" {
		t.Errorf("first line %q", l)
	}
	w.srv.PutLogLines("/berth/shop/prod/worker", "worker/worker/t2", "new")
	if l := next(); l != "t2 new" {
		t.Errorf("followed line %q", l)
	}
	cancel()
	for range lines {
	}
}
