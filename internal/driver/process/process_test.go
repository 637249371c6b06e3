package process_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/driver/drivertest"
	"github.com/berth-dev/berth/internal/driver/process"
)

// helperEnv makes the test binary act as a control plane that starts one
// task, prints its handle as JSON and then waits to be killed.
const helperEnv = "PROCESS_DRIVER_TEST_HELPER"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == process.LogWriterCommand {
		// This binary serves as the tasks' log writer (berth does in use).
		if err := process.LogWriterMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "log writer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv(helperEnv) == "1" {
		if err := controlPlaneHelper(); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func controlPlaneHelper() error {
	d := process.New(process.Config{LogDir: os.Getenv("HELPER_LOG_DIR")})
	h, err := d.Start(context.Background(), driver.TaskSpec{
		ID: "survivor", Service: "survivor", Release: 1,
		Command: quote(os.Getenv("HELPER_SERVER")), Dir: os.Getenv("HELPER_LOG_DIR"),
	})
	if err != nil {
		return err
	}
	if err := json.NewEncoder(os.Stdout).Encode(h); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, os.Stdin) // until killed
	return err
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

var taskSeq atomic.Int64

func newDriver(t *testing.T) *process.Driver {
	return process.New(process.Config{
		LogDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
}

func serverTask(t *testing.T, name string, env map[string]string) driver.TaskSpec {
	return driver.TaskSpec{
		ID:      fmt.Sprintf("%s-%d", name, taskSeq.Add(1)),
		Project: "drivertest",
		Service: name,
		Release: 7,
		Commit:  "abc1234",
		Command: quote(drivertest.BuildTestServer(t)),
		Dir:     t.TempDir(),
		Env:     env,
	}
}

func TestConformance(t *testing.T) {
	drivertest.Run(t, drivertest.Harness{
		New:  func(t *testing.T) driver.Driver { return newDriver(t) },
		Task: serverTask,
		Stale: func(h driver.Handle) driver.Handle {
			h.StartTime++
			return h
		},
	})
}

// start starts spec and kills the task when the test ends.
func start(t *testing.T, d *process.Driver, spec driver.TaskSpec) driver.Handle {
	t.Helper()
	h, err := d.Start(t.Context(), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { stop(t, process.New(process.Config{}), h) })
	return h
}

func stop(t *testing.T, d driver.Driver, h driver.Handle) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.Stop(ctx, h, 0); err != nil {
		t.Errorf("Stop(%s): %v", h.TaskID, err)
	}
}

func waitHealthy(t *testing.T, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for backoff := 5 * time.Millisecond; ; backoff = min(2*backoff, 200*time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/health", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s not healthy: %v", addr, err)
		case <-time.After(backoff):
		}
	}
}

func wait(t *testing.T, d driver.Driver, h driver.Handle) driver.ExitStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	st, err := d.Wait(ctx, h)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return st
}

// TestTaskSurvivesControlPlaneKill starts a task from a helper control
// plane, kills that helper with SIGKILL, and adopts the still running task.
func TestTaskSurvivesControlPlaneKill(t *testing.T) {
	t.Parallel()
	// The orphaned task is re-parented to us instead of to init (which may
	// not reap in a container), so the test can reap it at the end.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("become a child subreaper: %v", err)
	}
	logDir := t.TempDir()
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"=1", "HELPER_LOG_DIR="+logDir,
		"HELPER_SERVER="+drivertest.BuildTestServer(t))
	helper.Stderr = os.Stderr
	stdin, err := helper.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		_ = helper.Process.Kill()
		_ = helper.Wait()
		t.Fatalf("read handle from helper: %v", err)
	}
	var h driver.Handle
	if err := json.Unmarshal(line, &h); err != nil {
		t.Fatalf("handle %q: %v", line, err)
	}
	t.Cleanup(func() { stop(t, process.New(process.Config{}), h) })

	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := helper.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("helper exit: %v; want killed", err)
	}

	waitHealthy(t, h.Addr) // the task outlived its control plane
	d := newDriver(t)
	if err := d.Recover(t.Context(), h); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	waited := make(chan driver.ExitStatus, 1)
	go func() { waited <- wait(t, d, h) }()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := d.Stop(ctx, h, 10*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case st := <-waited:
		if st.Code != -1 || st.Err == "" {
			t.Errorf("Wait on adopted task = %+v; want code -1 with an explanation", st)
		}
	case <-ctx.Done():
		t.Fatal("Wait on adopted task did not return")
	}
	logs, err := os.ReadFile(h.LogPath)
	if err != nil || !strings.Contains(string(logs), "testserver: stopped") {
		t.Errorf("log of adopted task after graceful stop: %q, %v", logs, err)
	}
	// The driver does not reap adopted tasks; reap the orphan ourselves.
	var ws unix.WaitStatus
	if _, err := unix.Wait4(h.PID, &ws, 0, nil); err != nil {
		t.Errorf("reap the orphaned task: %v", err)
	} else if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("orphaned task ended with %v; want exit 0 after a graceful stop", ws)
	}
}

func TestCommandLineHoldsNoEnvValues(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-value-never-in-argv"
	d := newDriver(t)
	h := start(t, d, serverTask(t, "argv", map[string]string{"API_KEY": secret}))
	waitHealthy(t, h.Addr)
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", h.PID))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cmdline), secret) {
		t.Errorf("cmdline %q contains the secret", cmdline)
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", h.PID))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(environ), "API_KEY="+secret+"\x00") {
		t.Errorf("environ lacks API_KEY")
	}
}

func TestOwnProcessGroup(t *testing.T) {
	t.Parallel()
	d := newDriver(t)
	h := start(t, d, serverTask(t, "pgid", nil))
	pgid, err := syscall.Getpgid(h.PID)
	if err != nil {
		t.Fatal(err)
	}
	if pgid != h.PID || pgid == syscall.Getpgrp() {
		t.Errorf("task pgid %d, pid %d, ours %d; want the task to lead its own group", pgid, h.PID, syscall.Getpgrp())
	}
}

func TestExitsAreReportedAndReaped(t *testing.T) {
	t.Parallel()
	bin := drivertest.BuildTestServer(t)
	for _, tc := range []struct {
		name    string
		command string
		kill    bool
		want    driver.ExitStatus
	}{
		{name: "missing command", command: "/nonexistent/berth-no-such-binary", want: driver.ExitStatus{Code: 127}},
		{name: "exit code", command: "/bin/sh -c 'exit 4'", want: driver.ExitStatus{Code: 4}},
		{name: "clean exit", command: "true", want: driver.ExitStatus{Code: 0}},
		{name: "killed", command: quote(bin), kill: true, want: driver.ExitStatus{Code: 137, Signal: "SIGKILL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDriver(t)
			spec := serverTask(t, "exit", nil)
			spec.Command = tc.command
			h := start(t, d, spec)
			if tc.kill {
				waitHealthy(t, h.Addr)
				if err := syscall.Kill(h.PID, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
			if got := wait(t, d, h); got != tc.want {
				t.Errorf("Wait = %+v; want %+v", got, tc.want)
			}
			st, err := d.Inspect(t.Context(), h)
			if err != nil || st.Running || st.Exit == nil || *st.Exit != tc.want {
				t.Errorf("Inspect = %+v, %v; want exited with %+v", st, err, tc.want)
			}
			// Reaped: no zombie with the task's pid and start time is left.
			if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", h.PID)); err == nil {
				if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); f[19] == strconv.FormatUint(h.StartTime, 10) {
					t.Errorf("task %d not reaped: %s", h.PID, stat)
				}
			}
		})
	}
}

func TestArtifactRunsWithoutCommand(t *testing.T) {
	t.Parallel()
	d := newDriver(t)
	spec := serverTask(t, "artifact", nil)
	spec.Command = ""
	spec.Artifact = drivertest.BuildTestServer(t)
	h := start(t, d, spec)
	waitHealthy(t, h.Addr)
	resp, err := http.Get("http://" + h.Addr + "/env/BERTH_ARTIFACT")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != spec.Artifact {
		t.Errorf("BERTH_ARTIFACT = %q; want %q", b, spec.Artifact)
	}
	st, err := d.Inspect(t.Context(), h)
	if err != nil || !st.Running || st.MemoryBytes == 0 {
		t.Errorf("Inspect = %+v, %v; want running with memory", st, err)
	}
	if h.Driver != "process" || h.Version != 1 || filepath.Base(h.LogPath) != spec.ID+".log" {
		t.Errorf("handle %+v: want driver process, version 1, log <task-id>.log", h)
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		cfg    process.Config
		mutate func(*driver.TaskSpec)
	}{
		{"id with slash", process.Config{LogDir: t.TempDir()}, func(s *driver.TaskSpec) { s.ID = "a/b" }},
		{"nothing to run", process.Config{LogDir: t.TempDir()}, func(s *driver.TaskSpec) { s.Command = "" }},
		{"no log dir", process.Config{}, func(*driver.TaskSpec) {}},
		{"missing dir", process.Config{LogDir: t.TempDir()}, func(s *driver.TaskSpec) { s.Dir = "/nonexistent/berth" }},
		{"bad env name", process.Config{LogDir: t.TempDir()}, func(s *driver.TaskSpec) { s.Env = map[string]string{"A=B": "x"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := serverTask(t, "bad", nil)
			tc.mutate(&spec)
			h, err := process.New(tc.cfg).Start(t.Context(), spec)
			if err == nil {
				stop(t, process.New(process.Config{}), h)
				t.Fatalf("Start succeeded; want an error")
			}
		})
	}
}

func TestInvalidHandle(t *testing.T) {
	t.Parallel()
	d := newDriver(t)
	for _, h := range []driver.Handle{
		{Driver: "docker", Version: 1, PID: os.Getpid()},
		{Driver: "process", Version: 2, PID: os.Getpid()},
		{Driver: "process", Version: 1},
	} {
		if err := d.Recover(t.Context(), h); !errors.Is(err, process.ErrInvalidHandle) {
			t.Errorf("Recover(%+v) = %v; want ErrInvalidHandle", h, err)
		}
	}
}

// fakeClock is a settable clock for Config.Now.
type fakeClock struct{ now atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.now.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.now.Add(int64(d)) }

func TestExitedTasksAreForgottenAfterAWhile(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{}
	clock.now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	d := process.New(process.Config{LogDir: t.TempDir(), Now: clock.Now})
	spec := serverTask(t, "forget", map[string]string{"EXIT_CODE": "5"})
	h := start(t, d, spec)
	if st := wait(t, d, h); st.Code != 5 {
		t.Fatalf("Wait = %+v; want exit code 5", st)
	}

	clock.Advance(9 * time.Minute)
	start(t, d, serverTask(t, "forget", map[string]string{"EXIT_CODE": "0"}))
	if st := wait(t, d, h); st.Code != 5 {
		t.Fatalf("Wait after 9 minutes = %+v; want the remembered exit code 5", st)
	}

	clock.Advance(2 * time.Minute)
	start(t, d, serverTask(t, "forget", map[string]string{"EXIT_CODE": "0"}))
	if _, err := d.Wait(t.Context(), h); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Wait after 11 minutes = %v; want ErrNotFound (forgotten)", err)
	}
}
