package ecs

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/spec"
)

// rolloutOf plans the rollout of service web declared with deploy (and
// optional extra service keys) in an ecs environment.
func rolloutOf(t *testing.T, deploy, extra string) (*Rollout, error) {
	t.Helper()
	src := `project: shop
environments:
  prod:
    engine: ecs
    aws:
      region: eu-west-1
      cluster: shop-prod
      subnets: [subnet-a]
      security_groups: [sg-1]
      listener: arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/1/2
      execution_role: arn:aws:iam::123456789012:role/shop-exec
      infrastructure_role: arn:aws:iam::123456789012:role/ecs-infra
defaults:
  cpu: 256
  memory: 512
services:
  web:
    image: web:1
    route: {path: /}
    deploy: ` + deploy + "\n" + extra
	s, err := spec.Parse(filepath.Join(t.TempDir(), "berth.yaml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := s.ForEnvironment("prod")
	if err != nil {
		t.Fatal(err)
	}
	return PlanRollout(sp, sp.Services["web"], 2)
}

func TestPlanRollout_BlueGreenBakeRoundsUpToMinutes(t *testing.T) {
	r, err := rolloutOf(t, `{strategy: bluegreen, steps: [pause], bake: 90s, analysis: {max_5xx_rate: 2%, min_requests: 50, window: 2m, max_p99: 300ms, smoke: [/healthz]}}`, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Strategy != StrategyBlueGreen || r.BakeMinutes == nil || *r.BakeMinutes != 2 {
		t.Fatalf("rollout = %+v", r)
	}
	if len(r.Rounded) != 1 || r.Rounded[0] != (Rounding{Key: "deploy.bake", Spec: "1m30s", Effective: "2m"}) {
		t.Errorf("rounded = %+v", r.Rounded)
	}
	if len(r.Alarms) != 2 || r.Alarms[0].Name != "berth-shop-prod-web-5xx" || r.Alarms[0].Threshold != 2 || r.Alarms[0].MinRequests != 50 || r.Alarms[0].EvaluationMinutes != 2 {
		t.Errorf("alarms = %+v", r.Alarms)
	}
	if r.Alarms[1].Name != "berth-shop-prod-web-p99" || r.Alarms[1].Threshold != 0.3 {
		t.Errorf("p99 alarm = %+v", r.Alarms[1])
	}
	// The gate and berth's smoke checks share the hook after test traffic
	// moved: one ECS hook, with the gate's longer timeout.
	wantHooks := []Hook{
		{Stage: "POST_TEST_TRAFFIC_SHIFT", Purpose: "gate", TimeoutMinutes: gateTimeoutMinutes, TimeoutAction: "ROLLBACK"},
		{Stage: "POST_TEST_TRAFFIC_SHIFT", Purpose: "smoke", TimeoutMinutes: checksTimeoutMinutes, TimeoutAction: "ROLLBACK"},
	}
	if !reflect.DeepEqual(r.Hooks, wantHooks) || strings.Contains(strings.Join(r.Notes, "\n"), "do not run") {
		t.Errorf("hooks = %+v, notes %q", r.Hooks, r.Notes)
	}
	dc := deploymentConfig(&spec.Service{Name: "web"}, 2, r)
	if len(dc.LifecycleHooks) != 1 || dc.LifecycleHooks[0].LifecycleStages[0] != "POST_TEST_TRAFFIC_SHIFT" ||
		*dc.LifecycleHooks[0].TimeoutConfiguration.TimeoutInMinutes != gateTimeoutMinutes || dc.LifecycleHooks[0].TimeoutConfiguration.Action != "ROLLBACK" {
		t.Errorf("ECS hooks = %+v", dc.LifecycleHooks)
	}
	if r.TestTraffic != "header X-Berth-Preview: 1" {
		t.Errorf("test traffic = %q", r.TestTraffic)
	}
}

func TestPlanRollout_OneStepCanaryIsCanaryWithGate(t *testing.T) {
	r, err := rolloutOf(t, `{strategy: canary, steps: [20%, pause, 100%], pause: 45s}`, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Strategy != StrategyCanary || r.Canary == nil || *r.Canary != (CanaryStep{Percent: 20, BakeMinutes: 1}) {
		t.Fatalf("rollout = %+v canary %+v", r, r.Canary)
	}
	if len(r.Hooks) != 1 || r.Hooks[0] != (Hook{Stage: "PRE_PRODUCTION_TRAFFIC_SHIFT", Purpose: "gate", BeforeStep: 2, TimeoutMinutes: gateTimeoutMinutes, TimeoutAction: "ROLLBACK"}) {
		t.Errorf("hooks = %+v", r.Hooks)
	}
	// The built-in analysis (5% over 10s) becomes a 1-minute alarm.
	if len(r.Alarms) != 1 || r.Alarms[0].EvaluationMinutes != 1 || r.Alarms[0].Threshold != 5 {
		t.Errorf("alarms = %+v", r.Alarms)
	}
}

func TestPlanRollout_DefaultCanaryOnECSIsTenThenHundred(t *testing.T) {
	r, err := rolloutOf(t, `{strategy: canary}`, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Strategy != StrategyCanary || r.Canary.Percent != 10 || r.Canary.BakeMinutes != 1 {
		t.Fatalf("rollout = %+v canary %+v", r, r.Canary)
	}
}

func TestPlanRollout_EqualStepsAndLinearAreLinear(t *testing.T) {
	for _, tc := range []struct {
		deploy string
		want   LinearSteps
	}{
		{`{strategy: canary, steps: [25%, 50%, 75%, 100%], pause: 2m}`, LinearSteps{StepPercent: 25, BakeMinutes: 2}},
		{`{strategy: canary, steps: [30%, 60%, 90%, 100%]}`, LinearSteps{StepPercent: 30, BakeMinutes: 1}},
		{`{strategy: canary, linear: {step: 10%, every: 61s}}`, LinearSteps{StepPercent: 10, BakeMinutes: 2}},
	} {
		r, err := rolloutOf(t, tc.deploy, "")
		if err != nil {
			t.Fatalf("%s: %v", tc.deploy, err)
		}
		if r.Strategy != StrategyLinear || r.Linear == nil || *r.Linear != tc.want {
			t.Errorf("%s: rollout = %+v linear %+v", tc.deploy, r, r.Linear)
		}
	}
}

func TestPlanRollout_InexpressibleStepsAreAnErrorWithTheNearestList(t *testing.T) {
	for _, tc := range []struct{ deploy, hint string }{
		{`{strategy: canary, steps: [10%, 50%, 100%]}`, "steps: [10%, 100%] (CANARY), or steps: [34%, 68%, 100%] (LINEAR, linear: {step: 34%})"},
		{`{strategy: canary, steps: [25%, 50%, 100%]}`, "steps: [25%, 100%] (CANARY)"},
		{`{strategy: canary, linear: {step: 2%, every: 1m}}`, "at least 3%"},
		{`{strategy: canary, steps: [1%, 2%, 3%, 100%]}`, "steps: [1%, 100%]"},
	} {
		_, err := rolloutOf(t, tc.deploy, "")
		if !errors.Is(err, ErrNotExpressible) || !strings.Contains(err.Error(), tc.hint) {
			t.Errorf("%s: err = %v, want ErrNotExpressible with %q", tc.deploy, err, tc.hint)
		}
	}
}

func TestPlanRollout_RollingKeepsBreakerAndGetsAlarms(t *testing.T) {
	r, err := rolloutOf(t, `{circuit_breaker: 2}`, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Strategy != StrategyRolling || r.CircuitBreaker != 2 || r.MaximumPercent != 150 || r.MinimumHealthyPercent != 100 {
		t.Errorf("rollout = %+v", r)
	}
	if len(r.Alarms) != 1 || r.Alarms[0].Name != "berth-shop-prod-web-5xx" {
		t.Errorf("alarms = %+v", r.Alarms)
	}
}

func TestPlanRollout_Autoscaling(t *testing.T) {
	r, err := rolloutOf(t, `{}`, "    scale: {min: 2, max: 10, target: {rps_per_task: 200}, up_cooldown: 30s, down_cooldown: 5m}\n")
	if err != nil {
		t.Fatal(err)
	}
	want := Autoscaling{Min: 2, Max: 10, Metric: "ALBRequestCountPerTarget", TargetValue: 12000, ScaleOutCooldownS: 30, ScaleInCooldownS: 300}
	if r.Autoscaling == nil || *r.Autoscaling != want {
		t.Errorf("autoscaling = %+v, want %+v", r.Autoscaling, want)
	}
	r, err = rolloutOf(t, `{}`, "    scale: {max: 4, target: {cpu: 60%}}\n")
	if err != nil || r.Autoscaling.Metric != "ECSServiceAverageCPUUtilization" || r.Autoscaling.TargetValue != 60 || r.Autoscaling.Min != 1 {
		t.Errorf("cpu autoscaling = %+v, %v", r.Autoscaling, err)
	}
	if _, err := rolloutOf(t, `{}`, "    scale: {max: 4, target: {p99: 200ms}}\n"); !errors.Is(err, ErrNotExpressible) || !strings.Contains(err.Error(), "p99") {
		t.Errorf("p99 target: err = %v", err)
	}
}

// A rolling deployment carries the analysis alarms (rollback on) and the
// circuit breaker with a COUNT threshold; a canary its hooks, each with
// a ROLLBACK timeout.
func TestDeploymentConfig_RollingAlarmsAndBreakerCanaryHooks(t *testing.T) {
	r, err := rolloutOf(t, `{circuit_breaker: 2}`, "")
	if err != nil {
		t.Fatal(err)
	}
	dc := deploymentConfig(&spec.Service{Name: "web", Deploy: &spec.Deploy{CircuitBreaker: 2}}, 2, r)
	if dc.Strategy != "ROLLING" || dc.Alarms == nil || !dc.Alarms.Enable || !dc.Alarms.Rollback || dc.Alarms.AlarmNames[0] != "berth-shop-prod-web-5xx" {
		t.Errorf("rolling alarms = %+v", dc.Alarms)
	}
	if th := dc.DeploymentCircuitBreaker.ThresholdConfiguration; th.Type != "COUNT" || th.Value != 2 {
		t.Errorf("breaker threshold = %+v", th)
	}
	r, err = rolloutOf(t, `{strategy: canary, steps: [20%, pause, 100%], pause: 90s}`, "")
	if err != nil {
		t.Fatal(err)
	}
	dc = deploymentConfig(&spec.Service{Name: "web"}, 2, r)
	if dc.Strategy != "CANARY" || *dc.CanaryConfiguration.CanaryPercent != 20 || *dc.CanaryConfiguration.CanaryBakeTimeInMinutes != 2 || dc.MaximumPercent != nil {
		t.Errorf("canary config = %+v", dc)
	}
	if len(dc.LifecycleHooks) != 1 || dc.LifecycleHooks[0].TargetType != "PAUSE" || dc.LifecycleHooks[0].LifecycleStages[0] != "PRE_PRODUCTION_TRAFFIC_SHIFT" ||
		dc.LifecycleHooks[0].TimeoutConfiguration.Action != "ROLLBACK" || *dc.LifecycleHooks[0].TimeoutConfiguration.TimeoutInMinutes != 1440 {
		t.Errorf("hooks = %+v", dc.LifecycleHooks)
	}
}

// Smoke checks and the webhook become one PAUSE hook after test traffic
// moved (for canary too: before any production traffic), with a short
// ROLLBACK timeout; a rolling service has no test traffic, so a note.
func TestPlanRollout_ChecksAreAPauseHookAfterTestTraffic(t *testing.T) {
	r, err := rolloutOf(t, `{strategy: canary, steps: [20%, pause, 100%], preview: {host: next.example.com}, analysis: {smoke: [/a, /b], webhook: "https://ci.example.com/verdict"}}`, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []Hook{
		{Stage: "PRE_PRODUCTION_TRAFFIC_SHIFT", Purpose: "gate", BeforeStep: 2, TimeoutMinutes: gateTimeoutMinutes, TimeoutAction: "ROLLBACK"},
		{Stage: "POST_TEST_TRAFFIC_SHIFT", Purpose: "smoke", TimeoutMinutes: checksTimeoutMinutes, TimeoutAction: "ROLLBACK"},
		{Stage: "POST_TEST_TRAFFIC_SHIFT", Purpose: "webhook", TimeoutMinutes: checksTimeoutMinutes, TimeoutAction: "ROLLBACK"},
	}
	if !reflect.DeepEqual(r.Hooks, want) || r.TestTraffic != "host next.example.com" {
		t.Errorf("hooks = %+v, test traffic %q", r.Hooks, r.TestTraffic)
	}
	dc := deploymentConfig(&spec.Service{Name: "web"}, 2, r)
	if len(dc.LifecycleHooks) != 2 || dc.LifecycleHooks[1].LifecycleStages[0] != "POST_TEST_TRAFFIC_SHIFT" || *dc.LifecycleHooks[1].TimeoutConfiguration.TimeoutInMinutes != checksTimeoutMinutes {
		t.Errorf("ECS hooks = %+v", dc.LifecycleHooks)
	}
	if !strings.Contains(r.Summary(), "PAUSE hook at POST_TEST_TRAFFIC_SHIFT (smoke, rollback after 10m)") {
		t.Errorf("summary = %s", r.Summary())
	}
	r, err = rolloutOf(t, `{analysis: {smoke: [/a]}}`, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Hooks) != 0 || r.TestTraffic != "" || !strings.Contains(strings.Join(r.Notes, "\n"), "bluegreen and canary only") {
		t.Errorf("rolling with smoke: hooks %+v, notes %q", r.Hooks, r.Notes)
	}
}

// The preview rule matches the route plus the preview header, or the
// preview host in place of the route's hosts.
func TestPreviewConditions(t *testing.T) {
	route := &spec.Route{Path: "/api", Host: "shop.example.com"}
	got := describeConditions(previewConditions(&spec.Service{Name: "api", Route: route, Deploy: &spec.Deploy{Strategy: "canary"}}))
	if got != "host-header=shop.example.com http-header:x-berth-preview=1 path-pattern=/api,/api/*" {
		t.Errorf("header preview conditions = %s", got)
	}
	got = describeConditions(previewConditions(&spec.Service{Name: "api", Route: route, Deploy: &spec.Deploy{Strategy: "bluegreen", Preview: &spec.Preview{Host: "next.example.com"}}}))
	if got != "host-header=next.example.com path-pattern=/api,/api/*" {
		t.Errorf("host preview conditions = %s", got)
	}
	if p := smokePath(&spec.Route{Path: "/api", StripPrefix: true}, "/health"); p != "/api/health" {
		t.Errorf("smoke path under a stripped prefix = %s", p)
	}
	if p := smokePath(&spec.Route{Path: "/api"}, "/api/health"); p != "/api/health" {
		t.Errorf("smoke path = %s", p)
	}
}
