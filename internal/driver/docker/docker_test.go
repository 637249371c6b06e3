package docker_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/driver/docker"
)

func spec(id, image string) driver.TaskSpec {
	return driver.TaskSpec{
		ID:            id,
		Project:       project,
		Service:       "web",
		Release:       3,
		Commit:        "c0ffee1",
		Image:         image,
		ContainerPort: 8080,
		Env:           map[string]string{"GREETING": "hello world"},
	}
}

// start starts t and stops it when the test ends.
func start(t *testing.T, d *docker.Driver, ts driver.TaskSpec) driver.Handle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := d.Start(ctx, ts)
	if err != nil {
		t.Fatalf("Start %s: %v", ts.ID, err)
	}
	t.Cleanup(func() { _ = d.Stop(context.Background(), h, 0) })
	return h
}

func TestLifecycle(t *testing.T) {
	img := testImage(t)
	d := newDriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	h := start(t, d, spec("web-3-life", img))
	if h.Driver != "docker" || h.ContainerID == "" || !strings.HasPrefix(h.Addr, "127.0.0.1:") {
		t.Fatalf("handle = %+v", h)
	}

	resp := waitHTTP(t, "http://"+h.Addr+"/env")
	var env map[string]string
	err := json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"PORT": "8080", "GREETING": "hello world", "BERTH_SERVICE": "web",
		"BERTH_RELEASE": "3", "BERTH_COMMIT": "c0ffee1", "BERTH_TASK": "web-3-life",
	} {
		if env[k] != want {
			t.Errorf("env %s = %q, want %q", k, env[k], want)
		}
	}

	st, err := d.Inspect(ctx, h)
	if err != nil || !st.Running || st.Exit != nil {
		t.Fatalf("Inspect = %+v, %v; want running", st, err)
	}
	if st.MemoryBytes == 0 {
		t.Errorf("Inspect reports no memory use")
	}

	// A fresh driver (a restarted control plane) adopts the task.
	d2 := newDriver(t)
	if err := d2.Recover(ctx, h); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	stale := h
	stale.TaskID = "web-3-other"
	if err := d2.Recover(ctx, stale); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Recover with another task's id = %v, want ErrNotFound", err)
	}
	// A handle of the same container under another task id is stale: the
	// driver reports it gone and never touches the container through it.
	if _, err := d2.Wait(ctx, stale); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Wait(stale) = %v, want ErrNotFound", err)
	}
	if err := d2.Stop(ctx, stale, 0); err != nil {
		t.Errorf("Stop(stale) = %v, want nil", err)
	}
	if st, err := d.Inspect(ctx, h); err != nil || !st.Running {
		t.Fatalf("task disturbed by a stale handle: %+v, %v", st, err)
	}
	tasks, err := d2.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(tasks, func(x docker.Task) bool { return x.TaskID == h.TaskID })
	if i < 0 {
		t.Fatalf("List = %+v, missing %s", tasks, h.TaskID)
	}
	if got := tasks[i]; got.Handle != h || got.Service != "web" || got.Release != 3 || !got.Running {
		t.Errorf("List entry = %+v, want handle %+v", got, h)
	}

	waited := make(chan driver.ExitStatus, 1)
	go func() {
		st, err := d.Wait(ctx, h)
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
		waited <- st
	}()
	if err := d.Stop(ctx, h, 5*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if st := <-waited; st.Code != 0 || st.Signal != "" {
		t.Errorf("exit after graceful stop = %v, want exit code 0", st)
	}
	// Wait after removal still knows how it ended.
	if st, err := d.Wait(ctx, h); err != nil || st.Code != 0 {
		t.Errorf("Wait after Stop = %v, %v", st, err)
	}

	logs, err := d.Logs(ctx, h, driver.LogOptions{})
	if !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Logs of removed task: %v, want ErrNotFound", err)
		if logs != nil {
			logs.Close()
		}
	}
	if _, err := d.Inspect(ctx, h); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Inspect after Stop = %v, want ErrNotFound", err)
	}
	if err := d2.Recover(ctx, h); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Recover after Stop = %v, want ErrNotFound", err)
	}
	if err := d.Stop(ctx, h, time.Second); err != nil {
		t.Errorf("second Stop = %v, want nil", err)
	}
}

func TestLogs(t *testing.T) {
	img := testImage(t)
	d := newDriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := start(t, d, spec("web-3-logs", img))

	rc, err := d.Logs(ctx, h, driver.LogOptions{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	if !sc.Scan() || sc.Text() != "listening on :8080" {
		t.Fatalf("first log line = %q (%v), want %q", sc.Text(), sc.Err(), "listening on :8080")
	}
	// Following: the stop message arrives after the stream was opened.
	stopped := make(chan error, 1)
	go func() { stopped <- d.Stop(ctx, h, 5*time.Second) }()
	var rest []string
	for sc.Scan() {
		rest = append(rest, sc.Text())
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rest, []string{"stopping", "stopped"}) {
		t.Errorf("followed lines = %q, want stopping, stopped", rest)
	}
}

func TestLogsTail(t *testing.T) {
	img := testImage(t)
	d := newDriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ts := spec("web-3-tail", img)
	ts.Command = "-exit 0"
	h := start(t, d, ts)
	if _, err := d.Wait(ctx, h); err != nil {
		t.Fatal(err)
	}
	rc, err := d.Logs(ctx, h, driver.LogOptions{Tail: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "exiting with 0\n" {
		t.Errorf("tail 1 = %q", b)
	}
}

func TestExitCode(t *testing.T) {
	img := testImage(t)
	d := newDriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ts := spec("web-3-exit", img)
	ts.Command = "-exit 3"
	h := start(t, d, ts)
	st, err := d.Wait(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if st.Code != 3 || st.String() != "exit code 3" {
		t.Errorf("Wait = %+v, want exit code 3", st)
	}
	is, err := d.Inspect(ctx, h)
	if err != nil || is.Running || is.Exit == nil || is.Exit.Code != 3 {
		t.Errorf("Inspect = %+v, %v; want exited with 3", is, err)
	}
}

func TestSweepRemovesOrphans(t *testing.T) {
	img := testImage(t)
	d := newDriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	known := start(t, d, spec("web-3-known", img))
	orphan := start(t, d, spec("web-3-orphan", img))

	removed, err := d.Sweep(ctx, func(id string) bool { return id != orphan.TaskID && strings.HasPrefix(id, "web-3-") })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, orphan.TaskID) || slices.Contains(removed, known.TaskID) {
		t.Fatalf("Sweep removed %q, want %s and not %s", removed, orphan.TaskID, known.TaskID)
	}
	if err := d.Recover(ctx, orphan); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("orphan still there: Recover = %v", err)
	}
	if err := d.Recover(ctx, known); err != nil {
		t.Errorf("known task swept: %v", err)
	}
}

func TestStartErrors(t *testing.T) {
	img := testImage(t)
	d := newDriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	_, err := d.Start(ctx, spec("web-3-noimage", project+"/missing:none"))
	if !errors.Is(err, docker.ErrImageMissing) || !strings.Contains(err.Error(), "berth build") {
		t.Errorf("Start with missing image = %v, want ErrImageMissing mentioning berth build", err)
	}

	start(t, d, spec("web-3-dup", img))
	_, err = d.Start(ctx, spec("web-3-dup", img))
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("Start of a duplicate task = %v, want already exists", err)
	}
}

func TestNewEngineDown(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	_, err := docker.New(context.Background(), docker.Config{Project: "x"})
	if !errors.Is(err, docker.ErrEngineUnreachable) {
		t.Fatalf("New with a dead socket = %v, want ErrEngineUnreachable", err)
	}
	for _, want := range []string{sock, "is dockerd running?", "docker info"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
