package awsfake_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-dev/berth/internal/awsfake"
)

// BenchmarkDescribeServicesAt1000 measures one DescribeServices call of
// 10 services while the fake simulates 1,000 steady services, each call
// moving the clock by a second (the load a plan over 1,000 services puts
// on it).
func BenchmarkDescribeServicesAt1000(b *testing.B) {
	srv, cfg := start(b, awsfake.Options{})
	ctx := context.Background()
	c := ecs.NewFromConfig(cfg)
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("big")}); err != nil {
		b.Fatal(err)
	}
	in := taskDefInput("big-svc", "img")
	td, err := c.RegisterTaskDefinition(ctx, in)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		_, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("big"), ServiceName: aws.String(fmt.Sprintf("s%04d", i)),
			TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(1), LaunchType: ecstypes.LaunchTypeFargate,
			NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-a"}}}})
		if err != nil {
			b.Fatal(err)
		}
	}
	srv.Advance(time.Minute)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		names := make([]string, 10)
		for j := range names {
			names[j] = fmt.Sprintf("s%04d", (i*10+j)%1000)
		}
		out, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("big"), Services: names})
		if err != nil || len(out.Services) != 10 {
			b.Fatalf("describe: %v", err)
		}
		srv.Step()
	}
}
