package awsfake_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/berth-dev/berth/internal/awsfake"
)

func taskDefInput(family, image string) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String(family),
		NetworkMode:             ecstypes.NetworkModeAwsvpc,
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		Cpu:                     aws.String("256"),
		Memory:                  aws.String("512"),
		ExecutionRoleArn:        aws.String("arn:aws:iam::123456789012:role/exec"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name:         aws.String("web"),
			Image:        aws.String(image),
			Essential:    aws.Bool(true),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080)}},
			Environment:  []ecstypes.KeyValuePair{{Name: aws.String("PORT"), Value: aws.String("8080")}},
			Secrets:      []ecstypes.Secret{{Name: aws.String("DB"), ValueFrom: aws.String("arn:aws:ssm:us-east-1:123456789012:parameter/db")}},
			DockerLabels: map[string]string{"berth.commit": "abc"},
			LogConfiguration: &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwslogs, Options: map[string]string{
				"awslogs-group": "/berth/shop/prod/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web"}},
		}},
		Tags: []ecstypes.Tag{{Key: aws.String("berth:release"), Value: aws.String("1")}, {Key: aws.String("berth:commit"), Value: aws.String("abc")}},
	}
}

func TestECSTaskDefinitions(t *testing.T) {
	_, cfg := start(t, awsfake.Options{})
	ctx := context.Background()
	c := ecs.NewFromConfig(cfg)
	for i := 1; i <= 3; i++ {
		in := taskDefInput("shop-prod-web", fmt.Sprintf("repo:v%d", i))
		in.Tags[0].Value = aws.String(fmt.Sprint(i))
		out := must(c.RegisterTaskDefinition(ctx, in))(t)
		if got := out.TaskDefinition.Revision; got != int32(i) {
			t.Fatalf("revision = %d, want %d", got, i)
		}
	}
	d := must(c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String("shop-prod-web:2"), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags}}))(t)
	td := d.TaskDefinition
	cd := td.ContainerDefinitions[0]
	if aws.ToString(cd.Image) != "repo:v2" || aws.ToInt32(cd.PortMappings[0].ContainerPort) != 8080 ||
		cd.LogConfiguration.Options["awslogs-group"] != "/berth/shop/prod/web" || cd.DockerLabels["berth.commit"] != "abc" ||
		aws.ToString(cd.Secrets[0].ValueFrom) == "" || td.Status != ecstypes.TaskDefinitionStatusActive ||
		aws.ToString(td.Cpu) != "256" || td.RegisteredAt == nil {
		t.Fatalf("task definition did not round-trip: %+v", td)
	}
	if len(d.Tags) != 2 || aws.ToString(d.Tags[0].Value) != "2" {
		t.Fatalf("tags = %+v, want berth:release=2 first", d.Tags)
	}
	latest := must(c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("shop-prod-web")}))(t)
	if latest.TaskDefinition.Revision != 3 || len(latest.Tags) != 0 {
		t.Fatalf("bare family gave revision %d with %d tags, want 3 without tags", latest.TaskDefinition.Revision, len(latest.Tags))
	}
	list := must(c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("shop-prod-web"), Sort: ecstypes.SortOrderDesc, MaxResults: aws.Int32(2)}))(t)
	if len(list.TaskDefinitionArns) != 2 || !strings.HasSuffix(list.TaskDefinitionArns[0], "shop-prod-web:3") || list.NextToken == nil {
		t.Fatalf("list = %+v", list)
	}
	rest := must(c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("shop-prod-web"), Sort: ecstypes.SortOrderDesc, NextToken: list.NextToken}))(t)
	if len(rest.TaskDefinitionArns) != 1 || !strings.HasSuffix(rest.TaskDefinitionArns[0], ":1") || rest.NextToken != nil {
		t.Fatalf("second page = %+v", rest)
	}
	must(c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("shop-prod-web:3")}))(t)
	latest = must(c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("shop-prod-web")}))(t)
	if latest.TaskDefinition.Revision != 2 {
		t.Fatalf("latest ACTIVE after deregistering 3 = %d, want 2", latest.TaskDefinition.Revision)
	}
	_, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("nope:1")})
	var ce *ecstypes.ClientException
	if !errors.As(err, &ce) {
		t.Fatalf("missing task definition: err = %v, want ClientException", err)
	}
}

func TestECSRejectsInvalidFargateSizes(t *testing.T) {
	_, cfg := start(t, awsfake.Options{})
	c := ecs.NewFromConfig(cfg)
	for _, tc := range []struct {
		cpu, mem string
		ok       bool
	}{
		{"256", "512", true}, {"256", "4096", false}, {"1024", "2048", true}, {"1 vCPU", "3 GB", true},
		{"512", "512", false}, {"300", "1024", false}, {"16384", "122880", true}, {"4096", "7168", false},
	} {
		in := taskDefInput("f", "img")
		in.Cpu, in.Memory = aws.String(tc.cpu), aws.String(tc.mem)
		_, err := c.RegisterTaskDefinition(context.Background(), in)
		var ce *ecstypes.ClientException
		if tc.ok != (err == nil) || (!tc.ok && !errors.As(err, &ce)) {
			t.Errorf("cpu %s memory %s: err = %v, want ok=%v (else ClientException)", tc.cpu, tc.mem, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "No Fargate configuration exists") {
			t.Errorf("message = %v", err)
		}
	}
}

// world is a cluster, an ALB listener, a target group and a rule: what
// berth finds or creates before it creates a service.
type world struct {
	srv      *awsfake.Server
	ecs      *ecs.Client
	elb      *elb.Client
	tg, rule string
	alb      awsfake.LoadBalancer
	cfg      aws.Config
}

func newWorld(t *testing.T, opts awsfake.Options) *world {
	t.Helper()
	srv, cfg := start(t, opts)
	w := &world{srv: srv, cfg: cfg, ecs: ecs.NewFromConfig(cfg), elb: elb.NewFromConfig(cfg)}
	ctx := context.Background()
	must(w.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("shop-prod")}))(t)
	w.alb = srv.AddLoadBalancer("shop", "application")
	w.tg = newTG(t, w.elb, "shop-prod-web-a")
	r := must(w.elb.CreateRule(ctx, pathRule(w.alb.ListenerArn, 100, map[string]int32{w.tg: 1})))(t)
	w.rule = aws.ToString(r.Rules[0].RuleArn)
	return w
}

func (w *world) register(t *testing.T, image string) string {
	t.Helper()
	out := must(w.ecs.RegisterTaskDefinition(context.Background(), taskDefInput("shop-prod-web", image)))(t)
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

func (w *world) createService(t *testing.T, td string, count int32, dc *ecstypes.DeploymentConfiguration) *ecstypes.Service {
	t.Helper()
	out := must(w.ecs.CreateService(context.Background(), &ecs.CreateServiceInput{
		Cluster: aws.String("shop-prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String(td),
		DesiredCount: aws.Int32(count), LaunchType: ecstypes.LaunchTypeFargate,
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
			Subnets: []string{"subnet-a"}, SecurityGroups: []string{"sg-1"}, AssignPublicIp: ecstypes.AssignPublicIpDisabled}},
		LoadBalancers:                 []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(w.tg), ContainerName: aws.String("web"), ContainerPort: aws.Int32(8080)}},
		DeploymentConfiguration:       dc,
		HealthCheckGracePeriodSeconds: aws.Int32(30),
		PropagateTags:                 ecstypes.PropagateTagsTaskDefinition,
		EnableECSManagedTags:          true,
		Tags:                          []ecstypes.Tag{{Key: aws.String("berth:service"), Value: aws.String("web")}},
	}))(t)
	return out.Service
}

func (w *world) service(t *testing.T) ecstypes.Service {
	t.Helper()
	out := must(w.ecs.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String("shop-prod"), Services: []string{"web"}}))(t)
	if len(out.Services) != 1 {
		t.Fatalf("describe services: %+v", out.Failures)
	}
	return out.Services[0]
}

func (w *world) serviceDeployment(t *testing.T, arn string) ecstypes.ServiceDeployment {
	t.Helper()
	out := must(w.ecs.DescribeServiceDeployments(context.Background(), &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{arn}}))(t)
	if len(out.ServiceDeployments) != 1 {
		t.Fatalf("describe service deployments: %+v", out.Failures)
	}
	return out.ServiceDeployments[0]
}

// waitFor steps the fake clock until cond holds, failing after limit of
// fake time.
func (w *world) waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for waited := time.Duration(0); !cond(); waited += time.Second {
		if waited > limit {
			t.Fatalf("after %s of fake time: still waiting for %s", limit, what)
		}
		w.srv.Step()
	}
}

func rollingBreaker(count int32) *ecstypes.DeploymentConfiguration {
	return &ecstypes.DeploymentConfiguration{
		MaximumPercent: aws.Int32(200), MinimumHealthyPercent: aws.Int32(100),
		DeploymentCircuitBreaker: &ecstypes.DeploymentCircuitBreaker{Enable: true, Rollback: true,
			ThresholdConfiguration: &ecstypes.ThresholdConfiguration{Type: ecstypes.ThresholdTypeCount, Value: count}},
	}
}

func TestECSServiceReachesSteadyStateThroughTheTargetGroup(t *testing.T) {
	w := newWorld(t, awsfake.Options{})
	ctx := context.Background()
	td := w.register(t, "repo:v1")
	svc := w.createService(t, td, 2, rollingBreaker(3))
	if svc.CurrentServiceDeployment == nil || svc.Deployments[0].RolloutState != ecstypes.DeploymentRolloutStateInProgress {
		t.Fatalf("new service: %+v", svc.Deployments)
	}
	sdArn := aws.ToString(svc.CurrentServiceDeployment)

	w.srv.Advance(10 * time.Second) // tasks RUNNING, targets registered (initial)
	s := w.service(t)
	if s.RunningCount != 2 || s.Deployments[0].RolloutState != ecstypes.DeploymentRolloutStateInProgress {
		t.Fatalf("at 10s: running %d, rollout %s; want 2 running, still in progress (targets not healthy yet)", s.RunningCount, s.Deployments[0].RolloutState)
	}
	health := must(w.elb.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(w.tg)}))(t)
	if len(health.TargetHealthDescriptions) != 2 || health.TargetHealthDescriptions[0].TargetHealth.State != "initial" {
		t.Fatalf("targets = %+v", health.TargetHealthDescriptions)
	}

	w.srv.Advance(10 * time.Second)
	s = w.service(t)
	if s.Deployments[0].RolloutState != ecstypes.DeploymentRolloutStateCompleted {
		t.Fatalf("at 20s: rollout %s, want COMPLETED", s.Deployments[0].RolloutState)
	}
	if !strings.Contains(aws.ToString(s.Events[0].Message), "has reached a steady state") {
		t.Fatalf("newest event = %q", aws.ToString(s.Events[0].Message))
	}
	sd := w.serviceDeployment(t, sdArn)
	if sd.Status != ecstypes.ServiceDeploymentStatusSuccessful || sd.FinishedAt == nil {
		t.Fatalf("service deployment = %s", sd.Status)
	}
	tasks := must(w.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("shop-prod"), ServiceName: aws.String("web")}))(t)
	desc := must(w.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("shop-prod"), Tasks: tasks.TaskArns}))(t)
	if len(desc.Tasks) != 2 || aws.ToString(desc.Tasks[0].LastStatus) != "RUNNING" || aws.ToString(desc.Tasks[0].StartedBy) != aws.ToString(s.Deployments[0].Id) {
		t.Fatalf("tasks = %+v", desc.Tasks)
	}
}

func TestECSRollingDeploymentReplacesTasksWithinPercentages(t *testing.T) {
	w := newWorld(t, awsfake.Options{})
	ctx := context.Background()
	v1 := w.register(t, "repo:v1")
	w.createService(t, v1, 4, &ecstypes.DeploymentConfiguration{MaximumPercent: aws.Int32(150), MinimumHealthyPercent: aws.Int32(50)})
	w.waitFor(t, time.Minute, "first deployment", func() bool {
		return w.service(t).Deployments[0].RolloutState == ecstypes.DeploymentRolloutStateCompleted
	})
	v2 := w.register(t, "repo:v2")
	up := must(w.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("shop-prod"), Service: aws.String("web"), TaskDefinition: aws.String(v2)}))(t)
	sdArn := aws.ToString(up.Service.CurrentServiceDeployment)
	if len(up.Service.Deployments) != 2 || aws.ToString(up.Service.Deployments[0].Status) != "PRIMARY" || aws.ToString(up.Service.Deployments[1].Status) != "ACTIVE" {
		t.Fatalf("deployments after update = %+v", up.Service.Deployments)
	}
	maxTasks, minHealthy := 0, 4
	w.waitFor(t, 5*time.Minute, "second deployment", func() bool {
		running := must(w.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("shop-prod"), ServiceName: aws.String("web")}))(t)
		maxTasks = max(maxTasks, len(running.TaskArns))
		health := must(w.elb.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(w.tg)}))(t)
		healthy := 0
		for _, h := range health.TargetHealthDescriptions {
			if h.TargetHealth.State == "healthy" {
				healthy++
			}
		}
		minHealthy = min(minHealthy, healthy)
		return w.service(t).Deployments[0].RolloutState == ecstypes.DeploymentRolloutStateCompleted
	})
	if maxTasks > 6 {
		t.Errorf("up to %d tasks ran at once, want ≤ 6 (150%% of 4)", maxTasks)
	}
	if minHealthy < 2 {
		t.Errorf("healthy targets fell to %d, want ≥ 2 (50%% of 4)", minHealthy)
	}
	s := w.service(t)
	if len(s.Deployments) != 1 || aws.ToString(s.TaskDefinition) != v2 || s.RunningCount != 4 {
		t.Fatalf("after rollout: %d deployments, td %s, running %d", len(s.Deployments), aws.ToString(s.TaskDefinition), s.RunningCount)
	}
	if sd := w.serviceDeployment(t, sdArn); sd.Status != ecstypes.ServiceDeploymentStatusSuccessful {
		t.Fatalf("service deployment = %s", sd.Status)
	}
	list := must(w.ecs.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("shop-prod"), Service: aws.String("web")}))(t)
	if len(list.ServiceDeployments) != 2 || aws.ToString(list.ServiceDeployments[0].ServiceDeploymentArn) != sdArn {
		t.Fatalf("list = %+v, want the two deployments, newest first", list.ServiceDeployments)
	}
	stopped := must(w.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("shop-prod"), ServiceName: aws.String("web"), DesiredStatus: ecstypes.DesiredStatusStopped}))(t)
	if len(stopped.TaskArns) != 4 {
		t.Fatalf("stopped tasks = %d, want the 4 of v1", len(stopped.TaskArns))
	}
}

func TestECSCircuitBreakerRollsBackAFailingRevision(t *testing.T) {
	w := newWorld(t, awsfake.Options{})
	ctx := context.Background()
	v1 := w.register(t, "repo:v1")
	w.createService(t, v1, 2, rollingBreaker(3))
	w.waitFor(t, time.Minute, "first deployment", func() bool {
		return w.service(t).Deployments[0].RolloutState == ecstypes.DeploymentRolloutStateCompleted
	})
	w.srv.FailTaskDefinition("shop-prod-web:2", awsfake.TaskFailure{ContainerReason: "panic: no DATABASE_URL"})
	v2 := w.register(t, "repo:v2")
	up := must(w.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("shop-prod"), Service: aws.String("web"), TaskDefinition: aws.String(v2)}))(t)
	sdArn := aws.ToString(up.Service.CurrentServiceDeployment)

	sawFailed := false
	w.waitFor(t, 5*time.Minute, "rollback", func() bool {
		s := w.service(t)
		for _, d := range s.Deployments {
			if aws.ToString(d.TaskDefinition) == v2 && d.RolloutState == ecstypes.DeploymentRolloutStateFailed {
				sawFailed = true
			}
		}
		return w.serviceDeployment(t, sdArn).Status == ecstypes.ServiceDeploymentStatusRollbackSuccessful
	})
	if !sawFailed {
		t.Error("the v2 deployment never showed rolloutState FAILED")
	}
	sd := w.serviceDeployment(t, sdArn)
	if sd.Rollback == nil || !strings.Contains(aws.ToString(sd.Rollback.Reason), "circuit breaker") {
		t.Fatalf("rollback = %+v", sd.Rollback)
	}
	if sd.DeploymentCircuitBreaker == nil || sd.DeploymentCircuitBreaker.Status != ecstypes.ServiceDeploymentRollbackMonitorsStatusTriggered ||
		sd.DeploymentCircuitBreaker.FailureCount < 3 || sd.DeploymentCircuitBreaker.Threshold != 3 {
		t.Fatalf("breaker = %+v", sd.DeploymentCircuitBreaker)
	}
	s := w.service(t)
	if aws.ToString(s.TaskDefinition) != v1 || s.RunningCount != 2 {
		t.Fatalf("after rollback: td %s, running %d; want v1 with 2", aws.ToString(s.TaskDefinition), s.RunningCount)
	}
	stopped := must(w.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("shop-prod"), ServiceName: aws.String("web"), DesiredStatus: ecstypes.DesiredStatusStopped}))(t)
	desc := must(w.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("shop-prod"), Tasks: stopped.TaskArns}))(t)
	failed := 0
	for _, task := range desc.Tasks {
		if aws.ToString(task.TaskDefinitionArn) != v2 {
			continue
		}
		failed++
		c := task.Containers[0]
		if aws.ToString(task.StoppedReason) != "Essential container in task exited" || task.StopCode != ecstypes.TaskStopCodeEssentialContainerExited ||
			aws.ToInt32(c.ExitCode) != 1 || aws.ToString(c.Reason) != "panic: no DATABASE_URL" {
			t.Fatalf("stopped v2 task: reason %q code %s exit %v container reason %q", aws.ToString(task.StoppedReason), task.StopCode, c.ExitCode, aws.ToString(c.Reason))
		}
	}
	if failed < 3 {
		t.Fatalf("stopped v2 tasks = %d, want ≥ 3", failed)
	}
}

func TestECSBreakerWithoutRollbackStopsTheDeployment(t *testing.T) {
	w := newWorld(t, awsfake.Options{})
	ctx := context.Background()
	w.srv.FailTaskDefinition("shop-prod-web:1", awsfake.TaskFailure{AtStart: true, StoppedReason: "CannotPullContainerError: pull image manifest has been retried 5 time(s)"})
	v1 := w.register(t, "repo:v1")
	dc := rollingBreaker(2)
	dc.DeploymentCircuitBreaker.Rollback = false
	svc := w.createService(t, v1, 1, dc)
	w.waitFor(t, 5*time.Minute, "breaker", func() bool {
		return w.service(t).Deployments[0].RolloutState == ecstypes.DeploymentRolloutStateFailed
	})
	sd := w.serviceDeployment(t, aws.ToString(svc.CurrentServiceDeployment))
	if sd.Status != ecstypes.ServiceDeploymentStatusStopped || sd.Rollback != nil {
		t.Fatalf("service deployment %s rollback %+v, want STOPPED without rollback", sd.Status, sd.Rollback)
	}
	stopped := must(w.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("shop-prod"), DesiredStatus: ecstypes.DesiredStatusStopped}))(t)
	desc := must(w.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("shop-prod"), Tasks: stopped.TaskArns}))(t)
	if len(desc.Tasks) != 2 || desc.Tasks[0].StopCode != ecstypes.TaskStopCodeTaskFailedToStart || !strings.HasPrefix(aws.ToString(desc.Tasks[0].StoppedReason), "CannotPullContainerError") {
		t.Fatalf("stopped tasks = %+v", desc.Tasks)
	}
}

func TestECSStopServiceDeploymentRollsBack(t *testing.T) {
	w := newWorld(t, awsfake.Options{})
	ctx := context.Background()
	v1 := w.register(t, "repo:v1")
	w.createService(t, v1, 1, nil)
	w.waitFor(t, time.Minute, "first deployment", func() bool {
		return w.service(t).Deployments[0].RolloutState == ecstypes.DeploymentRolloutStateCompleted
	})
	v2 := w.register(t, "repo:v2")
	up := must(w.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("shop-prod"), Service: aws.String("web"), TaskDefinition: aws.String(v2)}))(t)
	sdArn := up.Service.CurrentServiceDeployment
	w.srv.Step()
	must(w.ecs.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: sdArn, StopType: ecstypes.StopServiceDeploymentStopTypeRollback}))(t)
	w.waitFor(t, 5*time.Minute, "rollback", func() bool {
		return w.serviceDeployment(t, aws.ToString(sdArn)).Status == ecstypes.ServiceDeploymentStatusRollbackSuccessful
	})
	if got := aws.ToString(w.service(t).TaskDefinition); got != v1 {
		t.Fatalf("task definition = %s, want %s", got, v1)
	}
}

func TestECSServiceValidation(t *testing.T) {
	w := newWorld(t, awsfake.Options{})
	ctx := context.Background()
	v1 := w.register(t, "repo:v1")
	in := &ecs.CreateServiceInput{Cluster: aws.String("shop-prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String(v1),
		DesiredCount: aws.Int32(1), LaunchType: ecstypes.LaunchTypeFargate}
	_, err := w.ecs.CreateService(ctx, in)
	var ipe *ecstypes.InvalidParameterException
	if !errors.As(err, &ipe) || !strings.Contains(err.Error(), "Network Configuration") {
		t.Fatalf("no network configuration: err = %v", err)
	}
	in.NetworkConfiguration = &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-a"}}}
	in.LoadBalancers = []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(w.tg), ContainerName: aws.String("web"), ContainerPort: aws.Int32(9999)}}
	if _, err = w.ecs.CreateService(ctx, in); !errors.As(err, &ipe) || !strings.Contains(err.Error(), "container port 9999") {
		t.Fatalf("wrong container port: err = %v", err)
	}
	_, err = w.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("nope"), ServiceName: aws.String("x"), TaskDefinition: aws.String(v1)})
	var cnf *ecstypes.ClusterNotFoundException
	if !errors.As(err, &cnf) {
		t.Fatalf("missing cluster: err = %v", err)
	}
	_, err = w.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("shop-prod"), Service: aws.String("nope"), DesiredCount: aws.Int32(1)})
	var snf *ecstypes.ServiceNotFoundException
	if !errors.As(err, &snf) {
		t.Fatalf("missing service: err = %v", err)
	}
	out := must(w.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("shop-prod"), Services: []string{"nope"}}))(t)
	if len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MISSING" {
		t.Fatalf("describe missing: %+v", out)
	}
}

func TestECSScaleAndDelete(t *testing.T) {
	w := newWorld(t, awsfake.Options{})
	ctx := context.Background()
	v1 := w.register(t, "repo:v1")
	svc := w.createService(t, v1, 1, nil)
	w.waitFor(t, time.Minute, "first deployment", func() bool { return w.service(t).RunningCount == 1 })
	must(w.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("shop-prod"), Service: aws.String("web"), DesiredCount: aws.Int32(3)}))(t)
	w.waitFor(t, time.Minute, "scale to 3", func() bool { return w.service(t).RunningCount == 3 })
	list := must(w.ecs.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("shop-prod"), Service: aws.String("web")}))(t)
	if len(list.ServiceDeployments) != 1 || aws.ToString(list.ServiceDeployments[0].ServiceDeploymentArn) != aws.ToString(svc.CurrentServiceDeployment) {
		t.Fatalf("a scale made a service deployment: %+v", list.ServiceDeployments)
	}
	_, err := w.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("shop-prod"), Service: aws.String("web")})
	var ipe *ecstypes.InvalidParameterException
	if !errors.As(err, &ipe) {
		t.Fatalf("delete scaled service without force: err = %v", err)
	}
	must(w.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("shop-prod"), Service: aws.String("web"), Force: aws.Bool(true)}))(t)
	if st := aws.ToString(w.service(t).Status); st != "DRAINING" {
		t.Fatalf("status = %s, want DRAINING", st)
	}
	w.waitFor(t, 10*time.Minute, "INACTIVE", func() bool { return aws.ToString(w.service(t).Status) == "INACTIVE" })
	listed := must(w.ecs.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("shop-prod")}))(t)
	if len(listed.ServiceArns) != 0 {
		t.Fatalf("list services = %v, want none", listed.ServiceArns)
	}
	_, err = w.elb.DeleteRule(ctx, &elb.DeleteRuleInput{RuleArn: aws.String(w.rule)})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAutoAdvanceMovesTheClockPerCall(t *testing.T) {
	w := newWorld(t, awsfake.Options{AutoAdvance: 5 * time.Second})
	v1 := w.register(t, "repo:v1")
	w.createService(t, v1, 1, nil)
	polls := 0
	for w.service(t).Deployments[0].RolloutState != ecstypes.DeploymentRolloutStateCompleted {
		polls++
		if polls > 20 {
			t.Fatal("no steady state after 20 polls")
		}
	}
	if polls < 2 {
		t.Fatalf("steady after %d polls; the clock moved too fast", polls)
	}
}

func TestECSThrottlingIsRetriedBySDK(t *testing.T) {
	w := newWorld(t, awsfake.Options{})
	w.srv.Throttle(awsfake.ServiceECS, "RegisterTaskDefinition", 2)
	w.register(t, "repo:v1")
	if n := w.srv.CallCount(awsfake.ServiceECS, "RegisterTaskDefinition"); n != 3 {
		t.Fatalf("calls = %d, want 3", n)
	}
	out := must(w.ecs.ListTaskDefinitions(context.Background(), &ecs.ListTaskDefinitionsInput{}))(t)
	if len(out.TaskDefinitionArns) != 1 {
		t.Fatalf("throttled calls registered %d revisions, want 1", len(out.TaskDefinitionArns))
	}
	w.srv.Throttle(awsfake.ServiceECS, "", 3)
	_, err := w.ecs.ListClusters(context.Background(), &ecs.ListClustersInput{})
	if errCode(err) != "ThrottlingException" {
		t.Fatalf("err = %v, want ThrottlingException once retries ran out", err)
	}
}

func TestECSDeletingAServiceStopsItsDeployment(t *testing.T) {
	w := newWorld(t, awsfake.Options{})
	ctx := context.Background()
	svc := w.createService(t, w.register(t, "repo:v1"), 2, nil)
	must(w.ecs.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("shop-prod"), Service: aws.String("web"), Force: aws.Bool(true)}))(t)
	if sd := w.serviceDeployment(t, aws.ToString(svc.CurrentServiceDeployment)); sd.Status != ecstypes.ServiceDeploymentStatusStopped {
		t.Fatalf("deployment of a deleted service = %s, want STOPPED", sd.Status)
	}
	w.waitFor(t, time.Minute, "INACTIVE", func() bool { return aws.ToString(w.service(t).Status) == "INACTIVE" })
	// A deleted service's name can be used again.
	again := w.createService(t, w.register(t, "repo:v2"), 1, nil)
	if aws.ToString(again.Status) != "ACTIVE" {
		t.Fatalf("re-created service status = %s", aws.ToString(again.Status))
	}
}

func TestECSRollingDeploymentBakesWithAlarmsAndRollsBackOnOne(t *testing.T) {
	w := newWorld(t, awsfake.Options{})
	ctx := context.Background()
	cw := cloudwatchJSON(w.cfg)
	must(cw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String("5xx"), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
		EvaluationPeriods: aws.Int32(3), Threshold: aws.Float64(5), MetricName: aws.String("HTTPCode_Target_5XX_Count"), Namespace: aws.String("AWS/ApplicationELB"),
		Period: aws.Int32(60), Statistic: cwtypes.StatisticSum}))(t)
	dc := rollingBreaker(3)
	dc.Alarms = &ecstypes.DeploymentAlarms{AlarmNames: []string{"5xx"}, Enable: true, Rollback: true}
	w.createService(t, w.register(t, "repo:v1"), 1, dc)
	first := aws.ToString(w.service(t).CurrentServiceDeployment)
	w.srv.Advance(30 * time.Second) // healthy at 20s, then baking for 3 × 60s
	if sd := w.serviceDeployment(t, first); sd.Status != ecstypes.ServiceDeploymentStatusInProgress || sd.LifecycleStage != ecstypes.ServiceDeploymentLifecycleStageBakeTime {
		t.Fatalf("at 30s: %s in %s, want IN_PROGRESS in BAKE_TIME", sd.Status, sd.LifecycleStage)
	}
	w.waitFor(t, 5*time.Minute, "first deployment", func() bool {
		return w.serviceDeployment(t, first).Status == ecstypes.ServiceDeploymentStatusSuccessful
	})
	up := must(w.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("shop-prod"), Service: aws.String("web"), TaskDefinition: aws.String(w.register(t, "repo:v2"))}))(t)
	sdArn := aws.ToString(up.Service.CurrentServiceDeployment)
	w.waitFor(t, 5*time.Minute, "bake", func() bool {
		return w.serviceDeployment(t, sdArn).LifecycleStage == ecstypes.ServiceDeploymentLifecycleStageBakeTime
	})
	w.srv.SetAlarmState("5xx", "ALARM")
	w.waitFor(t, 5*time.Minute, "rollback", func() bool {
		return w.serviceDeployment(t, sdArn).Status == ecstypes.ServiceDeploymentStatusRollbackSuccessful
	})
	if sd := w.serviceDeployment(t, sdArn); sd.Alarms.TriggeredAlarmNames[0] != "5xx" {
		t.Fatalf("alarms = %+v", sd.Alarms)
	}
}
