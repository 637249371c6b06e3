// Command ecsplan measures how many AWS calls, and how long, the ECS engine
// needs to read the live release and commit of every service (what
// `berth plan --env prod` and `deploy --changed` ask before planning),
// against the in-repo AWS fake: it deploys N services, then reads their
// live commits with a fresh engine, counting the calls the fake answered.
// For contrast it also times the per-service loop a deploy.sh runs
// (describe-services, then describe-task-definition with tags, per service).
//
//	go run ./bench/ecsplan [-services 1000] [-runs 5]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/awsfake"
	"github.com/berth-dev/berth/internal/engine/ecs"
	"github.com/berth-dev/berth/internal/spec"
)

func main() {
	n := flag.Int("services", 1000, "services to deploy and read back")
	runs := flag.Int("runs", 5, "runs of each read; the median is reported")
	flag.Parse()
	if err := run(*n, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "ecsplan:", err)
		os.Exit(1)
	}
}

func run(n, runs int) error {
	ctx := context.Background()
	srv := awsfake.New(awsfake.Options{})
	defer srv.Close()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIAFAKE", "secret", "")),
		config.WithBaseEndpoint(srv.URL()))
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("project: big\nenvironments:\n  prod:\n    engine: ecs\n    aws: {cluster: big, subnets: [subnet-a], execution_role: 'arn:aws:iam::123456789012:role/exec'}\n")
	b.WriteString("defaults: {cpu: 256, memory: 512}\nservices:\n")
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("svc-%04d", i+1)
		fmt.Fprintf(&b, "  %s: {image: 'reg/big/%s@sha256:1'}\n", names[i], names[i])
	}
	dir, err := os.MkdirTemp("", "ecsplan")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := spec.Parse(filepath.Join(dir, "berth.yaml"), []byte(b.String()))
	if err != nil {
		return err
	}
	sp, err := s.ForEnvironment("prod")
	if err != nil {
		return err
	}
	newEngine := func() (*ecs.Engine, error) { return ecs.New(ecs.Config{Spec: sp, AWS: cfg}) }

	e, err := newEngine()
	if err != nil {
		return err
	}
	req := api.DeployRequest{Commit: "0123456789ab"}
	for _, name := range names {
		req.Releases = append(req.Releases, api.ReleaseSpec{Service: name, Commit: "0123456789ab", Image: "reg/big/" + name + "@sha256:1"})
	}
	start := time.Now()
	resp, err := e.Deploy(ctx, req)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	fmt.Printf("deployed %d services in %s (%d AWS calls)\n", len(resp.Deployments), time.Since(start).Round(time.Millisecond), len(srv.Calls()))

	// (a) berth: a fresh engine (as a new CLI process) reads every live commit.
	var times []time.Duration
	var calls int
	for range runs {
		srv.ResetCalls()
		e, err := newEngine()
		if err != nil {
			return err
		}
		t0 := time.Now()
		st, err := e.Status(ctx)
		if err != nil {
			return err
		}
		times = append(times, time.Since(t0))
		calls = len(srv.Calls())
		if len(st.Services) != n {
			return fmt.Errorf("status read %d services, want %d", len(st.Services), n)
		}
		for _, sv := range st.Services {
			if sv.Commit != "0123456789ab" {
				return fmt.Errorf("%s: live commit %q", sv.Name, sv.Commit)
			}
		}
	}
	a := median(times)

	// (b) the per-service loop: describe-services, then the task
	// definition's tags, for each service.
	client := awsecs.NewFromConfig(cfg)
	times = times[:0]
	var naiveCalls int
	for range max(1, runs/2) {
		srv.ResetCalls()
		t0 := time.Now()
		for _, name := range names {
			out, err := client.DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: aws.String("big"), Services: []string{"big-prod-" + name}})
			if err != nil {
				return err
			}
			td, err := client.DescribeTaskDefinition(ctx, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: out.Services[0].TaskDefinition, Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}})
			if err != nil {
				return err
			}
			_ = td
		}
		times = append(times, time.Since(t0))
		naiveCalls = len(srv.Calls())
	}
	bt := median(times)
	fmt.Printf("(a) berth Status over %d services: %d AWS calls (%.1f per 10 services), median %s of %d runs\n", n, calls, float64(calls)*10/float64(n), a.Round(100*time.Microsecond), runs)
	fmt.Printf("(b) per-service describe loop: %d AWS calls, median %s\n", naiveCalls, bt.Round(100*time.Microsecond))
	fmt.Printf("target (at most 1 call per 10 services): %v; (b)/(a) time %.0f×\n", calls*10 <= n, float64(bt)/float64(a))
	if calls*10 > n {
		return fmt.Errorf("target missed: %d calls for %d services", calls, n)
	}
	return nil
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
