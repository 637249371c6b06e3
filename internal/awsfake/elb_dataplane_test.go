package awsfake_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/berth-dev/berth/internal/awsfake"
)

// A load balancer made WithEndpoint reports that DNS name and listener;
// Forward picks the first rule by priority whose conditions all match
// (path, host, header; * and ? wildcards), and MaxRuleWeight remembers
// the highest weight a rule ever gave a target group.
func TestELBForwardAndMaxRuleWeight(t *testing.T) {
	srv, cfg := start(t, awsfake.Options{})
	ctx := context.Background()
	alb := srv.AddLoadBalancer("shop", "application", awsfake.WithEndpoint("127.0.0.1", "HTTP", 8081))
	c := elb.NewFromConfig(cfg)
	lbs := must(c.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerArns: []string{alb.Arn}}))(t)
	ln := must(c.DescribeListeners(ctx, &elb.DescribeListenersInput{ListenerArns: []string{alb.ListenerArn}}))(t)
	if aws.ToString(lbs.LoadBalancers[0].DNSName) != "127.0.0.1" || aws.ToInt32(ln.Listeners[0].Port) != 8081 || ln.Listeners[0].Protocol != elbtypes.ProtocolEnumHttp {
		t.Fatalf("endpoint = %s %s:%d", ln.Listeners[0].Protocol, aws.ToString(lbs.LoadBalancers[0].DNSName), aws.ToInt32(ln.Listeners[0].Port))
	}
	blue, green := newTG(t, c, "shop-api-a"), newTG(t, c, "shop-api-b")
	prod := must(c.CreateRule(ctx, pathRule(alb.ListenerArn, 11, map[string]int32{blue: 100, green: 0})))(t).Rules[0]
	preview := pathRule(alb.ListenerArn, 10, map[string]int32{blue: 0, green: 100})
	preview.Conditions = append(preview.Conditions,
		elbtypes.RuleCondition{Field: aws.String("http-header"), HttpHeaderConfig: &elbtypes.HttpHeaderConditionConfig{HttpHeaderName: aws.String("X-Berth-Preview"), Values: []string{"1"}}},
		elbtypes.RuleCondition{Field: aws.String("host-header"), HostHeaderConfig: &elbtypes.HostHeaderConditionConfig{Values: []string{"*.example.com"}}})
	test := must(c.CreateRule(ctx, preview))(t).Rules[0]

	for _, tc := range []struct {
		host, path, header string
		rule               string
	}{
		{"shop.example.com", "/api/x", "1", aws.ToString(test.RuleArn)},
		{"shop.example.com", "/api", "", aws.ToString(prod.RuleArn)},
		{"shop.other.org", "/api/x", "1", aws.ToString(prod.RuleArn)},
		{"shop.example.com", "/apiary", "1", ""},
	} {
		req := httptest.NewRequest("GET", "http://"+tc.host+tc.path, nil)
		if tc.header != "" {
			req.Header.Set("x-berth-preview", tc.header)
		}
		rule, weights := srv.Forward(alb.ListenerArn, req)
		if rule != tc.rule {
			t.Errorf("%s%s (preview %q) matched %q, want %q", tc.host, tc.path, tc.header, rule, tc.rule)
		}
		if rule == aws.ToString(test.RuleArn) && weights[green] != 100 {
			t.Errorf("test rule weights = %v", weights)
		}
	}

	prodArn := aws.ToString(prod.RuleArn)
	if srv.MaxRuleWeight(prodArn, green) != 0 || srv.MaxRuleWeight(prodArn, blue) != 100 {
		t.Fatalf("max weights after create: green %d, blue %d", srv.MaxRuleWeight(prodArn, green), srv.MaxRuleWeight(prodArn, blue))
	}
	must(c.ModifyRule(ctx, &elb.ModifyRuleInput{RuleArn: prod.RuleArn, Actions: forward(map[string]int32{blue: 70, green: 30})}))(t)
	must(c.ModifyRule(ctx, &elb.ModifyRuleInput{RuleArn: prod.RuleArn, Actions: forward(map[string]int32{blue: 100, green: 0})}))(t)
	if got := srv.MaxRuleWeight(prodArn, green); got != 30 {
		t.Errorf("max green weight after 30 then 0 = %d, want 30", got)
	}
}
