package ecs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/berth-dev/berth/internal/api"
	relconfig "github.com/berth-dev/berth/internal/release"
	"github.com/berth-dev/berth/internal/spec"
)

// Deployment states, as the API shows them.
const (
	stateRunning    = api.DeployRunning
	stateSucceeded  = api.DeploySucceeded
	stateRolledBack = api.DeployRolledBack
	stateFailed     = api.DeployFailed
)

// deployment is one service deployment this engine started and follows.
type deployment struct {
	d       api.Deployment
	taskDef string // the task definition it rolls out
	ecsID   string // ECS's deployment id (ecs-svc/…), once submitted
	// submitted is closed once the deployment was handed to ECS (or
	// could not be: then err says why).
	submitted chan struct{}
	err       error
	// follow-up state: what was already reported.
	seenEvents map[string]bool
	seenTasks  map[string]bool
	failedTask string
	// The native strategies (BLUE_GREEN, CANARY, LINEAR): the rollout,
	// ECS's service deployment ARN, the PAUSE hooks seen (id → the
	// traffic step they held, -1 when promoted), the last stage and
	// weights reported, and warnings to show first.
	rollout   *Rollout
	sdArn     string
	hooksSeen map[string]int
	lastSeen  string
	warnings  []string
	// checkFailure is why berth's smoke checks or webhook failed the
	// release (and berth rolled it back at their hook), if they did.
	checkFailure string
	// mu serialises followers; done is closed at the outcome.
	mu       sync.Mutex
	done     chan struct{}
	doneOnce sync.Once
}

// DeploymentConfiguration is the rolling deployment of svc at desired
// tasks: max_surge and max_unavailable as ECS's percentages of the
// desired count (maximum rounded down and minimum rounded up by ECS, so
// the maximum is rounded up here and the minimum down), and the circuit
// breaker with rollback.
func DeploymentConfiguration(svc *spec.Service, desired int) *types.DeploymentConfiguration {
	surge, unavail, breaker := 1, 0, 3
	if d := svc.Deploy; d != nil {
		if d.MaxSurge != nil {
			surge = *d.MaxSurge
		}
		if d.MaxUnavailable != nil {
			unavail = *d.MaxUnavailable
		}
		if d.CircuitBreaker > 0 {
			breaker = d.CircuitBreaker
		}
	}
	maxPct, minPct := 200, 100
	if desired > 0 {
		maxPct = int(math.Ceil(100 * float64(desired+surge) / float64(desired)))
		minPct = int(math.Floor(100 * float64(max(desired-unavail, 0)) / float64(desired)))
	}
	maxPct = max(maxPct, 100)
	return &types.DeploymentConfiguration{
		Strategy:              types.DeploymentStrategyRolling,
		MaximumPercent:        aws.Int32(int32(maxPct)),
		MinimumHealthyPercent: aws.Int32(int32(minPct)),
		DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{
			Enable:                 true,
			Rollback:               true,
			ResetOnHealthyTask:     aws.Bool(true),
			ThresholdConfiguration: &types.ThresholdConfiguration{Type: types.ThresholdTypeCount, Value: int32(breaker)},
		},
	}
}

// describeServices reads the named services (spec names) with their
// tags, 10 per call; a service ECS does not know (or that was deleted)
// is absent from the map.
func (e *Engine) describeServices(ctx context.Context, names []string) (map[string]*types.Service, error) {
	out := map[string]*types.Service{}
	byECSName := map[string]string{}
	var ecsNames []string
	for _, n := range names {
		byECSName[e.serviceName(n)] = n
		ecsNames = append(ecsNames, e.serviceName(n))
	}
	for start := 0; start < len(ecsNames); start += 10 {
		batch := ecsNames[start:min(start+10, len(ecsNames))]
		res, err := e.c.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{
			Cluster:  aws.String(e.cluster()),
			Services: batch,
			Include:  []types.ServiceField{types.ServiceFieldTags},
		})
		if err != nil {
			if isClusterNotFound(err) {
				return out, nil
			}
			return nil, fmt.Errorf("describe services in cluster %s: %w", e.cluster(), err)
		}
		for i := range res.Services {
			s := &res.Services[i]
			if aws.ToString(s.Status) == "INACTIVE" {
				continue
			}
			if n, ok := byECSName[aws.ToString(s.ServiceName)]; ok {
				out[n] = s
			}
		}
	}
	return out, nil
}

func isClusterNotFound(err error) bool {
	return errorCode(err) == "ClusterNotFoundException"
}

// ensureCluster creates the cluster when it does not exist.
func (e *Engine) ensureCluster(ctx context.Context) error {
	e.mu.Lock()
	ready := e.clusterReady
	e.mu.Unlock()
	if ready {
		return nil
	}
	out, err := e.c.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{e.cluster()}})
	if err != nil {
		return fmt.Errorf("describe cluster %s: %w", e.cluster(), err)
	}
	for _, c := range out.Clusters {
		if aws.ToString(c.Status) == "ACTIVE" {
			e.mu.Lock()
			e.clusterReady = true
			e.mu.Unlock()
			return nil
		}
	}
	err = e.mutate("create cluster "+e.cluster(), func() error {
		_, err := e.c.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{
			ClusterName: aws.String(e.cluster()),
			Tags:        toECSTags(map[string]string{TagProject: e.sp.Project, TagEnv: e.sp.Env}),
		})
		if err != nil {
			return fmt.Errorf("create cluster %s: %w", e.cluster(), err)
		}
		return nil
	})
	if err == nil && !e.dryRun {
		e.mu.Lock()
		e.clusterReady = true
		e.mu.Unlock()
	}
	return err
}

// liveRelease is the release a service runs: from the service's own tags
// when they describe its task definition (no extra call), else from the
// task definition's tags.
func (e *Engine) liveRelease(ctx context.Context, s *types.Service) (release, error) {
	td := aws.ToString(s.TaskDefinition)
	tags := ecsTags(s.Tags)
	if tags[TagTaskDef] == td && tags[TagCommit] != "" {
		n, _ := strconv.Atoi(tags[TagRelease])
		if n == 0 {
			n = revisionOf(td)
		}
		return release{ARN: td, Revision: revisionOf(td), Number: n, Commit: tags[TagCommit], Set: tags[TagSet], Fingerprint: tags[TagFingerprint]}, nil
	}
	return e.describeTaskDef(ctx, td)
}

// releaseSpec decodes the service of a release's config, or falls back
// to the spec's.
func (e *Engine) releaseService(r api.ReleaseSpec) (*spec.Service, error) {
	if len(r.Config) > 0 {
		c, err := relconfig.Decode(r.Config)
		if err != nil {
			return nil, fmt.Errorf("release of %s: %w", r.Service, err)
		}
		if c.Service.Name == r.Service {
			return c.Service, nil
		}
	}
	return e.serviceSpec(r.Service)
}

// newSetID names a release set by the time it was made (sortable).
func (e *Engine) newSetID() string {
	return e.now().UTC().Format("20060102T150405.000Z")
}

// Deploy registers a task definition per changed service, creates or
// updates its log group, target group, listener rule and ECS service,
// and starts one ECS deployment per service. Services that depend on
// others in the same request are submitted once those succeeded. A
// service whose task definition is unchanged is listed as Unchanged and
// nothing is called that changes anything.
func (e *Engine) Deploy(ctx context.Context, req api.DeployRequest) (api.DeployResponse, error) {
	resp := api.DeployResponse{SetID: e.newSetID()}
	if len(req.Releases) == 0 {
		return resp, nil
	}
	svcs := make([]*spec.Service, len(req.Releases))
	names := make([]string, len(req.Releases))
	rollouts := make([]*Rollout, len(req.Releases))
	routed := false
	for i, r := range req.Releases {
		s, err := e.releaseService(r)
		if err != nil {
			return resp, err
		}
		if msg, hint := spec.FargateProblem(s.CPU, s.Memory); msg != "" {
			return resp, fmt.Errorf("%s: %s (%s)", s.Name, msg, hint)
		}
		if r.Image == "" {
			return resp, fmt.Errorf("%s has no image: on ECS every service runs an image (build: with a Dockerfile, or image:)", s.Name)
		}
		svcs[i], names[i] = s, r.Service
		routed = routed || s.Route != nil
		ro, err := e.rolloutFor(s, count(s))
		if err != nil {
			return resp, err
		}
		rollouts[i] = ro
	}
	if _, err := e.accountID(ctx); err != nil {
		return resp, err
	}
	var vpc string
	var rules []listenerRule
	if routed {
		var err error
		if vpc, err = e.checkListener(ctx); err != nil {
			return resp, err
		}
		if rules, err = e.listenerRules(ctx); err != nil {
			return resp, err
		}
		if err = e.arrangeRules(ctx, rules); err != nil {
			return resp, err
		}
	}
	live, err := e.describeServices(ctx, names)
	if err != nil {
		return resp, err
	}
	prios := e.Priorities()
	started := map[string]*deployment{}
	for i, r := range req.Releases {
		svc := svcs[i]
		vf, err := e.valueFrom(ctx, svc)
		if err != nil {
			return resp, err
		}
		in := e.taskDefinition(svc, r.Image, vf)
		fp := fingerprint(in)
		ls := live[svc.Name]
		var from release
		if ls != nil {
			if !e.owned(ecsTags(ls.Tags)) {
				return resp, fmt.Errorf("ECS service %s in cluster %s %w; berth never changes it: delete or rename it, or use another cluster", e.serviceName(svc.Name), e.cluster(), ErrNotOurs)
			}
			if from, err = e.liveRelease(ctx, ls); err != nil {
				return resp, err
			}
			if from.Fingerprint == fp && !req.Force {
				resp.Unchanged = append(resp.Unchanged, svc.Name)
				if r.Commit != "" && r.Commit != from.Commit {
					// The same release is live at a newer commit: say so on
					// the service, so plans compare against this commit.
					if err := e.retagCommit(ctx, ls, from, r.Commit); err != nil {
						return resp, err
					}
				}
				continue
			}
		}
		if err := e.ensureCluster(ctx); err != nil {
			return resp, err
		}
		if err := e.ensureLogGroup(ctx, svc.Name); err != nil {
			return resp, err
		}
		var tg, alt, rule, testRule string
		var warns []string
		if svc.Route != nil {
			if tg, err = e.ensureTargetGroup(ctx, svc, vpc); err != nil {
				return resp, err
			}
			if progressive(rollouts[i]) {
				if alt, err = e.ensureTargetGroupOf(ctx, svc, vpc, altTargetGroupKey(svc.Name)); err != nil {
					return resp, err
				}
			}
			if rule, err = e.ensureRuleTo(ctx, rules, svc, tg, alt, prios[svc.Name]); err != nil {
				return resp, err
			}
			green, err := e.greenTargetGroup(ctx, ls, tg, alt)
			if err != nil {
				return resp, err
			}
			if progressive(rollouts[i]) {
				// The test rule starts on blue, the group serving now.
				blue, next := tg, alt
				if ls != nil && green == tg {
					blue, next = alt, tg
				}
				if testRule, err = e.ensurePreviewRule(ctx, rules, svc, blue, next, prios[svc.Name]-1); err != nil {
					return resp, err
				}
			}
			if warns, err = e.putAlarms(ctx, svc.Name, rollouts[i], green); err != nil {
				return resp, err
			}
		}
		latest, ok, err := e.latestTaskDef(ctx, svc.Name)
		if err != nil {
			return resp, err
		}
		var target release
		if ok && latest.Fingerprint == fp {
			// Registered before (an interrupted deploy): reuse it.
			target = latest
		} else {
			number := 1
			if ok {
				number = max(latest.Number, latest.Revision) + 1
			}
			if e.dryRun {
				if from.def == nil && from.ARN != "" {
					if from, err = e.describeTaskDef(ctx, from.ARN); err != nil {
						return resp, err
					}
				}
				e.printTaskDefDiff(svc.Name, from, in)
			}
			if target, err = e.register(ctx, in, svc.Name, number, r.Commit, resp.SetID, fp); err != nil {
				return resp, err
			}
		}
		if e.dryRun {
			if ls == nil {
				fmt.Fprintf(e.planOut, "create ECS service %s (%d tasks, release %d)\n", e.serviceName(svc.Name), count(svc), target.Number)
			} else {
				fmt.Fprintf(e.planOut, "update ECS service %s: task definition %s → %s (release %d → %d)\n", e.serviceName(svc.Name), from.ARN, target.ARN, from.Number, target.Number)
			}
			continue
		}
		d := e.newDeployment(svc.Name, from.Number, target, resp.SetID)
		d.rollout, d.warnings = rollouts[i], warns
		if progressive(d.rollout) {
			d.d.Strategy = strings.ToLower(strings.ReplaceAll(d.rollout.Strategy, "_", ""))
		}
		started[svc.Name] = d
		var waitFor []*deployment
		for _, dep := range svc.DependsOn {
			if w := started[dep]; w != nil {
				waitFor = append(waitFor, w)
			}
		}
		sub := submission{svc: svc, live: ls, target: target, tg: tg, alt: alt, rule: rule, testRule: testRule, rollout: rollouts[i], force: req.Force}
		if len(waitFor) == 0 {
			e.submit(ctx, d, sub)
			if d.err != nil {
				return resp, d.err
			}
		} else {
			go func() {
				for _, w := range waitFor {
					if err := e.waitOutcome(ctx, w); err != nil {
						e.finishSubmit(d, fmt.Errorf("not deployed: %s, which it depends on, %w", w.d.Service, err))
						return
					}
				}
				e.submit(ctx, d, sub)
			}()
		}
		resp.Deployments = append(resp.Deployments, d.d)
	}
	return resp, nil
}

func count(svc *spec.Service) int {
	if svc.Count == nil {
		return 1
	}
	return *svc.Count
}

// retagCommit records on the service that its live release is also what
// commit builds (an unchanged release deployed from a newer commit).
func (e *Engine) retagCommit(ctx context.Context, s *types.Service, live release, commit string) error {
	return e.mutate(fmt.Sprintf("tag ECS service %s: release %d is live at commit %s", aws.ToString(s.ServiceName), live.Number, commit), func() error {
		tags := map[string]string{TagCommit: commit, TagTaskDef: live.ARN, TagRelease: strconv.Itoa(live.Number)}
		if _, err := e.c.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: s.ServiceArn, Tags: toECSTags(tags)}); err != nil {
			return fmt.Errorf("tag ECS service %s with commit %s: %w", aws.ToString(s.ServiceName), commit, err)
		}
		return nil
	})
}

// submission is what submitting one deployment to ECS needs.
type submission struct {
	svc    *spec.Service
	live   *types.Service // nil: create the service
	target release
	tg     string
	// alt, rule and testRule: the second target group, the production
	// rule and the test (preview) rule of a native blue/green, canary or
	// linear service.
	alt, rule, testRule string
	rollout             *Rollout
	force               bool
}

func (e *Engine) newDeployment(svc string, from int, target release, set string) *deployment {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextID++
	d := &deployment{
		d: api.Deployment{
			ID: fmt.Sprintf("ecs-%d", e.nextID), Service: svc, FromRelease: from, ToRelease: target.Number,
			Strategy: "rolling", State: stateRunning, SetID: set, StartedAt: e.now(),
		},
		taskDef:    target.ARN,
		submitted:  make(chan struct{}),
		done:       make(chan struct{}),
		seenEvents: map[string]bool{},
		seenTasks:  map[string]bool{},
	}
	e.deps[d.d.ID] = d
	return d
}

func (e *Engine) finishSubmit(d *deployment, err error) {
	e.mu.Lock()
	d.err = err
	if err != nil {
		d.d.State, d.d.Reason, d.d.FinishedAt = stateFailed, err.Error(), e.now()
	}
	e.mu.Unlock()
	close(d.submitted)
	if err != nil {
		d.doneOnce.Do(func() { close(d.done) })
	}
}

// submit creates or updates the ECS service so it runs the target
// release, and tags the service with that release.
func (e *Engine) submit(ctx context.Context, d *deployment, s submission) {
	name := e.serviceName(s.svc.Name)
	tags := e.ownTags(s.svc.Name)
	tags[TagRelease] = strconv.Itoa(s.target.Number)
	tags[TagCommit] = s.target.Commit
	tags[TagSet] = s.target.Set
	tags[TagFingerprint] = s.target.Fingerprint
	tags[TagTaskDef] = s.target.ARN
	if s.live == nil {
		desired := count(s.svc)
		in := &ecs.CreateServiceInput{
			ServiceName:             aws.String(name),
			Cluster:                 aws.String(e.cluster()),
			TaskDefinition:          aws.String(s.target.ARN),
			DesiredCount:            aws.Int32(int32(desired)),
			LaunchType:              types.LaunchTypeFargate,
			NetworkConfiguration:    e.network(),
			DeploymentConfiguration: deploymentConfig(s.svc, desired, s.rollout),
			DeploymentController:    &types.DeploymentController{Type: types.DeploymentControllerTypeEcs},
			PropagateTags:           types.PropagateTagsTaskDefinition,
			EnableECSManagedTags:    true,
			Tags:                    toECSTags(tags),
		}
		if s.tg != "" {
			in.LoadBalancers = e.loadBalancers(s.svc, s.tg, s.alt, s.rule, s.testRule)
			in.HealthCheckGracePeriodSeconds = aws.Int32(int32(time.Duration(s.svc.Health.Grace).Seconds()))
		}
		out, err := e.c.ecs.CreateService(ctx, in)
		if err != nil {
			e.finishSubmit(d, fmt.Errorf("create ECS service %s: %w", name, err))
			return
		}
		if out.Service == nil {
			e.finishSubmit(d, fmt.Errorf("create ECS service %s: sent, but %w", name, errIncomplete("the service")))
			return
		}
		d.ecsID = primaryDeployment(out.Service, s.target.ARN)
		d.sdArn = aws.ToString(out.Service.CurrentServiceDeployment)
	} else {
		in := &ecs.UpdateServiceInput{
			Cluster:                 aws.String(e.cluster()),
			Service:                 aws.String(name),
			TaskDefinition:          aws.String(s.target.ARN),
			DeploymentConfiguration: deploymentConfig(s.svc, int(s.live.DesiredCount), s.rollout),
			ForceNewDeployment:      s.force,
		}
		if s.tg != "" {
			in.HealthCheckGracePeriodSeconds = aws.Int32(int32(time.Duration(s.svc.Health.Grace).Seconds()))
			if cur := s.live.LoadBalancers; s.alt != "" && (len(cur) == 0 || cur[0].AdvancedConfiguration == nil) {
				// From rolling to a native strategy: add the second target
				// group. Once set, ECS owns which one is primary.
				in.LoadBalancers = e.loadBalancers(s.svc, s.tg, s.alt, s.rule, s.testRule)
			} else if lbs := withTestRule(cur, s.testRule); lbs != nil {
				// A native service from before berth made test rules.
				in.LoadBalancers = lbs
			}
		}
		out, err := e.c.ecs.UpdateService(ctx, in)
		if err != nil {
			e.finishSubmit(d, fmt.Errorf("update ECS service %s: %w", name, err))
			return
		}
		if out.Service == nil || aws.ToString(out.Service.ServiceArn) == "" {
			e.finishSubmit(d, fmt.Errorf("update ECS service %s: sent, but %w", name, errIncomplete("the service or its ARN")))
			return
		}
		d.ecsID = primaryDeployment(out.Service, s.target.ARN)
		d.sdArn = aws.ToString(out.Service.CurrentServiceDeployment)
		if _, err := e.c.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: out.Service.ServiceArn, Tags: toECSTags(tags)}); err != nil {
			e.finishSubmit(d, fmt.Errorf("tag ECS service %s with release %d: %w", name, s.target.Number, err))
			return
		}
	}
	if s.rollout != nil && s.rollout.Autoscaling != nil {
		if err := e.ensureAutoscaling(ctx, s.svc.Name, s.rollout.Autoscaling, s.tg, s.rollout.Autoscaling.Min); err != nil {
			e.finishSubmit(d, err)
			return
		}
	}
	e.finishSubmit(d, nil)
}

// primaryDeployment is the id of the service's PRIMARY deployment of
// taskDef, or "".
func primaryDeployment(s *types.Service, taskDef string) string {
	if s == nil {
		return ""
	}
	for _, d := range s.Deployments {
		if aws.ToString(d.Status) == "PRIMARY" && aws.ToString(d.TaskDefinition) == taskDef {
			return aws.ToString(d.Id)
		}
	}
	return ""
}

func (e *Engine) network() *types.NetworkConfiguration {
	ip := types.AssignPublicIpDisabled
	if e.aws.AssignPublicIP {
		ip = types.AssignPublicIpEnabled
	}
	return &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
		Subnets: e.aws.Subnets, SecurityGroups: e.aws.SecurityGroups, AssignPublicIp: ip,
	}}
}

// waitOutcome waits until d finished (its follower saw the outcome); it
// fails unless d succeeded.
func (e *Engine) waitOutcome(ctx context.Context, d *deployment) error {
	select {
	case <-d.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	got, err := e.Deployment(ctx, d.d.ID)
	if err != nil {
		return err
	}
	if got.State != stateSucceeded {
		return fmt.Errorf("did not succeed (%s: %s)", strings.ReplaceAll(got.State, "_", " "), got.Reason)
	}
	return nil
}

// Status reads every spec service's ECS service: the release and commit
// it runs (from tags: one call per 10 services when they are current),
// its task counts and its deployment in progress.
func (e *Engine) Status(ctx context.Context) (api.Status, error) {
	st := api.Status{Project: e.sp.Project, Engine: "ecs", Router: e.aws.Listener}
	live, err := e.describeServices(ctx, e.sp.Order)
	if err != nil {
		return st, err
	}
	for _, name := range e.sp.Order {
		s, ok := live[name]
		if !ok || !e.owned(ecsTags(s.Tags)) {
			continue
		}
		r, err := e.liveRelease(ctx, s)
		if err != nil {
			return st, err
		}
		svc := api.Service{Name: name, Release: r.Number, Commit: r.Commit, Desired: int(s.DesiredCount), Healthy: int(s.RunningCount)}
		if rt := e.sp.Services[name].Route; rt != nil {
			svc.Route = describeConditions(ruleConditions(rt))
		}
		for _, dep := range s.Deployments {
			if aws.ToString(dep.Status) == "PRIMARY" && dep.RolloutState == types.DeploymentRolloutStateInProgress {
				svc.Deployment = &api.Deployment{
					Service: name, ToRelease: revisionOf(aws.ToString(dep.TaskDefinition)), Strategy: "rolling", State: stateRunning,
					StartedAt: aws.ToTime(dep.CreatedAt), Reason: aws.ToString(dep.RolloutStateReason),
				}
			}
		}
		if err := e.describeProgress(ctx, s, &svc); err != nil {
			return st, err
		}
		st.Services = append(st.Services, svc)
	}
	return st, nil
}

// Scale sets the desired task count of services, with the rolling
// percentages recomputed for the new count.
func (e *Engine) Scale(ctx context.Context, counts map[string]int) error {
	var names []string
	for n, c := range counts {
		if _, err := e.serviceSpec(n); err != nil {
			return err
		}
		if c < 0 {
			return fmt.Errorf("scale %s to %d: a count is 0 or more", n, c)
		}
		names = append(names, n)
	}
	live, err := e.describeServices(ctx, names)
	if err != nil {
		return err
	}
	for _, n := range names {
		s := live[n]
		if s == nil {
			return fmt.Errorf("scale %s: %w: deploy it first (berth deploy --env %s %s)", n, ErrNotDeployed, e.sp.Env, n)
		}
		if !e.owned(ecsTags(s.Tags)) {
			return fmt.Errorf("scale %s: ECS service %s %w", n, aws.ToString(s.ServiceName), ErrNotOurs)
		}
		c := counts[n]
		if sc := e.sp.Services[n].Scale; sc != nil {
			// Autoscaled: the count becomes the scalable target's minimum.
			r, err := e.rolloutFor(e.sp.Services[n], c)
			if err != nil {
				return err
			}
			tg := ""
			if len(s.LoadBalancers) > 0 {
				tg = aws.ToString(s.LoadBalancers[0].TargetGroupArn)
			}
			if err := e.ensureAutoscaling(ctx, n, r.Autoscaling, tg, c); err != nil {
				return err
			}
		}
		err := e.mutate(fmt.Sprintf("update ECS service %s: desired count %d → %d", aws.ToString(s.ServiceName), s.DesiredCount, c), func() error {
			_, err := e.c.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{
				Cluster: aws.String(e.cluster()), Service: s.ServiceName, DesiredCount: aws.Int32(int32(c)),
				DeploymentConfiguration: DeploymentConfiguration(e.sp.Services[n], c),
			})
			if err != nil {
				return fmt.Errorf("scale %s to %d: %w", n, c, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Abort rolls the service's deployment in progress back (ECS's
// StopServiceDeployment with ROLLBACK).
func (e *Engine) Abort(ctx context.Context, service string) error {
	live, err := e.describeServices(ctx, []string{service})
	if err != nil {
		return err
	}
	s := live[service]
	if s == nil {
		return fmt.Errorf("abort %s: %w", service, ErrNotDeployed)
	}
	arn := aws.ToString(s.CurrentServiceDeployment)
	if arn == "" {
		return fmt.Errorf("abort %s: no deployment in progress", service)
	}
	if out, err := e.c.ecs.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{arn}}); err == nil && len(out.ServiceDeployments) > 0 {
		// Held at a PAUSE hook: answer it with ROLLBACK.
		if hook, ok := awaitingHook(&out.ServiceDeployments[0]); ok {
			e.markPromoted(service, hook)
			return e.continueHook(ctx, &out.ServiceDeployments[0], hook, types.DeploymentLifecycleHookActionRollback)
		}
	}
	return e.mutate("stop service deployment "+arn+" (rollback)", func() error {
		_, err := e.c.ecs.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(arn), StopType: types.StopServiceDeploymentStopTypeRollback})
		if err != nil {
			return fmt.Errorf("abort %s: %w", service, err)
		}
		return nil
	})
}

// Down deletes the ECS services, listener rules and target groups berth
// created for the project in this environment. Task definitions (the
// release history), images and logs are kept.
func (e *Engine) Down(ctx context.Context) error {
	live, err := e.describeServices(ctx, e.sp.Order)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range e.sp.Order {
		s := live[name]
		if s == nil || !e.owned(ecsTags(s.Tags)) {
			continue
		}
		if e.sp.Services[name].Scale != nil {
			errs = append(errs, e.deregisterAutoscaling(ctx, name))
		}
		if e.sp.Services[name].Route != nil {
			errs = append(errs, e.deleteAlarms(ctx, name))
		}
		err := e.mutate("delete ECS service "+aws.ToString(s.ServiceName), func() error {
			return e.deleteService(ctx, name, s)
		})
		errs = append(errs, err)
	}
	if e.aws.Listener != "" {
		errs = append(errs, e.deleteRoutes(ctx))
	}
	return errors.Join(errs...)
}

// deleteService scales a service to 0 and deletes it.
func (e *Engine) deleteService(ctx context.Context, name string, s *types.Service) error {
	if _, err := e.c.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(e.cluster()), Service: s.ServiceName, DesiredCount: aws.Int32(0)}); err != nil {
		return fmt.Errorf("scale %s to 0: %w", name, err)
	}
	if _, err := e.c.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String(e.cluster()), Service: s.ServiceName, Force: aws.Bool(true)}); err != nil {
		return fmt.Errorf("delete ECS service %s: %w", aws.ToString(s.ServiceName), err)
	}
	return nil
}

// deleteRoutes deletes the project's tagged listener rules, then its
// target groups.
func (e *Engine) deleteRoutes(ctx context.Context) error {
	rules, err := e.listenerRules(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range rules {
		if !e.owned(r.tags) {
			continue
		}
		errs = append(errs, e.mutate(fmt.Sprintf("delete listener rule of %s (priority %d)", r.tags[TagService], r.priority), func() error {
			_, err := e.c.elb.DeleteRule(ctx, &elb.DeleteRuleInput{RuleArn: aws.String(r.arn)})
			if err != nil {
				return fmt.Errorf("delete listener rule %s: %w", r.arn, err)
			}
			return nil
		}))
	}
	for _, key := range e.targetGroupKeys() {
		name := key[1]
		arn, err := e.targetGroupOf(ctx, key[0], name)
		if err != nil {
			if errors.Is(err, ErrNotOurs) {
				continue // not berth's: left alone
			}
			errs = append(errs, err)
			continue
		}
		if arn == "" {
			continue
		}
		errs = append(errs, e.mutate("delete target group "+e.targetGroupName(key[0]), func() error {
			_, err := e.c.elb.DeleteTargetGroup(ctx, &elb.DeleteTargetGroupInput{TargetGroupArn: aws.String(arn)})
			if err != nil {
				return fmt.Errorf("delete target group %s: %w", e.targetGroupName(key[0]), err)
			}
			return nil
		}))
	}
	return errors.Join(errs...)
}

// targetGroupKeys lists every target group a routed service may have:
// {name key, service}, the second one of the native strategies too.
func (e *Engine) targetGroupKeys() [][2]string {
	var out [][2]string
	for _, name := range e.sp.Order {
		if e.sp.Services[name].Route == nil {
			continue
		}
		out = append(out, [2]string{name, name}, [2]string{altTargetGroupKey(name), name})
	}
	return out
}
