package docker_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/driver/docker"
	"github.com/berth-dev/berth/internal/driver/docker/dockertest"
)

// project scopes everything this test binary creates, so parallel runs and
// other engineers' containers are never touched.
var project = dockertest.Project("bt")

func TestMain(m *testing.M) {
	code := m.Run()
	dockertest.RemoveAfter(project)
	os.Exit(code)
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
	dockertest.Require(t)
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
	dockertest.Require(t)
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
