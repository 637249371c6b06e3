package ecs

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/berth-dev/berth/internal/spec"
)

// priorityBlock is how many listener-rule priorities one project and
// environment own, in one block: berth never uses a priority outside it.
const priorityBlock = 1000

// targetHealth is a target group's health check, within ALB's ranges.
type targetHealth struct {
	Path                       string
	Interval, Timeout          int // seconds
	Healthy, Unhealthy         int
	DeregistrationDelaySeconds int
}

// TargetHealth returns the ALB health check of svc, clamped into the
// ranges ALB accepts, and one warning per value it had to change.
func TargetHealth(svc *spec.Service) (targetHealth, []string) {
	var warn []string
	h := svc.Health
	if h == nil {
		h = &spec.Health{Path: "/health"}
	}
	clamp := func(what string, v, lo, hi int, unit string) int {
		c := clampInt(v, lo, hi)
		if c != v {
			warn = append(warn, fmt.Sprintf("%s: health %s %d%s is outside ALB's range %d–%d%s; using %d%s", svc.Name, what, v, unit, lo, hi, unit, c, unit))
		}
		return c
	}
	secs := func(d spec.Duration) int { return int((time.Duration(d) + time.Second - 1) / time.Second) }
	t := targetHealth{Path: h.Path}
	if t.Path == "" {
		t.Path = "/"
	}
	t.Interval = clamp("interval", secs(h.Interval), 5, 300, "s")
	t.Timeout = clamp("timeout", secs(h.Timeout), 2, 120, "s")
	if t.Timeout >= t.Interval {
		c := t.Interval - 1
		warn = append(warn, fmt.Sprintf("%s: health timeout %ds must be shorter than the interval %ds on ALB; using %ds", svc.Name, t.Timeout, t.Interval, c))
		t.Timeout = c
	}
	t.Healthy = clamp("healthy", h.Healthy, 2, 10, "")
	t.Unhealthy = clamp("unhealthy", h.Unhealthy, 2, 10, "")
	if d := svc.Deploy; d != nil {
		t.DeregistrationDelaySeconds = clampInt(secs(d.Drain), 0, 3600)
	}
	return t, warn
}

// Warnings lists what the ECS engine changes in the spec to fit AWS's
// ranges (health check values ALB does not accept), for plan to show.
func (e *Engine) Warnings() []string {
	var out []string
	for _, name := range e.sp.Order {
		svc := e.sp.Services[name]
		if svc.Route == nil {
			continue
		}
		_, w := TargetHealth(svc)
		out = append(out, w...)
	}
	if e.sp.Services != nil {
		for _, name := range e.sp.Order {
			if d := e.sp.Services[name].Deploy; d != nil && d.Drain.Std() > fargateMaxStopTimeout*time.Second {
				out = append(out, fmt.Sprintf("%s: deploy.drain %s exceeds Fargate's 120s stop timeout; tasks get 120s to stop (the target group still drains for %s)", name, d.Drain.Std(), d.Drain.Std()))
			}
		}
	}
	return out
}

var tgNameUnsafe = regexp.MustCompile(`[^A-Za-z0-9-]`)

// targetGroupName is the service's target group name: ALB allows 32
// characters, so a longer name is cut and suffixed with a hash.
func (e *Engine) targetGroupName(svc string) string {
	n := tgNameUnsafe.ReplaceAllString(e.family(svc), "-")
	if len(n) <= 32 {
		return n
	}
	h := fnv.New32a()
	h.Write([]byte(n))
	return fmt.Sprintf("%s-%08x", strings.TrimRight(n[:23], "-"), h.Sum32())
}

// checkListener makes sure the configured listener belongs to an
// Application Load Balancer, and remembers that balancer's VPC.
func (e *Engine) checkListener(ctx context.Context) (string, error) {
	e.mu.Lock()
	if e.lbChecked {
		vpc := e.vpc
		e.mu.Unlock()
		return vpc, nil
	}
	e.mu.Unlock()
	l := e.aws.Listener
	out, err := e.c.elb.DescribeListeners(ctx, &elb.DescribeListenersInput{ListenerArns: []string{l}})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "ListenerNotFound" {
			return "", fmt.Errorf("listener %s does not exist: create the ALB and its listener (Terraform), then set aws.listener to its ARN", l)
		}
		return "", fmt.Errorf("describe listener %s: %w", l, err)
	}
	if len(out.Listeners) == 0 {
		return "", fmt.Errorf("listener %s does not exist: set aws.listener to an ALB listener's ARN", l)
	}
	lbARN := aws.ToString(out.Listeners[0].LoadBalancerArn)
	lbs, err := e.c.elb.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerArns: []string{lbARN}})
	if err != nil {
		return "", fmt.Errorf("describe load balancer %s: %w", lbARN, err)
	}
	if len(lbs.LoadBalancers) == 0 {
		return "", fmt.Errorf("load balancer %s of listener %s does not exist", lbARN, l)
	}
	lb := lbs.LoadBalancers[0]
	if lb.Type != elbtypes.LoadBalancerTypeEnumApplication {
		return "", fmt.Errorf("%s belongs to a %s load balancer: %w; set aws.listener to an HTTP or HTTPS listener of an ALB", l, lb.Type, ErrNotALB)
	}
	e.mu.Lock()
	e.vpc, e.lbChecked = aws.ToString(lb.VpcId), true
	e.listenerURL = listenerURL(aws.ToString(lb.DNSName), out.Listeners[0].Protocol, aws.ToInt32(out.Listeners[0].Port))
	e.mu.Unlock()
	return aws.ToString(lb.VpcId), nil
}

func elbTags(tags []elbtypes.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func toELBTags(m map[string]string) []elbtypes.Tag {
	out := make([]elbtypes.Tag, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, elbtypes.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

// elbTagsOf reads the tags of ELB resources, 20 per call.
func (e *Engine) elbTagsOf(ctx context.Context, arns []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for start := 0; start < len(arns); start += 20 {
		batch := arns[start:min(start+20, len(arns))]
		res, err := e.c.elb.DescribeTags(ctx, &elb.DescribeTagsInput{ResourceArns: batch})
		if err != nil {
			return nil, fmt.Errorf("describe tags: %w", err)
		}
		for _, d := range res.TagDescriptions {
			out[aws.ToString(d.ResourceArn)] = elbTags(d.Tags)
		}
	}
	return out, nil
}

// targetGroupOf finds the service's target group: its ARN, or "" when
// none exists. One that exists without berth's tags is ErrNotOurs.
// key names it (the service, or altTargetGroupKey of it); svc owns it.
func (e *Engine) targetGroupOf(ctx context.Context, key, svc string) (string, error) {
	name := e.targetGroupName(key)
	out, err := e.c.elb.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{Names: []string{name}})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "TargetGroupNotFound" {
			return "", nil
		}
		return "", fmt.Errorf("describe target group %s: %w", name, err)
	}
	if len(out.TargetGroups) == 0 {
		return "", nil
	}
	arn := aws.ToString(out.TargetGroups[0].TargetGroupArn)
	tags, err := e.elbTagsOf(ctx, []string{arn})
	if err != nil {
		return "", err
	}
	if !e.owned(tags[arn]) || tags[arn][TagService] != svc {
		return "", fmt.Errorf("target group %s %w; berth never changes it: rename or delete it", name, ErrNotOurs)
	}
	return arn, nil
}

// ensureTargetGroup creates or updates the service's target group, with
// its health check and deregistration delay, and returns its ARN. An
// up-to-date one is left alone (no call that changes anything).
func (e *Engine) ensureTargetGroup(ctx context.Context, svc *spec.Service, vpc string) (string, error) {
	return e.ensureTargetGroupOf(ctx, svc, vpc, svc.Name)
}

// ensureTargetGroupOf is ensureTargetGroup for the target group named
// for key (the service, or its second target group).
func (e *Engine) ensureTargetGroupOf(ctx context.Context, svc *spec.Service, vpc, key string) (string, error) {
	th, _ := TargetHealth(svc)
	arn, err := e.targetGroupOf(ctx, key, svc.Name)
	if err != nil {
		return "", err
	}
	name := e.targetGroupName(key)
	if arn == "" {
		in := &elb.CreateTargetGroupInput{
			Name:                       aws.String(name),
			Protocol:                   elbtypes.ProtocolEnumHttp,
			Port:                       aws.Int32(int32(svc.Port)),
			VpcId:                      aws.String(vpc),
			TargetType:                 elbtypes.TargetTypeEnumIp,
			HealthCheckPath:            aws.String(th.Path),
			HealthCheckIntervalSeconds: aws.Int32(int32(th.Interval)),
			HealthCheckTimeoutSeconds:  aws.Int32(int32(th.Timeout)),
			HealthyThresholdCount:      aws.Int32(int32(th.Healthy)),
			UnhealthyThresholdCount:    aws.Int32(int32(th.Unhealthy)),
			Matcher:                    &elbtypes.Matcher{HttpCode: aws.String("200-399")},
			Tags:                       toELBTags(e.ownTags(svc.Name)),
		}
		err := e.mutate(fmt.Sprintf("create target group %s (health %s every %ds)", name, th.Path, th.Interval), func() error {
			out, err := e.c.elb.CreateTargetGroup(ctx, in)
			if err != nil {
				return fmt.Errorf("create target group %s: %w", name, err)
			}
			if len(out.TargetGroups) == 0 || aws.ToString(out.TargetGroups[0].TargetGroupArn) == "" {
				return fmt.Errorf("create target group %s: sent, but %w", name, errIncomplete("the target group or its ARN"))
			}
			arn = aws.ToString(out.TargetGroups[0].TargetGroupArn)
			return nil
		})
		if err != nil {
			return "", err
		}
		if e.dryRun {
			return "(new target group " + name + ")", nil
		}
		return arn, e.setDeregistrationDelay(ctx, arn, name, th.DeregistrationDelaySeconds)
	}
	out, err := e.c.elb.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{arn}})
	if err != nil {
		return "", fmt.Errorf("describe target group %s: %w", name, err)
	}
	if len(out.TargetGroups) == 0 {
		return "", fmt.Errorf("describe target group %s: %w", name, errIncomplete("the target group"))
	}
	tg := out.TargetGroups[0]
	if aws.ToString(tg.HealthCheckPath) != th.Path || aws.ToInt32(tg.HealthCheckIntervalSeconds) != int32(th.Interval) ||
		aws.ToInt32(tg.HealthCheckTimeoutSeconds) != int32(th.Timeout) || aws.ToInt32(tg.HealthyThresholdCount) != int32(th.Healthy) ||
		aws.ToInt32(tg.UnhealthyThresholdCount) != int32(th.Unhealthy) {
		err := e.mutate(fmt.Sprintf("modify target group %s health check: %s every %ds", name, th.Path, th.Interval), func() error {
			_, err := e.c.elb.ModifyTargetGroup(ctx, &elb.ModifyTargetGroupInput{
				TargetGroupArn:             aws.String(arn),
				HealthCheckPath:            aws.String(th.Path),
				HealthCheckIntervalSeconds: aws.Int32(int32(th.Interval)),
				HealthCheckTimeoutSeconds:  aws.Int32(int32(th.Timeout)),
				HealthyThresholdCount:      aws.Int32(int32(th.Healthy)),
				UnhealthyThresholdCount:    aws.Int32(int32(th.Unhealthy)),
			})
			if err != nil {
				return fmt.Errorf("modify target group %s: %w", name, err)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	attrs, err := e.c.elb.DescribeTargetGroupAttributes(ctx, &elb.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("describe attributes of target group %s: %w", name, err)
	}
	for _, a := range attrs.Attributes {
		if aws.ToString(a.Key) == "deregistration_delay.timeout_seconds" && aws.ToString(a.Value) == strconv.Itoa(th.DeregistrationDelaySeconds) {
			return arn, nil
		}
	}
	return arn, e.setDeregistrationDelay(ctx, arn, name, th.DeregistrationDelaySeconds)
}

func (e *Engine) setDeregistrationDelay(ctx context.Context, arn, name string, secs int) error {
	return e.mutate(fmt.Sprintf("set target group %s deregistration delay to %ds (deploy.drain)", name, secs), func() error {
		_, err := e.c.elb.ModifyTargetGroupAttributes(ctx, &elb.ModifyTargetGroupAttributesInput{
			TargetGroupArn: aws.String(arn),
			Attributes:     []elbtypes.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String(strconv.Itoa(secs))}},
		})
		if err != nil {
			return fmt.Errorf("set deregistration delay of target group %s: %w", name, err)
		}
		return nil
	})
}

// blockStart is the first listener-rule priority of this project and
// environment's block (1–49001), derived from their names.
func (e *Engine) blockStart() int {
	h := fnv.New32a()
	h.Write([]byte(e.sp.Project + "/" + e.sp.Env))
	return 1 + int(h.Sum32()%49)*priorityBlock
}

// Priorities assigns each routed service its production listener-rule
// priority inside the project's block: higher route priority first, then
// longer paths, then rules with hosts before path-only rules; a default
// route takes the block's last priority. The priority just before each
// is the service's preview rule's (native strategies' test traffic).
func (e *Engine) Priorities() map[string]int {
	var routed []*spec.Service
	out := map[string]int{}
	base := e.blockStart()
	for _, name := range e.sp.Order {
		s := e.sp.Services[name]
		if s.Route == nil {
			continue
		}
		if s.Route.Default {
			out[name] = base + priorityBlock - 1
			continue
		}
		routed = append(routed, s)
	}
	sort.SliceStable(routed, func(i, j int) bool {
		a, b := routed[i].Route, routed[j].Route
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		if len(a.Path) != len(b.Path) {
			return len(a.Path) > len(b.Path)
		}
		ha, hb := a.Host != "" || len(a.Hosts) > 0, b.Host != "" || len(b.Hosts) > 0
		if ha != hb {
			return ha
		}
		return routed[i].Name < routed[j].Name
	})
	// Two priorities per service: its preview (test) rule takes the one
	// before its production rule, so it is matched first for the same
	// route and never shadows another service's more specific route.
	for i, s := range routed {
		out[s.Name] = base + 2*i + 1
	}
	return out
}

// ruleConditions are the ALB conditions of a route.
func ruleConditions(r *spec.Route) []elbtypes.RuleCondition {
	var out []elbtypes.RuleCondition
	hosts := append([]string(nil), r.Hosts...)
	if r.Host != "" {
		hosts = append([]string{r.Host}, hosts...)
	}
	if len(hosts) > 0 {
		out = append(out, elbtypes.RuleCondition{Field: aws.String("host-header"), HostHeaderConfig: &elbtypes.HostHeaderConditionConfig{Values: hosts}})
	}
	p := strings.TrimSuffix(r.Path, "/")
	switch {
	case p != "":
		out = append(out, elbtypes.RuleCondition{Field: aws.String("path-pattern"), PathPatternConfig: &elbtypes.PathPatternConditionConfig{Values: []string{p, p + "/*"}}})
	case len(hosts) == 0:
		out = append(out, elbtypes.RuleCondition{Field: aws.String("path-pattern"), PathPatternConfig: &elbtypes.PathPatternConditionConfig{Values: []string{"/*"}}})
	}
	return out
}

// ruleTransforms strips the route's path prefix when it asks to.
func ruleTransforms(r *spec.Route) []elbtypes.RuleTransform {
	p := strings.TrimSuffix(r.Path, "/")
	if !r.StripPrefix || p == "" {
		return nil
	}
	return []elbtypes.RuleTransform{{
		Type: elbtypes.TransformTypeEnumUrlRewrite,
		UrlRewriteConfig: &elbtypes.UrlRewriteConfig{Rewrites: []elbtypes.RewriteConfig{{
			Regex: aws.String("^" + regexp.QuoteMeta(p) + "/?(.*)$"), Replace: aws.String("/$1"),
		}}},
	}}
}

func forward(tg string) []elbtypes.Action {
	return []elbtypes.Action{{
		Type:          elbtypes.ActionTypeEnumForward,
		ForwardConfig: &elbtypes.ForwardActionConfig{TargetGroups: []elbtypes.TargetGroupTuple{{TargetGroupArn: aws.String(tg), Weight: aws.Int32(100)}}},
	}}
}

// listenerRule is one rule of the listener with its tags.
type listenerRule struct {
	arn      string
	priority int
	tags     map[string]string
	rule     elbtypes.Rule
}

// listenerRules reads every non-default rule of the listener and its tags.
func (e *Engine) listenerRules(ctx context.Context) ([]listenerRule, error) {
	var rules []elbtypes.Rule
	in := &elb.DescribeRulesInput{ListenerArn: aws.String(e.aws.Listener)}
	for {
		out, err := e.c.elb.DescribeRules(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("describe rules of listener %s: %w", e.aws.Listener, err)
		}
		rules = append(rules, out.Rules...)
		if out.NextMarker == nil {
			break
		}
		in.Marker = out.NextMarker
	}
	var arns []string
	for _, r := range rules {
		if !aws.ToBool(r.IsDefault) {
			arns = append(arns, aws.ToString(r.RuleArn))
		}
	}
	tags, err := e.elbTagsOf(ctx, arns)
	if err != nil {
		return nil, err
	}
	var out []listenerRule
	for _, r := range rules {
		if aws.ToBool(r.IsDefault) {
			continue
		}
		p, _ := strconv.Atoi(aws.ToString(r.Priority))
		out = append(out, listenerRule{arn: aws.ToString(r.RuleArn), priority: p, tags: tags[aws.ToString(r.RuleArn)], rule: r})
	}
	return out, nil
}

// arrangeRules moves each of berth's rules whose priority the spec now
// puts elsewhere (a service was added or its route changed), all in one
// SetRulePriorities call: ALB applies it at once, so rules can trade
// places. rules is updated to the new priorities.
func (e *Engine) arrangeRules(ctx context.Context, rules []listenerRule) error {
	prios := e.Priorities()
	var pairs []elbtypes.RulePriorityPair
	var moves []string
	for i, r := range rules {
		p, ok := prios[r.tags[TagService]]
		if !e.owned(r.tags) || !ok {
			continue
		}
		if r.tags[TagRule] == RulePreview {
			p--
		}
		if r.priority == p {
			continue
		}
		pairs = append(pairs, elbtypes.RulePriorityPair{RuleArn: aws.String(r.arn), Priority: aws.Int32(int32(p))})
		moves = append(moves, fmt.Sprintf("%s %d → %d", r.tags[TagService], r.priority, p))
		rules[i].priority = p
	}
	if len(pairs) == 0 {
		return nil
	}
	return e.mutate("move listener rules to their priorities: "+strings.Join(moves, ", "), func() error {
		if _, err := e.c.elb.SetRulePriorities(ctx, &elb.SetRulePrioritiesInput{RulePriorities: pairs}); err != nil {
			return fmt.Errorf("move listener rules (%s): %w", strings.Join(moves, ", "), err)
		}
		return nil
	})
}

// TagRule marks what a service's listener rule is for: RulePreview on
// the test (preview) rule of a native strategy; the production rule has
// no such tag.
const (
	TagRule     = "berth:rule"
	RulePreview = "preview"
)

// ensureRuleTo creates or updates the listener rule that sends the
// service's route to its target group, at its priority in the project's
// block. A priority held by a rule berth did not create is an error; that
// rule is never changed. With alt set it forwards to both target
// groups (the production rule of a native blue/green, canary or linear
// service); weights of a rule that already forwards to both are ECS's
// and left alone. It returns the rule's ARN.
func (e *Engine) ensureRuleTo(ctx context.Context, rules []listenerRule, svc *spec.Service, tg, alt string, priority int) (string, error) {
	actions := forward(tg)
	if alt != "" {
		actions = forwardBoth(tg, alt)
	}
	return e.ensureRule(ctx, rules, ruleWant{svc: svc, conds: ruleConditions(svc.Route), actions: actions, tg: tg, alt: alt, priority: priority})
}

// ensurePreviewRule creates or updates the service's test listener rule
// (ECS's TestListenerRule): the route's conditions plus the preview
// header (or the preview host instead of the route's hosts), one
// priority before the production rule, forwarding to both target groups
// with all traffic on blue until ECS shifts test traffic to green. It
// returns the rule's ARN.
func (e *Engine) ensurePreviewRule(ctx context.Context, rules []listenerRule, svc *spec.Service, blue, green string, priority int) (string, error) {
	return e.ensureRule(ctx, rules, ruleWant{svc: svc, kind: RulePreview, conds: previewConditions(svc), actions: forwardBoth(blue, green), tg: blue, alt: green, priority: priority})
}

// previewConditions are the ALB conditions of the service's test rule.
func previewConditions(svc *spec.Service) []elbtypes.RuleCondition {
	d := svc.Deploy
	if d == nil {
		d = spec.BuiltinDeploy()
	}
	header, host := previewOf(d)
	if host != "" {
		r := *svc.Route
		r.Host, r.Hosts = host, nil
		return ruleConditions(&r)
	}
	return append(ruleConditions(svc.Route), elbtypes.RuleCondition{
		Field: aws.String("http-header"), HttpHeaderConfig: &elbtypes.HttpHeaderConditionConfig{HttpHeaderName: aws.String(header), Values: []string{"1"}},
	})
}

// ruleWant is one listener rule berth wants for a service.
type ruleWant struct {
	svc *spec.Service
	// kind is "" for the production rule, RulePreview for the test rule.
	kind     string
	conds    []elbtypes.RuleCondition
	actions  []elbtypes.Action
	tg, alt  string
	priority int
}

func (w ruleWant) what() string {
	if w.kind == RulePreview {
		return "preview listener rule"
	}
	return "listener rule"
}

// ensureRule creates or updates one of the service's listener rules.
func (e *Engine) ensureRule(ctx context.Context, rules []listenerRule, w ruleWant) (string, error) {
	svc, priority, conds := w.svc, w.priority, w.conds
	transforms := ruleTransforms(svc.Route)
	var mine *listenerRule
	for i, r := range rules {
		if e.owned(r.tags) && r.tags[TagService] == svc.Name && r.tags[TagRule] == w.kind {
			mine = &rules[i]
		}
	}
	for _, r := range rules {
		if r.priority == priority && (mine == nil || r.arn != mine.arn) {
			if !e.owned(r.tags) {
				return "", fmt.Errorf("listener rule priority %d (for %s) is taken by rule %s, which berth did not create: free it, or move the project's block (berth verify shows the block)", priority, svc.Name, r.arn)
			}
			// Another berth service held it: priorities are reassigned below.
		}
	}
	if mine == nil {
		tags := e.ownTags(svc.Name)
		if w.kind != "" {
			tags[TagRule] = w.kind
		}
		var arn string
		err := e.mutate(fmt.Sprintf("create %s for %s at priority %d (%s)", w.what(), svc.Name, priority, describeConditions(conds)), func() error {
			out, err := e.c.elb.CreateRule(ctx, &elb.CreateRuleInput{
				ListenerArn: aws.String(e.aws.Listener),
				Priority:    aws.Int32(int32(priority)),
				Conditions:  conds,
				Actions:     w.actions,
				Transforms:  transforms,
				Tags:        toELBTags(tags),
			})
			if err != nil {
				return fmt.Errorf("create %s for %s at priority %d: %w", w.what(), svc.Name, priority, err)
			}
			if len(out.Rules) == 0 || aws.ToString(out.Rules[0].RuleArn) == "" {
				return fmt.Errorf("create %s for %s at priority %d: sent, but %w", w.what(), svc.Name, priority, errIncomplete("the rule or its ARN"))
			}
			arn = aws.ToString(out.Rules[0].RuleArn)
			return nil
		})
		return arn, err
	}
	if mine.priority != priority {
		err := e.mutate(fmt.Sprintf("move %s of %s from priority %d to %d", w.what(), svc.Name, mine.priority, priority), func() error {
			_, err := e.c.elb.SetRulePriorities(ctx, &elb.SetRulePrioritiesInput{RulePriorities: []elbtypes.RulePriorityPair{{RuleArn: aws.String(mine.arn), Priority: aws.Int32(int32(priority))}}})
			if err != nil {
				return fmt.Errorf("set priority of the %s of %s: %w", w.what(), svc.Name, err)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	forwardOK := forwardsTo(mine.rule.Actions) == w.tg
	if w.alt != "" {
		forwardOK = forwardsToBoth(mine.rule.Actions, w.tg, w.alt)
	}
	if describeConditions(mine.rule.Conditions) != describeConditions(conds) || !forwardOK || len(mine.rule.Transforms) != len(transforms) {
		in := &elb.ModifyRuleInput{RuleArn: aws.String(mine.arn), Conditions: conds, Transforms: transforms, ResetTransforms: aws.Bool(len(transforms) == 0)}
		if !forwardOK {
			in.Actions = w.actions
		}
		return mine.arn, e.mutate(fmt.Sprintf("modify %s of %s: %s", w.what(), svc.Name, describeConditions(conds)), func() error {
			_, err := e.c.elb.ModifyRule(ctx, in)
			if err != nil {
				return fmt.Errorf("modify the %s of %s: %w", w.what(), svc.Name, err)
			}
			return nil
		})
	}
	return mine.arn, nil
}

func forwardsTo(actions []elbtypes.Action) string {
	for _, a := range actions {
		if a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) == 1 {
			return aws.ToString(a.ForwardConfig.TargetGroups[0].TargetGroupArn)
		}
		if a.TargetGroupArn != nil {
			return aws.ToString(a.TargetGroupArn)
		}
	}
	return ""
}

// describeConditions writes conditions in one canonical line.
func describeConditions(cs []elbtypes.RuleCondition) string {
	var parts []string
	for _, c := range cs {
		var vals []string
		field := aws.ToString(c.Field)
		switch {
		case c.HttpHeaderConfig != nil:
			field += ":" + strings.ToLower(aws.ToString(c.HttpHeaderConfig.HttpHeaderName))
			vals = c.HttpHeaderConfig.Values
		case c.HostHeaderConfig != nil:
			vals = c.HostHeaderConfig.Values
		case c.PathPatternConfig != nil:
			vals = c.PathPatternConfig.Values
		default:
			vals = c.Values
		}
		vals = slices.Clone(vals)
		sort.Strings(vals)
		parts = append(parts, field+"="+strings.Join(vals, ","))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
