package awsfake_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-dev/berth/internal/awsfake"
)

func TestECRRepositoriesAuthAndImages(t *testing.T) {
	_, cfg := start(t, awsfake.Options{})
	ctx := context.Background()
	c := ecr.NewFromConfig(cfg)
	repo := must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("shop/web"),
		ImageTagMutability:         ecrtypes.ImageTagMutabilityImmutable,
		ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true}}))(t).Repository
	if repo.ImageTagMutability != ecrtypes.ImageTagMutabilityImmutable || aws.ToString(repo.RepositoryUri) == "" {
		t.Fatalf("repository = %+v", repo)
	}
	_, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("shop/web")})
	var exists *ecrtypes.RepositoryAlreadyExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("second create: err = %v", err)
	}
	_, err = c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: repo.RepositoryName, ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("abc123")}}})
	var notFound *ecrtypes.ImageNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("describe missing image: err = %v, want ImageNotFoundException", err)
	}

	auth := must(c.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{}))(t).AuthorizationData[0]
	raw := must(base64.StdEncoding.DecodeString(aws.ToString(auth.AuthorizationToken)))(t)
	user, pass, _ := strings.Cut(string(raw), ":")
	ref := must(name.ParseReference(aws.ToString(repo.RepositoryUri)+":abc123", name.Insecure))(t)
	img := must(random.Image(256, 1))(t)
	if err := remote.Write(ref, img); err == nil {
		t.Fatal("push without credentials succeeded")
	}
	creds := remote.WithAuth(&authn.Basic{Username: user, Password: pass})
	if err := remote.Write(ref, img, creds); err != nil {
		t.Fatalf("push: %v", err)
	}
	digest := must(img.Digest())(t)
	got := must(c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: repo.RepositoryName, ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("abc123")}}}))(t)
	if d := got.ImageDetails[0]; aws.ToString(d.ImageDigest) != digest.String() || d.ImageTags[0] != "abc123" || aws.ToInt64(d.ImageSizeInBytes) == 0 {
		t.Fatalf("image = %+v, want digest %s", d, digest)
	}
	other := must(random.Image(256, 1))(t)
	if err := remote.Write(ref, other, creds); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Fatalf("overwriting an immutable tag: err = %v", err)
	}
	noRepo := must(name.ParseReference(strings.Replace(aws.ToString(repo.RepositoryUri), "shop/web", "shop/nope", 1)+":x", name.Insecure))(t)
	if err := remote.Write(noRepo, img, creds); err == nil {
		t.Fatal("push to a repository that does not exist succeeded")
	}
}

func TestSSMAndSecretsManager(t *testing.T) {
	srv, cfg := start(t, awsfake.Options{})
	ctx := context.Background()
	srv.SetParameter("/shop/prod/db", "SecureString", "postgres://")
	arn := srv.SetSecret("shop/prod/api", `{"key":"v1"}`)
	p := ssm.NewFromConfig(cfg)
	out := must(p.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{"/shop/prod/db", "/shop/prod/missing"}, WithDecryption: aws.Bool(true)}))(t)
	if len(out.Parameters) != 1 || aws.ToString(out.Parameters[0].Value) != "postgres://" || out.InvalidParameters[0] != "/shop/prod/missing" ||
		aws.ToString(out.Parameters[0].ARN) != "arn:aws:ssm:us-east-1:123456789012:parameter/shop/prod/db" {
		t.Fatalf("get parameters = %+v", out)
	}
	_, err := p.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/nope")})
	var pnf *ssmtypes.ParameterNotFound
	if !errors.As(err, &pnf) {
		t.Fatalf("missing parameter: err = %v", err)
	}
	desc := must(p.DescribeParameters(ctx, &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Name"), Option: aws.String("Equals"), Values: []string{"/shop/prod/db"}}}}))(t)
	if len(desc.Parameters) != 1 || desc.Parameters[0].Type != ssmtypes.ParameterTypeSecureString {
		t.Fatalf("describe parameters = %+v", desc.Parameters)
	}

	sm := secretsmanager.NewFromConfig(cfg)
	d := must(sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("shop/prod/api")}))(t)
	if aws.ToString(d.ARN) != arn || len(d.VersionIdsToStages) != 1 {
		t.Fatalf("describe secret = %+v", d)
	}
	srv.SetSecret("shop/prod/api", `{"key":"v2"}`)
	v := must(sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)}))(t)
	if aws.ToString(v.SecretString) != `{"key":"v2"}` || v.VersionStages[0] != "AWSCURRENT" {
		t.Fatalf("get secret value = %+v", v)
	}
	prev := must(sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("shop/prod/api"), VersionStage: aws.String("AWSPREVIOUS")}))(t)
	if aws.ToString(prev.SecretString) != `{"key":"v1"}` {
		t.Fatalf("previous version = %q", aws.ToString(prev.SecretString))
	}
	_, err = sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("nope")})
	var rnf *smtypes.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("missing secret: err = %v", err)
	}
}

func TestCloudWatchLogs(t *testing.T) {
	srv, cfg := start(t, awsfake.Options{})
	ctx := context.Background()
	c := cloudwatchlogs.NewFromConfig(cfg)
	must(c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/berth/shop/prod/web"), Tags: map[string]string{"berth:project": "shop"}}))(t)
	must(c.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String("/berth/shop/prod/web"), RetentionInDays: aws.Int32(30)}))(t)
	if _, err := c.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String("/berth/shop/prod/web"), RetentionInDays: aws.Int32(31)}); errCode(err) != "InvalidParameterException" {
		t.Fatalf("retention 31: err = %v", err)
	}
	if _, err := c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/berth/shop/prod/web")}); errCode(err) != "ResourceAlreadyExistsException" {
		t.Fatalf("second create: err = %v", err)
	}
	groups := must(c.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/berth/shop/")}))(t)
	if len(groups.LogGroups) != 1 || aws.ToInt32(groups.LogGroups[0].RetentionInDays) != 30 {
		t.Fatalf("groups = %+v", groups.LogGroups)
	}
	srv.PutLogLines("/berth/shop/prod/web", "web/web/task1", "one", "two")
	srv.Advance(time.Second)
	srv.PutLogLines("/berth/shop/prod/web", "web/web/task2", "three")

	newest := must(c.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/berth/shop/prod/web"), StartFromHead: aws.Bool(false), Limit: aws.Int32(2)}))(t)
	if len(newest.Events) != 2 || aws.ToString(newest.Events[0].Message) != "three" || aws.ToString(newest.Events[0].LogStreamName) != "web/web/task2" {
		t.Fatalf("newest first = %+v", newest.Events)
	}
	oldest := must(c.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/berth/shop/prod/web"), LogStreamNamePrefix: aws.String("web/web/task1")}))(t)
	if len(oldest.Events) != 2 || aws.ToString(oldest.Events[0].Message) != "one" {
		t.Fatalf("one stream oldest first = %+v", oldest.Events)
	}
	tail := must(c.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/berth/shop/prod/web"), LogStreamName: aws.String("web/web/task1"), Limit: aws.Int32(1)}))(t)
	if len(tail.Events) != 1 || aws.ToString(tail.Events[0].Message) != "two" || aws.ToInt64(tail.Events[0].Timestamp) != srv.Now().Add(-time.Second).UnixMilli() {
		t.Fatalf("tail = %+v", tail.Events)
	}
	streams := must(c.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/berth/shop/prod/web"), OrderBy: "LastEventTime", Descending: aws.Bool(true)}))(t)
	if len(streams.LogStreams) != 2 || aws.ToString(streams.LogStreams[0].LogStreamName) != "web/web/task2" {
		t.Fatalf("streams = %+v", streams.LogStreams)
	}
}

// cloudwatchJSON is a CloudWatch client switched to AWS JSON 1.0, the
// protocol the fake serves.
func cloudwatchJSON(cfg aws.Config) *cloudwatch.Client {
	return cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) {
		o.Protocol = awsjson.New10(cwschemas.GraniteServiceVersion20100801)
	})
}

func TestCloudWatchAlarms(t *testing.T) {
	for name, client := range map[string]func(aws.Config) *cloudwatch.Client{
		"default rpc-v2-cbor client": func(cfg aws.Config) *cloudwatch.Client { return cloudwatch.NewFromConfig(cfg) },
		"awsJson1_0 client":          cloudwatchJSON,
	} {
		t.Run(name, func(t *testing.T) { testCloudWatchAlarms(t, client) })
	}
}

func testCloudWatchAlarms(t *testing.T, client func(aws.Config) *cloudwatch.Client) {
	srv, cfg := start(t, awsfake.Options{})
	ctx := context.Background()
	c := client(cfg)
	must(c.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String("berth-shop-prod-web-5xx"), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
		EvaluationPeriods: aws.Int32(1), DatapointsToAlarm: aws.Int32(1), Threshold: aws.Float64(5), ThresholdMetricId: aws.String("e1"),
		TreatMissingData: aws.String("notBreaching"),
		Metrics: []cwtypes.MetricDataQuery{
			{Id: aws.String("m1"), ReturnData: aws.Bool(false), MetricStat: &cwtypes.MetricStat{Period: aws.Int32(60), Stat: aws.String("Sum"),
				Metric: &cwtypes.Metric{Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String("HTTPCode_Target_5XX_Count"),
					Dimensions: []cwtypes.Dimension{{Name: aws.String("TargetGroup"), Value: aws.String("targetgroup/a/1")}}}}},
			{Id: aws.String("e1"), Expression: aws.String("IF(m2 >= 10, 100*m1/m2, 0)"), ReturnData: aws.Bool(true)},
		},
	}))(t)
	got := must(c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"berth-shop-prod-web-5xx"}}))(t)
	a := got.MetricAlarms[0]
	if a.StateValue != cwtypes.StateValueInsufficientData || aws.ToFloat64(a.Threshold) != 5 || len(a.Metrics) != 2 ||
		aws.ToInt32(a.Metrics[0].MetricStat.Period) != 60 || aws.ToString(a.Metrics[1].Expression) == "" || a.StateUpdatedTimestamp == nil ||
		!a.StateUpdatedTimestamp.Equal(srv.Now()) || aws.ToInt32(a.EvaluationPeriods) != 1 ||
		aws.ToString(a.Metrics[0].MetricStat.Metric.Dimensions[0].Value) != "targetgroup/a/1" {
		t.Fatalf("alarm = %+v", a)
	}
	if !srv.SetAlarmState("berth-shop-prod-web-5xx", "ALARM") {
		t.Fatal("SetAlarmState: alarm not found")
	}
	got = must(c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{StateValue: cwtypes.StateValueAlarm}))(t)
	if len(got.MetricAlarms) != 1 {
		t.Fatalf("alarms in ALARM = %d", len(got.MetricAlarms))
	}
	must(c.DeleteAlarms(ctx, &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{"berth-shop-prod-web-5xx"}}))(t)
	_, err := c.DeleteAlarms(ctx, &cloudwatch.DeleteAlarmsInput{AlarmNames: []string{"berth-shop-prod-web-5xx"}})
	if errCode(err) != "ResourceNotFound" {
		t.Fatalf("deleting a deleted alarm: err = %v", err)
	}
}

func TestApplicationAutoScaling(t *testing.T) {
	w := newWorld(t, awsfake.Options{})
	ctx := context.Background()
	w.createService(t, w.register(t, "repo:v1"), 1, nil)
	c := aas.NewFromConfig(w.cfg)
	_, err := c.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: aastypes.ServiceNamespaceEcs,
		ResourceId: aws.String("service/shop-prod/nope"), ScalableDimension: aastypes.ScalableDimensionECSServiceDesiredCount,
		MinCapacity: aws.Int32(2), MaxCapacity: aws.Int32(6)})
	var ve *aastypes.ValidationException
	if !errors.As(err, &ve) {
		t.Fatalf("unknown service: err = %v", err)
	}
	must(c.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: aastypes.ServiceNamespaceEcs,
		ResourceId: aws.String("service/shop-prod/web"), ScalableDimension: aastypes.ScalableDimensionECSServiceDesiredCount,
		MinCapacity: aws.Int32(2), MaxCapacity: aws.Int32(6)}))(t)
	if got := w.service(t).DesiredCount; got != 2 {
		t.Fatalf("desired = %d, want 2 (raised to the new minimum)", got)
	}
	pol := must(c.PutScalingPolicy(ctx, &aas.PutScalingPolicyInput{PolicyName: aws.String("cpu"), ServiceNamespace: aastypes.ServiceNamespaceEcs,
		ResourceId: aws.String("service/shop-prod/web"), ScalableDimension: aastypes.ScalableDimensionECSServiceDesiredCount,
		PolicyType: aastypes.PolicyTypeTargetTrackingScaling,
		TargetTrackingScalingPolicyConfiguration: &aastypes.TargetTrackingScalingPolicyConfiguration{TargetValue: aws.Float64(60),
			PredefinedMetricSpecification: &aastypes.PredefinedMetricSpecification{PredefinedMetricType: aastypes.MetricTypeECSServiceAverageCPUUtilization},
			ScaleInCooldown:               aws.Int32(300), ScaleOutCooldown: aws.Int32(60)}}))(t)
	if aws.ToString(pol.PolicyARN) == "" || len(pol.Alarms) != 2 {
		t.Fatalf("policy = %+v", pol)
	}
	pols := must(c.DescribeScalingPolicies(ctx, &aas.DescribeScalingPoliciesInput{ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String("service/shop-prod/web")}))(t)
	if len(pols.ScalingPolicies) != 1 || aws.ToFloat64(pols.ScalingPolicies[0].TargetTrackingScalingPolicyConfiguration.TargetValue) != 60 ||
		aws.ToInt32(pols.ScalingPolicies[0].TargetTrackingScalingPolicyConfiguration.ScaleInCooldown) != 300 {
		t.Fatalf("policies = %+v", pols.ScalingPolicies)
	}
	targets := must(c.DescribeScalableTargets(ctx, &aas.DescribeScalableTargetsInput{ServiceNamespace: aastypes.ServiceNamespaceEcs}))(t)
	if len(targets.ScalableTargets) != 1 || aws.ToInt32(targets.ScalableTargets[0].MaxCapacity) != 6 {
		t.Fatalf("targets = %+v", targets.ScalableTargets)
	}
	must(c.DeregisterScalableTarget(ctx, &aas.DeregisterScalableTargetInput{ServiceNamespace: aastypes.ServiceNamespaceEcs,
		ResourceId: aws.String("service/shop-prod/web"), ScalableDimension: aastypes.ScalableDimensionECSServiceDesiredCount}))(t)
	pols = must(c.DescribeScalingPolicies(ctx, &aas.DescribeScalingPoliciesInput{ServiceNamespace: aastypes.ServiceNamespaceEcs}))(t)
	if len(pols.ScalingPolicies) != 0 {
		t.Fatalf("policies survived their target: %+v", pols.ScalingPolicies)
	}
}
