package awsfake_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/berth-dev/berth/internal/awsfake"
)

// bgWorld is a service whose first release (v1) is live behind a
// production rule and a header-matched test rule, both forwarding to the
// blue target group with weight 100 and the green one with 0.
type bgWorld struct {
	*world
	green, prodRule, testRule string
	v1                        string
}

func newBGWorld(t *testing.T, dc *ecstypes.DeploymentConfiguration) *bgWorld {
	t.Helper()
	w := &bgWorld{world: newWorld(t, awsfake.Options{})}
	ctx := context.Background()
	w.green = newTG(t, w.elb, "shop-prod-web-b")
	w.prodRule = w.rule
	must(w.elb.ModifyRule(ctx, &elb.ModifyRuleInput{RuleArn: aws.String(w.prodRule), Actions: forwardOrdered(w.tg, 100, w.green, 0)}))(t)
	in := pathRule(w.alb.ListenerArn, 99, nil)
	in.Conditions = append(in.Conditions, elbtypes.RuleCondition{Field: aws.String("http-header"),
		HttpHeaderConfig: &elbtypes.HttpHeaderConditionConfig{HttpHeaderName: aws.String("X-Berth-Preview"), Values: []string{"1"}}})
	in.Actions = forwardOrdered(w.tg, 100, w.green, 0)
	w.testRule = aws.ToString(must(w.elb.CreateRule(ctx, in))(t).Rules[0].RuleArn)
	w.v1 = w.register(t, "repo:v1")
	must(w.ecs.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("shop-prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String(w.v1),
		DesiredCount: aws.Int32(2), LaunchType: ecstypes.LaunchTypeFargate,
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-a"}}},
		LoadBalancers: []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(w.tg), ContainerName: aws.String("web"), ContainerPort: aws.Int32(8080),
			AdvancedConfiguration: &ecstypes.AdvancedConfiguration{AlternateTargetGroupArn: aws.String(w.green),
				ProductionListenerRule: aws.String(w.prodRule), TestListenerRule: aws.String(w.testRule),
				RoleArn: aws.String("arn:aws:iam::123456789012:role/ecs-infra")}}},
		DeploymentConfiguration: dc,
	}))(t)
	w.waitFor(t, 5*time.Minute, "v1 live", func() bool {
		return w.service(t).Deployments[0].RolloutState == ecstypes.DeploymentRolloutStateCompleted
	})
	return w
}

func forwardOrdered(a string, wa int32, b string, wb int32) []elbtypes.Action {
	return []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{TargetGroups: []elbtypes.TargetGroupTuple{
		{TargetGroupArn: aws.String(a), Weight: aws.Int32(wa)}, {TargetGroupArn: aws.String(b), Weight: aws.Int32(wb)}}}}}
}

// deploy registers image as a new revision and updates the service to it,
// returning the service deployment ARN.
func (w *bgWorld) deploy(t *testing.T, image string) string {
	t.Helper()
	td := w.register(t, image)
	out := must(w.ecs.UpdateService(context.Background(), &ecs.UpdateServiceInput{Cluster: aws.String("shop-prod"), Service: aws.String("web"), TaskDefinition: aws.String(td)}))(t)
	return aws.ToString(out.Service.CurrentServiceDeployment)
}

// weights reads a rule's weights through the SDK: blue, green.
func (w *bgWorld) weights(t *testing.T, rule string) (blue, green int32) {
	t.Helper()
	out := must(w.elb.DescribeRules(context.Background(), &elb.DescribeRulesInput{RuleArns: []string{rule}}))(t)
	for _, tg := range out.Rules[0].Actions[0].ForwardConfig.TargetGroups {
		switch aws.ToString(tg.TargetGroupArn) {
		case w.tg:
			blue = aws.ToInt32(tg.Weight)
		case w.green:
			green = aws.ToInt32(tg.Weight)
		}
	}
	return blue, green
}

func awaitingHook(sd ecstypes.ServiceDeployment) string {
	for _, h := range sd.LifecycleHookDetails {
		if h.Status == ecstypes.DeploymentLifecycleHookStatusAwaitingAction {
			return aws.ToString(h.HookId)
		}
	}
	return ""
}

func pauseHook(stage ecstypes.DeploymentLifecycleHookStage, timeoutMin int32) ecstypes.DeploymentLifecycleHook {
	return ecstypes.DeploymentLifecycleHook{TargetType: ecstypes.DeploymentLifecycleHookTargetTypePause,
		LifecycleStages:      []ecstypes.DeploymentLifecycleHookStage{stage},
		TimeoutConfiguration: &ecstypes.DeploymentLifecycleHookTimeoutConfiguration{Action: ecstypes.DeploymentLifecycleHookActionRollback, TimeoutInMinutes: aws.Int32(timeoutMin)}}
}

func TestBlueGreenGateThenBakeThenCleanUp(t *testing.T) {
	w := newBGWorld(t, &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(5),
		LifecycleHooks: []ecstypes.DeploymentLifecycleHook{pauseHook(ecstypes.DeploymentLifecycleHookStagePostTestTrafficShift, 30)}})
	ctx := context.Background()
	sdArn := w.deploy(t, "repo:v2")
	w.waitFor(t, 5*time.Minute, "the gate", func() bool { return awaitingHook(w.serviceDeployment(t, sdArn)) != "" })
	sd := w.serviceDeployment(t, sdArn)
	if sd.LifecycleStage != ecstypes.ServiceDeploymentLifecycleStagePostTestTrafficShift {
		t.Fatalf("stage at the gate = %s", sd.LifecycleStage)
	}
	if b, g := w.weights(t, w.testRule); b != 0 || g != 100 {
		t.Fatalf("test rule at the gate: blue %d green %d, want 0/100", b, g)
	}
	if b, g := w.weights(t, w.prodRule); b != 100 || g != 0 {
		t.Fatalf("production rule at the gate: blue %d green %d, want 100/0", b, g)
	}
	if aws.ToFloat64(sd.TargetServiceRevision.RequestedTestTrafficWeight) != 100 || aws.ToFloat64(sd.TargetServiceRevision.RequestedProductionTrafficWeight) != 0 {
		t.Fatalf("target revision weights = %+v", sd.TargetServiceRevision)
	}
	w.srv.Advance(10 * time.Minute) // a gate waits for as long as its timeout
	if awaitingHook(w.serviceDeployment(t, sdArn)) == "" {
		t.Fatal("the gate stopped waiting before its timeout")
	}
	must(w.ecs.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: aws.String(sdArn),
		HookId: aws.String(awaitingHook(sd)), Action: ecstypes.DeploymentLifecycleHookActionContinue}))(t)
	w.waitFor(t, time.Minute, "bake", func() bool {
		return w.serviceDeployment(t, sdArn).LifecycleStage == ecstypes.ServiceDeploymentLifecycleStageBakeTime
	})
	if b, g := w.weights(t, w.prodRule); b != 0 || g != 100 {
		t.Fatalf("production rule in bake: blue %d green %d, want 0/100", b, g)
	}
	if n := w.service(t).RunningCount; n != 4 {
		t.Fatalf("running during bake = %d, want 4 (blue and green)", n)
	}
	w.srv.Advance(4 * time.Minute)
	if st := w.serviceDeployment(t, sdArn).Status; st != ecstypes.ServiceDeploymentStatusInProgress {
		t.Fatalf("status 4 minutes into a 5-minute bake = %s", st)
	}
	w.waitFor(t, 5*time.Minute, "success", func() bool {
		return w.serviceDeployment(t, sdArn).Status == ecstypes.ServiceDeploymentStatusSuccessful
	})
	s := w.service(t)
	if s.RunningCount != 2 || len(s.Deployments) != 1 {
		t.Fatalf("after clean-up: running %d, deployments %d", s.RunningCount, len(s.Deployments))
	}
	revs := must(w.ecs.DescribeServiceRevisions(ctx, &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{aws.ToString(sd.TargetServiceRevision.Arn)}}))(t)
	if got := aws.ToString(revs.ServiceRevisions[0].ResolvedConfiguration.LoadBalancers[0].TargetGroupArn); got != w.green {
		t.Fatalf("resolved target group = %s, want green %s", got, w.green)
	}

	// The next deployment swaps: green is now blue.
	sd3 := w.deploy(t, "repo:v3")
	w.waitFor(t, 5*time.Minute, "second gate", func() bool { return awaitingHook(w.serviceDeployment(t, sd3)) != "" })
	if b, g := w.weights(t, w.testRule); b != 100 || g != 0 {
		t.Fatalf("test rule for v3: tg-a %d tg-b %d, want v3 on tg-a", b, g)
	}
}

func TestBlueGreenRollbackNeverShiftsProductionTraffic(t *testing.T) {
	w := newBGWorld(t, &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(5),
		LifecycleHooks: []ecstypes.DeploymentLifecycleHook{pauseHook(ecstypes.DeploymentLifecycleHookStagePostTestTrafficShift, 30)}})
	ctx := context.Background()
	sdArn := w.deploy(t, "repo:v2")
	w.waitFor(t, 5*time.Minute, "the gate", func() bool { return awaitingHook(w.serviceDeployment(t, sdArn)) != "" })
	must(w.ecs.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: aws.String(sdArn),
		HookId: aws.String(awaitingHook(w.serviceDeployment(t, sdArn))), Action: ecstypes.DeploymentLifecycleHookActionRollback}))(t)
	greenEver := int32(0)
	w.waitFor(t, 5*time.Minute, "rollback", func() bool {
		_, g := w.weights(t, w.prodRule)
		greenEver = max(greenEver, g)
		return w.serviceDeployment(t, sdArn).Status == ecstypes.ServiceDeploymentStatusRollbackSuccessful
	})
	if greenEver != 0 {
		t.Fatalf("production weight on green reached %d", greenEver)
	}
	if b, g := w.weights(t, w.testRule); b != 100 || g != 0 {
		t.Fatalf("test rule after rollback: %d/%d, want back on blue", b, g)
	}
	s := w.service(t)
	if aws.ToString(s.TaskDefinition) != w.v1 || s.RunningCount != 2 {
		t.Fatalf("after rollback: td %s running %d", aws.ToString(s.TaskDefinition), s.RunningCount)
	}
}

func TestPauseHookTimesOutIntoRollback(t *testing.T) {
	w := newBGWorld(t, &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(1),
		LifecycleHooks: []ecstypes.DeploymentLifecycleHook{pauseHook(ecstypes.DeploymentLifecycleHookStagePostTestTrafficShift, 2)}})
	sdArn := w.deploy(t, "repo:v2")
	w.waitFor(t, 5*time.Minute, "the gate", func() bool { return awaitingHook(w.serviceDeployment(t, sdArn)) != "" })
	w.srv.Advance(119 * time.Second)
	if awaitingHook(w.serviceDeployment(t, sdArn)) == "" {
		t.Fatal("hook stopped waiting before its 2-minute timeout")
	}
	w.waitFor(t, 5*time.Minute, "timeout rollback", func() bool {
		return w.serviceDeployment(t, sdArn).Status == ecstypes.ServiceDeploymentStatusRollbackSuccessful
	})
	sd := w.serviceDeployment(t, sdArn)
	if sd.LifecycleHookDetails[0].Status != ecstypes.DeploymentLifecycleHookStatusTimedOut || !strings.Contains(aws.ToString(sd.Rollback.Reason), "timed out") {
		t.Fatalf("hook %s, rollback %+v", sd.LifecycleHookDetails[0].Status, sd.Rollback)
	}
}

func TestCanaryAlarmRollsBackWithTheAlarmNamed(t *testing.T) {
	w := newBGWorld(t, &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyCanary, BakeTimeInMinutes: aws.Int32(2),
		CanaryConfiguration: &ecstypes.CanaryConfiguration{CanaryPercent: aws.Float64(10), CanaryBakeTimeInMinutes: aws.Int32(5)},
		Alarms:              &ecstypes.DeploymentAlarms{AlarmNames: []string{"berth-shop-prod-web-5xx"}, Enable: true, Rollback: true}})
	cw := cloudwatchJSON(w.cfg)
	ctx := context.Background()
	must(cw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String("berth-shop-prod-web-5xx"), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
		EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(5), MetricName: aws.String("HTTPCode_Target_5XX_Count"), Namespace: aws.String("AWS/ApplicationELB"),
		Period: aws.Int32(60), Statistic: cwtypes.StatisticSum}))(t)
	sdArn := w.deploy(t, "repo:v2")
	w.waitFor(t, 5*time.Minute, "canary step", func() bool { _, g := w.weights(t, w.prodRule); return g == 10 })
	w.srv.Advance(2 * time.Minute)
	if b, g := w.weights(t, w.prodRule); b != 90 || g != 10 {
		t.Fatalf("during the canary bake: %d/%d, want 90/10", b, g)
	}
	must(cw.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String("berth-shop-prod-web-5xx"), StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("5xx")}))(t)
	w.waitFor(t, 5*time.Minute, "rollback", func() bool {
		return w.serviceDeployment(t, sdArn).Status == ecstypes.ServiceDeploymentStatusRollbackSuccessful
	})
	sd := w.serviceDeployment(t, sdArn)
	if sd.Alarms == nil || sd.Alarms.Status != ecstypes.ServiceDeploymentRollbackMonitorsStatusTriggered || sd.Alarms.TriggeredAlarmNames[0] != "berth-shop-prod-web-5xx" {
		t.Fatalf("alarms = %+v", sd.Alarms)
	}
	if !strings.Contains(aws.ToString(sd.Rollback.Reason), "berth-shop-prod-web-5xx") {
		t.Fatalf("rollback reason %q does not name the alarm", aws.ToString(sd.Rollback.Reason))
	}
	if _, g := w.weights(t, w.prodRule); g != 0 {
		t.Fatalf("green production weight after rollback = %d", g)
	}
}

func TestAlarmAlreadyInAlarmIsIgnored(t *testing.T) {
	w := newBGWorld(t, &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(1),
		Alarms: &ecstypes.DeploymentAlarms{AlarmNames: []string{"hot"}, Enable: true, Rollback: true}})
	cw := cloudwatchJSON(w.cfg)
	must(cw.PutMetricAlarm(context.Background(), &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String("hot"), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
		EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(1), MetricName: aws.String("m"), Namespace: aws.String("n"), Period: aws.Int32(60), Statistic: cwtypes.StatisticSum}))(t)
	w.srv.SetAlarmState("hot", "ALARM")
	sdArn := w.deploy(t, "repo:v2")
	w.waitFor(t, 10*time.Minute, "the end", func() bool { return w.serviceDeployment(t, sdArn).FinishedAt != nil })
	if st := w.serviceDeployment(t, sdArn).Status; st != ecstypes.ServiceDeploymentStatusSuccessful {
		t.Fatalf("status = %s, want SUCCESSFUL (the alarm was in ALARM before the deployment)", st)
	}
}

func TestLinearReachesFullTrafficThroughItsSteps(t *testing.T) {
	w := newBGWorld(t, &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyLinear, BakeTimeInMinutes: aws.Int32(0),
		LinearConfiguration: &ecstypes.LinearConfiguration{StepPercent: aws.Float64(25), StepBakeTimeInMinutes: aws.Int32(1)}})
	sdArn := w.deploy(t, "repo:v2")
	var seen []int32
	w.waitFor(t, 10*time.Minute, "success", func() bool {
		if _, g := w.weights(t, w.prodRule); len(seen) == 0 || seen[len(seen)-1] != g {
			seen = append(seen, g)
		}
		return w.serviceDeployment(t, sdArn).Status == ecstypes.ServiceDeploymentStatusSuccessful
	})
	want := []int32{0, 25, 50, 75, 100}
	if len(seen) != len(want) {
		t.Fatalf("green weights = %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("green weights = %v, want %v", seen, want)
		}
	}
}

func TestStopServiceDeploymentRollsBackBlueGreen(t *testing.T) {
	w := newBGWorld(t, &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(10)})
	sdArn := w.deploy(t, "repo:v2")
	w.waitFor(t, 5*time.Minute, "bake", func() bool {
		return w.serviceDeployment(t, sdArn).LifecycleStage == ecstypes.ServiceDeploymentLifecycleStageBakeTime
	})
	must(w.ecs.StopServiceDeployment(context.Background(), &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(sdArn), StopType: ecstypes.StopServiceDeploymentStopTypeRollback}))(t)
	w.waitFor(t, 5*time.Minute, "rollback", func() bool {
		return w.serviceDeployment(t, sdArn).Status == ecstypes.ServiceDeploymentStatusRollbackSuccessful
	})
	if b, g := w.weights(t, w.prodRule); b != 100 || g != 0 {
		t.Fatalf("production rule after abort: %d/%d", b, g)
	}
}

func TestProgressiveValidation(t *testing.T) {
	w := newBGWorld(t, nil)
	ctx := context.Background()
	for name, dc := range map[string]*ecstypes.DeploymentConfiguration{
		"blue/green without bake": {Strategy: ecstypes.DeploymentStrategyBlueGreen},
		"pause at production shift": {Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(1),
			LifecycleHooks: []ecstypes.DeploymentLifecycleHook{pauseHook(ecstypes.DeploymentLifecycleHookStageProductionTrafficShift, 5)}},
		"linear step below 3%": {Strategy: ecstypes.DeploymentStrategyLinear, LinearConfiguration: &ecstypes.LinearConfiguration{StepPercent: aws.Float64(2)}},
	} {
		_, err := w.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("shop-prod"), Service: aws.String("web"), DeploymentConfiguration: dc})
		var ipe *ecstypes.InvalidParameterException
		if !errors.As(err, &ipe) {
			t.Errorf("%s: err = %v, want InvalidParameterException", name, err)
		}
	}
}

func TestCanaryPreProductionHookFiresBeforeEveryStep(t *testing.T) {
	w := newBGWorld(t, &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyCanary, BakeTimeInMinutes: aws.Int32(0),
		CanaryConfiguration: &ecstypes.CanaryConfiguration{CanaryPercent: aws.Float64(10), CanaryBakeTimeInMinutes: aws.Int32(1)},
		LifecycleHooks:      []ecstypes.DeploymentLifecycleHook{pauseHook(ecstypes.DeploymentLifecycleHookStagePreProductionTrafficShift, 60)}})
	ctx := context.Background()
	sdArn := w.deploy(t, "repo:v2")
	var weightsAtGates []int32
	for gate := 0; gate < 2; gate++ {
		w.waitFor(t, 5*time.Minute, fmt.Sprintf("gate %d", gate+1), func() bool { return awaitingHook(w.serviceDeployment(t, sdArn)) != "" })
		_, g := w.weights(t, w.prodRule)
		weightsAtGates = append(weightsAtGates, g)
		must(w.ecs.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: aws.String(sdArn),
			HookId: aws.String(awaitingHook(w.serviceDeployment(t, sdArn)))}))(t)
	}
	w.waitFor(t, 5*time.Minute, "success", func() bool {
		return w.serviceDeployment(t, sdArn).Status == ecstypes.ServiceDeploymentStatusSuccessful
	})
	if weightsAtGates[0] != 0 || weightsAtGates[1] != 10 {
		t.Fatalf("green weight at the gates = %v, want [0 10] (one gate before each step)", weightsAtGates)
	}
	if n := len(w.serviceDeployment(t, sdArn).LifecycleHookDetails); n != 2 {
		t.Fatalf("hook runs = %d, want 2", n)
	}
}

func TestANewDeploymentSupersedesAPausedBlueGreen(t *testing.T) {
	w := newBGWorld(t, &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(1),
		LifecycleHooks: []ecstypes.DeploymentLifecycleHook{pauseHook(ecstypes.DeploymentLifecycleHookStagePostTestTrafficShift, 30)}})
	ctx := context.Background()
	sd2 := w.deploy(t, "repo:v2")
	w.waitFor(t, 5*time.Minute, "v2 gate", func() bool { return awaitingHook(w.serviceDeployment(t, sd2)) != "" })
	sd3 := w.deploy(t, "repo:v3")
	if st := w.serviceDeployment(t, sd2); st.Status != ecstypes.ServiceDeploymentStatusStopped {
		t.Fatalf("superseded deployment = %s, want STOPPED", st.Status)
	}
	w.waitFor(t, 5*time.Minute, "v3 gate", func() bool { return awaitingHook(w.serviceDeployment(t, sd3)) != "" })
	if b, g := w.weights(t, w.prodRule); b != 100 || g != 0 {
		t.Fatalf("production rule at v3's gate: %d/%d, want all on blue", b, g)
	}
	must(w.ecs.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: aws.String(sd3),
		HookId: aws.String(awaitingHook(w.serviceDeployment(t, sd3)))}))(t)
	w.waitFor(t, 5*time.Minute, "v3 live", func() bool {
		return w.serviceDeployment(t, sd3).Status == ecstypes.ServiceDeploymentStatusSuccessful
	})
	s := w.service(t)
	if !strings.HasSuffix(aws.ToString(s.TaskDefinition), ":3") || s.RunningCount != 2 {
		t.Fatalf("after v3: td %s running %d", aws.ToString(s.TaskDefinition), s.RunningCount)
	}
}
