package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/berth-dev/berth/internal/awsfake"
	"github.com/berth-dev/berth/internal/driver/docker/dockertest"
)

// A service built from a Dockerfile is pushed to the fake's ECR with the
// token from GetAuthorizationToken, into a repository berth creates with
// immutable tags, and runs by digest; a second commit pushes only its
// commit tag (a branch tag could not move in an immutable repository).
func TestECS_CLIBuildsAndPushesToECR(t *testing.T) {
	cli := dockertest.Require(t)
	project := dockertest.Project("ecs")
	t.Cleanup(func() { _ = dockertest.Remove(context.Background(), cli, project) })
	c := newECSCLI(t, awsfake.Options{}, "application")
	spec := `project: ` + project + `
environments:
  prod:
    engine: ecs
    aws: {cluster: c, subnets: [subnet-a], execution_role: 'arn:aws:iam::123456789012:role/exec'}
defaults: {cpu: 256, memory: 512}
services:
  web:
    build: {context: services/web}
`
	files := map[string]string{"berth.yaml": spec, "services/web/Dockerfile": "FROM scratch\nCOPY main.go /main.go\n"}
	for p, body := range files {
		if err := os.WriteFile(filepath.Join(c.top, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	planCommit(t, c.top, "a built service")
	out := c.mustRun("deploy", "--env", "prod")
	host := c.srv.Host()
	if !strings.Contains(out, "web: pushed "+host+"/"+project+"/web@sha256:") || !strings.Contains(out, "all 1 deployments succeeded") {
		t.Fatalf("deploy of a built service:\n%s", out)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	repos, err := ecr.NewFromConfig(cfg).DescribeRepositories(context.Background(), &ecr.DescribeRepositoriesInput{RepositoryNames: []string{project + "/web"}})
	if err != nil {
		t.Fatal(err)
	}
	if m := repos.Repositories[0].ImageTagMutability; m != "IMMUTABLE" {
		t.Errorf("repository tag mutability %s", m)
	}

	planChange(t, c.top, "services/web/main.go")
	planCommit(t, c.top, "change web")
	out = c.mustRun("deploy", "--env", "prod")
	if !strings.Contains(out, "web: release 1 → 2") || !strings.Contains(out, "all 1 deployments succeeded") {
		t.Errorf("second deploy of a built service:\n%s", out)
	}
	imgs, err := ecr.NewFromConfig(cfg).DescribeImages(context.Background(), &ecr.DescribeImagesInput{RepositoryName: aws.String(project + "/web")})
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, im := range imgs.ImageDetails {
		tags = append(tags, im.ImageTags...)
	}
	if len(tags) != 2 {
		t.Errorf("tags in ECR: %v, want the two commit tags only", tags)
	}
}
