package ecs

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/spec"
)

// ECS deployment strategies, as the API names them.
const (
	StrategyRolling   = "ROLLING"
	StrategyBlueGreen = "BLUE_GREEN"
	StrategyCanary    = "CANARY"
	StrategyLinear    = "LINEAR"
)

// ECS's limits on the native strategies.
const (
	minLinearStep = 3.0  // linearConfiguration.stepPercent is 3.0–100
	maxMinutes    = 1440 // bake times and hook timeouts are 0–1440 minutes
	// gateTimeoutMinutes is how long a pause gate waits for `berth
	// promote` before ECS rolls back: ECS's longest hook timeout.
	gateTimeoutMinutes = maxMinutes
	// checksTimeoutMinutes is how long the PAUSE hook of berth's smoke
	// checks and webhook waits for berth's verdict before ECS rolls back.
	checksTimeoutMinutes = 10
	// checksStage is where those checks run: test traffic reaches green,
	// production traffic does not yet. It fires once for every strategy.
	checksStage = "POST_TEST_TRAFFIC_SHIFT"
)

// ErrNotExpressible: the spec asks for a rollout ECS cannot run natively.
var ErrNotExpressible = errors.New("ECS cannot run this rollout")

// Rollout is how ECS rolls out one service: the strategy and its
// parameters, the alarms and lifecycle hooks berth creates for it, and
// every duration rounded to ECS's whole minutes. `berth plan -o json`
// shows it per service.
type Rollout struct {
	// Strategy is ROLLING, BLUE_GREEN, CANARY or LINEAR.
	Strategy string `json:"strategy"`
	// MaximumPercent and MinimumHealthyPercent: ROLLING only.
	MaximumPercent        int `json:"maximum_percent,omitempty"`
	MinimumHealthyPercent int `json:"minimum_healthy_percent,omitempty"`
	// BakeMinutes: how long blue and green both run after production
	// traffic moved (BLUE_GREEN; CANARY and LINEAR after 100%).
	BakeMinutes *int `json:"bake_minutes,omitempty"`
	// Canary is CANARY's one step.
	Canary *CanaryStep `json:"canary,omitempty"`
	// Linear is LINEAR's equal steps.
	Linear *LinearSteps `json:"linear,omitempty"`
	// CircuitBreaker is the failed-task count that rolls back (COUNT).
	CircuitBreaker int `json:"circuit_breaker"`
	// Alarms roll the deployment back when one fires.
	Alarms []Alarm `json:"alarms,omitempty"`
	// Hooks are the PAUSE lifecycle hooks: gates and berth's checks.
	Hooks []Hook `json:"hooks,omitempty"`
	// TestTraffic is the preview condition the test listener rule adds
	// (BLUE_GREEN, CANARY, LINEAR), e.g. "header X-Berth-Preview: 1".
	TestTraffic string `json:"test_traffic,omitempty"`
	// Rounded lists each duration ECS gets in whole minutes.
	Rounded []Rounding `json:"rounded,omitempty"`
	// Autoscaling is the service's Application Auto Scaling, if any.
	Autoscaling *Autoscaling `json:"autoscaling,omitempty"`
	// Notes say what differs from the local engine.
	Notes []string `json:"notes,omitempty"`
}

// CanaryStep is CANARY's configuration: Percent of production traffic,
// held BakeMinutes, then 100%.
type CanaryStep struct {
	Percent     float64 `json:"percent"`
	BakeMinutes int     `json:"bake_minutes"`
}

// LinearSteps is LINEAR's configuration: StepPercent more production
// traffic every BakeMinutes until 100%.
type LinearSteps struct {
	StepPercent float64 `json:"step_percent"`
	BakeMinutes int     `json:"bake_minutes"`
}

// Alarm is a CloudWatch alarm berth creates and attaches to the
// deployment with rollback on.
type Alarm struct {
	Name string `json:"name"`
	// Metric is what it watches, e.g.
	// "100*HTTPCode_Target_5XX_Count/RequestCount".
	Metric string `json:"metric"`
	// Threshold is the value above which it fires, in Unit.
	Threshold float64 `json:"threshold"`
	Unit      string  `json:"unit"`
	// MinRequests guards it: with fewer requests in a minute it is 0.
	MinRequests int `json:"min_requests,omitempty"`
	// EvaluationMinutes is how many 60 s periods must breach.
	EvaluationMinutes int `json:"evaluation_minutes"`
}

// Hook is a PAUSE lifecycle hook.
type Hook struct {
	// Stage is the lifecycle stage it holds the deployment at.
	Stage string `json:"stage"`
	// Purpose: "gate" (waits for berth promote), "smoke" or "webhook"
	// (berth runs the checks and continues or rolls back).
	Purpose string `json:"purpose"`
	// BeforeStep is, for a gate of a CANARY or LINEAR rollout, the
	// 1-based traffic step it holds (the hook fires before every step;
	// berth continues the others itself).
	BeforeStep int `json:"before_step,omitempty"`
	// TimeoutMinutes and TimeoutAction: what ECS does when nobody
	// answers (always ROLLBACK, so a dead CLI fails safe).
	TimeoutMinutes int    `json:"timeout_minutes"`
	TimeoutAction  string `json:"timeout_action"`
}

// Rounding is a spec duration and the whole minutes ECS gets.
type Rounding struct {
	Key       string `json:"key"`
	Spec      string `json:"spec"`
	Effective string `json:"effective"`
}

// Autoscaling is Application Auto Scaling target tracking of a service.
type Autoscaling struct {
	Min int `json:"min"`
	Max int `json:"max"`
	// Metric is the predefined metric type, e.g.
	// ECSServiceAverageCPUUtilization.
	Metric string `json:"metric,omitempty"`
	// TargetValue is in the metric's unit (percent, or requests per
	// target per minute for ALBRequestCountPerTarget).
	TargetValue       float64 `json:"target_value,omitempty"`
	ScaleOutCooldownS int     `json:"scale_out_cooldown_seconds"`
	ScaleInCooldownS  int     `json:"scale_in_cooldown_seconds"`
}

// minutes is d in whole minutes, rounded up.
func minutes(d spec.Duration) int {
	return int(math.Ceil(time.Duration(d).Minutes()))
}

func (r *Rollout) round(key string, d spec.Duration) int {
	m := minutes(d)
	if time.Duration(d) != time.Duration(m)*time.Minute {
		r.Rounded = append(r.Rounded, Rounding{Key: key, Spec: time.Duration(d).String(), Effective: fmt.Sprintf("%dm", m)})
	}
	return m
}

// AlarmName names one of a service's alarms: berth-<project>-<env>-<svc>-<kind>.
func AlarmName(sp *spec.Spec, svc, kind string) string {
	return "berth-" + sp.Project + "-" + sp.Env + "-" + svc + "-" + kind
}

// PlanRollout maps a service's deploy: and scale: keys onto ECS. A step
// list or scale target ECS cannot run is an error wrapping
// ErrNotExpressible, with the nearest list ECS can run as the hint.
func PlanRollout(sp *spec.Spec, svc *spec.Service, desired int) (*Rollout, error) {
	d := svc.Deploy
	if d == nil {
		d = spec.BuiltinDeploy()
	}
	r := &Rollout{CircuitBreaker: 3}
	if d.CircuitBreaker > 0 {
		r.CircuitBreaker = d.CircuitBreaker
	}
	routed := svc.Route != nil
	switch d.Strategy {
	case "", "rolling":
		r.Strategy = StrategyRolling
		dc := DeploymentConfiguration(svc, desired)
		r.MaximumPercent, r.MinimumHealthyPercent = int(*dc.MaximumPercent), int(*dc.MinimumHealthyPercent)
	case "bluegreen":
		r.Strategy = StrategyBlueGreen
		b := r.round("deploy.bake", d.Bake)
		r.BakeMinutes = &b
		for _, st := range d.Steps {
			if st.Gate {
				r.Hooks = append(r.Hooks, Hook{Stage: "POST_TEST_TRAFFIC_SHIFT", Purpose: "gate", TimeoutMinutes: gateTimeoutMinutes, TimeoutAction: "ROLLBACK"})
				break
			}
		}
	case "canary":
		if err := r.planCanary(svc, d); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s: deploy.strategy %q: %w", svc.Name, d.Strategy, ErrNotExpressible)
	}
	if r.Strategy != StrategyRolling {
		if sp.AWS != nil && sp.AWS.InfrastructureRole == "" {
			return nil, fmt.Errorf("%s: deploy.strategy %s needs aws.infrastructure_role: the ECS infrastructure role for load balancers, which ECS assumes to shift traffic (%w)", svc.Name, d.Strategy, ErrNotExpressible)
		}
		if !routed {
			return nil, fmt.Errorf("%s: deploy.strategy %s needs a route: ECS shifts traffic between two target groups behind the listener (%w); add route: or use strategy: rolling", svc.Name, d.Strategy, ErrNotExpressible)
		}
		// Every native rollout gets a test listener rule: ECS points it at
		// green before production traffic moves, so berth's smoke checks
		// and anyone with the preview header reach the new release.
		switch header, host := previewOf(d); {
		case host != "":
			r.TestTraffic = "host " + host
		default:
			r.TestTraffic = "header " + header + ": 1"
		}
	}
	if a := d.Analysis; a != nil {
		r.planChecks(sp, svc, a, routed)
	}
	if d.Sticky != nil {
		r.Notes = append(r.Notes, "deploy.sticky is not applied on ECS: clients may switch releases while both serve traffic")
	}
	if err := r.planScale(svc); err != nil {
		return nil, err
	}
	return r, nil
}

// planCanary maps canary steps (or linear:) onto CANARY or LINEAR.
func (r *Rollout) planCanary(svc *spec.Service, d *spec.Deploy) error {
	if lin := d.Linear; lin != nil {
		step := float64(lin.Step)
		if step < minLinearStep {
			return fmt.Errorf("%s: deploy.linear.step %v%%: ECS's LINEAR steps are at least 3%% (%w); use step: 3%%", svc.Name, step, ErrNotExpressible)
		}
		r.Strategy = StrategyLinear
		r.Linear = &LinearSteps{StepPercent: step, BakeMinutes: r.round("deploy.linear.every", lin.Every)}
		r.gates(d.Steps)
		return nil
	}
	steps := d.Steps
	if d.StepsDefaulted {
		// ECS runs one canary step natively: its default is [10%, 100%].
		steps = []spec.Step{{Percent: 10}, {Percent: 100}}
		r.Notes = append(r.Notes, "default canary steps on ECS: [10%, 100%]")
	}
	var pcts []int
	for _, s := range steps {
		if !s.Gate {
			pcts = append(pcts, s.Percent)
		}
	}
	if len(pcts) == 0 || pcts[len(pcts)-1] != 100 {
		return fmt.Errorf("%s: deploy.steps must end at 100%%", svc.Name)
	}
	mid := pcts[:len(pcts)-1]
	switch {
	case len(mid) == 0:
		return fmt.Errorf("%s: deploy.steps %s has no step before 100%% (%w); use strategy: bluegreen, or steps: [10%%, 100%%]", svc.Name, stepList(steps), ErrNotExpressible)
	case len(mid) == 1:
		r.Strategy = StrategyCanary
		r.Canary = &CanaryStep{Percent: float64(mid[0]), BakeMinutes: r.round("deploy.pause", d.Pause)}
	default:
		s, ok := equalSteps(pcts)
		if !ok {
			return fmt.Errorf("%s: deploy.steps %s: %w: it runs one canary step then 100%% (CANARY) or equal steps of at least 3%% (LINEAR); the nearest it can run is %s", svc.Name, stepList(steps), ErrNotExpressible, nearest(pcts))
		}
		r.Strategy = StrategyLinear
		r.Linear = &LinearSteps{StepPercent: float64(s), BakeMinutes: r.round("deploy.pause", d.Pause)}
	}
	r.gates(steps)
	return nil
}

// equalSteps reports the increment of a list that climbs by equal steps
// of at least 3% to 100% (the last step may be cut at 100%).
func equalSteps(pcts []int) (int, bool) {
	s := pcts[0]
	if float64(s) < minLinearStep {
		return 0, false
	}
	for i, p := range pcts[:len(pcts)-1] {
		if p != (i+1)*s {
			return 0, false
		}
	}
	// ECS adds s until it reaches 100: exactly ceil(100/s) steps.
	return s, len(pcts) == (100+s-1)/s
}

// nearest is the hint for a step list ECS cannot run: the canary of its
// first step, or equal steps as many as it asks for.
func nearest(pcts []int) string {
	n := len(pcts)
	step := int(math.Ceil(100 / float64(n)))
	step = max(step, int(minLinearStep))
	var lin []string
	for p := step; p < 100; p += step {
		lin = append(lin, strconv.Itoa(p)+"%")
	}
	lin = append(lin, "100%")
	return fmt.Sprintf("steps: [%d%%, 100%%] (CANARY), or steps: [%s] (LINEAR, linear: {step: %d%%})", pcts[0], strings.Join(lin, ", "), step)
}

func stepList(steps []spec.Step) string {
	var s []string
	for _, st := range steps {
		s = append(s, st.String())
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// gates makes a PAUSE hook of every pause step. On CANARY and LINEAR the
// hook fires before every traffic step (PRE_PRODUCTION_TRAFFIC_SHIFT):
// BeforeStep says which one berth leaves waiting for promote.
func (r *Rollout) gates(steps []spec.Step) {
	next := 1
	for _, s := range steps {
		if s.Gate {
			r.Hooks = append(r.Hooks, Hook{Stage: "PRE_PRODUCTION_TRAFFIC_SHIFT", Purpose: "gate", BeforeStep: next, TimeoutMinutes: gateTimeoutMinutes, TimeoutAction: "ROLLBACK"})
			continue
		}
		next++
	}
}

// planChecks maps analysis: onto alarms (5xx rate, p99) and smoke and
// webhook checks onto a PAUSE hook after test traffic shifted.
func (r *Rollout) planChecks(sp *spec.Spec, svc *spec.Service, a *spec.Analysis, routed bool) {
	if !routed {
		if a.Max5xxRate > 0 || a.MaxP99 > 0 {
			r.Notes = append(r.Notes, "no route, so no load-balancer metrics: analysis thresholds are not alarms on ECS")
		}
		return
	}
	eval := 0
	if a.Max5xxRate > 0 || a.MaxP99 > 0 {
		eval = max(r.round("deploy.analysis.window", a.Window), 1)
		r.Notes = append(r.Notes, "ALB metrics come every 60 s; with fewer than min_requests requests in a minute the alarm passes (locally the analysis waits)")
	}
	if a.Max5xxRate > 0 {
		r.Alarms = append(r.Alarms, Alarm{Name: AlarmName(sp, svc.Name, "5xx"), Metric: "100*HTTPCode_Target_5XX_Count/RequestCount",
			Threshold: float64(a.Max5xxRate), Unit: "percent", MinRequests: a.MinRequests, EvaluationMinutes: eval})
	}
	if a.MaxP99 > 0 {
		r.Alarms = append(r.Alarms, Alarm{Name: AlarmName(sp, svc.Name, "p99"), Metric: "TargetResponseTime p99",
			Threshold: time.Duration(a.MaxP99).Seconds(), Unit: "seconds", MinRequests: a.MinRequests, EvaluationMinutes: eval})
	}
	if r.Strategy == StrategyRolling {
		if len(a.Smoke) > 0 || a.Webhook != "" {
			r.Notes = append(r.Notes, "smoke checks and webhooks need test traffic: they run on bluegreen and canary only")
		}
		return
	}
	// berth runs them itself, through the test listener rule, while a
	// PAUSE hook holds the deployment after test traffic moved to green
	// and before any production traffic does; it continues the hook when
	// they pass and rolls back when one fails. Nobody answering (berth
	// gone) times the hook out into a rollback.
	if len(a.Smoke) > 0 {
		r.Hooks = append(r.Hooks, Hook{Stage: checksStage, Purpose: "smoke", TimeoutMinutes: checksTimeoutMinutes, TimeoutAction: "ROLLBACK"})
	}
	if a.Webhook != "" {
		r.Hooks = append(r.Hooks, Hook{Stage: checksStage, Purpose: "webhook", TimeoutMinutes: checksTimeoutMinutes, TimeoutAction: "ROLLBACK"})
	}
	if len(a.Smoke) > 0 || a.Webhook != "" {
		r.Notes = append(r.Notes, fmt.Sprintf("smoke checks and the webhook run from berth at %s through the test listener rule (%s): berth deploy must be following (not --detach), or the hook rolls back after %dm", checksStage, r.TestTraffic, checksTimeoutMinutes))
	}
}

// previewOf is the test traffic condition of a native rollout: the
// preview host, else the preview header (X-Berth-Preview by default).
func previewOf(d *spec.Deploy) (header, host string) {
	header = spec.DefaultPreviewHeader
	if p := d.Preview; p != nil {
		if p.Header != "" {
			header = p.Header
		}
		host = p.Host
	}
	return header, host
}

// hasChecks reports whether the rollout holds a PAUSE hook for berth's
// smoke checks or webhook.
func (r *Rollout) hasChecks() bool {
	for _, h := range r.Hooks {
		if h.Purpose == "smoke" || h.Purpose == "webhook" {
			return true
		}
	}
	return false
}

// planScale maps scale: onto Application Auto Scaling target tracking.
func (r *Rollout) planScale(svc *spec.Service) error {
	sc := svc.Scale
	if sc == nil {
		return nil
	}
	as := &Autoscaling{Min: sc.MinCount(), Max: sc.Max,
		ScaleOutCooldownS: int(time.Duration(sc.UpCooldown).Seconds()), ScaleInCooldownS: int(time.Duration(sc.DownCooldown).Seconds())}
	t := sc.Target
	switch t.Metric() {
	case spec.MetricCPU:
		as.Metric, as.TargetValue = "ECSServiceAverageCPUUtilization", float64(t.CPU)
	case spec.MetricMemory:
		as.Metric, as.TargetValue = "ECSServiceAverageMemoryUtilization", float64(t.Memory)
	case spec.MetricRPSPerTask:
		if svc.Route == nil {
			return fmt.Errorf("%s: scale.target.rps_per_task needs a route: ECS tracks ALBRequestCountPerTarget (%w)", svc.Name, ErrNotExpressible)
		}
		as.Metric, as.TargetValue = "ALBRequestCountPerTarget", float64(t.RPSPerTask*60)
		r.Notes = append(r.Notes, "rps_per_task becomes ALBRequestCountPerTarget per minute (×60)")
	case spec.MetricP99:
		return fmt.Errorf("%s: scale.target.p99: %w: Application Auto Scaling has no latency target; use cpu, memory or rps_per_task", svc.Name, ErrNotExpressible)
	}
	r.Autoscaling = as
	return nil
}

// Summary is the rollout in one line, as `berth plan` prints it.
func (r *Rollout) Summary() string {
	var b strings.Builder
	b.WriteString(r.Strategy)
	switch {
	case r.Canary != nil:
		fmt.Fprintf(&b, " %g%% for %dm, then 100%%", r.Canary.Percent, r.Canary.BakeMinutes)
	case r.Linear != nil:
		fmt.Fprintf(&b, " +%g%% every %dm to 100%%", r.Linear.StepPercent, r.Linear.BakeMinutes)
	case r.BakeMinutes != nil:
		fmt.Fprintf(&b, " bake %dm", *r.BakeMinutes)
	case r.Strategy == StrategyRolling:
		fmt.Fprintf(&b, " max %d%% min healthy %d%%", r.MaximumPercent, r.MinimumHealthyPercent)
	}
	fmt.Fprintf(&b, "; circuit breaker %d failed tasks", r.CircuitBreaker)
	for _, a := range r.Alarms {
		fmt.Fprintf(&b, "; alarm %s (%s > %g %s over %dm", a.Name, a.Metric, a.Threshold, a.Unit, a.EvaluationMinutes)
		if a.MinRequests > 0 {
			fmt.Fprintf(&b, ", from %d requests/min", a.MinRequests)
		}
		b.WriteString(")")
	}
	for _, h := range r.Hooks {
		fmt.Fprintf(&b, "; PAUSE hook at %s (%s", h.Stage, h.Purpose)
		if h.BeforeStep > 0 {
			fmt.Fprintf(&b, " before step %d", h.BeforeStep)
		}
		fmt.Fprintf(&b, ", %s after %dm)", strings.ToLower(h.TimeoutAction), h.TimeoutMinutes)
	}
	if r.TestTraffic != "" {
		fmt.Fprintf(&b, "; test traffic: %s", r.TestTraffic)
	}
	if a := r.Autoscaling; a != nil {
		fmt.Fprintf(&b, "; autoscaling %d–%d tasks", a.Min, a.Max)
		if a.Metric != "" {
			fmt.Fprintf(&b, " tracking %s at %g", a.Metric, a.TargetValue)
		}
	}
	for _, ro := range r.Rounded {
		fmt.Fprintf(&b, "; %s %s → %s", ro.Key, ro.Spec, ro.Effective)
	}
	return b.String()
}
