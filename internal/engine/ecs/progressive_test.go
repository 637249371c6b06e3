package ecs_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/engine/ecs"
)

// progressiveSpec is one routed service whose deploy: is DEPLOY.
const progressiveSpec = `project: shop
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
      infrastructure_role: arn:aws:iam::123456789012:role/ecs-infra
defaults:
  cpu: 256
  memory: 512
  health: {interval: 10s, timeout: 5s, healthy: 2}
services:
  web:
    image: web:1
    count: 2
    route: {path: /}
    deploy: DEPLOY
`

func webRelease(commit, image string) api.DeployRequest {
	return api.DeployRequest{Commit: commit, Releases: []api.ReleaseSpec{{Service: "web", Commit: commit, Image: image}}}
}

// progressiveWorld has release 1 of web live with deploy.
func progressiveWorld(t *testing.T, deploy string) *world {
	t.Helper()
	w := newWorld(t, strings.Replace(progressiveSpec, "DEPLOY", deploy, 1))
	_, final, evs := w.deploy(w.engine(), webRelease("1111111", "w@sha256:1"))
	if final[0].State != "succeeded" {
		t.Fatalf("release 1 ended %s (%s): %v", final[0].State, final[0].Reason, evs)
	}
	return w
}

// start deploys release 2 and follows it in the background, calling
// onEvent with each event (synchronously: the follower waits for it);
// the returned function waits for the outcome.
func (w *world) start(e *ecs.Engine, onEvent func(api.Event)) func() (api.Deployment, []api.Event) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	resp, err := e.Deploy(ctx, webRelease("2222222", "w@sha256:2"))
	if err != nil {
		cancel()
		w.t.Fatalf("Deploy: %v", err)
	}
	var mu sync.Mutex
	var evs []api.Event
	done := make(chan []api.Deployment, 1)
	go func() {
		final, err := engine.Wait(ctx, e, resp.Deployments, func(ev api.Event) {
			mu.Lock()
			evs = append(evs, ev)
			mu.Unlock()
			if onEvent != nil {
				onEvent(ev)
			}
		})
		if err != nil {
			w.t.Errorf("Wait: %v", err)
		}
		done <- final
	}()
	return func() (api.Deployment, []api.Event) {
		defer cancel()
		final := <-done
		mu.Lock()
		defer mu.Unlock()
		if len(final) == 0 {
			w.t.Fatal("no outcome")
		}
		return final[0], evs
	}
}

func messages(evs []api.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString(ev.Message + "\n")
	}
	return b.String()
}

// productionWeights reads the production rule's weights per target group name suffix.
func (w *world) productionWeights(t *testing.T) map[string]int32 {
	t.Helper()
	ctx := context.Background()
	rules, err := elb.NewFromConfig(w.cfg).DescribeRules(ctx, &elb.DescribeRulesInput{ListenerArn: aws.String(w.lb.ListenerArn)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int32{}
	for _, r := range rules.Rules {
		for _, a := range r.Actions {
			if a.ForwardConfig == nil || len(a.ForwardConfig.TargetGroups) != 2 {
				continue
			}
			for _, tg := range a.ForwardConfig.TargetGroups {
				arn := aws.ToString(tg.TargetGroupArn)
				out[arn[strings.Index(arn, "targetgroup/"):]] = aws.ToInt32(tg.Weight)
			}
		}
	}
	return out
}

// A canary whose 5xx alarm fires is rolled back by ECS, and the outcome
// names the alarm and its threshold.
func TestProgressive_CanaryAlarmRollsBackWithTheAlarmNamed(t *testing.T) {
	w := progressiveWorld(t, `{strategy: canary, steps: [10%, 100%], pause: 5m, analysis: {max_5xx_rate: 2%, min_requests: 10, window: 60s}}`)
	fired := false
	wait := w.start(w.engine(), func(ev api.Event) {
		if !fired && strings.Contains(ev.Message, "production traffic 10%") {
			fired = true
			if !w.srv.SetAlarmState("berth-shop-prod-web-5xx", "ALARM") {
				t.Error("the 5xx alarm does not exist")
			}
		}
	})
	d, evs := wait()
	if d.State != "rolled_back" || !strings.Contains(d.Reason, "berth-shop-prod-web-5xx") || !strings.Contains(d.Reason, "> 2 percent") {
		t.Fatalf("outcome %s (%s)\n%s", d.State, d.Reason, messages(evs))
	}
	if !fired {
		t.Fatalf("never saw 10%% production traffic:\n%s", messages(evs))
	}
	for tg, wgt := range w.productionWeights(t) {
		if strings.Contains(tg, "-b/") && wgt != 0 {
			t.Errorf("after rollback the green target group %s has weight %d", tg, wgt)
		}
	}
}

// A pause gate holds the deployment until promote; ECS's own clock
// moving on does not release it.
func TestProgressive_GateWaitsForPromote(t *testing.T) {
	w := progressiveWorld(t, `{strategy: canary, steps: [20%, pause, 100%], pause: 1m}`)
	e := w.engine()
	gate := make(chan struct{})
	var once sync.Once
	wait := w.start(e, func(ev api.Event) {
		if strings.Contains(ev.Message, "waiting at a gate") {
			once.Do(func() { close(gate) })
		}
	})
	select {
	case <-gate:
	case <-time.After(20 * time.Second):
		d, evs := wait()
		t.Fatalf("the deployment never reached its gate: %s (%s)\n%s", d.State, d.Reason, messages(evs))
	}
	w.srv.Advance(60 * time.Minute)
	st := w.serviceDeployment(t)
	if st.Status != "IN_PROGRESS" {
		t.Fatalf("an hour at the gate: %s", st.Status)
	}
	if p := aws.ToFloat64(st.TargetServiceRevision.RequestedProductionTrafficWeight); p != 20 {
		t.Fatalf("production traffic at the gate = %v, want 20", p)
	}
	status, err := w.engine().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if dep := status.Services[0].Deployment; dep == nil || dep.Strategy != "canary" || !strings.Contains(dep.Reason, "production traffic 20%") || !strings.Contains(dep.Reason, "awaits `berth promote --env prod web`") {
		t.Errorf("status at the gate: %+v", dep)
	}
	if err := e.Promote(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	d, evs := wait()
	if d.State != "succeeded" {
		t.Fatalf("promoted deployment ended %s (%s)\n%s", d.State, d.Reason, messages(evs))
	}
}

// abort at a gate rolls the deployment back.
func TestProgressive_AbortAtAGateRollsBack(t *testing.T) {
	w := progressiveWorld(t, `{strategy: bluegreen, steps: [pause], bake: 1m}`)
	e := w.engine()
	gate := make(chan struct{})
	var once sync.Once
	wait := w.start(e, func(ev api.Event) {
		if strings.Contains(ev.Message, "waiting at a gate") {
			once.Do(func() { close(gate) })
		}
	})
	select {
	case <-gate:
	case <-time.After(20 * time.Second):
		t.Fatal("the deployment never reached its gate")
	}
	if err := e.Abort(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	d, evs := wait()
	if d.State != "rolled_back" {
		t.Fatalf("aborted deployment ended %s (%s)\n%s", d.State, d.Reason, messages(evs))
	}
	st, _ := w.engine().Status(context.Background())
	if st.Services[0].Release != 1 {
		t.Errorf("after abort web runs release %d", st.Services[0].Release)
	}
}

// With nobody to promote (the CLI vanished), the gate's hook times out
// and ECS rolls back.
func TestProgressive_GateWhoseCLIVanishedTimesOutIntoRollback(t *testing.T) {
	w := progressiveWorld(t, `{strategy: bluegreen, steps: [pause], bake: 1m}`)
	e := w.engine()
	ctx := context.Background()
	if _, err := e.Deploy(ctx, webRelease("2222222", "w@sha256:2")); err != nil {
		t.Fatal(err)
	}
	// Nobody follows; let the fake reach the gate, then a day pass.
	deadline := time.Now().Add(20 * time.Second)
	for w.serviceDeployment(t).LifecycleStage != "POST_TEST_TRAFFIC_SHIFT" {
		if time.Now().After(deadline) {
			t.Fatalf("never reached the gate: %s", w.serviceDeployment(t).LifecycleStage)
		}
	}
	w.srv.Advance(1441 * time.Minute)
	for {
		sd := w.serviceDeployment(t)
		if sd.Status == "ROLLBACK_SUCCESSFUL" {
			if !strings.Contains(aws.ToString(sd.Rollback.Reason), "timed out") {
				t.Errorf("rollback reason %q", aws.ToString(sd.Rollback.Reason))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rollback: %s", sd.Status)
		}
	}
	st, _ := w.engine().Status(ctx)
	if st.Services[0].Release != 1 {
		t.Errorf("after the timeout web runs release %d", st.Services[0].Release)
	}
}

// A linear deployment reaches 100% through its equal steps.
func TestProgressive_LinearReachesFullTrafficThroughItsSteps(t *testing.T) {
	w := progressiveWorld(t, `{strategy: canary, linear: {step: 50%, every: 1m}}`)
	wait := w.start(w.engine(), nil)
	d, evs := wait()
	if d.State != "succeeded" || d.Strategy != "linear" {
		t.Fatalf("linear ended %s/%s (%s)\n%s", d.Strategy, d.State, d.Reason, messages(evs))
	}
	if !strings.Contains(messages(evs), "production traffic 50%") {
		t.Errorf("no 50%% step seen:\n%s", messages(evs))
	}
	weights := w.productionWeights(t)
	full := 0
	for _, wgt := range weights {
		if wgt == 100 {
			full++
		}
	}
	if full != 1 {
		t.Errorf("production weights after linear = %v", weights)
	}
}

// serviceDeployment reads web's current (or latest) service deployment.
func (w *world) serviceDeployment(t *testing.T) *ecstypes.ServiceDeployment {
	t.Helper()
	c := awsecs.NewFromConfig(w.cfg)
	ctx := context.Background()
	list, err := c.ListServiceDeployments(ctx, &awsecs.ListServiceDeploymentsInput{Cluster: aws.String("shop-prod"), Service: aws.String("shop-prod-web")})
	if err != nil || len(list.ServiceDeployments) == 0 {
		t.Fatalf("list service deployments: %v", err)
	}
	latest := list.ServiceDeployments[0]
	for _, b := range list.ServiceDeployments {
		if aws.ToTime(b.CreatedAt).After(aws.ToTime(latest.CreatedAt)) {
			latest = b
		}
	}
	out, err := c.DescribeServiceDeployments(ctx, &awsecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{aws.ToString(latest.ServiceDeploymentArn)}})
	if err != nil || len(out.ServiceDeployments) == 0 {
		t.Fatalf("describe service deployment: %v", err)
	}
	return &out.ServiceDeployments[0]
}

// Before each deployment the alarms are re-pointed at the target group
// that will receive the new release (ECS alternates them), and an alarm
// already firing is a warning in the deploy's output.
func TestProgressive_AlarmsFollowTheGreenTargetGroupAndFiringOnesWarn(t *testing.T) {
	w := progressiveWorld(t, `{strategy: bluegreen, bake: 1m, analysis: {max_5xx_rate: 2%, window: 60s}}`)
	cw := cloudwatch.NewFromConfig(w.cfg)
	ctx := context.Background()
	alarmTG := func() string {
		t.Helper()
		out, err := cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"berth-shop-prod-web-5xx"}})
		if err != nil || len(out.MetricAlarms) != 1 {
			t.Fatalf("describe alarm: %v", err)
		}
		for _, m := range out.MetricAlarms[0].Metrics {
			if m.MetricStat != nil {
				for _, d := range m.MetricStat.Metric.Dimensions {
					if aws.ToString(d.Name) == "TargetGroup" {
						return aws.ToString(d.Value)
					}
				}
			}
		}
		t.Fatal("the alarm has no TargetGroup dimension")
		return ""
	}
	first := alarmTG()
	_, final, _ := w.deploy(w.engine(), webRelease("2222222", "w@sha256:2"))
	if final[0].State != "succeeded" {
		t.Fatalf("release 2: %s (%s)", final[0].State, final[0].Reason)
	}
	second := alarmTG()
	if first == second || !strings.HasPrefix(second, "targetgroup/shop-prod-web-b/") {
		t.Errorf("alarm target group for release 2 = %s (release 1: %s), want the -b group", second, first)
	}
	w.srv.SetAlarmState("berth-shop-prod-web-5xx", "ALARM")
	_, final, evs := w.deploy(w.engine(), webRelease("3333333", "w@sha256:3"))
	if final[0].State != "succeeded" {
		t.Fatalf("release 3: %s (%s)", final[0].State, final[0].Reason)
	}
	if third := alarmTG(); third != first {
		t.Errorf("alarm target group for release 3 = %s, want %s again", third, first)
	}
	if !strings.Contains(messages(evs), "alarm berth-shop-prod-web-5xx is already in ALARM") {
		t.Errorf("no warning about the firing alarm:\n%s", messages(evs))
	}
}
