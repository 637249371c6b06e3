package ecs

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/spec"
)

// altTargetGroupKey names a service's second target group (the one ECS
// alternates with in blue/green, canary and linear deployments).
func altTargetGroupKey(svc string) string { return svc + "-b" }

// progressive reports whether r shifts traffic between two target groups.
func progressive(r *Rollout) bool { return r != nil && r.Strategy != StrategyRolling }

// rolloutFor plans svc's rollout; the spec of the environment wins over a
// release's own copy (the rollout is how to deploy now).
func (e *Engine) rolloutFor(svc *spec.Service, desired int) (*Rollout, error) {
	if cur, ok := e.sp.Services[svc.Name]; ok {
		svc = cur
	}
	return PlanRollout(e.sp, svc, desired)
}

// deploymentConfig is the ECS deployment configuration of a rollout.
func deploymentConfig(svc *spec.Service, desired int, r *Rollout) *types.DeploymentConfiguration {
	dc := DeploymentConfiguration(svc, desired)
	if r == nil {
		return dc
	}
	dc.DeploymentCircuitBreaker.ThresholdConfiguration.Value = int32(r.CircuitBreaker)
	if len(r.Alarms) > 0 {
		var names []string
		for _, a := range r.Alarms {
			names = append(names, a.Name)
		}
		dc.Alarms = &types.DeploymentAlarms{AlarmNames: names, Enable: true, Rollback: true}
	}
	if !progressive(r) {
		return dc
	}
	dc.Strategy = types.DeploymentStrategy(r.Strategy)
	dc.MaximumPercent, dc.MinimumHealthyPercent = nil, nil
	if r.BakeMinutes != nil {
		dc.BakeTimeInMinutes = aws.Int32(int32(min(*r.BakeMinutes, maxMinutes)))
	} else {
		dc.BakeTimeInMinutes = aws.Int32(0)
	}
	if c := r.Canary; c != nil {
		dc.CanaryConfiguration = &types.CanaryConfiguration{CanaryPercent: aws.Float64(c.Percent), CanaryBakeTimeInMinutes: aws.Int32(int32(min(c.BakeMinutes, maxMinutes)))}
	}
	if l := r.Linear; l != nil {
		dc.LinearConfiguration = &types.LinearConfiguration{StepPercent: aws.Float64(l.StepPercent), StepBakeTimeInMinutes: aws.Int32(int32(min(l.BakeMinutes, maxMinutes)))}
	}
	// One PAUSE hook per stage holds every gate and check of it, with the
	// longest of their timeouts (a gate waits longer than a check).
	at := map[string]int{}
	for _, h := range r.Hooks {
		i, ok := at[h.Stage]
		if !ok {
			at[h.Stage] = len(dc.LifecycleHooks)
			dc.LifecycleHooks = append(dc.LifecycleHooks, types.DeploymentLifecycleHook{
				TargetType:      types.DeploymentLifecycleHookTargetTypePause,
				LifecycleStages: []types.DeploymentLifecycleHookStage{types.DeploymentLifecycleHookStage(h.Stage)},
				TimeoutConfiguration: &types.DeploymentLifecycleHookTimeoutConfiguration{
					Action: types.DeploymentLifecycleHookActionRollback, TimeoutInMinutes: aws.Int32(int32(h.TimeoutMinutes)),
				},
			})
			continue
		}
		tc := dc.LifecycleHooks[i].TimeoutConfiguration
		tc.TimeoutInMinutes = aws.Int32(max(aws.ToInt32(tc.TimeoutInMinutes), int32(h.TimeoutMinutes)))
	}
	return dc
}

// loadBalancers is the service's load balancer configuration: one
// target group for rolling, both with the production rule, the test
// listener rule (the preview rule, when there is one) and ECS's
// infrastructure role for the native strategies.
func (e *Engine) loadBalancers(svc *spec.Service, tg, alt, rule, testRule string) []types.LoadBalancer {
	lb := types.LoadBalancer{TargetGroupArn: aws.String(tg), ContainerName: aws.String(svc.Name), ContainerPort: aws.Int32(int32(svc.Port))}
	if alt != "" {
		lb.AdvancedConfiguration = &types.AdvancedConfiguration{
			AlternateTargetGroupArn: aws.String(alt), ProductionListenerRule: aws.String(rule), RoleArn: aws.String(e.aws.InfrastructureRole),
		}
		if testRule != "" {
			lb.AdvancedConfiguration.TestListenerRule = aws.String(testRule)
		}
	}
	return []types.LoadBalancer{lb}
}

// withTestRule is the live service's load balancers with testRule as the
// test listener rule, or nil when they have it already (or are not a
// native strategy's). The target groups stay as ECS left them: which
// one is primary is ECS's.
func withTestRule(cur []types.LoadBalancer, testRule string) []types.LoadBalancer {
	if testRule == "" || len(cur) == 0 || cur[0].AdvancedConfiguration == nil || aws.ToString(cur[0].AdvancedConfiguration.TestListenerRule) == testRule {
		return nil
	}
	out := slices.Clone(cur)
	adv := *out[0].AdvancedConfiguration
	adv.TestListenerRule = aws.String(testRule)
	out[0].AdvancedConfiguration = &adv
	return out
}

// greenTargetGroup is the target group the next deployment of a live
// service puts its new release in: for the native strategies the one the
// current revision does not serve from (ECS swaps them every deployment).
func (e *Engine) greenTargetGroup(ctx context.Context, s *types.Service, tg, alt string) (string, error) {
	if alt == "" || s == nil || len(s.CurrentServiceRevisions) == 0 {
		return tg, nil
	}
	out, err := e.c.ecs.DescribeServiceRevisions(ctx, &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{aws.ToString(s.CurrentServiceRevisions[0].Arn)}})
	if err != nil {
		return "", fmt.Errorf("describe the current revision of %s: %w", aws.ToString(s.ServiceName), err)
	}
	for _, rev := range out.ServiceRevisions {
		if rc := rev.ResolvedConfiguration; rc != nil {
			for _, lb := range rc.LoadBalancers {
				if aws.ToString(lb.TargetGroupArn) == tg {
					return alt, nil
				}
				if aws.ToString(lb.TargetGroupArn) == alt {
					return tg, nil
				}
			}
		}
	}
	// No resolved configuration: ECS serves from the service's own
	// target group, so the new release goes to the other one.
	for _, lb := range s.LoadBalancers {
		if aws.ToString(lb.TargetGroupArn) == alt {
			return tg, nil
		}
	}
	return alt, nil
}

// arnSuffix is the part of an ELB ARN CloudWatch names it by:
// app/name/id for a load balancer, targetgroup/name/id for a target group.
func arnSuffix(arn, kind string) string {
	i := strings.Index(arn, ":"+kind+"/")
	if i < 0 {
		return arn
	}
	return arn[i+1:]
}

// listenerLoadBalancer is the CloudWatch LoadBalancer dimension of the
// configured listener's balancer (listener/app/name/id/lid → app/name/id).
func (e *Engine) listenerLoadBalancer() string {
	s := arnSuffix(e.aws.Listener, "listener")
	s = strings.TrimPrefix(s, "listener/")
	if i := strings.LastIndex(s, "/"); i > 0 {
		s = s[:i]
	}
	return s
}

// putAlarms creates or re-points the rollout's alarms at green, the
// target group that receives the new release, and returns a warning per
// alarm that is already in ALARM (ECS ignores those).
func (e *Engine) putAlarms(ctx context.Context, svc string, r *Rollout, green string) ([]string, error) {
	if r == nil || len(r.Alarms) == 0 || green == "" {
		return nil, nil
	}
	dims := []cwtypes.Dimension{
		{Name: aws.String("LoadBalancer"), Value: aws.String(e.listenerLoadBalancer())},
		{Name: aws.String("TargetGroup"), Value: aws.String(arnSuffix(green, "targetgroup"))},
	}
	metric := func(id, name, stat string) cwtypes.MetricDataQuery {
		return cwtypes.MetricDataQuery{Id: aws.String(id), ReturnData: aws.Bool(false), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String(name), Dimensions: dims},
			Period: aws.Int32(60), Stat: aws.String(stat),
		}}
	}
	// Read the states first: rewriting an alarm resets its state.
	var names []string
	for _, a := range r.Alarms {
		names = append(names, a.Name)
	}
	out, err := e.c.cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: names})
	if err != nil {
		return nil, fmt.Errorf("describe alarms of %s: %w", svc, err)
	}
	var warns []string
	for _, a := range out.MetricAlarms {
		if a.StateValue == cwtypes.StateValueAlarm {
			warns = append(warns, fmt.Sprintf("warning: alarm %s is already in ALARM (%s): ECS ignores an alarm that is firing when a deployment starts, so it cannot roll this one back", aws.ToString(a.AlarmName), aws.ToString(a.StateReason)))
		}
	}
	for _, a := range r.Alarms {
		in := &cloudwatch.PutMetricAlarmInput{
			AlarmName:          aws.String(a.Name),
			AlarmDescription:   aws.String(fmt.Sprintf("berth: %s of %s above %g %s (rolls the deployment back)", a.Metric, svc, a.Threshold, a.Unit)),
			ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
			Threshold:          aws.Float64(a.Threshold),
			EvaluationPeriods:  aws.Int32(int32(a.EvaluationMinutes)),
			DatapointsToAlarm:  aws.Int32(int32(a.EvaluationMinutes)),
			TreatMissingData:   aws.String("notBreaching"),
			Tags:               toCWTags(e.ownTags(svc)),
		}
		guard := fmt.Sprintf("m2 >= %d", max(a.MinRequests, 0))
		if strings.HasPrefix(a.Metric, "100*") {
			in.Metrics = []cwtypes.MetricDataQuery{metric("m1", "HTTPCode_Target_5XX_Count", "Sum"), metric("m2", "RequestCount", "Sum"),
				{Id: aws.String("e1"), Expression: aws.String("IF(" + guard + ", 100*m1/m2, 0)"), ReturnData: aws.Bool(true), Label: aws.String("5xx rate %")}}
		} else {
			in.Metrics = []cwtypes.MetricDataQuery{metric("m1", "TargetResponseTime", "p99"), metric("m2", "RequestCount", "Sum"),
				{Id: aws.String("e1"), Expression: aws.String("IF(" + guard + ", m1, 0)"), ReturnData: aws.Bool(true), Label: aws.String("p99 seconds")}}
		}
		err := e.mutate(fmt.Sprintf("put alarm %s on target group %s (%s > %g %s)", a.Name, arnSuffix(green, "targetgroup"), a.Metric, a.Threshold, a.Unit), func() error {
			if _, err := e.c.cw.PutMetricAlarm(ctx, in); err != nil {
				return fmt.Errorf("put alarm %s: %w", a.Name, err)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return warns, nil
}

func toCWTags(m map[string]string) []cwtypes.Tag {
	var out []cwtypes.Tag
	for k, v := range m {
		out = append(out, cwtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	return out
}

// forwardBoth forwards to the blue and green target groups, all traffic
// to blue: the production rule of a native blue/green, canary or linear
// service (ECS moves the weights during a deployment).
func forwardBoth(tg, alt string) []elbtypes.Action {
	return []elbtypes.Action{{
		Type: elbtypes.ActionTypeEnumForward,
		ForwardConfig: &elbtypes.ForwardActionConfig{TargetGroups: []elbtypes.TargetGroupTuple{
			{TargetGroupArn: aws.String(tg), Weight: aws.Int32(100)}, {TargetGroupArn: aws.String(alt), Weight: aws.Int32(0)},
		}},
	}}
}

// forwardsToBoth reports whether actions forward to exactly tg and alt
// (in any weights: ECS owns them).
func forwardsToBoth(actions []elbtypes.Action, tg, alt string) bool {
	for _, a := range actions {
		if a.ForwardConfig == nil || len(a.ForwardConfig.TargetGroups) != 2 {
			continue
		}
		got := map[string]bool{}
		for _, t := range a.ForwardConfig.TargetGroups {
			got[aws.ToString(t.TargetGroupArn)] = true
		}
		return got[tg] && got[alt]
	}
	return false
}

// awaitingHook is the id and stage of the deployment's hook awaiting
// action, if any.
func awaitingHook(sd *types.ServiceDeployment) (id string, ok bool) {
	for _, h := range sd.LifecycleHookDetails {
		if h.Status == types.DeploymentLifecycleHookStatusAwaitingAction {
			return aws.ToString(h.HookId), true
		}
	}
	return "", false
}

// currentServiceDeployment reads the service's deployment in progress.
func (e *Engine) currentServiceDeployment(ctx context.Context, service string) (*types.ServiceDeployment, error) {
	live, err := e.describeServices(ctx, []string{service})
	if err != nil {
		return nil, err
	}
	s := live[service]
	if s == nil {
		return nil, fmt.Errorf("%s: %w", service, ErrNotDeployed)
	}
	arn := aws.ToString(s.CurrentServiceDeployment)
	if arn == "" {
		return nil, fmt.Errorf("%s: no deployment in progress", service)
	}
	out, err := e.c.ecs.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{arn}})
	if err != nil {
		return nil, fmt.Errorf("describe service deployment of %s: %w", service, err)
	}
	if len(out.ServiceDeployments) == 0 {
		return nil, fmt.Errorf("%s: service deployment %s not found", service, arn)
	}
	return &out.ServiceDeployments[0], nil
}

// Promote continues the service's deployment held at a PAUSE hook (a
// pause gate): ContinueServiceDeployment with CONTINUE.
func (e *Engine) Promote(ctx context.Context, service string) error {
	if _, err := e.serviceSpec(service); err != nil {
		return err
	}
	sd, err := e.currentServiceDeployment(ctx, service)
	if err != nil {
		return fmt.Errorf("promote %s: %w", service, err)
	}
	hook, ok := awaitingHook(sd)
	if !ok {
		return fmt.Errorf("promote %s: its deployment (stage %s) is not waiting at a gate", service, sd.LifecycleStage)
	}
	if e.checksOnly(service, sd.LifecycleStage) {
		// Continuing would let the release pass unchecked.
		return fmt.Errorf("promote %s: its deployment waits for berth's smoke checks and webhook, not a gate: the `berth deploy` following it runs them (without one, ECS rolls back when the hook times out; `berth abort --env %s %s` rolls back now)", service, e.sp.Env, service)
	}
	e.markPromoted(service, hook)
	return e.continueHook(ctx, sd, hook, types.DeploymentLifecycleHookActionContinue)
}

func (e *Engine) continueHook(ctx context.Context, sd *types.ServiceDeployment, hook string, action types.DeploymentLifecycleHookAction) error {
	arn := aws.ToString(sd.ServiceDeploymentArn)
	return e.mutate(fmt.Sprintf("continue service deployment %s at hook %s (%s)", arn, hook, action), func() error {
		_, err := e.c.ecs.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: aws.String(arn), HookId: aws.String(hook), Action: action})
		if err != nil {
			return fmt.Errorf("continue service deployment %s: %w", arn, err)
		}
		return nil
	})
}

// markPromoted records that hook was continued by a promote, so a
// follower in this process does not treat it as its own.
func (e *Engine) markPromoted(service, hook string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range e.deps {
		if d.d.Service == service {
			if d.hooksSeen == nil {
				d.hooksSeen = map[string]int{}
			}
			if _, ok := d.hooksSeen[hook]; !ok {
				d.hooksSeen[hook] = -1
			}
		}
	}
}

// percent formats a weight.
func percent(f *float64) string {
	if f == nil {
		return "0%"
	}
	return fmt.Sprintf("%g%%", math.Round(*f*10)/10)
}

// observeProgressive polls a native (BLUE_GREEN, CANARY, LINEAR)
// deployment once through DescribeServiceDeployments: it reports each
// new stage with the traffic weights, the alarms that fired and the
// circuit breaker's count, continues the PAUSE hooks that are not gates
// (CANARY and LINEAR fire theirs before every step), says when a gate
// waits for promote, and says whether the deployment reached its outcome.
func (e *Engine) observeProgressive(ctx context.Context, d *deployment, fn func(api.Event) error) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out, err := e.c.ecs.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{d.sdArn}})
	if err != nil {
		return false, fmt.Errorf("follow %s: %w", d.d.Service, err)
	}
	if len(out.ServiceDeployments) == 0 {
		return true, e.finish(d, stateFailed, "ECS no longer knows service deployment "+d.sdArn, fn)
	}
	sd := &out.ServiceDeployments[0]
	var prod, test *float64
	if t := sd.TargetServiceRevision; t != nil {
		prod, test = t.RequestedProductionTrafficWeight, t.RequestedTestTrafficWeight
	}
	line := fmt.Sprintf("%s, stage %s: production traffic %s, test traffic %s on release %d", sd.Status, sd.LifecycleStage, percent(prod), percent(test), d.d.ToRelease)
	if cb := sd.DeploymentCircuitBreaker; cb != nil && cb.FailureCount > 0 {
		line += fmt.Sprintf("; %d of %d failed tasks", cb.FailureCount, cb.Threshold)
	}
	if line != d.lastSeen {
		d.lastSeen = line
		if err := fn(e.event(d, api.EventDeployProgress, line)); err != nil {
			return false, err
		}
	}
	if d.hooksSeen == nil {
		d.hooksSeen = map[string]int{}
	}
	for _, h := range sd.LifecycleHookDetails {
		id := aws.ToString(h.HookId)
		if h.Status != types.DeploymentLifecycleHookStatusAwaitingAction {
			continue
		}
		if _, seen := d.hooksSeen[id]; seen {
			continue
		}
		if d.rollout != nil && d.rollout.hasChecks() && string(sd.LifecycleStage) == checksStage {
			// Test traffic reaches green: judge it before production does.
			d.hooksSeen[id] = 0 // not a traffic step
			why, err := e.runChecks(ctx, d, fn)
			if err != nil {
				return false, err
			}
			if why != "" {
				d.checkFailure = why
				if err := fn(e.event(d, api.EventDeployProgress, "rolling back before any production traffic: "+why)); err != nil {
					return false, err
				}
				if err := e.continueHook(ctx, sd, id, types.DeploymentLifecycleHookActionRollback); err != nil {
					return false, err
				}
				continue
			}
			if e.isGate(d.rollout, sd.LifecycleStage, 0) {
				// A gate of the same stage (blue/green): now it waits.
				if err := e.reportGate(d, sd, h, fn); err != nil {
					return false, err
				}
				continue
			}
			if err := e.continueHook(ctx, sd, id, types.DeploymentLifecycleHookActionContinue); err != nil {
				return false, err
			}
			continue
		}
		step := 1
		for _, s := range d.hooksSeen {
			if s != 0 {
				step++
			}
		}
		d.hooksSeen[id] = step
		if e.isGate(d.rollout, sd.LifecycleStage, step) {
			if err := e.reportGate(d, sd, h, fn); err != nil {
				return false, err
			}
			continue
		}
		if err := e.continueHook(ctx, sd, id, types.DeploymentLifecycleHookActionContinue); err != nil {
			return false, err
		}
	}
	switch sd.Status {
	case types.ServiceDeploymentStatusSuccessful:
		return true, e.finish(d, stateSucceeded, "", fn)
	case types.ServiceDeploymentStatusRollbackSuccessful, types.ServiceDeploymentStatusStopped:
		return true, e.finish(d, stateRolledBack, orText(d.checkFailure, e.rollbackReason(sd)), fn)
	case types.ServiceDeploymentStatusRollbackFailed:
		return true, e.finish(d, stateFailed, "the rollback failed: "+e.rollbackReason(sd), fn)
	}
	return false, nil
}

// checksOnly reports whether the service's hook at stage holds only
// berth's checks, no gate (so promote is not what it waits for).
func (e *Engine) checksOnly(service string, stage types.ServiceDeploymentLifecycleStage) bool {
	svc, err := e.serviceSpec(service)
	if err != nil {
		return false
	}
	r, err := e.rolloutFor(svc, count(svc))
	if err != nil || !r.hasChecks() || string(stage) != checksStage {
		return false
	}
	return !e.isGate(r, stage, 0)
}

// reportGate says the deployment waits at a gate for promote or abort.
func (e *Engine) reportGate(d *deployment, sd *types.ServiceDeployment, h types.DeploymentLifecycleHookDetail, fn func(api.Event) error) error {
	msg := fmt.Sprintf("waiting at a gate (stage %s, hook %s): `berth promote --env %s %s` continues, `berth abort --env %s %s` rolls back; ECS rolls back by itself at %s",
		sd.LifecycleStage, aws.ToString(h.HookId), e.sp.Env, d.d.Service, e.sp.Env, d.d.Service, aws.ToTime(h.ExpiresAt).UTC().Format("15:04:05Z"))
	return fn(e.event(d, api.EventDeployProgress, msg))
}

// isGate reports whether a PAUSE hook met at stage, as the step-th hook
// of the deployment, is one of the rollout's pause gates.
func (e *Engine) isGate(r *Rollout, stage types.ServiceDeploymentLifecycleStage, step int) bool {
	if r == nil {
		return true
	}
	for _, h := range r.Hooks {
		at := h.Stage == string(stage) ||
			// the step's PRE hook holds the shift: ECS may show either stage
			(h.Stage == "PRE_PRODUCTION_TRAFFIC_SHIFT" && stage == types.ServiceDeploymentLifecycleStageProductionTrafficShift)
		if h.Purpose != "gate" || !at {
			continue
		}
		if h.BeforeStep == 0 || h.BeforeStep == step {
			return true
		}
	}
	return false
}

// rollbackReason is why ECS rolled back, naming each alarm that fired
// with its threshold.
func (e *Engine) rollbackReason(sd *types.ServiceDeployment) string {
	reason := ""
	if sd.Rollback != nil {
		reason = aws.ToString(sd.Rollback.Reason)
	}
	if reason == "" {
		reason = aws.ToString(sd.StatusReason)
	}
	if a := sd.Alarms; a != nil {
		var fired []string
		for _, name := range a.TriggeredAlarmNames {
			desc := name
			for _, ro := range e.rolloutsByAlarm(name) {
				desc = fmt.Sprintf("%s (%s > %g %s over %dm)", name, ro.Metric, ro.Threshold, ro.Unit, ro.EvaluationMinutes)
			}
			fired = append(fired, desc)
		}
		if len(fired) > 0 {
			reason = "alarm " + strings.Join(fired, ", ") + " fired: " + orText(reason, "ECS rolled back")
		}
	}
	if cb := sd.DeploymentCircuitBreaker; cb != nil && cb.Status == types.ServiceDeploymentRollbackMonitorsStatusTriggered {
		reason = fmt.Sprintf("the circuit breaker saw %d failed tasks (threshold %d): %s", cb.FailureCount, cb.Threshold, orText(reason, "ECS rolled back"))
	}
	return orText(reason, "ECS rolled the deployment back")
}

// rolloutsByAlarm finds the spec's alarm of that name (at most one).
func (e *Engine) rolloutsByAlarm(name string) []Alarm {
	for _, n := range e.sp.Order {
		r, err := PlanRollout(e.sp, e.sp.Services[n], 1)
		if err != nil {
			continue
		}
		for _, a := range r.Alarms {
			if a.Name == name {
				return []Alarm{a}
			}
		}
	}
	return nil
}

// startMessage says what a deployment rolls out, and how.
func (e *Engine) startMessage(d *deployment) string {
	msg := fmt.Sprintf("rolling out release %d (%s)", d.d.ToRelease, d.taskDef)
	if d.rollout != nil {
		msg += " with ECS " + d.rollout.Summary()
	}
	return msg
}

// describeProgress fills a status's deployment from the service's
// native deployment in progress: strategy, stage, weights and a gate
// awaiting promote.
func (e *Engine) describeProgress(ctx context.Context, s *types.Service, svc *api.Service) error {
	arn := aws.ToString(s.CurrentServiceDeployment)
	if arn == "" {
		return nil
	}
	out, err := e.c.ecs.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{arn}})
	if err != nil {
		return fmt.Errorf("describe the deployment of %s: %w", svc.Name, err)
	}
	if len(out.ServiceDeployments) == 0 {
		return nil
	}
	sd := &out.ServiceDeployments[0]
	if sd.Status != types.ServiceDeploymentStatusInProgress && sd.Status != types.ServiceDeploymentStatusPending {
		return nil
	}
	dc := sd.DeploymentConfiguration
	if dc == nil || dc.Strategy == "" || dc.Strategy == types.DeploymentStrategyRolling {
		return nil
	}
	var prod, test *float64
	to := 0
	if t := sd.TargetServiceRevision; t != nil {
		prod, test = t.RequestedProductionTrafficWeight, t.RequestedTestTrafficWeight
	}
	if svc.Deployment != nil {
		to = svc.Deployment.ToRelease
	}
	reason := fmt.Sprintf("stage %s: production traffic %s, test traffic %s", sd.LifecycleStage, percent(prod), percent(test))
	if hook, ok := awaitingHook(sd); ok {
		if e.checksOnly(svc.Name, sd.LifecycleStage) {
			reason += fmt.Sprintf("; hook %s awaits berth's smoke checks and webhook (run by the `berth deploy` following it; ECS rolls back if none answers)", hook)
		} else {
			reason += fmt.Sprintf("; hook %s awaits `berth promote --env %s %s`", hook, e.sp.Env, svc.Name)
		}
	}
	svc.Deployment = &api.Deployment{Service: svc.Name, ToRelease: to, Strategy: strings.ToLower(strings.ReplaceAll(string(dc.Strategy), "_", "")),
		State: stateRunning, StartedAt: aws.ToTime(sd.StartedAt), Reason: reason}
	return nil
}

// deleteAlarms deletes the analysis alarms berth may have created for svc.
func (e *Engine) deleteAlarms(ctx context.Context, svc string) error {
	names := []string{AlarmName(e.sp, svc, "5xx"), AlarmName(e.sp, svc, "p99")}
	return e.mutate("delete alarms "+strings.Join(names, ", "), func() error {
		if _, err := e.c.cw.DeleteAlarms(ctx, &cloudwatch.DeleteAlarmsInput{AlarmNames: names}); err != nil && errorCode(err) != "ResourceNotFound" {
			return fmt.Errorf("delete alarms of %s: %w", svc, err)
		}
		return nil
	})
}

// WaitSubmitted returns once every deployment was handed to ECS (a
// dependent one after what it depends on finished): what a detached
// deploy waits for.
func (e *Engine) WaitSubmitted(ctx context.Context, deps []api.Deployment) error {
	for _, dep := range deps {
		e.mu.Lock()
		d := e.deps[dep.ID]
		e.mu.Unlock()
		if d == nil {
			continue
		}
		select {
		case <-d.submitted:
		case <-ctx.Done():
			return ctx.Err()
		}
		if d.err != nil {
			return d.err
		}
	}
	return nil
}
