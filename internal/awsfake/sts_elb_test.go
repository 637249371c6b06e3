package awsfake_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/berth-dev/berth/internal/awsfake"
)

func TestSTSGetCallerIdentity(t *testing.T) {
	srv, cfg := start(t, awsfake.Options{Account: "111122223333"})
	out := must(sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}))(t)
	if aws.ToString(out.Account) != "111122223333" {
		t.Fatalf("account = %q, want 111122223333", aws.ToString(out.Account))
	}
	if n := srv.CallCount(awsfake.ServiceSTS, "GetCallerIdentity"); n != 1 {
		t.Fatalf("call count = %d, want 1", n)
	}
}

func TestWrongAccessKeyIsRejected(t *testing.T) {
	_, cfg := start(t, awsfake.Options{AccessKeys: []string{"AKIAOTHER"}})
	_, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if errCode(err) != "InvalidClientTokenId" {
		t.Fatalf("err = %v, want InvalidClientTokenId", err)
	}
}

// newTG creates an ip target group through the SDK.
func newTG(t *testing.T, c *elb.Client, name string) string {
	t.Helper()
	out := must(c.CreateTargetGroup(context.Background(), &elb.CreateTargetGroupInput{
		Name: aws.String(name), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(8080),
		VpcId: aws.String("vpc-1"), TargetType: elbtypes.TargetTypeEnumIp,
		HealthCheckPath: aws.String("/healthz"), HealthCheckIntervalSeconds: aws.Int32(5),
		HealthCheckTimeoutSeconds: aws.Int32(2), HealthyThresholdCount: aws.Int32(2),
		Matcher: &elbtypes.Matcher{HttpCode: aws.String("200-399")},
		Tags:    []elbtypes.Tag{{Key: aws.String("berth:service"), Value: aws.String(name)}},
	}))(t)
	return aws.ToString(out.TargetGroups[0].TargetGroupArn)
}

func forward(tgs map[string]int32) []elbtypes.Action {
	var list []elbtypes.TargetGroupTuple
	for arn, w := range tgs {
		list = append(list, elbtypes.TargetGroupTuple{TargetGroupArn: aws.String(arn), Weight: aws.Int32(w)})
	}
	return []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{TargetGroups: list}}}
}

func pathRule(listener string, prio int32, tgs map[string]int32) *elb.CreateRuleInput {
	return &elb.CreateRuleInput{
		ListenerArn: aws.String(listener), Priority: aws.Int32(prio),
		Conditions: []elbtypes.RuleCondition{{Field: aws.String("path-pattern"),
			PathPatternConfig: &elbtypes.PathPatternConditionConfig{Values: []string{"/api", "/api/*"}}}},
		Actions: forward(tgs),
		Transforms: []elbtypes.RuleTransform{{Type: elbtypes.TransformTypeEnumUrlRewrite,
			UrlRewriteConfig: &elbtypes.UrlRewriteConfig{Rewrites: []elbtypes.RewriteConfig{{Regex: aws.String("^/api/?(.*)$"), Replace: aws.String("/$1")}}}}},
		Tags: []elbtypes.Tag{{Key: aws.String("berth:project"), Value: aws.String("shop")}},
	}
}

func TestELBTargetGroupsRulesAndTags(t *testing.T) {
	srv, cfg := start(t, awsfake.Options{})
	ctx := context.Background()
	alb := srv.AddLoadBalancer("shop", "application")
	c := elb.NewFromConfig(cfg)

	ln := must(c.DescribeListeners(ctx, &elb.DescribeListenersInput{ListenerArns: []string{alb.ListenerArn}}))(t)
	if got := aws.ToString(ln.Listeners[0].LoadBalancerArn); got != alb.Arn {
		t.Fatalf("listener's load balancer = %q, want %q", got, alb.Arn)
	}
	lbs := must(c.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerArns: []string{alb.Arn}}))(t)
	if lbs.LoadBalancers[0].Type != elbtypes.LoadBalancerTypeEnumApplication {
		t.Fatalf("type = %q, want application", lbs.LoadBalancers[0].Type)
	}

	blue := newTG(t, c, "shop-api-a")
	green := newTG(t, c, "shop-api-b")
	again := newTG(t, c, "shop-api-a")
	if again != blue {
		t.Fatalf("re-creating an identical target group gave %s, want the existing %s", again, blue)
	}

	rule := must(c.CreateRule(ctx, pathRule(alb.ListenerArn, 10, map[string]int32{blue: 100, green: 0})))(t)
	r := rule.Rules[0]
	if aws.ToString(r.Priority) != "10" || len(r.Conditions) != 1 || r.Conditions[0].PathPatternConfig.Values[1] != "/api/*" {
		t.Fatalf("rule = %+v", r)
	}
	if len(r.Transforms) != 1 || aws.ToString(r.Transforms[0].UrlRewriteConfig.Rewrites[0].Replace) != "/$1" {
		t.Fatalf("transforms did not round-trip: %+v", r.Transforms)
	}
	if w := srv.RuleForward(aws.ToString(r.RuleArn)); w[blue] != 100 || w[green] != 0 {
		t.Fatalf("weights = %v", w)
	}

	_, err := c.CreateRule(ctx, pathRule(alb.ListenerArn, 10, map[string]int32{green: 1}))
	var inUse *elbtypes.PriorityInUseException
	if !errors.As(err, &inUse) {
		t.Fatalf("duplicate priority: err = %v, want PriorityInUseException", err)
	}

	rules := must(c.DescribeRules(ctx, &elb.DescribeRulesInput{ListenerArn: aws.String(alb.ListenerArn)}))(t)
	if len(rules.Rules) != 2 || !aws.ToBool(rules.Rules[1].IsDefault) {
		t.Fatalf("rules = %d (want the rule and the default)", len(rules.Rules))
	}

	tgs := must(c.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{blue}}))(t)
	tg := tgs.TargetGroups[0]
	if aws.ToString(tg.HealthCheckPath) != "/healthz" || aws.ToInt32(tg.HealthCheckIntervalSeconds) != 5 ||
		tg.TargetType != elbtypes.TargetTypeEnumIp || len(tg.LoadBalancerArns) != 1 {
		t.Fatalf("target group = %+v", tg)
	}

	tags := must(c.DescribeTags(ctx, &elb.DescribeTagsInput{ResourceArns: []string{blue, aws.ToString(r.RuleArn)}}))(t)
	if got := aws.ToString(tags.TagDescriptions[0].Tags[0].Value); got != "shop-api-a" {
		t.Fatalf("target group tag = %q", got)
	}
	if got := aws.ToString(tags.TagDescriptions[1].Tags[0].Key); got != "berth:project" {
		t.Fatalf("rule tag = %q", got)
	}

	must(c.ModifyTargetGroupAttributes(ctx, &elb.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(blue),
		Attributes: []elbtypes.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String("15")}}}))(t)
	attrs := must(c.DescribeTargetGroupAttributes(ctx, &elb.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(blue)}))(t)
	found := false
	for _, a := range attrs.Attributes {
		found = found || aws.ToString(a.Key) == "deregistration_delay.timeout_seconds" && aws.ToString(a.Value) == "15"
	}
	if !found {
		t.Fatalf("attributes = %+v", attrs.Attributes)
	}

	_, err = c.DeleteTargetGroup(ctx, &elb.DeleteTargetGroupInput{TargetGroupArn: aws.String(blue)})
	var busy *elbtypes.ResourceInUseException
	if !errors.As(err, &busy) {
		t.Fatalf("deleting a target group a rule uses: err = %v, want ResourceInUse", err)
	}
	must(c.DeleteRule(ctx, &elb.DeleteRuleInput{RuleArn: r.RuleArn}))(t)
	_, err = c.DescribeTags(ctx, &elb.DescribeTagsInput{ResourceArns: []string{aws.ToString(r.RuleArn)}})
	var noRule *elbtypes.RuleNotFoundException
	if !errors.As(err, &noRule) {
		t.Fatalf("tags of a deleted rule: err = %v, want RuleNotFound", err)
	}
	must(c.DeleteTargetGroup(ctx, &elb.DeleteTargetGroupInput{TargetGroupArn: aws.String(blue)}))(t)
	_, err = c.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{blue}})
	var missing *elbtypes.TargetGroupNotFoundException
	if !errors.As(err, &missing) {
		t.Fatalf("describe deleted: err = %v, want TargetGroupNotFound", err)
	}
}

func TestELBRejectsOutOfRangeHealthCheck(t *testing.T) {
	_, cfg := start(t, awsfake.Options{})
	_, err := elb.NewFromConfig(cfg).CreateTargetGroup(context.Background(), &elb.CreateTargetGroupInput{
		Name: aws.String("tg"), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: aws.String("vpc-1"),
		TargetType: elbtypes.TargetTypeEnumIp, HealthCheckIntervalSeconds: aws.Int32(1),
	})
	if errCode(err) != "ValidationError" {
		t.Fatalf("err = %v, want ValidationError", err)
	}
}

func TestELBTargetHealthFollowsTheClock(t *testing.T) {
	srv, cfg := start(t, awsfake.Options{})
	ctx := context.Background()
	c := elb.NewFromConfig(cfg)
	tg := newTG(t, c, "tg")
	must(c.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(tg),
		Targets: []elbtypes.TargetDescription{{Id: aws.String("10.0.0.9"), Port: aws.Int32(8080)}}}))(t)
	state := func() elbtypes.TargetHealthStateEnum {
		out := must(c.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(tg)}))(t)
		if len(out.TargetHealthDescriptions) == 0 {
			return ""
		}
		return out.TargetHealthDescriptions[0].TargetHealth.State
	}
	if s := state(); s != elbtypes.TargetHealthStateEnumInitial {
		t.Fatalf("state = %q, want initial", s)
	}
	srv.Advance(10 * 1e9)
	if s := state(); s != elbtypes.TargetHealthStateEnumHealthy {
		t.Fatalf("state = %q, want healthy", s)
	}
	srv.SetTargetsUnhealthy(tg, true)
	srv.Step()
	if s := state(); s != elbtypes.TargetHealthStateEnumUnhealthy {
		t.Fatalf("state = %q, want unhealthy", s)
	}
}

func TestThrottlingIsRetriedBySDK(t *testing.T) {
	srv, cfg := start(t, awsfake.Options{})
	ctx := context.Background()
	srv.Throttle(awsfake.ServiceELBv2, "DescribeLoadBalancers", 2)
	must(elb.NewFromConfig(cfg).DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{}))(t)
	if n := srv.CallCount(awsfake.ServiceELBv2, "DescribeLoadBalancers"); n != 3 {
		t.Fatalf("calls = %d, want 3 (two throttled, one answered)", n)
	}
	srv.Throttle(awsfake.ServiceSTS, "", 10)
	_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if errCode(err) != "Throttling" {
		t.Fatalf("err = %v, want Throttling after the retries ran out", err)
	}
	if n := srv.CallCount(awsfake.ServiceSTS, ""); n != 3 {
		t.Fatalf("sts calls = %d, want 3 (the standard retryer's attempts)", n)
	}
}

func TestELBDescribeRulesOrdersByPriority(t *testing.T) {
	srv, cfg := start(t, awsfake.Options{})
	ctx := context.Background()
	alb := srv.AddLoadBalancer("shop", "application")
	c := elb.NewFromConfig(cfg)
	tg := newTG(t, c, "tg")
	for _, p := range []int32{300, 20, 1000} {
		must(c.CreateRule(ctx, pathRule(alb.ListenerArn, p, map[string]int32{tg: 1})))(t)
	}
	out := must(c.DescribeRules(ctx, &elb.DescribeRulesInput{ListenerArn: aws.String(alb.ListenerArn)}))(t)
	var got []string
	for _, r := range out.Rules {
		got = append(got, aws.ToString(r.Priority))
	}
	if strings.Join(got, ",") != "20,300,1000,default" {
		t.Fatalf("priorities = %v", got)
	}
}
