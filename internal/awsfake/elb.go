package awsfake

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

type elbState struct {
	lbs       map[string]*loadBalancer
	listeners map[string]*listener
	tgs       map[string]*targetGroup
	rules     map[string]*rule
	tags      map[string][]tag
	order     map[string]int // arn → creation order, for stable listings
	// maxWeight is the highest weight each rule ever gave each target
	// group (rule ARN → target group ARN → weight), for tests to assert
	// traffic never reached a target group.
	maxWeight map[string]map[string]int
}

type loadBalancer struct {
	arn, name, typ, dns string
	created             time.Time
}

type listener struct {
	arn, lbArn, protocol string
	port                 int
	defaultActions       []any
}

type targetGroup struct {
	arn, name  string
	params     qmap // the CreateTargetGroup/ModifyTargetGroup fields
	attributes map[string]string
	targets    []*target
}

type target struct {
	id         string
	port       int
	state      string // initial, healthy, unhealthy, draining
	reason     string
	since      time.Time
	drainUntil time.Time
	unhealthy  bool
}

type rule struct {
	arn, listenerArn, priority      string
	conditions, actions, transforms []any
	isDefault                       bool
}

type tag struct{ Key, Value string }

func newELBState() *elbState {
	return &elbState{
		lbs: map[string]*loadBalancer{}, listeners: map[string]*listener{},
		tgs: map[string]*targetGroup{}, rules: map[string]*rule{},
		tags: map[string][]tag{}, order: map[string]int{}, maxWeight: map[string]map[string]int{},
	}
}

// LoadBalancer is a load balancer the test created as "the user's", with
// one listener.
type LoadBalancer struct {
	Arn         string
	ListenerArn string
	DNSName     string
}

// LoadBalancerOption changes what AddLoadBalancer creates.
type LoadBalancerOption func(*lbOptions)

type lbOptions struct {
	dns      string
	protocol string
	port     int
}

// WithEndpoint makes the load balancer's DNS name dns and its listener
// listen with protocol (HTTP or HTTPS) on port: a test points them at a
// loopback server that plays the balancer's data plane (see Forward).
func WithEndpoint(dns, protocol string, port int) LoadBalancerOption {
	return func(o *lbOptions) { o.dns, o.protocol, o.port = dns, protocol, port }
}

// AddLoadBalancer creates a load balancer of type "application" or
// "network" with one listener on port 443 (HTTPS, or TCP for network)
// whose default action is a fixed 404 response, as infrastructure berth
// expects to exist.
func (s *Server) AddLoadBalancer(name, typ string, opts ...LoadBalancerOption) LoadBalancer {
	s.mu.Lock()
	defer s.mu.Unlock()
	kind := "app"
	o := lbOptions{protocol: "HTTPS", port: 443}
	if typ == "network" {
		kind, o.protocol = "net", "TCP"
	} else {
		typ = "application"
	}
	for _, opt := range opts {
		opt(&o)
	}
	id := s.nextID(16)
	lb := &loadBalancer{
		arn:     s.arn("elasticloadbalancing", fmt.Sprintf("loadbalancer/%s/%s/%s", kind, name, id)),
		name:    name,
		typ:     typ,
		dns:     fmt.Sprintf("%s-%s.%s.elb.amazonaws.com", name, id[:8], s.opts.Region),
		created: s.now,
	}
	if o.dns != "" {
		lb.dns = o.dns
	}
	s.elb.lbs[lb.arn] = lb
	s.elb.order[lb.arn] = s.seq
	lid := s.nextID(16)
	ln := &listener{
		arn:      s.arn("elasticloadbalancing", fmt.Sprintf("listener/%s/%s/%s/%s", kind, name, id, lid)),
		lbArn:    lb.arn,
		protocol: o.protocol,
		port:     o.port,
		defaultActions: []any{qmap{"Type": "fixed-response", "FixedResponseConfig": qmap{
			"StatusCode": "404", "ContentType": "text/plain", "MessageBody": "not found"}}},
	}
	s.elb.listeners[ln.arn] = ln
	s.elb.order[ln.arn] = s.seq
	return LoadBalancer{Arn: lb.arn, ListenerArn: ln.arn, DNSName: lb.dns}
}

// SetTargetsUnhealthy makes every target registered now or later in the
// target group fail its health checks (true) or pass them (false).
func (s *Server) SetTargetsUnhealthy(targetGroupArn string, unhealthy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tg := s.elb.tgs[targetGroupArn]
	if tg == nil {
		return
	}
	if unhealthy {
		tg.attributes["awsfake.unhealthy"] = "true"
	} else {
		delete(tg.attributes, "awsfake.unhealthy")
	}
	for _, t := range tg.targets {
		t.unhealthy = unhealthy
	}
}

// RuleForward returns the target-group weights of a rule's forward action,
// keyed by target-group ARN.
func (s *Server) RuleForward(ruleArn string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.elb.rules[ruleArn]
	if r == nil {
		return nil
	}
	return forwardWeights(r.actions)
}

func forwardWeights(actions []any) map[string]int {
	out := map[string]int{}
	for _, a := range actions {
		am, _ := a.(qmap)
		if am.str("Type") != "forward" {
			continue
		}
		if arn := am.str("TargetGroupArn"); arn != "" {
			out[arn] = 1
		}
		for _, tg := range am.m("ForwardConfig").list("TargetGroups") {
			w, ok := tg.int("Weight")
			if !ok {
				w = 1
			}
			out[tg.str("TargetGroupArn")] = w
		}
	}
	return out
}

const defaultDeregistrationDelay = "300"

func (s *Server) elbHandlers() map[string]queryHandler {
	return map[string]queryHandler{
		"DescribeLoadBalancers":         s.elbDescribeLoadBalancers,
		"DescribeListeners":             s.elbDescribeListeners,
		"ModifyListener":                s.elbModifyListener,
		"CreateTargetGroup":             s.elbCreateTargetGroup,
		"ModifyTargetGroup":             s.elbModifyTargetGroup,
		"DescribeTargetGroups":          s.elbDescribeTargetGroups,
		"DeleteTargetGroup":             s.elbDeleteTargetGroup,
		"DescribeTargetGroupAttributes": s.elbDescribeTargetGroupAttributes,
		"ModifyTargetGroupAttributes":   s.elbModifyTargetGroupAttributes,
		"RegisterTargets":               s.elbRegisterTargets,
		"DeregisterTargets":             s.elbDeregisterTargets,
		"DescribeTargetHealth":          s.elbDescribeTargetHealth,
		"CreateRule":                    s.elbCreateRule,
		"ModifyRule":                    s.elbModifyRule,
		"DeleteRule":                    s.elbDeleteRule,
		"DescribeRules":                 s.elbDescribeRules,
		"SetRulePriorities":             s.elbSetRulePriorities,
		"AddTags":                       s.elbAddTags,
		"RemoveTags":                    s.elbRemoveTags,
		"DescribeTags":                  s.elbDescribeTags,
	}
}

// sortedArns lists the keys of m in creation order.
func sortedArns[T any](st *elbState, m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return st.order[out[i]] < st.order[out[j]] })
	return out
}

func (s *Server) elbDescribeLoadBalancers(in qmap) (*xmlNode, error) {
	arns := in.strs("LoadBalancerArns")
	names := in.strs("Names")
	var items []*xmlNode
	match := func(lb *loadBalancer) bool {
		if len(arns) == 0 && len(names) == 0 {
			return true
		}
		return contains(arns, lb.arn) || contains(names, lb.name)
	}
	for _, a := range arns {
		if s.elb.lbs[a] == nil {
			return nil, errorf("LoadBalancerNotFound", "One or more load balancers not found")
		}
	}
	for _, a := range sortedArns(s.elb, s.elb.lbs) {
		lb := s.elb.lbs[a]
		if !match(lb) {
			continue
		}
		items = append(items, el("",
			txt("LoadBalancerArn", lb.arn), txt("LoadBalancerName", lb.name),
			txt("DNSName", lb.dns), txt("Type", lb.typ), txt("Scheme", "internet-facing"),
			txt("VpcId", "vpc-0fake"), txt("IpAddressType", "ipv4"),
			el("State", txt("Code", "active")),
			txt("CreatedTime", lb.created.Format(time.RFC3339)),
		))
	}
	if len(names) > 0 && len(items) < len(names) {
		return nil, errorf("LoadBalancerNotFound", "One or more load balancers not found")
	}
	return el("", members("LoadBalancers", items...)), nil
}

func (s *Server) listenerXML(ln *listener) *xmlNode {
	return el("",
		txt("ListenerArn", ln.arn), txt("LoadBalancerArn", ln.lbArn),
		txt("Port", strconv.Itoa(ln.port)), txt("Protocol", ln.protocol),
		fromQuery("DefaultActions", ln.defaultActions),
	)
}

func (s *Server) elbDescribeListeners(in qmap) (*xmlNode, error) {
	arns := in.strs("ListenerArns")
	lbArn := in.str("LoadBalancerArn")
	if lbArn != "" && s.elb.lbs[lbArn] == nil {
		return nil, errorf("LoadBalancerNotFound", "Load balancer '%s' not found", lbArn)
	}
	var items []*xmlNode
	for _, a := range arns {
		if s.elb.listeners[a] == nil {
			return nil, errorf("ListenerNotFound", "One or more listeners not found")
		}
	}
	for _, a := range sortedArns(s.elb, s.elb.listeners) {
		ln := s.elb.listeners[a]
		if (len(arns) > 0 && !contains(arns, a)) || (lbArn != "" && ln.lbArn != lbArn) {
			continue
		}
		items = append(items, s.listenerXML(ln))
	}
	return el("", members("Listeners", items...)), nil
}

func (s *Server) elbModifyListener(in qmap) (*xmlNode, error) {
	ln := s.elb.listeners[in.str("ListenerArn")]
	if ln == nil {
		return nil, errorf("ListenerNotFound", "Listener '%s' not found", in.str("ListenerArn"))
	}
	if in.has("DefaultActions") {
		acts, _ := in["DefaultActions"].([]any)
		if err := s.checkActions(acts); err != nil {
			return nil, err
		}
		ln.defaultActions = acts
	}
	return el("", members("Listeners", s.listenerXML(ln))), nil
}

var tgNameRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$`)

// tgDefaults are CreateTargetGroup's defaults for an HTTP target group.
var tgDefaults = qmap{
	"HealthCheckEnabled": "true", "HealthCheckIntervalSeconds": "30", "HealthCheckTimeoutSeconds": "5",
	"HealthyThresholdCount": "5", "UnhealthyThresholdCount": "2", "HealthCheckPath": "/",
	"HealthCheckProtocol": "HTTP", "HealthCheckPort": "traffic-port", "TargetType": "instance",
	"Matcher": qmap{"HttpCode": "200"}, "ProtocolVersion": "HTTP1", "IpAddressType": "ipv4",
}

func checkTGRanges(p qmap) error {
	ranges := []struct {
		key      string
		min, max int
	}{
		{"HealthCheckIntervalSeconds", 5, 300}, {"HealthCheckTimeoutSeconds", 2, 120},
		{"HealthyThresholdCount", 2, 10}, {"UnhealthyThresholdCount", 2, 10}, {"Port", 1, 65535},
	}
	for _, r := range ranges {
		if !p.has(r.key) {
			continue
		}
		n, ok := p.int(r.key)
		if !ok || n < r.min || n > r.max {
			return errorf("ValidationError", "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have value between %d and %d",
				p.str(r.key), lowerFirst(r.key), r.min, r.max)
		}
	}
	iv, _ := p.int("HealthCheckIntervalSeconds")
	to, _ := p.int("HealthCheckTimeoutSeconds")
	if to >= iv {
		return errorf("ValidationError", "Health check timeout '%d' must be smaller than the interval '%d'", to, iv)
	}
	return nil
}

func (s *Server) elbCreateTargetGroup(in qmap) (*xmlNode, error) {
	name := in.str("Name")
	if !tgNameRE.MatchString(name) {
		return nil, errorf("ValidationError", "Target group name '%s' can have a maximum of 32 characters, alphanumeric characters and hyphens only, and must not begin or end with a hyphen", name)
	}
	params := qmap{}
	for k, v := range tgDefaults {
		params[k] = v
	}
	for k, v := range in {
		if k == "Action" || k == "Version" || k == "Name" || k == "Tags" {
			continue
		}
		params[k] = v
	}
	if err := checkTGRanges(params); err != nil {
		return nil, err
	}
	for _, a := range sortedArns(s.elb, s.elb.tgs) {
		tg := s.elb.tgs[a]
		if tg.name != name {
			continue
		}
		for _, k := range []string{"Protocol", "Port", "VpcId", "TargetType"} {
			if tg.params.str(k) != params.str(k) {
				return nil, errorf("DuplicateTargetGroupName", "A target group with the same name '%s' exists, but with different settings", name)
			}
		}
		return el("", members("TargetGroups", s.tgXML(tg))), nil
	}
	tg := &targetGroup{
		arn:        s.arn("elasticloadbalancing", fmt.Sprintf("targetgroup/%s/%s", name, s.nextID(16))),
		name:       name,
		params:     params,
		attributes: map[string]string{},
	}
	s.elb.tgs[tg.arn] = tg
	s.elb.order[tg.arn] = s.seq
	s.elb.tags[tg.arn] = mergeTags(nil, queryTags(in))
	return el("", members("TargetGroups", s.tgXML(tg))), nil
}

func (s *Server) tgXML(tg *targetGroup) *xmlNode {
	n := fromQuery("", tg.params)
	n.Children = append(n.Children, txt("TargetGroupArn", tg.arn), txt("TargetGroupName", tg.name))
	var lbs []*xmlNode
	for _, lb := range s.tgLoadBalancers(tg.arn) {
		lbs = append(lbs, txt("member", lb))
	}
	n.Children = append(n.Children, members("LoadBalancerArns", lbs...))
	return n
}

// tgLoadBalancers lists the load balancers whose listeners or rules forward
// to the target group.
func (s *Server) tgLoadBalancers(tgArn string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(lbArn string) {
		if !seen[lbArn] {
			seen[lbArn] = true
			out = append(out, lbArn)
		}
	}
	for _, a := range sortedArns(s.elb, s.elb.listeners) {
		ln := s.elb.listeners[a]
		if _, ok := forwardWeights(ln.defaultActions)[tgArn]; ok {
			add(ln.lbArn)
		}
	}
	for _, a := range sortedArns(s.elb, s.elb.rules) {
		r := s.elb.rules[a]
		if _, ok := forwardWeights(r.actions)[tgArn]; ok {
			if ln := s.elb.listeners[r.listenerArn]; ln != nil {
				add(ln.lbArn)
			}
		}
	}
	return out
}

func (s *Server) elbModifyTargetGroup(in qmap) (*xmlNode, error) {
	tg := s.elb.tgs[in.str("TargetGroupArn")]
	if tg == nil {
		return nil, errorf("TargetGroupNotFound", "Target groups '%s' not found", in.str("TargetGroupArn"))
	}
	next := qmap{}
	for k, v := range tg.params {
		next[k] = v
	}
	for k, v := range in {
		if k == "Action" || k == "Version" || k == "TargetGroupArn" {
			continue
		}
		next[k] = v
	}
	if err := checkTGRanges(next); err != nil {
		return nil, err
	}
	tg.params = next
	return el("", members("TargetGroups", s.tgXML(tg))), nil
}

func (s *Server) elbDescribeTargetGroups(in qmap) (*xmlNode, error) {
	arns := in.strs("TargetGroupArns")
	names := in.strs("Names")
	lbArn := in.str("LoadBalancerArn")
	for _, a := range arns {
		if s.elb.tgs[a] == nil {
			return nil, errorf("TargetGroupNotFound", "One or more target groups not found")
		}
	}
	var items []*xmlNode
	found := map[string]bool{}
	for _, a := range sortedArns(s.elb, s.elb.tgs) {
		tg := s.elb.tgs[a]
		if len(arns) > 0 && !contains(arns, a) || len(names) > 0 && !contains(names, tg.name) {
			continue
		}
		if lbArn != "" && !contains(s.tgLoadBalancers(a), lbArn) {
			continue
		}
		found[tg.name] = true
		items = append(items, s.tgXML(tg))
	}
	for _, n := range names {
		if !found[n] {
			return nil, errorf("TargetGroupNotFound", "One or more target groups not found")
		}
	}
	return el("", members("TargetGroups", items...)), nil
}

func (s *Server) elbDeleteTargetGroup(in qmap) (*xmlNode, error) {
	arn := in.str("TargetGroupArn")
	if s.elb.tgs[arn] == nil {
		return nil, nil // deleting a missing target group succeeds, as on AWS
	}
	if lbs := s.tgLoadBalancers(arn); len(lbs) > 0 {
		return nil, errorf("ResourceInUse", "Target group '%s' is currently in use by a listener or a rule", arn)
	}
	if svc := s.serviceUsingTargetGroup(arn); svc != "" {
		return nil, errorf("ResourceInUse", "Target group '%s' is currently in use by ECS service '%s'", arn, svc)
	}
	delete(s.elb.tgs, arn)
	delete(s.elb.tags, arn)
	return nil, nil
}

func (s *Server) tgAttributes(tg *targetGroup) []tag {
	attrs := map[string]string{
		"deregistration_delay.timeout_seconds": defaultDeregistrationDelay,
		"stickiness.enabled":                   "false",
		"load_balancing.algorithm.type":        "round_robin",
	}
	for k, v := range tg.attributes {
		if !strings.HasPrefix(k, "awsfake.") {
			attrs[k] = v
		}
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]tag, 0, len(keys))
	for _, k := range keys {
		out = append(out, tag{k, attrs[k]})
	}
	return out
}

func kvXML(name string, kvs []tag) *xmlNode {
	var items []*xmlNode
	for _, kv := range kvs {
		items = append(items, el("", txt("Key", kv.Key), &xmlNode{Name: "Value", Text: kv.Value}))
	}
	return members(name, items...)
}

func (s *Server) elbDescribeTargetGroupAttributes(in qmap) (*xmlNode, error) {
	tg := s.elb.tgs[in.str("TargetGroupArn")]
	if tg == nil {
		return nil, errorf("TargetGroupNotFound", "Target groups '%s' not found", in.str("TargetGroupArn"))
	}
	return el("", kvXML("Attributes", s.tgAttributes(tg))), nil
}

func (s *Server) elbModifyTargetGroupAttributes(in qmap) (*xmlNode, error) {
	tg := s.elb.tgs[in.str("TargetGroupArn")]
	if tg == nil {
		return nil, errorf("TargetGroupNotFound", "Target groups '%s' not found", in.str("TargetGroupArn"))
	}
	for _, a := range in.list("Attributes") {
		k, v := a.str("Key"), a.str("Value")
		if k == "deregistration_delay.timeout_seconds" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 3600 {
				return nil, errorf("ValidationError", "'deregistration_delay.timeout_seconds' must be an integer between 0 and 3600")
			}
		}
		tg.attributes[k] = v
	}
	return el("", kvXML("Attributes", s.tgAttributes(tg))), nil
}

// drainDelay is how long a target deregistered from tg stays draining.
func (s *Server) drainDelay(tg *targetGroup) time.Duration {
	if v, ok := tg.attributes["deregistration_delay.timeout_seconds"]; ok {
		n, _ := strconv.Atoi(v)
		return time.Duration(n) * time.Second
	}
	return s.opts.DrainDelay
}

// registerTarget adds id:port to the target group as initial.
func (s *Server) registerTarget(tg *targetGroup, id string, port int) {
	for _, t := range tg.targets {
		if t.id == id && t.port == port && t.state != "draining" {
			return
		}
	}
	tg.targets = append(tg.targets, &target{
		id: id, port: port, state: "initial", reason: "Elb.RegistrationInProgress", since: s.now,
		unhealthy: tg.attributes["awsfake.unhealthy"] == "true",
	})
}

// setTargetUnhealthy makes target id fail its health checks.
func (s *Server) setTargetUnhealthy(tg *targetGroup, id string) {
	for _, t := range tg.targets {
		if t.id == id {
			t.unhealthy = true
		}
	}
}

// deregisterTarget starts draining id:port.
func (s *Server) deregisterTarget(tg *targetGroup, id string, port int) {
	for _, t := range tg.targets {
		if t.id == id && (port == 0 || t.port == port) && t.state != "draining" {
			t.state, t.reason, t.since = "draining", "Target.DeregistrationInProgress", s.now
			t.drainUntil = s.now.Add(s.drainDelay(tg))
		}
	}
}

// targetState is the health state of id in tg, "" if not registered.
func (s *Server) targetState(tgArn, id string) string {
	tg := s.elb.tgs[tgArn]
	if tg == nil {
		return ""
	}
	for _, t := range tg.targets {
		if t.id == id {
			return t.state
		}
	}
	return ""
}

// reconcileTargets moves target health on with the clock.
func (s *Server) reconcileTargets() {
	for _, tg := range s.elb.tgs {
		kept := tg.targets[:0]
		for _, t := range tg.targets {
			switch {
			case t.state == "draining":
				if !s.now.Before(t.drainUntil) {
					continue
				}
			case t.state == "initial" && !s.now.Before(t.since.Add(s.opts.HealthyDelay)):
				if t.unhealthy {
					t.state, t.reason = "unhealthy", "Target.ResponseCodeMismatch"
				} else {
					t.state, t.reason = "healthy", ""
				}
				t.since = s.now
			case t.state == "healthy" && t.unhealthy:
				t.state, t.reason, t.since = "unhealthy", "Target.ResponseCodeMismatch", s.now
			}
			kept = append(kept, t)
		}
		tg.targets = kept
	}
}

func (s *Server) elbRegisterTargets(in qmap) (*xmlNode, error) {
	tg := s.elb.tgs[in.str("TargetGroupArn")]
	if tg == nil {
		return nil, errorf("TargetGroupNotFound", "Target groups '%s' not found", in.str("TargetGroupArn"))
	}
	for _, t := range in.list("Targets") {
		port, ok := t.int("Port")
		if !ok {
			port, _ = tg.params.int("Port")
		}
		s.registerTarget(tg, t.str("Id"), port)
	}
	return nil, nil
}

func (s *Server) elbDeregisterTargets(in qmap) (*xmlNode, error) {
	tg := s.elb.tgs[in.str("TargetGroupArn")]
	if tg == nil {
		return nil, errorf("TargetGroupNotFound", "Target groups '%s' not found", in.str("TargetGroupArn"))
	}
	for _, t := range in.list("Targets") {
		port, _ := t.int("Port")
		s.deregisterTarget(tg, t.str("Id"), port)
	}
	return nil, nil
}

func (s *Server) elbDescribeTargetHealth(in qmap) (*xmlNode, error) {
	tg := s.elb.tgs[in.str("TargetGroupArn")]
	if tg == nil {
		return nil, errorf("TargetGroupNotFound", "Target groups '%s' not found", in.str("TargetGroupArn"))
	}
	var items []*xmlNode
	for _, t := range tg.targets {
		items = append(items, el("",
			el("Target", txt("Id", t.id), txt("Port", strconv.Itoa(t.port))),
			txt("HealthCheckPort", strconv.Itoa(t.port)),
			el("TargetHealth", txt("State", t.state), txt("Reason", t.reason)),
		))
	}
	return el("", members("TargetHealthDescriptions", items...)), nil
}

// checkActions validates that forward actions name existing target groups.
func (s *Server) checkActions(actions []any) error {
	if len(actions) == 0 {
		return errorf("ValidationError", "A rule must have at least one action")
	}
	for tgArn := range forwardWeights(actions) {
		if s.elb.tgs[tgArn] == nil {
			return errorf("TargetGroupNotFound", "Target group '%s' not found", tgArn)
		}
	}
	return nil
}

func (s *Server) ruleXML(r *rule) *xmlNode {
	return el("",
		txt("RuleArn", r.arn), txt("Priority", r.priority),
		txt("IsDefault", strconv.FormatBool(r.isDefault)),
		fromQuery("Conditions", r.conditions),
		fromQuery("Actions", r.actions),
		fromQuery("Transforms", r.transforms),
	)
}

func (s *Server) priorityInUse(listenerArn, priority, except string) bool {
	for _, r := range s.elb.rules {
		if r.listenerArn == listenerArn && r.priority == priority && r.arn != except {
			return true
		}
	}
	return false
}

func (s *Server) elbCreateRule(in qmap) (*xmlNode, error) {
	ln := s.elb.listeners[in.str("ListenerArn")]
	if ln == nil {
		return nil, errorf("ListenerNotFound", "Listener '%s' not found", in.str("ListenerArn"))
	}
	prio, ok := in.int("Priority")
	if !ok || prio < 1 || prio > 50000 {
		return nil, errorf("ValidationError", "1 validation error detected: Value '%s' at 'priority' failed to satisfy constraint: Member must have value between 1 and 50000", in.str("Priority"))
	}
	conds, _ := in["Conditions"].([]any)
	if len(conds) == 0 {
		return nil, errorf("ValidationError", "A rule must have at least one condition")
	}
	acts, _ := in["Actions"].([]any)
	if err := s.checkActions(acts); err != nil {
		return nil, err
	}
	if s.priorityInUse(ln.arn, strconv.Itoa(prio), "") {
		return nil, errorf("PriorityInUse", "Priority '%d' is currently in use", prio)
	}
	transforms, _ := in["Transforms"].([]any)
	r := &rule{
		arn:         strings.Replace(ln.arn, ":listener/", ":listener-rule/", 1) + "/" + s.nextID(16),
		listenerArn: ln.arn,
		priority:    strconv.Itoa(prio),
		conditions:  conds,
		actions:     acts,
		transforms:  transforms,
	}
	s.elb.rules[r.arn] = r
	s.elb.order[r.arn] = s.seq
	s.noteWeights(r)
	s.elb.tags[r.arn] = mergeTags(nil, queryTags(in))
	return el("", members("Rules", s.ruleXML(r))), nil
}

func (s *Server) elbModifyRule(in qmap) (*xmlNode, error) {
	r := s.elb.rules[in.str("RuleArn")]
	if r == nil {
		return nil, errorf("RuleNotFound", "One or more rules not found")
	}
	if in.has("Actions") {
		acts, _ := in["Actions"].([]any)
		if err := s.checkActions(acts); err != nil {
			return nil, err
		}
		r.actions = acts
		s.noteWeights(r)
	}
	if in.has("Conditions") {
		r.conditions, _ = in["Conditions"].([]any)
	}
	if in.has("Transforms") {
		r.transforms, _ = in["Transforms"].([]any)
	}
	if in.str("ResetTransforms") == "true" {
		r.transforms = nil
	}
	return el("", members("Rules", s.ruleXML(r))), nil
}

func (s *Server) elbDeleteRule(in qmap) (*xmlNode, error) {
	arn := in.str("RuleArn")
	if s.elb.rules[arn] == nil {
		return nil, errorf("RuleNotFound", "One or more rules not found")
	}
	delete(s.elb.rules, arn)
	delete(s.elb.tags, arn)
	return nil, nil
}

func (s *Server) elbDescribeRules(in qmap) (*xmlNode, error) {
	lnArn := in.str("ListenerArn")
	arns := in.strs("RuleArns")
	if lnArn != "" && s.elb.listeners[lnArn] == nil {
		return nil, errorf("ListenerNotFound", "Listener '%s' not found", lnArn)
	}
	for _, a := range arns {
		if s.elb.rules[a] == nil {
			return nil, errorf("RuleNotFound", "One or more rules not found")
		}
	}
	var matched []*rule
	for _, a := range sortedArns(s.elb, s.elb.rules) {
		r := s.elb.rules[a]
		if (lnArn != "" && r.listenerArn != lnArn) || (len(arns) > 0 && !contains(arns, a)) {
			continue
		}
		matched = append(matched, r)
	}
	sort.SliceStable(matched, func(i, j int) bool { // by priority, as ELB lists them
		pi, _ := strconv.Atoi(matched[i].priority)
		pj, _ := strconv.Atoi(matched[j].priority)
		return pi < pj
	})
	var items []*xmlNode
	for _, r := range matched {
		items = append(items, s.ruleXML(r))
	}
	if ln := s.elb.listeners[lnArn]; ln != nil {
		items = append(items, s.ruleXML(&rule{
			arn: strings.Replace(ln.arn, ":listener/", ":listener-rule/", 1) + "/default", priority: "default",
			isDefault: true, actions: ln.defaultActions,
		}))
	}
	return el("", members("Rules", items...)), nil
}

func (s *Server) elbSetRulePriorities(in qmap) (*xmlNode, error) {
	changes := in.list("RulePriorities")
	for _, c := range changes {
		r := s.elb.rules[c.str("RuleArn")]
		if r == nil {
			return nil, errorf("RuleNotFound", "One or more rules not found")
		}
		p, ok := c.int("Priority")
		if !ok || p < 1 || p > 50000 {
			return nil, errorf("ValidationError", "Priority must be between 1 and 50000")
		}
	}
	moving := map[string]bool{}
	for _, c := range changes {
		moving[c.str("RuleArn")] = true
	}
	seen := map[string]bool{}
	for _, c := range changes {
		r := s.elb.rules[c.str("RuleArn")]
		key := r.listenerArn + "#" + c.str("Priority")
		if seen[key] {
			return nil, errorf("PriorityInUse", "Priority '%s' is currently in use", c.str("Priority"))
		}
		seen[key] = true
		for _, o := range s.elb.rules {
			if o.listenerArn == r.listenerArn && o.priority == c.str("Priority") && !moving[o.arn] {
				return nil, errorf("PriorityInUse", "Priority '%s' is currently in use", c.str("Priority"))
			}
		}
	}
	var items []*xmlNode
	for _, c := range changes {
		r := s.elb.rules[c.str("RuleArn")]
		p, _ := c.int("Priority")
		r.priority = strconv.Itoa(p)
		items = append(items, s.ruleXML(r))
	}
	return el("", members("Rules", items...)), nil
}

// elbResourceExists reports whether arn names an ELBv2 resource.
func (s *Server) elbResourceExists(arn string) bool {
	return s.elb.lbs[arn] != nil || s.elb.listeners[arn] != nil || s.elb.tgs[arn] != nil || s.elb.rules[arn] != nil
}

// elbNotFound is the not-found error ELB gives for arn's resource type.
func elbNotFound(arn string) error {
	switch {
	case strings.Contains(arn, ":listener-rule/"):
		return errorf("RuleNotFound", "One or more rules not found")
	case strings.Contains(arn, ":listener/"):
		return errorf("ListenerNotFound", "One or more listeners not found")
	case strings.Contains(arn, ":loadbalancer/"):
		return errorf("LoadBalancerNotFound", "One or more load balancers not found")
	}
	return errorf("TargetGroupNotFound", "One or more target groups not found")
}

func (s *Server) elbAddTags(in qmap) (*xmlNode, error) {
	for _, arn := range in.strs("ResourceArns") {
		if !s.elbResourceExists(arn) {
			return nil, elbNotFound(arn)
		}
		s.elb.tags[arn] = mergeTags(s.elb.tags[arn], queryTags(in))
	}
	return nil, nil
}

func (s *Server) elbRemoveTags(in qmap) (*xmlNode, error) {
	keys := in.strs("TagKeys")
	for _, arn := range in.strs("ResourceArns") {
		if !s.elbResourceExists(arn) {
			return nil, elbNotFound(arn)
		}
		var kept []tag
		for _, t := range s.elb.tags[arn] {
			if !contains(keys, t.Key) {
				kept = append(kept, t)
			}
		}
		s.elb.tags[arn] = kept
	}
	return nil, nil
}

func (s *Server) elbDescribeTags(in qmap) (*xmlNode, error) {
	var items []*xmlNode
	for _, arn := range in.strs("ResourceArns") {
		if !s.elbResourceExists(arn) {
			return nil, elbNotFound(arn)
		}
		items = append(items, el("", txt("ResourceArn", arn), kvXML("Tags", s.elb.tags[arn])))
	}
	return el("", members("TagDescriptions", items...)), nil
}

func queryTags(in qmap) []tag {
	var out []tag
	for _, t := range in.list("Tags") {
		out = append(out, tag{t.str("Key"), t.str("Value")})
	}
	return out
}

// mergeTags overwrites or appends add's keys onto have.
func mergeTags(have, add []tag) []tag {
	out := append([]tag(nil), have...)
next:
	for _, a := range add {
		for i := range out {
			if out[i].Key == a.Key {
				out[i].Value = a.Value
				continue next
			}
		}
		out = append(out, a)
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
