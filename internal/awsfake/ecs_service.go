package awsfake

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
)

type ecsLoadBalancer struct {
	TargetGroupArn        string         `json:"targetGroupArn,omitempty"`
	LoadBalancerName      string         `json:"loadBalancerName,omitempty"`
	ContainerName         string         `json:"containerName,omitempty"`
	ContainerPort         int            `json:"containerPort,omitempty"`
	AdvancedConfiguration *ecsAdvancedLB `json:"advancedConfiguration,omitempty"`
}

type ecsAdvancedLB struct {
	AlternateTargetGroupArn string `json:"alternateTargetGroupArn,omitempty"`
	ProductionListenerRule  string `json:"productionListenerRule,omitempty"`
	TestListenerRule        string `json:"testListenerRule,omitempty"`
	RoleArn                 string `json:"roleArn,omitempty"`
}

type deploymentConfiguration struct {
	DeploymentCircuitBreaker *circuitBreakerConf `json:"deploymentCircuitBreaker,omitempty"`
	MaximumPercent           *int                `json:"maximumPercent,omitempty"`
	MinimumHealthyPercent    *int                `json:"minimumHealthyPercent,omitempty"`
	Alarms                   *alarmsConf         `json:"alarms,omitempty"`
	Strategy                 string              `json:"strategy,omitempty"`
	BakeTimeInMinutes        *int                `json:"bakeTimeInMinutes,omitempty"`
	LifecycleHooks           []lifecycleHook     `json:"lifecycleHooks,omitempty"`
	CanaryConfiguration      *canaryConf         `json:"canaryConfiguration,omitempty"`
	LinearConfiguration      *linearConf         `json:"linearConfiguration,omitempty"`
	EarlySuccessCriteria     map[string]any      `json:"earlySuccessCriteria,omitempty"`
}

type circuitBreakerConf struct {
	Enable                 bool           `json:"enable"`
	Rollback               bool           `json:"rollback"`
	ResetOnHealthyTask     *bool          `json:"resetOnHealthyTask,omitempty"`
	ThresholdConfiguration *thresholdConf `json:"thresholdConfiguration,omitempty"`
}

type thresholdConf struct {
	Type  string `json:"type,omitempty"`
	Value int    `json:"value"`
}

type alarmsConf struct {
	AlarmNames []string `json:"alarmNames"`
	Enable     bool     `json:"enable"`
	Rollback   bool     `json:"rollback"`
}

type lifecycleHook struct {
	HookTargetArn        string       `json:"hookTargetArn,omitempty"`
	RoleArn              string       `json:"roleArn,omitempty"`
	TargetType           string       `json:"targetType,omitempty"`
	LifecycleStages      []string     `json:"lifecycleStages,omitempty"`
	HookDetails          any          `json:"hookDetails,omitempty"`
	TimeoutConfiguration *hookTimeout `json:"timeoutConfiguration,omitempty"`
}

type hookTimeout struct {
	Action           string `json:"action,omitempty"`
	TimeoutInMinutes *int   `json:"timeoutInMinutes,omitempty"`
}

type canaryConf struct {
	CanaryPercent           *float64 `json:"canaryPercent,omitempty"`
	CanaryBakeTimeInMinutes *int     `json:"canaryBakeTimeInMinutes,omitempty"`
}

type linearConf struct {
	StepPercent           *float64 `json:"stepPercent,omitempty"`
	StepBakeTimeInMinutes *int     `json:"stepBakeTimeInMinutes,omitempty"`
}

type service struct {
	arn, name, clusterArn, clusterName string
	taskDefinition                     string
	desired                            int
	launchType                         string
	lbs                                []ecsLoadBalancer
	network                            map[string]any
	dc                                 deploymentConfiguration
	controller                         string
	grace                              int
	propagateTags                      string
	managedTags                        bool
	status                             string // ACTIVE, DRAINING, INACTIVE
	createdAt                          time.Time
	deployments                        []*deployment // [0] is PRIMARY
	events                             []serviceEvent
	tags                               []tag
	currentSD                          *svcDeployment
	steady                             *svcRevision // revision of the last completed deployment
	steadyEventAt                      time.Time
	tasks                              []*task // every task the service started, oldest first
}

type serviceEvent struct {
	ID        string `json:"id"`
	CreatedAt epoch  `json:"createdAt"`
	Message   string `json:"message"`
}

// deployment is an entry of Service.deployments (one per task set).
type deployment struct {
	id             string
	status         string // PRIMARY, ACTIVE
	rev            *svcRevision
	desired        int
	rollout        string // IN_PROGRESS, COMPLETED, FAILED
	reason         string
	failed         int
	created        time.Time
	updated        time.Time
	sd             *svcDeployment
	rollbackTarget bool // this deployment is the rollback of sd
}

// svcRevision is an ECS service revision: the configuration a deployment
// rolls out.
type svcRevision struct {
	arn, serviceArn, clusterArn, td string
	lbs                             []ecsLoadBalancer
	launchType                      string
	network                         map[string]any
	createdAt                       time.Time
	// primaryTG is the target group that carries this revision's
	// production traffic (blue/green strategies alternate it).
	primaryTG []string
}

// svcDeployment is an ECS service deployment (ListServiceDeployments).
type svcDeployment struct {
	arn, serviceArn, clusterArn string
	svc                         *service
	status, statusReason        string
	stage                       string
	target                      *svcRevision
	sources                     []*svcRevision
	created, started, finished  time.Time
	stopped, updated            time.Time
	dc                          deploymentConfiguration
	breakerFailures             int
	breakerThreshold            int
	breakerStatus               string
	rollbackReason              string
	rollbackRev                 *svcRevision
	rollbackAt                  time.Time
	alarmStatus                 string
	triggeredAlarms             []string
	alarmsAtStart               map[string]bool
	hooks                       []*hookRun
	// progressive state (BLUE_GREEN, CANARY, LINEAR)
	prog *progressive
	// bakeUntil ends the alarm bake of a rolling deployment.
	bakeUntil time.Time
}

// hookRun is one firing of a lifecycle hook.
type hookRun struct {
	id, stage, targetType, targetArn, timeoutAction string
	status                                          string // AWAITING_ACTION, IN_PROGRESS, SUCCEEDED, FAILED, TIMED_OUT
	expiresAt                                       time.Time
}

type task struct {
	arn, id, clusterArn, td, group string
	svc                            *service
	dep                            *deployment
	last, desired                  string
	created, started               time.Time
	stopping, stopped              time.Time
	stopAt                         time.Time
	healthyAt                      time.Time
	stoppedReason, stopCode        string
	exitCode                       *int
	containerReason                string
	ip                             string
	failure                        *TaskFailure
	tgs                            []string // target groups the task is registered in, with ports
	ports                          []int
}

func (s *Server) serviceByRef(clusterRef, ref string) (*cluster, *service, error) {
	c, err := s.clusterByRef(clusterRef)
	if err != nil {
		return nil, nil, err
	}
	name := ref
	if strings.HasPrefix(ref, "arn:") {
		name = ref[strings.LastIndex(ref, "/")+1:]
	}
	found := s.ecs.services[s.arn("ecs", fmt.Sprintf("service/%s/%s", c.name, name))]
	if found == nil {
		return c, nil, errorf("ServiceNotFoundException", "Service not found.")
	}
	return c, found, nil
}

func intp(n int) *int { return &n }

// withDefaults fills in what ECS reports for fields left unset.
func (dc deploymentConfiguration) withDefaults() deploymentConfiguration {
	if dc.MaximumPercent == nil {
		dc.MaximumPercent = intp(200)
	}
	if dc.MinimumHealthyPercent == nil {
		dc.MinimumHealthyPercent = intp(100)
	}
	if dc.DeploymentCircuitBreaker == nil {
		dc.DeploymentCircuitBreaker = &circuitBreakerConf{}
	}
	if dc.Strategy == "" {
		dc.Strategy = "ROLLING"
	}
	return dc
}

// merge overlays the fields set in upd.
func (dc deploymentConfiguration) merge(upd *deploymentConfiguration) deploymentConfiguration {
	if upd == nil {
		return dc
	}
	out := dc
	uv := reflect.ValueOf(*upd)
	ov := reflect.ValueOf(&out).Elem()
	for i := 0; i < uv.NumField(); i++ {
		if !uv.Field(i).IsZero() {
			ov.Field(i).Set(uv.Field(i))
		}
	}
	return out
}

type serviceInput struct {
	Cluster                       string
	ServiceName                   string
	Service                       string
	TaskDefinition                string
	DesiredCount                  *int
	LaunchType                    string
	LoadBalancers                 *[]ecsLoadBalancer
	NetworkConfiguration          map[string]any
	DeploymentConfiguration       *deploymentConfiguration
	DeploymentController          *struct{ Type string }
	HealthCheckGracePeriodSeconds *int
	PropagateTags                 string
	EnableECSManagedTags          *bool
	Tags                          []ecsTag
	ForceNewDeployment            bool
	ClientToken                   string
}

// checkServiceConfig validates what ECS validates at CreateService and
// UpdateService time against the task definition and load balancers.
func (s *Server) checkServiceConfig(td *taskDef, launchType string, network map[string]any, lbs []ecsLoadBalancer, dc deploymentConfiguration) error {
	mode, _ := td.raw["networkMode"].(string)
	if launchType == "FARGATE" {
		rc, _ := td.raw["requiresCompatibilities"].([]any)
		ok := false
		for _, c := range rc {
			if c == "FARGATE" {
				ok = true
			}
		}
		if !ok {
			return errorf("InvalidParameterException", "Task definition does not support launch_type FARGATE.")
		}
	}
	if mode == "awsvpc" {
		avc, _ := network["awsvpcConfiguration"].(map[string]any)
		subnets, _ := avc["subnets"].([]any)
		if len(subnets) == 0 {
			return errorf("InvalidParameterException", "Network Configuration must be provided when networkMode 'awsvpc' is specified.")
		}
	}
	for _, lb := range lbs {
		tg := s.elb.tgs[lb.TargetGroupArn]
		if tg == nil {
			return errorf("InvalidParameterException", "Unable to assume role and validate the specified targetGroupArn. Please verify that the ECS service role being passed has the proper permissions. (target group %s not found)", lb.TargetGroupArn)
		}
		if len(s.tgLoadBalancers(tg.arn)) == 0 {
			return errorf("InvalidParameterException", "The target group with targetGroupArn %s does not have an associated load balancer.", tg.arn)
		}
		if mode == "awsvpc" && tg.params.str("TargetType") != "ip" {
			return errorf("InvalidParameterException", "The provided target group %s has target type %s, which is incompatible with the awsvpc network mode specified in the task definition.", tg.arn, tg.params.str("TargetType"))
		}
		found := false
		for _, c := range td.containers {
			if c.Name != lb.ContainerName {
				continue
			}
			for _, pm := range c.PortMappings {
				if pm.ContainerPort == lb.ContainerPort {
					found = true
				}
			}
		}
		if !found {
			return errorf("InvalidParameterException", "The container %s did not have a container port %d defined.", lb.ContainerName, lb.ContainerPort)
		}
		if adv := lb.AdvancedConfiguration; adv != nil {
			if s.elb.tgs[adv.AlternateTargetGroupArn] == nil {
				return errorf("InvalidParameterException", "The alternate target group %s does not exist.", adv.AlternateTargetGroupArn)
			}
			for _, r := range []string{adv.ProductionListenerRule, adv.TestListenerRule} {
				if r != "" && s.elb.rules[r] == nil && s.elb.listeners[r] == nil {
					return errorf("InvalidParameterException", "The listener rule %s does not exist.", r)
				}
			}
		}
	}
	switch dc.Strategy {
	case "ROLLING":
	case "BLUE_GREEN", "CANARY", "LINEAR":
		if len(lbs) == 0 || lbs[0].AdvancedConfiguration == nil || lbs[0].AdvancedConfiguration.ProductionListenerRule == "" {
			return errorf("InvalidParameterException", "%s deployments require a load balancer with advancedConfiguration (alternateTargetGroupArn, productionListenerRule, roleArn).", dc.Strategy)
		}
		if dc.Strategy == "BLUE_GREEN" && dc.BakeTimeInMinutes == nil {
			return errorf("InvalidParameterException", "bakeTimeInMinutes is required for the BLUE_GREEN deployment strategy.")
		}
		if dc.Strategy == "LINEAR" && dc.LinearConfiguration != nil && dc.LinearConfiguration.StepPercent != nil {
			if p := *dc.LinearConfiguration.StepPercent; p < 3 || p > 100 {
				return errorf("InvalidParameterException", "linearConfiguration.stepPercent must be between 3.0 and 100.0.")
			}
		}
		if dc.Strategy == "CANARY" && dc.CanaryConfiguration != nil && dc.CanaryConfiguration.CanaryPercent != nil {
			if p := *dc.CanaryConfiguration.CanaryPercent; p < 0.1 || p > 100 {
				return errorf("InvalidParameterException", "canaryConfiguration.canaryPercent must be between 0.1 and 100.0.")
			}
		}
	default:
		return errorf("InvalidParameterException", "Invalid deployment strategy %q.", dc.Strategy)
	}
	for _, h := range dc.LifecycleHooks {
		if h.TargetType == "PAUSE" {
			for _, st := range h.LifecycleStages {
				if st == "TEST_TRAFFIC_SHIFT" || st == "PRODUCTION_TRAFFIC_SHIFT" {
					return errorf("InvalidParameterException", "PAUSE lifecycle hooks are not supported at the %s stage.", st)
				}
			}
		}
	}
	if dc.MaximumPercent != nil && dc.MinimumHealthyPercent != nil && *dc.MaximumPercent < *dc.MinimumHealthyPercent {
		return errorf("InvalidParameterException", "maximumPercent must be greater than or equal to minimumHealthyPercent.")
	}
	return nil
}

func (s *Server) ecsCreateService(in serviceInput) (any, error) {
	c, err := s.clusterByRef(in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.ServiceName == "" {
		return nil, errorf("InvalidParameterException", "Service name cannot be empty.")
	}
	if _, existing, _ := s.serviceByRef(in.Cluster, in.ServiceName); existing != nil && existing.status != "INACTIVE" {
		return nil, errorf("InvalidParameterException", "Creation of service was not idempotent.")
	}
	td := s.taskDefByRef(in.TaskDefinition)
	if td == nil || td.status != "ACTIVE" {
		return nil, errorf("ClientException", "TaskDefinition not found.")
	}
	dc := deploymentConfiguration{}.merge(in.DeploymentConfiguration).withDefaults()
	var lbs []ecsLoadBalancer
	if in.LoadBalancers != nil {
		lbs = *in.LoadBalancers
	}
	if err := s.checkServiceConfig(td, in.LaunchType, in.NetworkConfiguration, lbs, dc); err != nil {
		return nil, err
	}
	desired := 0
	if in.DesiredCount != nil {
		desired = *in.DesiredCount
	}
	controller := "ECS"
	if in.DeploymentController != nil && in.DeploymentController.Type != "" {
		controller = in.DeploymentController.Type
	}
	svc := &service{
		arn:            s.arn("ecs", fmt.Sprintf("service/%s/%s", c.name, in.ServiceName)),
		name:           in.ServiceName,
		clusterArn:     c.arn,
		clusterName:    c.name,
		taskDefinition: td.arn,
		desired:        desired,
		launchType:     in.LaunchType,
		lbs:            lbs,
		network:        in.NetworkConfiguration,
		dc:             dc,
		controller:     controller,
		propagateTags:  in.PropagateTags,
		status:         "ACTIVE",
		createdAt:      s.now,
		tags:           fromECSTags(in.Tags),
	}
	if in.HealthCheckGracePeriodSeconds != nil {
		svc.grace = *in.HealthCheckGracePeriodSeconds
	}
	if in.EnableECSManagedTags != nil {
		svc.managedTags = *in.EnableECSManagedTags
	}
	if old := s.ecs.services[svc.arn]; old != nil {
		// Re-creating an INACTIVE service: keep the old one's history
		// reachable by its deployments, but the ARN now names the new one.
		delete(s.ecs.services, svc.arn)
		s.ecs.svcOrder = removeString(s.ecs.svcOrder, svc.arn)
	}
	s.ecs.services[svc.arn] = svc
	s.ecs.svcOrder = append(s.ecs.svcOrder, svc.arn)
	s.startDeployment(svc, nil)
	s.reconcileService(svc) // ECS places the first tasks at once
	return map[string]any{"service": s.serviceJSON(svc)}, nil
}

func removeString(list []string, v string) []string {
	out := list[:0]
	for _, x := range list {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

func (s *Server) ecsUpdateService(in serviceInput) (any, error) {
	_, svc, err := s.serviceByRef(in.Cluster, in.Service)
	if err != nil {
		return nil, err
	}
	if svc.status != "ACTIVE" {
		return nil, errorf("ServiceNotActiveException", "Service was not ACTIVE.")
	}
	td := s.taskDefByRef(svc.taskDefinition)
	if in.TaskDefinition != "" {
		td = s.taskDefByRef(in.TaskDefinition)
		if td == nil || td.status != "ACTIVE" {
			return nil, errorf("ClientException", "TaskDefinition not found.")
		}
	}
	dc := svc.dc.merge(in.DeploymentConfiguration)
	lbs := svc.lbs
	if in.LoadBalancers != nil {
		lbs = *in.LoadBalancers
	}
	network := svc.network
	if in.NetworkConfiguration != nil {
		network = in.NetworkConfiguration
	}
	launchType := svc.launchType
	if in.LaunchType != "" {
		launchType = in.LaunchType
	}
	if err := s.checkServiceConfig(td, launchType, network, lbs, dc); err != nil {
		return nil, err
	}
	newDeployment := in.ForceNewDeployment || td.arn != svc.taskDefinition ||
		!reflect.DeepEqual(lbs, svc.lbs) || !reflect.DeepEqual(network, svc.network) || launchType != svc.launchType
	if cur := svc.currentSD; newDeployment && cur != nil && cur.prog != nil && !cur.terminal() && !cur.prog.done {
		// A new deployment supersedes a blue/green-family one in flight:
		// traffic goes back to blue, its green tasks stop, and the new one
		// starts from blue (startDeployment marks the old one STOPPED).
		if !cur.prog.rolledBack {
			s.rollbackProgressive(svc, cur)
		}
		cur.prog.done = true
	}
	svc.taskDefinition = td.arn
	svc.dc = dc
	svc.lbs = lbs
	svc.network = network
	svc.launchType = launchType
	if in.DesiredCount != nil {
		svc.desired = *in.DesiredCount
		svc.deployments[0].desired = svc.desired
	}
	if in.HealthCheckGracePeriodSeconds != nil {
		svc.grace = *in.HealthCheckGracePeriodSeconds
	}
	if in.PropagateTags != "" {
		svc.propagateTags = in.PropagateTags
	}
	if in.EnableECSManagedTags != nil {
		svc.managedTags = *in.EnableECSManagedTags
	}
	if newDeployment {
		s.startDeployment(svc, nil)
	} else if in.DesiredCount != nil && svc.deployments[0].rollout == "COMPLETED" {
		// A scale is not a deployment, but ECS reports it as settling again.
		svc.steadyEventAt = time.Time{}
	}
	s.reconcileService(svc) // ECS acts on the update at once
	return map[string]any{"service": s.serviceJSON(svc)}, nil
}

func (s *Server) newRevision(svc *service, tdArn string) *svcRevision {
	s.ecs.revSeq++
	rev := &svcRevision{
		arn:        s.arn("ecs", fmt.Sprintf("service-revision/%s/%s/%d", svc.clusterName, svc.name, 1000000000000000000+s.ecs.revSeq)),
		serviceArn: svc.arn, clusterArn: svc.clusterArn, td: tdArn,
		lbs: svc.lbs, launchType: svc.launchType, network: svc.network, createdAt: s.now,
	}
	s.ecs.revisions[rev.arn] = rev
	return rev
}

// startDeployment makes a new PRIMARY deployment of svc's current
// configuration (or of rollbackTo, for a rollback within sd).
func (s *Server) startDeployment(svc *service, rollbackTo *svcRevision) *deployment {
	var rev *svcRevision
	var sd *svcDeployment
	if rollbackTo != nil {
		rev = rollbackTo
		sd = svc.currentSD
	} else {
		rev = s.newRevision(svc, svc.taskDefinition)
		sd = &svcDeployment{
			arn:        s.arn("ecs", fmt.Sprintf("service-deployment/%s/%s/%s", svc.clusterName, svc.name, s.nextID(20))),
			serviceArn: svc.arn, clusterArn: svc.clusterArn, svc: svc,
			status: "PENDING", target: rev, created: s.now, updated: s.now,
			dc: svc.dc,
		}
		for _, d := range svc.deployments {
			if d.rev != nil && !containsRev(sd.sources, d.rev) {
				sd.sources = append(sd.sources, d.rev)
			}
		}
		if prev := svc.currentSD; prev != nil && !prev.terminal() {
			prev.status, prev.statusReason = "STOPPED", "Superseded by "+sd.arn
			prev.stopped, prev.finished, prev.updated = s.now, s.now, s.now
			prev.stage = ""
		}
		s.initMonitors(svc, sd)
		s.ecs.deployments[sd.arn] = sd
		s.ecs.sdOrder = append(s.ecs.sdOrder, sd.arn)
		svc.currentSD = sd
	}
	d := &deployment{
		id:      "ecs-svc/" + fmt.Sprintf("%019d", 1000000000000000000+int64(s.seqNext())),
		status:  "PRIMARY",
		rev:     rev,
		desired: svc.desired,
		rollout: "IN_PROGRESS",
		reason:  "ECS deployment " + "%s in progress.",
		created: s.now, updated: s.now,
		sd:             sd,
		rollbackTarget: rollbackTo != nil,
	}
	d.reason = fmt.Sprintf("ECS deployment %s in progress.", d.id)
	for _, old := range svc.deployments {
		old.status = "ACTIVE"
		old.updated = s.now
	}
	svc.deployments = append([]*deployment{d}, svc.deployments...)
	svc.steadyEventAt = time.Time{}
	if rollbackTo == nil && sd.dc.Strategy != "ROLLING" && svc.steady != nil {
		s.startProgressive(svc, sd, d)
	}
	return d
}

func (s *Server) seqNext() int {
	s.seq++
	return s.seq
}

func containsRev(list []*svcRevision, r *svcRevision) bool {
	for _, x := range list {
		if x == r {
			return true
		}
	}
	return false
}

func (sd *svcDeployment) terminal() bool {
	switch sd.status {
	case "SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED":
		return true
	}
	return false
}

// addEvent records a service event, newest first, as ECS lists them.
func (s *Server) addEvent(svc *service, format string, args ...any) {
	ev := serviceEvent{ID: s.nextID(8) + "-fake-event", CreatedAt: epoch(s.now),
		Message: fmt.Sprintf("(service %s) ", svc.name) + fmt.Sprintf(format, args...)}
	svc.events = append([]serviceEvent{ev}, svc.events...)
	if len(svc.events) > 100 {
		svc.events = svc.events[:100]
	}
}

func (s *Server) countTasks(svc *service, d *deployment) (running, pending int) {
	for _, t := range s.liveTasks(svc) {
		if d != nil && t.dep != d {
			continue
		}
		switch t.last {
		case "RUNNING":
			running++
		case "PROVISIONING", "PENDING", "ACTIVATING":
			pending++
		}
	}
	return running, pending
}

func (s *Server) serviceJSON(svc *service) map[string]any {
	running, pending := s.countTasks(svc, nil)
	deps := []any{}
	for _, d := range svc.deployments {
		r, p := s.countTasks(svc, d)
		deps = append(deps, map[string]any{
			"id": d.id, "status": d.status, "taskDefinition": d.rev.td,
			"desiredCount": d.desired, "runningCount": r, "pendingCount": p,
			"failedTasks": d.failed, "createdAt": epoch(d.created), "updatedAt": epoch(d.updated),
			"launchType": nilIfEmpty(d.rev.launchType), "networkConfiguration": d.rev.network,
			"rolloutState": d.rollout, "rolloutStateReason": d.reason,
			"platformVersion": "1.4.0", "platformFamily": "Linux",
		})
	}
	current := []any{}
	for _, d := range svc.deployments {
		r, p := s.countTasks(svc, d)
		current = append(current, map[string]any{"arn": d.rev.arn, "requestedTaskCount": d.desired, "runningTaskCount": r, "pendingTaskCount": p})
	}
	out := map[string]any{
		"serviceArn": svc.arn, "serviceName": svc.name, "clusterArn": svc.clusterArn,
		"taskDefinition": svc.taskDefinition, "desiredCount": svc.desired,
		"runningCount": running, "pendingCount": pending, "status": svc.status,
		"launchType": nilIfEmpty(svc.launchType), "loadBalancers": orEmpty(svc.lbs),
		"networkConfiguration":    svc.network,
		"deploymentConfiguration": svc.dc,
		"deploymentController":    map[string]any{"type": svc.controller},
		"deployments":             deps,
		"events":                  svc.events,
		"createdAt":               epoch(svc.createdAt),
		"createdBy":               "arn:aws:iam::" + s.opts.Account + ":user/berth-test",
		"schedulingStrategy":      "REPLICA",
		"enableECSManagedTags":    svc.managedTags,
		"propagateTags":           nilIfEmpty(svc.propagateTags),
		"tags":                    toECSTags(svc.tags),
		"currentServiceRevisions": current,
		"platformVersion":         "LATEST",
		"platformFamily":          "Linux",
	}
	if svc.grace > 0 {
		out["healthCheckGracePeriodSeconds"] = svc.grace
	}
	if svc.currentSD != nil {
		out["currentServiceDeployment"] = svc.currentSD.arn
	}
	return out
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func orEmpty[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}

func (s *Server) ecsDescribeServices(in struct {
	Cluster  string
	Services []string
	Include  []string
}) (any, error) {
	if _, err := s.clusterByRef(in.Cluster); err != nil {
		return nil, err
	}
	if len(in.Services) > 10 {
		return nil, errorf("InvalidParameterException", "Services cannot contain more than 10 elements.")
	}
	services := []any{}
	failures := []ecsFailure{}
	for _, ref := range in.Services {
		_, svc, err := s.serviceByRef(in.Cluster, ref)
		if err != nil {
			arn := ref
			if !strings.HasPrefix(ref, "arn:") {
				c, _ := s.clusterByRef(in.Cluster)
				arn = s.arn("ecs", fmt.Sprintf("service/%s/%s", c.name, ref))
			}
			failures = append(failures, ecsFailure{Arn: arn, Reason: "MISSING"})
			continue
		}
		sj := s.serviceJSON(svc)
		if !contains(in.Include, "TAGS") {
			delete(sj, "tags") // as on AWS: tags only when asked for
		}
		services = append(services, sj)
	}
	return map[string]any{"services": services, "failures": failures}, nil
}

func (s *Server) ecsListServices(in struct {
	Cluster    string
	MaxResults int
	NextToken  string
	LaunchType string
}) (any, error) {
	c, err := s.clusterByRef(in.Cluster)
	if err != nil {
		return nil, err
	}
	var arns []string
	for _, arn := range s.ecs.svcOrder {
		svc := s.ecs.services[arn]
		if svc.clusterArn == c.arn && svc.status != "INACTIVE" {
			arns = append(arns, arn)
		}
	}
	max := in.MaxResults
	if max == 0 {
		max = 10
	}
	items, next, err := page(arns, max, in.NextToken)
	if err != nil {
		return nil, err
	}
	return map[string]any{"serviceArns": orEmpty(items), "nextToken": omitEmpty(next)}, nil
}

func (s *Server) ecsDeleteService(in struct {
	Cluster string
	Service string
	Force   bool
}) (any, error) {
	_, svc, err := s.serviceByRef(in.Cluster, in.Service)
	if err != nil {
		return nil, err
	}
	if svc.status != "ACTIVE" {
		return nil, errorf("ServiceNotActiveException", "Service was not ACTIVE.")
	}
	if svc.desired > 0 && !in.Force {
		return nil, errorf("InvalidParameterException", "The service cannot be stopped while it is scaled above 0.")
	}
	svc.status = "DRAINING"
	svc.desired = 0
	if sd := svc.currentSD; sd != nil && !sd.terminal() {
		sd.status, sd.statusReason = "STOPPED", "The service was deleted."
		sd.stopped, sd.finished, sd.updated, sd.stage = s.now, s.now, s.now, ""
		if sd.prog != nil {
			sd.prog.done = true
		}
	}
	for _, t := range s.liveTasks(svc) {
		s.stopTask(t, "Service deletion", "ServiceSchedulerInitiated")
	}
	return map[string]any{"service": s.serviceJSON(svc)}, nil
}

// serviceUsingTargetGroup names an ACTIVE or DRAINING service that uses tg.
func (s *Server) serviceUsingTargetGroup(tgArn string) string {
	for _, svc := range s.ecs.services {
		if svc.status == "INACTIVE" {
			continue
		}
		for _, lb := range svc.lbs {
			if lb.TargetGroupArn == tgArn || (lb.AdvancedConfiguration != nil && lb.AdvancedConfiguration.AlternateTargetGroupArn == tgArn) {
				return svc.name
			}
		}
	}
	return ""
}

func (s *Server) taskByRef(c *cluster, ref string) *task {
	if t := s.ecs.tasks[ref]; t != nil && t.clusterArn == c.arn {
		return t
	}
	return s.ecs.tasks[s.arn("ecs", fmt.Sprintf("task/%s/%s", c.name, ref))]
}

func (s *Server) ecsListTasks(in struct {
	Cluster       string
	ServiceName   string
	Family        string
	DesiredStatus string
	StartedBy     string
	MaxResults    int
	NextToken     string
}) (any, error) {
	c, err := s.clusterByRef(in.Cluster)
	if err != nil {
		return nil, err
	}
	var svc *service
	if in.ServiceName != "" {
		if _, svc, err = s.serviceByRef(in.Cluster, in.ServiceName); err != nil {
			return nil, err
		}
	}
	desired := in.DesiredStatus
	if desired == "" {
		desired = "RUNNING"
	}
	var arns []string
	candidates := s.ecs.taskOrder
	if svc != nil {
		candidates = nil
		for _, t := range svc.tasks {
			candidates = append(candidates, t.arn)
		}
	}
	for _, arn := range candidates {
		t := s.ecs.tasks[arn]
		if t.clusterArn != c.arn || t.desired != desired || (svc != nil && t.svc != svc) {
			continue
		}
		if in.Family != "" && !strings.Contains(t.td, ":task-definition/"+in.Family+":") {
			continue
		}
		if in.StartedBy != "" && (t.dep == nil || t.dep.id != in.StartedBy) {
			continue
		}
		arns = append(arns, arn)
	}
	max := in.MaxResults
	if max == 0 {
		max = 100
	}
	items, next, err := page(arns, max, in.NextToken)
	if err != nil {
		return nil, err
	}
	return map[string]any{"taskArns": orEmpty(items), "nextToken": omitEmpty(next)}, nil
}

func (s *Server) taskJSON(t *task) map[string]any {
	td := s.taskDefByRef(t.td)
	containers := []any{}
	for _, c := range td.containers {
		cj := map[string]any{
			"containerArn": s.arn("ecs", fmt.Sprintf("container/%s/%s/%s", t.clusterArn[strings.LastIndex(t.clusterArn, "/")+1:], t.id, c.Name)),
			"taskArn":      t.arn, "name": c.Name, "image": c.Image, "lastStatus": t.last,
			"networkInterfaces": []any{map[string]any{"attachmentId": "eni-attach-" + t.id[:8], "privateIpv4Address": t.ip}},
		}
		if t.last == "STOPPED" && (c.Essential == nil || *c.Essential) {
			if t.exitCode != nil {
				cj["exitCode"] = *t.exitCode
			}
			if t.containerReason != "" {
				cj["reason"] = t.containerReason
			}
		}
		containers = append(containers, cj)
	}
	health := "UNKNOWN"
	if !t.healthyAt.IsZero() {
		health = "HEALTHY"
	}
	out := map[string]any{
		"taskArn": t.arn, "clusterArn": t.clusterArn, "taskDefinitionArn": t.td,
		"group": t.group, "lastStatus": t.last, "desiredStatus": t.desired,
		"launchType": "FARGATE", "platformVersion": "1.4.0", "platformFamily": "Linux",
		"cpu": td.raw["cpu"], "memory": td.raw["memory"], "healthStatus": health,
		"containers": containers, "createdAt": epoch(t.created), "version": 1,
		"availabilityZone": s.opts.Region + "a", "connectivity": "CONNECTED",
		"attachments": []any{map[string]any{"id": t.id[:8] + "-eni", "type": "ElasticNetworkInterface", "status": "ATTACHED",
			"details": []any{map[string]any{"name": "privateIPv4Address", "value": t.ip}}}},
	}
	if t.dep != nil {
		out["startedBy"] = t.dep.id
	}
	if !t.started.IsZero() {
		out["startedAt"] = epoch(t.started)
		out["pullStartedAt"] = epoch(t.created)
		out["pullStoppedAt"] = epoch(t.started)
	}
	if !t.stopping.IsZero() {
		out["stoppingAt"] = epoch(t.stopping)
	}
	if !t.stopped.IsZero() {
		out["stoppedAt"] = epoch(t.stopped)
		out["executionStoppedAt"] = epoch(t.stopped)
	}
	if t.stoppedReason != "" {
		out["stoppedReason"] = t.stoppedReason
		out["stopCode"] = t.stopCode
	}
	return out
}

func (s *Server) ecsDescribeTasks(in struct {
	Cluster string
	Tasks   []string
	Include []string
}) (any, error) {
	c, err := s.clusterByRef(in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.Tasks) > 100 {
		return nil, errorf("InvalidParameterException", "Tasks cannot contain more than 100 elements.")
	}
	tasks := []any{}
	failures := []ecsFailure{}
	for _, ref := range in.Tasks {
		t := s.taskByRef(c, ref)
		if t == nil {
			failures = append(failures, ecsFailure{Arn: ref, Reason: "MISSING"})
			continue
		}
		tasks = append(tasks, s.taskJSON(t))
	}
	return map[string]any{"tasks": tasks, "failures": failures}, nil
}

func (s *Server) ecsStopTask(in struct {
	Cluster string
	Task    string
	Reason  string
}) (any, error) {
	c, err := s.clusterByRef(in.Cluster)
	if err != nil {
		return nil, err
	}
	t := s.taskByRef(c, in.Task)
	if t == nil {
		return nil, errorf("InvalidParameterException", "The referenced task was not found.")
	}
	reason := in.Reason
	if reason == "" {
		reason = "Task stopped by user"
	}
	if t.desired != "STOPPED" {
		s.stopTask(t, reason, "UserInitiated")
	}
	return map[string]any{"task": s.taskJSON(t)}, nil
}

func (s *Server) sdBriefJSON(sd *svcDeployment) map[string]any {
	out := map[string]any{
		"serviceDeploymentArn": sd.arn, "serviceArn": sd.serviceArn, "clusterArn": sd.clusterArn,
		"status": sd.status, "targetServiceRevisionArn": sd.target.arn, "createdAt": epoch(sd.created),
	}
	if sd.statusReason != "" {
		out["statusReason"] = sd.statusReason
	}
	if !sd.started.IsZero() {
		out["startedAt"] = epoch(sd.started)
	}
	if !sd.finished.IsZero() {
		out["finishedAt"] = epoch(sd.finished)
	}
	return out
}

func (s *Server) ecsListServiceDeployments(in struct {
	Cluster   string
	Service   string
	Status    []string
	CreatedAt *struct {
		After  *epoch
		Before *epoch
	}
	MaxResults int
	NextToken  string
}) (any, error) {
	_, svc, err := s.serviceByRef(in.Cluster, in.Service)
	if err != nil {
		return nil, err
	}
	var items []map[string]any
	for i := len(s.ecs.sdOrder) - 1; i >= 0; i-- { // newest first
		sd := s.ecs.deployments[s.ecs.sdOrder[i]]
		if sd.svc != svc || (len(in.Status) > 0 && !contains(in.Status, sd.status)) {
			continue
		}
		if in.CreatedAt != nil {
			if in.CreatedAt.After != nil && sd.created.Before(time.Time(*in.CreatedAt.After)) {
				continue
			}
			if in.CreatedAt.Before != nil && sd.created.After(time.Time(*in.CreatedAt.Before)) {
				continue
			}
		}
		items = append(items, s.sdBriefJSON(sd))
	}
	max := in.MaxResults
	if max == 0 {
		max = 20
	}
	pageItems, next, err := page(items, max, in.NextToken)
	if err != nil {
		return nil, err
	}
	return map[string]any{"serviceDeployments": orEmpty(pageItems), "nextToken": omitEmpty(next)}, nil
}

func (s *Server) revisionSummary(svc *service, rev *svcRevision, sd *svcDeployment) map[string]any {
	requested, running, pending := 0, 0, 0
	for _, d := range svc.deployments {
		if d.rev != rev {
			continue
		}
		requested += d.desired
		r, p := s.countTasks(svc, d)
		running += r
		pending += p
	}
	out := map[string]any{"arn": rev.arn, "requestedTaskCount": requested, "runningTaskCount": running, "pendingTaskCount": pending}
	if sd.prog != nil {
		prod, test := sd.prog.weights(rev)
		out["requestedProductionTrafficWeight"] = prod
		out["requestedTestTrafficWeight"] = test
	}
	return out
}

func (s *Server) sdJSON(sd *svcDeployment) map[string]any {
	out := s.sdBriefJSON(sd)
	delete(out, "targetServiceRevisionArn")
	out["updatedAt"] = epoch(sd.updated)
	out["deploymentConfiguration"] = sd.dc
	out["targetServiceRevision"] = s.revisionSummary(sd.svc, sd.target, sd)
	sources := []any{}
	for _, r := range sd.sources {
		sources = append(sources, s.revisionSummary(sd.svc, r, sd))
	}
	out["sourceServiceRevisions"] = sources
	if sd.stage != "" {
		out["lifecycleStage"] = sd.stage
	}
	if !sd.stopped.IsZero() {
		out["stoppedAt"] = epoch(sd.stopped)
	}
	if cb := sd.dc.DeploymentCircuitBreaker; cb != nil && cb.Enable {
		out["deploymentCircuitBreaker"] = map[string]any{"status": sd.breakerStatus, "failureCount": sd.breakerFailures, "threshold": sd.breakerThreshold}
	}
	if a := sd.dc.Alarms; a != nil && a.Enable {
		out["alarms"] = map[string]any{"status": sd.alarmStatus, "alarmNames": orEmpty(a.AlarmNames), "triggeredAlarmNames": orEmpty(sd.triggeredAlarms)}
	}
	if sd.rollbackReason != "" {
		rb := map[string]any{"reason": sd.rollbackReason, "startedAt": epoch(sd.rollbackAt)}
		if sd.rollbackRev != nil {
			rb["serviceRevisionArn"] = sd.rollbackRev.arn
		}
		out["rollback"] = rb
	}
	hooks := []any{}
	for _, h := range sd.hooks {
		hj := map[string]any{"hookId": h.id, "status": h.status, "targetType": h.targetType, "timeoutAction": h.timeoutAction, "expiresAt": epoch(h.expiresAt)}
		if h.targetArn != "" {
			hj["targetArn"] = h.targetArn
		}
		hooks = append(hooks, hj)
	}
	if len(hooks) > 0 {
		out["lifecycleHookDetails"] = hooks
	}
	return out
}

func (s *Server) ecsDescribeServiceDeployments(in struct{ ServiceDeploymentArns []string }) (any, error) {
	if len(in.ServiceDeploymentArns) > 20 {
		return nil, errorf("InvalidParameterException", "serviceDeploymentArns cannot contain more than 20 elements.")
	}
	sds := []any{}
	failures := []ecsFailure{}
	for _, arn := range in.ServiceDeploymentArns {
		sd := s.ecs.deployments[arn]
		if sd == nil {
			failures = append(failures, ecsFailure{Arn: arn, Reason: "MISSING"})
			continue
		}
		sds = append(sds, s.sdJSON(sd))
	}
	return map[string]any{"serviceDeployments": sds, "failures": failures}, nil
}

func (s *Server) ecsDescribeServiceRevisions(in struct{ ServiceRevisionArns []string }) (any, error) {
	revs := []any{}
	failures := []ecsFailure{}
	for _, arn := range in.ServiceRevisionArns {
		rev := s.ecs.revisions[arn]
		if rev == nil {
			failures = append(failures, ecsFailure{Arn: arn, Reason: "MISSING"})
			continue
		}
		resolved := []any{}
		for i, lb := range rev.lbs {
			tg := lb.TargetGroupArn
			if i < len(rev.primaryTG) && rev.primaryTG[i] != "" {
				tg = rev.primaryTG[i]
			}
			r := map[string]any{"targetGroupArn": tg}
			if lb.AdvancedConfiguration != nil && lb.AdvancedConfiguration.ProductionListenerRule != "" {
				r["productionListenerRule"] = lb.AdvancedConfiguration.ProductionListenerRule
			}
			resolved = append(resolved, r)
		}
		images := []any{}
		if td := s.taskDefByRef(rev.td); td != nil {
			for _, c := range td.containers {
				images = append(images, map[string]any{"containerName": c.Name, "image": c.Image})
			}
		}
		revs = append(revs, map[string]any{
			"serviceRevisionArn": rev.arn, "serviceArn": rev.serviceArn, "clusterArn": rev.clusterArn,
			"taskDefinition": rev.td, "launchType": nilIfEmpty(rev.launchType),
			"loadBalancers": orEmpty(rev.lbs), "networkConfiguration": rev.network,
			"containerImages": images, "createdAt": epoch(rev.createdAt),
			"resolvedConfiguration": map[string]any{"loadBalancers": resolved},
		})
	}
	return map[string]any{"serviceRevisions": revs, "failures": failures}, nil
}

func (s *Server) sdByArn(arn string) (*svcDeployment, error) {
	sd := s.ecs.deployments[arn]
	if sd == nil {
		return nil, errorf("ServiceDeploymentNotFoundException", "The service deployment %s does not exist.", arn)
	}
	return sd, nil
}

func (s *Server) ecsStopServiceDeployment(in struct {
	ServiceDeploymentArn string
	StopType             string
}) (any, error) {
	sd, err := s.sdByArn(in.ServiceDeploymentArn)
	if err != nil {
		return nil, err
	}
	if sd.terminal() || strings.HasPrefix(sd.status, "ROLLBACK") {
		return nil, errorf("ConflictException", "The service deployment is in status %s and cannot be stopped.", sd.status)
	}
	stopType := in.StopType
	if stopType == "" {
		stopType = "ROLLBACK"
	}
	switch stopType {
	case "ROLLBACK":
		s.rollback(sd, "Service deployment rolled back because of a StopServiceDeployment request.")
	case "ABORT":
		reason := "Service deployment stopped because of a StopServiceDeployment request."
		if sd.prog != nil && sd.svc.steady != nil {
			// Traffic goes back to blue and green is removed, but the
			// deployment ends STOPPED rather than rolled back.
			sd.status, sd.statusReason = "STOP_REQUESTED", reason
			sd.prog.finalStatus = "STOPPED"
			sd.svc.taskDefinition = sd.svc.steady.td
			s.rollbackProgressive(sd.svc, sd)
			break
		}
		sd.status, sd.statusReason = "STOPPED", reason
		sd.stopped, sd.finished, sd.updated, sd.stage = s.now, s.now, s.now, ""
	default:
		return nil, errorf("InvalidParameterException", "stopType must be ROLLBACK or ABORT.")
	}
	return map[string]any{"serviceDeploymentArn": sd.arn}, nil
}

// breakerThreshold is the failed-task count that trips the breaker.
func breakerThreshold(cb *circuitBreakerConf, desired int) int {
	typ, value := "BOUNDED_PERCENT", 50
	if cb != nil && cb.ThresholdConfiguration != nil {
		typ, value = cb.ThresholdConfiguration.Type, cb.ThresholdConfiguration.Value
	}
	switch typ {
	case "COUNT":
		if value < 1 {
			return 1
		}
		return value
	case "UNBOUNDED_PERCENT":
		return max(1, int(math.Ceil(float64(desired)*float64(value)/100)))
	}
	n := int(math.Ceil(float64(desired) * float64(value) / 100))
	return min(max(n, 3), 200)
}
