package drivertest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/driver"
)

// Harness adapts a driver to the suite.
type Harness struct {
	// New returns a fresh driver instance. The suite calls it once per
	// case, and again to play a restarted control plane, which must be able
	// to Recover the first instance's tasks.
	New func(t *testing.T) driver.Driver
	// Task returns a spec running the test server (see BuildTestServer)
	// with env added to its environment. name is unique within one Run and
	// usable in ids; the spec's ID must be unique too. The server must be
	// reachable on the handle's Addr (a container harness sets HOST=0.0.0.0
	// in the environment).
	Task func(t *testing.T, name string, env map[string]string) driver.TaskSpec
	// Stale returns a handle that points at the same running task as h but
	// under a stale identity (process: same pid, another start time), as a
	// handle of an earlier task whose pid or id got reused would. The driver
	// must treat it as gone and never touch the running task through it.
	Stale func(h driver.Handle) driver.Handle
	// Timeout bounds each wait of the suite (task healthy, stop, logs
	// appearing); 0 means 20s.
	Timeout time.Duration
}

// leakCanary is set in the test process's environment; no task may see it.
const leakCanary = "BERTH_DRIVERTEST_LEAK_CANARY"

// Run runs the conformance suite against the harness's driver. The test
// calling it must not be parallel (one case sets an environment variable).
func Run(t *testing.T, h Harness) {
	if h.Timeout == 0 {
		h.Timeout = 20 * time.Second
	}
	s := &suite{h: h}
	// Sequential first: it uses t.Setenv.
	t.Run("Environment", s.environment)
	for _, c := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"StartServesHTTP", s.startServesHTTP},
		{"ExitCode", s.exitCode},
		{"GracefulStop", s.gracefulStop},
		{"StopKillsAfterGrace", s.stopKillsAfterGrace},
		{"RecoverWithFreshDriver", s.recoverWithFreshDriver},
		{"StaleHandle", s.staleHandle},
		{"Logs", s.logs},
		{"LogsFollow", s.logsFollow},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t)
		})
	}
}

type suite struct{ h Harness }

// ctx returns a context bounded by the suite's timeout.
func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), s.h.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// start starts a task and makes sure it is killed when the test ends.
func (s *suite) start(t *testing.T, d driver.Driver, name string, env map[string]string) (driver.TaskSpec, driver.Handle) {
	t.Helper()
	spec := s.h.Task(t, name, env)
	h, err := d.Start(s.ctx(t), spec)
	if err != nil {
		t.Fatalf("Start(%s): %v", spec.ID, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
		defer cancel()
		if err := d.Stop(ctx, h, 0); err != nil {
			t.Errorf("cleanup: Stop(%s): %v", h.TaskID, err)
		}
	})
	return spec, h
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// get fetches http://addr/path and returns status and body.
func get(ctx context.Context, addr, path string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitHealthy polls GET /health with a short backoff until it answers 200.
func (s *suite) waitHealthy(t *testing.T, h driver.Handle) {
	t.Helper()
	ctx := s.ctx(t)
	backoff := 5 * time.Millisecond
	for {
		code, _, err := get(ctx, h.Addr, "/health")
		if err == nil && code == http.StatusOK {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("task %s not healthy on %s within %v: last status %d, error %v", h.TaskID, h.Addr, s.h.Timeout, code, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 200*time.Millisecond)
	}
}

// waitExit waits for the task to exit, failing the test on error.
func (s *suite) waitExit(t *testing.T, d driver.Driver, h driver.Handle) driver.ExitStatus {
	t.Helper()
	st, err := d.Wait(s.ctx(t), h)
	if err != nil {
		t.Fatalf("Wait(%s): %v", h.TaskID, err)
	}
	return st
}

// assertNotRunning checks Inspect reports the task gone or exited.
func (s *suite) assertNotRunning(t *testing.T, d driver.Driver, h driver.Handle) {
	t.Helper()
	st, err := d.Inspect(s.ctx(t), h)
	switch {
	case errors.Is(err, driver.ErrNotFound):
	case err != nil:
		t.Errorf("Inspect(%s) after exit: %v", h.TaskID, err)
	case st.Running:
		t.Errorf("Inspect(%s) after exit: still running", h.TaskID)
	}
}

func (s *suite) startServesHTTP(t *testing.T) {
	d := s.h.New(t)
	_, h := s.start(t, d, "serve", nil)
	if h.Driver != d.Name() || h.Addr == "" || h.TaskID == "" {
		t.Errorf("handle %+v: want Driver %q, an Addr and a TaskID", h, d.Name())
	}
	s.waitHealthy(t, h)
	st, err := d.Inspect(s.ctx(t), h)
	if err != nil || !st.Running || st.Exit != nil {
		t.Errorf("Inspect = %+v, %v; want running", st, err)
	}
}

func (s *suite) environment(t *testing.T) {
	t.Setenv(leakCanary, "leaked")
	d := s.h.New(t)
	spec, h := s.start(t, d, "env", map[string]string{"GREETING": "hello world", "SECRET_TOKEN": "s3cr3t"})
	s.waitHealthy(t, h)
	want := map[string]string{
		"GREETING":      "hello world",
		"SECRET_TOKEN":  "s3cr3t",
		"BERTH_SERVICE": spec.Service,
		"BERTH_RELEASE": strconv.Itoa(spec.Release),
		"BERTH_TASK":    spec.ID,
	}
	if spec.Commit != "" {
		want["BERTH_COMMIT"] = spec.Commit
	}
	ctx := s.ctx(t)
	for name, v := range want {
		code, body, err := get(ctx, h.Addr, "/env/"+name)
		if err != nil || code != http.StatusOK || body != v {
			t.Errorf("env %s = %d %q, %v; want %q", name, code, body, err, v)
		}
	}
	code, body, err := get(ctx, h.Addr, "/env/PORT")
	if _, perr := strconv.Atoi(body); err != nil || code != http.StatusOK || perr != nil {
		t.Errorf("env PORT = %d %q, %v; want a port number", code, body, err)
	}
	code, body, err = get(ctx, h.Addr, "/env/"+leakCanary)
	if err != nil || code != http.StatusNotFound {
		t.Errorf("parent's %s reached the task: %d %q, %v", leakCanary, code, body, err)
	}
}

func (s *suite) exitCode(t *testing.T) {
	d := s.h.New(t)
	_, h := s.start(t, d, "exit", map[string]string{"EXIT_CODE": "3"})
	st := s.waitExit(t, d, h)
	if st.Code != 3 || st.Signal != "" {
		t.Errorf("Wait = %+v (%s); want exit code 3", st, st)
	}
	s.assertNotRunning(t, d, h)
}

func (s *suite) gracefulStop(t *testing.T) {
	d := s.h.New(t)
	_, h := s.start(t, d, "graceful", nil)
	s.waitHealthy(t, h)
	ctx := s.ctx(t)

	// A request in flight when SIGTERM arrives must complete.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+h.Addr+"/sleep?d=300ms", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req) // returns once the headers arrived
	if err != nil {
		t.Fatalf("start in-flight request: %v", err)
	}
	defer resp.Body.Close()

	waited := make(chan driver.ExitStatus, 1)
	go func() {
		st, _ := d.Wait(ctx, h)
		waited <- st
	}()
	if err := d.Stop(ctx, h, s.h.Timeout); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != "done" {
		t.Errorf("in-flight request during graceful stop: %q, %v; want \"done\"", body, err)
	}
	if st := s.waitExit(t, d, h); st.Code != 0 || st.Signal != "" {
		t.Errorf("Wait after graceful stop = %+v (%s); want exit code 0", st, st)
	}
	select {
	case st := <-waited:
		if st.Code != 0 {
			t.Errorf("concurrent Wait = %+v; want exit code 0", st)
		}
	case <-ctx.Done():
		t.Fatal("a concurrent Wait did not return after Stop")
	}
	if err := d.Stop(ctx, h, time.Second); err != nil {
		t.Errorf("Stop of a stopped task: %v; want nil", err)
	}
	s.assertNotRunning(t, d, h)
}

func (s *suite) stopKillsAfterGrace(t *testing.T) {
	d := s.h.New(t)
	_, h := s.start(t, d, "stubborn", map[string]string{"IGNORE_TERM": "1"})
	s.waitHealthy(t, h)
	const grace = 300 * time.Millisecond
	began := time.Now()
	if err := d.Stop(s.ctx(t), h, grace); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(began); took < grace {
		t.Errorf("Stop of a SIGTERM-ignoring task returned after %v; want at least the grace %v", took, grace)
	}
	if st := s.waitExit(t, d, h); st.Signal != "SIGKILL" && st.Code != 137 {
		t.Errorf("Wait = %+v (%s); want killed by SIGKILL", st, st)
	}
	s.assertNotRunning(t, d, h)
}

func (s *suite) recoverWithFreshDriver(t *testing.T) {
	first := s.h.New(t)
	_, h := s.start(t, first, "recover", nil)
	s.waitHealthy(t, h)
	ctx := s.ctx(t)

	restarted := s.h.New(t)
	if err := restarted.Recover(ctx, h); err != nil {
		t.Fatalf("Recover with a fresh driver: %v", err)
	}
	if err := restarted.Recover(ctx, h); err != nil {
		t.Fatalf("second Recover: %v", err)
	}
	if st, err := restarted.Inspect(ctx, h); err != nil || !st.Running {
		t.Errorf("Inspect after Recover = %+v, %v; want running", st, err)
	}
	waited := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := restarted.Wait(ctx, h)
			waited <- err
		}()
	}
	if err := restarted.Stop(ctx, h, s.h.Timeout); err != nil {
		t.Fatalf("Stop after Recover: %v", err)
	}
	for range 2 {
		select {
		case err := <-waited:
			if err != nil {
				t.Errorf("Wait on a recovered task: %v", err)
			}
		case <-ctx.Done():
			t.Fatal("Wait on a recovered task did not return after Stop")
		}
	}
	if _, _, err := get(ctx, h.Addr, "/health"); err == nil {
		t.Errorf("task still answers on %s after Stop", h.Addr)
	}
	again := s.h.New(t)
	if err := again.Recover(ctx, h); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Recover of a stopped task = %v; want ErrNotFound", err)
	}
	if _, err := again.Inspect(ctx, h); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Inspect of a stopped task by a fresh driver = %v; want ErrNotFound", err)
	}
}

func (s *suite) staleHandle(t *testing.T) {
	d := s.h.New(t)
	_, h := s.start(t, d, "stale", nil)
	s.waitHealthy(t, h)
	stale := s.h.Stale(h)
	ctx := s.ctx(t)
	for _, dr := range []struct {
		name string
		d    driver.Driver
	}{{"fresh driver", s.h.New(t)}, {"starting driver", d}} {
		if err := dr.d.Recover(ctx, stale); !errors.Is(err, driver.ErrNotFound) {
			t.Errorf("%s: Recover(stale) = %v; want ErrNotFound", dr.name, err)
		}
		if _, err := dr.d.Inspect(ctx, stale); !errors.Is(err, driver.ErrNotFound) {
			t.Errorf("%s: Inspect(stale) = %v; want ErrNotFound", dr.name, err)
		}
		if _, err := dr.d.Wait(ctx, stale); !errors.Is(err, driver.ErrNotFound) {
			t.Errorf("%s: Wait(stale) = %v; want ErrNotFound", dr.name, err)
		}
		if err := dr.d.Stop(ctx, stale, 0); err != nil {
			t.Errorf("%s: Stop(stale) = %v; want nil (gone is not an error)", dr.name, err)
		}
	}
	// The real task was never signalled.
	if code, _, err := get(ctx, h.Addr, "/health"); err != nil || code != http.StatusOK {
		t.Errorf("task behind a stale handle was disturbed: %d, %v", code, err)
	}
	if st, err := d.Inspect(ctx, h); err != nil || !st.Running {
		t.Errorf("Inspect(real handle) = %+v, %v; want running", st, err)
	}
}

// readLogs returns the task's logs with the given tail.
func readLogs(ctx context.Context, d driver.Driver, h driver.Handle, tail int) (string, error) {
	rc, err := d.Logs(ctx, h, driver.LogOptions{Tail: tail})
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

func (s *suite) logs(t *testing.T) {
	d := s.h.New(t)
	_, h := s.start(t, d, "logs", map[string]string{"LOG_LINES": "5"})
	s.waitHealthy(t, h)
	ctx := s.ctx(t)

	// Log shipping may lag behind the process (docker); wait for the last line.
	var all string
	for backoff := 5 * time.Millisecond; ; backoff = min(backoff*2, 200*time.Millisecond) {
		var err error
		if all, err = readLogs(ctx, d, h, 0); err != nil {
			t.Fatalf("Logs: %v", err)
		}
		if strings.Contains(all, "testserver: listening on") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("log line \"testserver: listening on\" not seen within %v; logs: %q", s.h.Timeout, all)
		case <-time.After(backoff):
		}
	}
	for _, want := range []string{"testserver: stderr line\n", "line 1\n", "line 5\n"} {
		if !strings.Contains(all, want) {
			t.Errorf("logs lack %q (stdout and stderr must both be captured); logs: %q", want, all)
		}
	}
	tail, err := readLogs(ctx, d, h, 2)
	if err != nil {
		t.Fatalf("Logs(Tail 2): %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(tail, "\n"), "\n")
	if len(lines) != 2 || lines[0] != "line 5" || !strings.HasPrefix(lines[1], "testserver: listening on") {
		t.Errorf("Logs(Tail 2) = %q; want \"line 5\" and the listening line", tail)
	}
}

func (s *suite) logsFollow(t *testing.T) {
	d := s.h.New(t)
	_, h := s.start(t, d, "follow", nil)
	s.waitHealthy(t, h)
	ctx := s.ctx(t)
	followCtx, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	rc, err := d.Logs(followCtx, h, driver.LogOptions{Follow: true, Tail: 1})
	if err != nil {
		t.Fatalf("Logs(Follow): %v", err)
	}
	defer rc.Close()

	marker := fmt.Sprintf("follow-marker-%d", time.Now().UnixNano())
	if code, _, err := get(ctx, h.Addr, "/log?msg="+marker); err != nil || code != http.StatusOK {
		t.Fatalf("GET /log: %d, %v", code, err)
	}
	found := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			if strings.Contains(sc.Text(), marker) {
				found <- true
				_, _ = io.Copy(io.Discard, rc) // until the follow ends
				close(found)
				return
			}
		}
		found <- false
		close(found)
	}()
	select {
	case ok := <-found:
		if !ok {
			t.Fatalf("follow stream ended before the line %q appeared", marker)
		}
	case <-ctx.Done():
		t.Fatalf("line %q written after Logs(Follow) not streamed within %v", marker, s.h.Timeout)
	}
	stopFollowing()
	select {
	case <-found: // closed once the stream ended
	case <-ctx.Done():
		t.Fatal("follow stream did not end when its context was cancelled")
	}
}
