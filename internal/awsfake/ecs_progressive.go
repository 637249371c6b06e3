package awsfake

import (
	"fmt"
	"math"
	"time"
)

// progressive is the state of a BLUE_GREEN, CANARY or LINEAR deployment:
// green tasks are started in the alternate target group, test traffic and
// then production traffic (in steps for CANARY and LINEAR) are shifted to
// them by rewriting the production and test listener rules' weights, both
// fleets run through the bake time, then blue is cleaned up. Lifecycle
// hooks gate the stages; PAUSE hooks wait for ContinueServiceDeployment or
// their timeout. AWS_LAMBDA hooks are not invoked: they succeed at once.
type progressive struct {
	strategy           string
	blue, green        *deployment
	blueTG, greenTG    string
	prodRule, testRule string
	// steps are green's production weights in order; stepBake is the wait
	// between steps.
	steps    []float64
	stepBake time.Duration
	bake     time.Duration
	step     int
	// stepDone says the current step's PRE_PRODUCTION hooks passed and its
	// weight is applied; waitUntil ends the current bake.
	stepDone  bool
	waitUntil time.Time
	stage     int
	greenProd float64
	greenTest float64
	rolledBack,
	done bool
	// finalStatus is the status a rollback ends in (ROLLBACK_SUCCESSFUL,
	// or STOPPED for an ABORT).
	finalStatus string
}

var progressiveStages = []string{
	"RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
	"POST_TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP",
}

// weights returns the production and test traffic weights rev receives.
func (p *progressive) weights(rev *svcRevision) (prod, test float64) {
	switch {
	case p.green != nil && rev == p.green.rev:
		return p.greenProd, p.greenTest
	case p.blue != nil && rev == p.blue.rev:
		return 100 - p.greenProd, 100 - p.greenTest
	}
	return 0, 0
}

func minutes(p *int, def int) time.Duration {
	if p != nil {
		return time.Duration(*p) * time.Minute
	}
	return time.Duration(def) * time.Minute
}

// startProgressive sets up sd (whose new PRIMARY deployment is green) as a
// blue/green-family deployment from the service's steady revision.
func (s *Server) startProgressive(svc *service, sd *svcDeployment, green *deployment) {
	var blue *deployment
	for _, d := range svc.deployments[1:] {
		if d.rev == svc.steady {
			blue = d
		}
	}
	lb := svc.lbs[0]
	adv := lb.AdvancedConfiguration
	blueTG := lb.TargetGroupArn
	if len(svc.steady.primaryTG) > 0 && svc.steady.primaryTG[0] != "" {
		blueTG = svc.steady.primaryTG[0]
	}
	greenTG := adv.AlternateTargetGroupArn
	if greenTG == blueTG {
		greenTG = lb.TargetGroupArn
	}
	green.rev.primaryTG = []string{greenTG}
	p := &progressive{
		strategy: sd.dc.Strategy, blue: blue, green: green, blueTG: blueTG, greenTG: greenTG,
		prodRule: adv.ProductionListenerRule, testRule: adv.TestListenerRule,
		bake: minutes(sd.dc.BakeTimeInMinutes, 0), finalStatus: "ROLLBACK_SUCCESSFUL",
	}
	switch sd.dc.Strategy {
	case "BLUE_GREEN":
		p.steps = []float64{100}
	case "CANARY":
		pct, bake := 5.0, 10
		if c := sd.dc.CanaryConfiguration; c != nil {
			if c.CanaryPercent != nil {
				pct = *c.CanaryPercent
			}
			if c.CanaryBakeTimeInMinutes != nil {
				bake = *c.CanaryBakeTimeInMinutes
			}
		}
		p.steps = []float64{pct, 100}
		p.stepBake = time.Duration(bake) * time.Minute
	case "LINEAR":
		step, bake := 10.0, 6
		if c := sd.dc.LinearConfiguration; c != nil {
			if c.StepPercent != nil {
				step = *c.StepPercent
			}
			if c.StepBakeTimeInMinutes != nil {
				bake = *c.StepBakeTimeInMinutes
			}
		}
		for w := step; w < 100-1e-9; w += step {
			p.steps = append(p.steps, math.Round(w*10)/10)
		}
		p.steps = append(p.steps, 100)
		p.stepBake = time.Duration(bake) * time.Minute
	}
	sd.prog = p
	sd.stage = progressiveStages[0]
}

// setRuleWeights points a rule's forward action at blue and green with
// the given weight for green (percent, rounded to ALB's integer weights).
func (s *Server) setRuleWeights(ruleArn, blueTG, greenTG string, green float64) {
	r := s.elb.rules[ruleArn]
	if r == nil {
		return
	}
	g := int(math.Round(green))
	list := []any{
		qmap{"TargetGroupArn": blueTG, "Weight": fmt.Sprint(100 - g)},
		qmap{"TargetGroupArn": greenTG, "Weight": fmt.Sprint(g)},
	}
	for i, a := range r.actions {
		am, _ := a.(qmap)
		if am.str("Type") != "forward" {
			continue
		}
		fc := am.m("ForwardConfig")
		next := qmap{}
		for k, v := range fc {
			next[k] = v
		}
		next["TargetGroups"] = list
		na := qmap{"Type": "forward", "ForwardConfig": next}
		if o, ok := am["Order"]; ok {
			na["Order"] = o
		}
		r.actions[i] = na
	}
	s.noteWeights(r)
}

// stageHooks fires the hooks registered for stage (once per key) and
// reports whether they all let the deployment continue.
func (s *Server) stageHooks(sd *svcDeployment, stage, key string) bool {
	fired := false
	for _, h := range sd.hooks {
		if h.stage == stage+key {
			fired = true
		}
	}
	if !fired {
		for _, hc := range sd.dc.LifecycleHooks {
			if !contains(hc.LifecycleStages, stage) {
				continue
			}
			typ := hc.TargetType
			if typ == "" {
				typ = "AWS_LAMBDA"
			}
			action, timeout := "ROLLBACK", 1440
			if tc := hc.TimeoutConfiguration; tc != nil {
				if tc.Action != "" {
					action = tc.Action
				}
				if tc.TimeoutInMinutes != nil {
					timeout = *tc.TimeoutInMinutes
				}
			}
			h := &hookRun{id: "hook-" + s.nextID(12), stage: stage + key, targetType: typ, targetArn: hc.HookTargetArn,
				timeoutAction: action, status: "SUCCEEDED", expiresAt: s.now.Add(time.Duration(timeout) * time.Minute)}
			if typ == "PAUSE" {
				h.status = "AWAITING_ACTION"
				s.addEvent(sd.svc, "(deployment %s) lifecycle hook %s is awaiting action at stage %s.", sd.svc.deployments[0].id, h.id, stage)
			}
			sd.hooks = append(sd.hooks, h)
		}
	}
	for _, h := range sd.hooks {
		if h.stage != stage+key {
			continue
		}
		if h.status == "AWAITING_ACTION" || h.status == "IN_PROGRESS" || h.status == "FAILED" ||
			(h.status == "TIMED_OUT" && h.timeoutAction != "CONTINUE") {
			return false
		}
	}
	return true
}

// reconcileHooks times out PAUSE hooks that waited too long.
func (s *Server) reconcileHooks() {
	for _, arn := range s.ecs.sdOrder {
		sd := s.ecs.deployments[arn]
		if sd.terminal() || sd.prog == nil || sd.prog.rolledBack {
			continue
		}
		for _, h := range sd.hooks {
			if h.status != "AWAITING_ACTION" || s.now.Before(h.expiresAt) {
				continue
			}
			h.status = "TIMED_OUT"
			if h.timeoutAction == "ROLLBACK" {
				s.rollback(sd, fmt.Sprintf("Service deployment rolled back because lifecycle hook %s timed out.", h.id))
				break
			}
		}
	}
}

// keepGreen keeps the green fleet at the desired count.
func (s *Server) keepGreen(svc *service, p *progressive) (healthy int) {
	live := 0
	for _, t := range s.liveTasks(svc) {
		if t.dep == p.green {
			live++
			if t.healthy() {
				healthy++
			}
		}
	}
	var started []string
	for ; live < svc.desired && p.green.rollout == "IN_PROGRESS"; live++ {
		t := s.launchTask(svc, p.green, []string{p.greenTG}, []int{svc.lbs[0].ContainerPort})
		started = append(started, t.id)
	}
	if len(started) > 0 {
		s.addEvent(svc, "has started %d tasks: %s.", len(started), taskList(started))
	}
	p.green.desired = svc.desired
	return healthy
}

func (s *Server) reconcileProgressive(svc *service, sd *svcDeployment) {
	p := sd.prog
	if p.rolledBack {
		if len(s.unstoppedTasks(svc, p.green)) == 0 {
			sd.status = p.finalStatus
			sd.finished, sd.updated, sd.stage = s.now, s.now, ""
			if p.finalStatus == "STOPPED" {
				sd.stopped = s.now
			}
			p.done = true
		}
		return
	}
	if sd.terminal() {
		p.done = true
		return
	}
	stage := progressiveStages[p.stage]
	sd.stage = stage
	next := func() {
		p.stage++
		sd.updated = s.now
		if p.stage < len(progressiveStages) {
			sd.stage = progressiveStages[p.stage]
			s.addEvent(svc, "(deployment %s) entered lifecycle stage %s.", p.green.id, sd.stage)
		}
	}
	healthy := 0
	if stage != "CLEAN_UP" {
		healthy = s.keepGreen(svc, p)
	}
	switch stage {
	case "RECONCILE_SERVICE":
		next()
	case "PRE_SCALE_UP", "POST_SCALE_UP", "POST_TEST_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT":
		if s.stageHooks(sd, stage, "") {
			next()
		}
	case "SCALE_UP":
		if healthy >= svc.desired && s.stageHooks(sd, stage, "") {
			next()
		}
	case "TEST_TRAFFIC_SHIFT":
		if p.testRule != "" {
			p.greenTest = 100
			s.setRuleWeights(p.testRule, p.blueTG, p.greenTG, 100)
		}
		if s.stageHooks(sd, stage, "") {
			next()
		}
	case "PRODUCTION_TRAFFIC_SHIFT":
		key := fmt.Sprintf("#%d", p.step)
		if !p.stepDone {
			if !s.stageHooks(sd, "PRE_PRODUCTION_TRAFFIC_SHIFT", key) {
				sd.stage = "PRODUCTION_TRAFFIC_SHIFT"
				return
			}
			p.greenProd = p.steps[p.step]
			s.setRuleWeights(p.prodRule, p.blueTG, p.greenTG, p.greenProd)
			s.addEvent(svc, "(deployment %s) shifted %g%% of production traffic to (target-group %s).", p.green.id, p.greenProd, p.greenTG)
			p.stepDone = true
			p.waitUntil = s.now.Add(p.stepBake)
			if p.step == len(p.steps)-1 {
				p.waitUntil = s.now
			}
		}
		if !s.stageHooks(sd, stage, key) || s.now.Before(p.waitUntil) {
			return
		}
		if p.step < len(p.steps)-1 {
			p.step++
			p.stepDone = false
			return
		}
		next()
		p.waitUntil = time.Time{}
	case "BAKE_TIME":
		if p.waitUntil.IsZero() {
			p.waitUntil = s.now.Add(p.bake)
		}
		if !s.now.Before(p.waitUntil) {
			next()
		}
	case "CLEAN_UP":
		if p.blue != nil {
			var stopped []string
			for _, t := range s.liveTasks(svc) {
				if t.dep == p.blue {
					s.stopTask(t, fmt.Sprintf("Scaling activity initiated by (deployment %s)", p.green.id), "ServiceSchedulerInitiated")
					stopped = append(stopped, t.id)
				}
			}
			if len(stopped) > 0 {
				s.addEvent(svc, "has stopped %d running tasks: %s.", len(stopped), taskList(stopped))
			}
			if len(s.unstoppedTasks(svc, p.blue)) > 0 {
				return
			}
		}
		for _, d := range svc.deployments[1:] {
			for _, t := range s.liveTasks(svc) {
				if t.dep == d {
					s.stopTask(t, "Scaling activity initiated by (deployment "+p.green.id+")", "ServiceSchedulerInitiated")
				}
			}
		}
		p.green.rollout = "COMPLETED"
		p.green.reason = fmt.Sprintf("ECS deployment %s completed.", p.green.id)
		p.green.updated = s.now
		svc.deployments = svc.deployments[:1]
		svc.steady = p.green.rev
		sd.status, sd.statusReason = "SUCCESSFUL", ""
		sd.finished, sd.updated, sd.stage = s.now, s.now, ""
		if sd.breakerStatus == "MONITORING" {
			sd.breakerStatus = "MONITORING_COMPLETE"
		}
		if sd.alarmStatus == "MONITORING" {
			sd.alarmStatus = "MONITORING_COMPLETE"
		}
		p.done = true
		s.addEvent(svc, "(deployment %s) deployment completed.", p.green.id)
	}
}

// rollbackProgressive sends all traffic back to blue and stops green.
func (s *Server) rollbackProgressive(svc *service, sd *svcDeployment) {
	p := sd.prog
	p.rolledBack = true
	p.greenProd, p.greenTest = 0, 0
	s.setRuleWeights(p.prodRule, p.blueTG, p.greenTG, 0)
	if p.testRule != "" {
		s.setRuleWeights(p.testRule, p.blueTG, p.greenTG, 0)
	}
	for _, t := range s.liveTasks(svc) {
		if t.dep == p.green {
			s.stopTask(t, "Scaling activity initiated by (deployment "+p.green.id+") rollback", "ServiceSchedulerInitiated")
		}
	}
	if p.green.rollout == "IN_PROGRESS" {
		p.green.rollout = "FAILED"
	}
	kept := []*deployment{}
	for _, d := range svc.deployments {
		if d != p.green {
			kept = append(kept, d)
		}
	}
	if p.blue != nil {
		p.blue.status = "PRIMARY"
		for i, d := range kept {
			if d == p.blue {
				kept[0], kept[i] = kept[i], kept[0]
			}
		}
	}
	svc.deployments = kept
	sd.stage = ""
	s.addEvent(svc, "(deployment %s) rolled back: production traffic returned to (target-group %s).", p.green.id, p.blueTG)
}

func (s *Server) ecsContinueServiceDeployment(in struct {
	ServiceDeploymentArn, HookId, Action string
}) (any, error) {
	sd, err := s.sdByArn(in.ServiceDeploymentArn)
	if err != nil {
		return nil, err
	}
	var h *hookRun
	for _, x := range sd.hooks {
		if x.id == in.HookId {
			h = x
		}
	}
	if h == nil || h.status != "AWAITING_ACTION" || sd.terminal() {
		return nil, errorf("InvalidParameterException", "The lifecycle hook %s is not awaiting action.", in.HookId)
	}
	switch in.Action {
	case "", "CONTINUE":
		h.status = "SUCCEEDED"
	case "ROLLBACK":
		h.status = "FAILED"
		s.rollback(sd, fmt.Sprintf("Service deployment rolled back by ContinueServiceDeployment on lifecycle hook %s.", h.id))
	default:
		return nil, errorf("InvalidParameterException", "action must be CONTINUE or ROLLBACK.")
	}
	sd.updated = s.now
	return map[string]any{"serviceDeploymentArn": sd.arn}, nil
}
