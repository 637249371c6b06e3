package e2e

import (
	"context"
	"fmt"
	"testing"

	"github.com/berth-dev/berth/internal/driver/docker/dockertest"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
)

// newDockerShop is the shop (see newShop) for `berth serve --engine
// docker`, with a test spec: the given registry, short health intervals
// and drains.
func newDockerShop(t *testing.T, registry string) *project {
	t.Helper()
	p := newShop(t, func(p *project, _ string) string {
		svc := func(name, extra string) string {
			return fmt.Sprintf("  %s:\n    dir: services/%s\n    build: CGO_ENABLED=0 go build -o $BERTH_ARTIFACT ./services/%s\n    run: $BERTH_ARTIFACT\n%s", name, name, name, extra)
		}
		return "project: " + p.name + "\nlisten: " + p.listen + "\nregistry: " + registry + "\n" + `shared: [packages/]
defaults:
  health:
    path: /health
    interval: 200ms
  deploy:
    drain: 1s
services:
` + svc("web", "    route:\n      default: true\n    count: 2\n") +
			svc("auth", "    route:\n      path: /auth\n") +
			svc("catalog", "    route:\n      path: /catalog\n") +
			svc("orders", "    route:\n      path: /orders\n    depends_on: [catalog]\n")
	})
	p.serveArgs = []string{"--engine", "docker"}
	return p
}

// containers lists the project's task containers.
func containers(t *testing.T, cli *client.Client, project string) []container.Summary {
	t.Helper()
	cs, err := cli.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "berth.project="+project))})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	return cs
}

// removeProject force-removes the project's containers and images, so a
// test leaves nothing behind in the engine even when it failed midway.
func removeProject(t *testing.T, cli *client.Client, project string) {
	if err := dockertest.Remove(context.Background(), cli, project); err != nil {
		t.Logf("clean up project %s: %v", project, err)
	}
}
