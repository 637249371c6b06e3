package e2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// requireDocker returns a client of the Docker engine, skipping the test
// when none answers (failing instead when BERTH_REQUIRE_DOCKER=1).
func requireDocker(t *testing.T) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err = cli.Ping(ctx)
		cancel()
	}
	if err != nil {
		if os.Getenv("BERTH_REQUIRE_DOCKER") == "1" {
			t.Fatalf("no Docker engine answers and BERTH_REQUIRE_DOCKER=1: %v", err)
		}
		t.Skipf("skipping: no Docker engine answers (%v); set BERTH_REQUIRE_DOCKER=1 to make this a failure", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

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
	ctx := context.Background()
	for _, c := range containers(t, cli, project) {
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Logf("remove container %s: %v", c.ID[:12], err)
		}
	}
	imgs, err := cli.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "berth.project="+project))})
	if err != nil {
		t.Logf("list images: %v", err)
		return
	}
	// Newest first: a child image goes before its parent.
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Created > imgs[j].Created })
	for _, im := range imgs {
		if _, err := cli.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Logf("remove image %s: %v", im.ID, err)
		}
	}
}
