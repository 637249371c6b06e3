package awsfake

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// This file is the fake ALB's data plane, as far as tests need one: which
// rule of a listener a request matches and where that rule forwards it,
// and the highest weight each rule ever gave each target group.

// noteWeights records the rule's current forward weights in maxWeight.
// Caller holds s.mu.
func (s *Server) noteWeights(r *rule) {
	m := s.elb.maxWeight[r.arn]
	if m == nil {
		m = map[string]int{}
		s.elb.maxWeight[r.arn] = m
	}
	for tg, w := range forwardWeights(r.actions) {
		if cur, ok := m[tg]; !ok || w > cur {
			m[tg] = w
		}
	}
}

// MaxRuleWeight is the highest weight the rule ever forwarded to the
// target group with (0 when it never named it).
func (s *Server) MaxRuleWeight(ruleArn, targetGroupArn string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.elb.maxWeight[ruleArn][targetGroupArn]
}

// Forward evaluates the listener's rules against a request as an ALB
// does (priority order; path-pattern, host-header and http-header
// conditions, with * and ? wildcards) and returns the matching rule and
// its forward weights by target-group ARN. No match returns "" and nil:
// the listener's default action answers.
func (s *Server) Forward(listenerArn string, req *http.Request) (ruleArn string, weights map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var rules []*rule
	for _, r := range s.elb.rules {
		if r.listenerArn == listenerArn && !r.isDefault {
			rules = append(rules, r)
		}
	}
	sort.Slice(rules, func(i, j int) bool {
		a, _ := strconv.Atoi(rules[i].priority)
		b, _ := strconv.Atoi(rules[j].priority)
		return a < b
	})
	for _, r := range rules {
		if matchesAll(r.conditions, req) {
			return r.arn, forwardWeights(r.actions)
		}
	}
	return "", nil
}

func matchesAll(conds []any, req *http.Request) bool {
	for _, c := range conds {
		cm, _ := c.(qmap)
		if !matchesCondition(cm, req) {
			return false
		}
	}
	return len(conds) > 0
}

func matchesCondition(c qmap, req *http.Request) bool {
	host := req.Host
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	anyOf := func(vals []string, v string, fold bool) bool {
		for _, p := range vals {
			if fold {
				p, v = strings.ToLower(p), strings.ToLower(v)
			}
			if wildcard(p, v) {
				return true
			}
		}
		return false
	}
	switch c.str("Field") {
	case "path-pattern":
		vals := c.m("PathPatternConfig").strs("Values")
		if len(vals) == 0 {
			vals = c.strs("Values")
		}
		return anyOf(vals, req.URL.Path, false)
	case "host-header":
		vals := c.m("HostHeaderConfig").strs("Values")
		if len(vals) == 0 {
			vals = c.strs("Values")
		}
		return anyOf(vals, host, true)
	case "http-header":
		hc := c.m("HttpHeaderConfig")
		for _, v := range req.Header.Values(hc.str("HttpHeaderName")) {
			if anyOf(hc.strs("Values"), v, true) {
				return true
			}
		}
		return false
	}
	return false // a condition the fake does not model never matches
}

// wildcard matches s against an ALB pattern: * is any run of characters,
// ? exactly one.
func wildcard(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if wildcard(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			p, s = p[1:], s[1:]
		default:
			if s == "" || p[0] != s[0] {
				return false
			}
			p, s = p[1:], s[1:]
		}
	}
	return s == ""
}
