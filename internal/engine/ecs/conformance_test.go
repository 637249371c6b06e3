package ecs_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/awsfake"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/engine/enginetest"
	"github.com/berth-dev/berth/internal/release"
)

// conformanceSpec is the project the suite's services live in; they are
// not routed (the fake has no application to answer an ALB).
const conformanceSpec = `project: conf
environments:
  prod:
    engine: ecs
    aws: {cluster: conf, subnets: [subnet-a], listener: LISTENER, execution_role: 'arn:aws:iam::123456789012:role/exec'}
defaults: {cpu: 256, memory: 512}
services:
  web: {image: x}
  api: {image: x}
  jobs: {image: x}
`

// TestConformance runs the engine conformance suite against the ECS
// engine and the AWS fake, through the real SDK clients. The fake runs no
// containers, so the harness plays the application's part: a broken
// release's tasks fail before they run (as a crashing test server's do
// under its container health check), and each release's task logs the
// test server's start line.
func TestConformance(t *testing.T) {
	var mu sync.Mutex
	worlds := map[*testing.T]*world{}
	enginetest.Run(t, enginetest.Harness{
		New: func(t *testing.T) engine.Engine {
			w := newWorld(t, conformanceSpec)
			mu.Lock()
			worlds[t] = w
			mu.Unlock()
			return w.engine()
		},
		Release: func(t *testing.T, s enginetest.Service, commit string) api.ReleaseSpec {
			mu.Lock()
			w := worlds[t]
			mu.Unlock()
			svc := enginetest.Resolved(s)
			svc.CPU, svc.Memory = 256, 512
			cfg := release.ForImage(w.sp, svc)
			raw, err := cfg.Encode()
			if err != nil {
				t.Fatal(err)
			}
			fp, err := cfg.Fingerprint()
			if err != nil {
				t.Fatal(err)
			}
			family := "conf-prod-" + s.Name
			next := 1
			if out, err := awsecs.NewFromConfig(w.cfg).DescribeTaskDefinition(context.Background(), &awsecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(family)}); err == nil {
				next = int(out.TaskDefinition.Revision) + 1
			}
			if s.Broken {
				w.srv.FailTaskDefinition(fmt.Sprintf("%s:%d", family, next), awsfake.TaskFailure{AtStart: true, StoppedReason: "Essential container in task exited", ContainerReason: "exit code 1 (EXIT_CODE=1)", LogLines: []string{"testserver: exiting 1"}})
			} else {
				w.srv.PutLogLines("/berth/conf/prod/"+s.Name, s.Name+"/"+s.Name+"/v"+s.Version, "testserver: listening on 10.0.0.2:8080")
			}
			image := "reg.example/conf/" + s.Name + "@sha256:" + strings.Repeat(s.Version, 8)
			return api.ReleaseSpec{Service: s.Name, Commit: commit, Image: image, ArtifactDigest: image, Config: raw, Fingerprint: fp}
		},
	})
}
