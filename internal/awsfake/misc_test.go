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
	w.srv.FailTaskDefinition("shop-prod-web:1", awsfake.TaskFailure{LogLines: []string{"listening on :8080", "panic: no DATABASE_URL"}})
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
