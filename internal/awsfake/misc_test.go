package awsfake_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/berth-dev/berth/internal/awsfake"
)

func TestDescribeServicesReturnsTagsOnlyWhenAsked(t *testing.T) {
	w := newWorld(t, awsfake.Options{})
	ctx := context.Background()
	w.createService(t, w.register(t, "repo:v1"), 1, nil)
	plain := must(w.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("shop-prod"), Services: []string{"web"}}))(t)
	tagged := must(w.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("shop-prod"), Services: []string{"web"},
		Include: []ecstypes.ServiceField{ecstypes.ServiceFieldTags}}))(t)
	if len(plain.Services[0].Tags) != 0 || len(tagged.Services[0].Tags) != 1 || aws.ToString(tagged.Services[0].Tags[0].Key) != "berth:service" {
		t.Fatalf("tags without include %v, with include %v", plain.Services[0].Tags, tagged.Services[0].Tags)
	}
}

func TestCallLogSeparatesReadsFromWrites(t *testing.T) {
	w := newWorld(t, awsfake.Options{})
	w.srv.ResetCalls()
	must(w.ecs.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String("shop-prod"), Services: []string{"web"}}))(t)
	must(w.ecs.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(w.register(t, "x"))}))(t)
	if n := len(w.srv.Calls()); n != 3 {
		t.Fatalf("calls = %d, want 3", n)
	}
	m := w.srv.MutatingCalls()
	if len(m) != 1 || m[0].Operation != "RegisterTaskDefinition" || m[0].Service != awsfake.ServiceECS {
		t.Fatalf("mutating calls = %+v, want only RegisterTaskDefinition", m)
	}
	if w.srv.CallCount(awsfake.ServiceECS, "DescribeServices") != 1 {
		t.Fatal("DescribeServices not counted")
	}
}

func TestFailedTaskLeavesItsLastLogLines(t *testing.T) {
	w := newWorld(t, awsfake.Options{})
	ctx := context.Background()
	w.srv.FailTaskDefinition("shop-prod-web", awsfake.TaskFailure{LogLines: []string{"listening on :8080", "panic: no DATABASE_URL"}})
	w.createService(t, w.register(t, "repo:v1"), 1, rollingBreaker(1))
	w.waitFor(t, time.Minute, "the failure", func() bool {
		return w.service(t).Deployments[0].RolloutState == ecstypes.DeploymentRolloutStateFailed
	})
	stopped := must(w.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("shop-prod"), DesiredStatus: ecstypes.DesiredStatusStopped}))(t)
	id := stopped.TaskArns[0][strings.LastIndex(stopped.TaskArns[0], "/")+1:]
	logs := cloudwatchlogs.NewFromConfig(w.cfg)
	out := must(logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/berth/shop/prod/web"),
		LogStreamName: aws.String("web/web/" + id), Limit: aws.Int32(1)}))(t)
	if len(out.Events) != 1 || aws.ToString(out.Events[0].Message) != "panic: no DATABASE_URL" {
		t.Fatalf("last log line = %+v", out.Events)
	}
}

func TestEnvPointsTheDefaultConfigAtTheFake(t *testing.T) {
	srv := awsfake.New(awsfake.Options{Account: "999988887777"})
	t.Cleanup(srv.Close)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	cfg := must(config.LoadDefaultConfig(context.Background()))(t)
	id := must(sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}))(t)
	if aws.ToString(id.Account) != "999988887777" {
		t.Fatalf("account = %s", aws.ToString(id.Account))
	}
}

func TestDenyAnswersAccessDenied(t *testing.T) {
	w := newWorld(t, awsfake.Options{})
	ctx := context.Background()
	w.srv.Deny(awsfake.ServiceSSM, "GetParameters")
	w.srv.Deny(awsfake.ServiceELBv2, "")
	_, err := ssm.NewFromConfig(w.cfg).GetParameters(ctx, &ssm.GetParametersInput{Names: []string{"/x"}})
	if errCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "ssm:GetParameters") {
		t.Fatalf("ssm: err = %v", err)
	}
	_, err = w.elb.DescribeRules(ctx, &elb.DescribeRulesInput{ListenerArn: aws.String(w.alb.ListenerArn)})
	if errCode(err) != "AccessDenied" {
		t.Fatalf("elb: err = %v", err)
	}
	w.srv.Allow(awsfake.ServiceELBv2, "")
	must(w.elb.DescribeRules(ctx, &elb.DescribeRulesInput{ListenerArn: aws.String(w.alb.ListenerArn)}))(t)
}

func TestUnhealthyRevisionFailsELBHealthChecksAfterGrace(t *testing.T) {
	w := newWorld(t, awsfake.Options{})
	ctx := context.Background()
	v1 := w.register(t, "repo:v1")
	w.createService(t, v1, 1, rollingBreaker(2)) // grace 30s
	w.waitFor(t, time.Minute, "v1", func() bool {
		return w.service(t).Deployments[0].RolloutState == ecstypes.DeploymentRolloutStateCompleted
	})
	w.srv.FailTaskDefinition("shop-prod-web:2", awsfake.TaskFailure{Unhealthy: true})
	v2 := w.register(t, "repo:v2")
	up := must(w.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("shop-prod"), Service: aws.String("web"), TaskDefinition: aws.String(v2)}))(t)
	w.srv.Advance(35 * time.Second) // RUNNING at 10s, unhealthy at 20s, still within the 30s grace
	stopped := must(w.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("shop-prod"), DesiredStatus: ecstypes.DesiredStatusStopped}))(t)
	if len(stopped.TaskArns) != 0 {
		t.Fatalf("%d tasks stopped inside the grace period", len(stopped.TaskArns))
	}
	w.waitFor(t, 5*time.Minute, "rollback", func() bool {
		return w.serviceDeployment(t, aws.ToString(up.Service.CurrentServiceDeployment)).Status == ecstypes.ServiceDeploymentStatusRollbackSuccessful
	})
	stopped = must(w.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("shop-prod"), DesiredStatus: ecstypes.DesiredStatusStopped}))(t)
	desc := must(w.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("shop-prod"), Tasks: stopped.TaskArns}))(t)
	failed := 0
	for _, task := range desc.Tasks {
		if aws.ToString(task.TaskDefinitionArn) != v2 {
			continue
		}
		failed++
		if !strings.HasPrefix(aws.ToString(task.StoppedReason), "Task failed ELB health checks in (target-group "+w.tg) {
			t.Fatalf("stopped reason = %q", aws.ToString(task.StoppedReason))
		}
	}
	if failed < 2 {
		t.Fatalf("stopped v2 tasks = %d, want ≥ 2 (the breaker's threshold)", failed)
	}
}

func TestInjectedErrors(t *testing.T) {
	w := newWorld(t, awsfake.Options{})
	ctx := context.Background()
	w.srv.InjectError(awsfake.ServiceECS, "RegisterTaskDefinition", 1, "ServerException", 500)
	td := w.register(t, "repo:v1") // the SDK retries a 500
	if n := w.srv.CallCount(awsfake.ServiceECS, "RegisterTaskDefinition"); n != 2 || !strings.HasSuffix(td, ":1") {
		t.Fatalf("calls = %d, td = %s; want 2 calls and only revision 1 registered", n, td)
	}
	w.srv.InjectError(awsfake.ServiceELBv2, "", 1, "InternalFailure", 400)
	_, err := w.elb.DescribeRules(ctx, &elb.DescribeRulesInput{ListenerArn: aws.String(w.alb.ListenerArn)})
	if errCode(err) != "InternalFailure" {
		t.Fatalf("err = %v, want the injected InternalFailure", err)
	}
	must(w.elb.DescribeRules(ctx, &elb.DescribeRulesInput{ListenerArn: aws.String(w.alb.ListenerArn)}))(t)
}
