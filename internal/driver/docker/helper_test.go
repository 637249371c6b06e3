package docker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/driver/docker"
)

// project scopes everything this test binary creates, so parallel runs and
// other engineers' containers are never touched.
var project = func() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "bt" + hex.EncodeToString(b)
}()

func TestMain(m *testing.M) {
	code := m.Run()
	cleanupProject(project)
	os.Exit(code)
}

// cleanupProject removes every container and image labelled with project.
func cleanupProject(project string) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	label := filters.NewArgs(filters.Arg("label", docker.LabelProject+"="+project))
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: label})
	if err != nil {
		return
	}
	for _, c := range cs {
		_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
	}
	imgs, _ := cli.ImageList(ctx, image.ListOptions{All: true, Filters: label})
	for _, img := range imgs {
		_, _ = cli.ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true})
	}
}

// requireDocker skips the test when no engine answers, or fails it when
// BERTH_REQUIRE_DOCKER=1.
func requireDocker(t *testing.T) {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err = cli.Ping(ctx)
		cancel()
		cli.Close()
	}
	if err == nil {
		return
	}
	if os.Getenv("BERTH_REQUIRE_DOCKER") == "1" {
		t.Fatalf("Docker engine required (BERTH_REQUIRE_DOCKER=1) but not reachable: %v", err)
	}
	t.Skipf("no Docker engine answers (%v); set BERTH_REQUIRE_DOCKER=1 to fail instead", err)
}

var (
	imageOnce sync.Once
	imageRef  string
	imageErr  error
)

// testImage builds (once per test binary) a FROM scratch image holding the
// static taskserver binary, through berth's own builder.
func testImage(t *testing.T) string {
	t.Helper()
	requireDocker(t)
	imageOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		b, err := build.New(ctx, build.Config{})
		if err != nil {
			imageErr = err
			return
		}
		defer b.Close()
		res, err := b.Build(ctx, build.Request{
			Project: project,
			Service: "taskserver",
			Root:    ".",
			Command: "go build -o $BERTH_ARTIFACT ./testdata/taskserver",
			Commit:  "c0ffee1",
		})
		imageRef, imageErr = res.Image, err
	})
	if imageErr != nil {
		t.Fatalf("build test image: %v", imageErr)
	}
	return imageRef
}

func newDriver(t *testing.T) *docker.Driver {
	t.Helper()
	requireDocker(t)
	d, err := docker.New(context.Background(), docker.Config{Project: project})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// waitHTTP polls url until it answers 200 or the deadline passes.
func waitHTTP(t *testing.T, url string) *http.Response {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil && resp.StatusCode == http.StatusOK {
			return resp
		}
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		lastErr = err
		<-tick.C
	}
	t.Fatalf("GET %s never answered 200: %v", url, lastErr)
	return nil
}
