// Package dockertest is what berth's Docker tests share: finding the
// engine (skipping, or failing under BERTH_REQUIRE_DOCKER=1), a project
// name of their own, and removing everything labelled with it afterwards.
package dockertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
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

// RequireEnv is the variable that turns "no Docker engine" from a skip
// into a failure (set by .ci/run).
const RequireEnv = "BERTH_REQUIRE_DOCKER"

// Client connects to the engine named by the environment.
func Client() (*client.Client, error) {
	return client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
}

// Require returns a client of an engine that answers a ping; without one
// it skips the test, or fails it when RequireEnv is 1. The client is
// closed when the test ends.
func Require(t testing.TB) *client.Client {
	t.Helper()
	cli, err := Client()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err = cli.Ping(ctx)
		cancel()
		if err != nil {
			cli.Close()
		}
	}
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("Docker engine required (%s=1) but not reachable: %v", RequireEnv, err)
		}
		t.Skipf("no Docker engine answers (%v); set %s=1 to fail instead", err, RequireEnv)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Project returns a fresh project name starting with prefix, so a test's
// containers and images are told from everyone else's by label.
func Project(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Remove force-removes every container and image labelled
// berth.project=project (images newest first, so children go before
// their parents).
func Remove(ctx context.Context, cli *client.Client, project string) error {
	label := filters.NewArgs(filters.Arg("label", "berth.project="+project))
	var errs []error
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: label})
	if err != nil {
		return fmt.Errorf("list containers of %s: %w", project, err)
	}
	for _, c := range cs {
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", c.ID[:12], err))
		}
	}
	imgs, err := cli.ImageList(ctx, image.ListOptions{All: true, Filters: label})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list images of %s: %w", project, err))...)
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Created > imgs[j].Created })
	for _, im := range imgs {
		if _, err := cli.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove image %s: %w", im.ID, err))
		}
	}
	return errors.Join(errs...)
}

// RemoveAfter removes the project's containers and images at the end of a
// test binary (call from TestMain after m.Run); without an engine it does
// nothing.
func RemoveAfter(project string) {
	cli, err := Client()
	if err != nil {
		return
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Remove(ctx, cli, project); err != nil {
		fmt.Fprintln(os.Stderr, "dockertest:", err)
	}
}
