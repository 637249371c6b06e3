package cli

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/driver/drivertest"
	"github.com/berth-dev/berth/internal/engine/local"
)

// upSpec writes a spec whose service broken fails to build and whose
// service good builds and runs the test server.
func upSpec(t *testing.T) string {
	t.Helper()
	bin := drivertest.BuildTestServer(t)
	dir := t.TempDir()
	sp := filepath.Join(dir, "berth.yaml")
	writeFile(t, sp, `project: up
engine: process
services:
  broken:
    build: echo "compiler says no" >&2; exit 3
    run: $BERTH_ARTIFACT
  good:
    build: cp `+bin+` $BERTH_ARTIFACT
    run: $BERTH_ARTIFACT
`)
	return sp
}

// watched is an output that tells when a line containing a string appears.
type watched struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func newWatched(want string) *watched { return &watched{want: want, seen: make(chan struct{})} }

func (w *watched) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func (w *watched) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestUpFailsFast: when a service's build fails, up names it and the
// cause, starts nothing else, stops, and exits 1.
func TestUpFailsFast(t *testing.T) {
	t.Setenv("BERTH_API", "")
	sp := upSpec(t)
	state := t.TempDir()
	stdout, stderr := newWatched("press Ctrl-C"), newWatched("")
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"-f", sp, "--state", state, "up", "--listen", "127.0.0.1:0"}, stdout, stderr)
	}()
	var code int
	select {
	case code = <-done:
	case <-stdout.seen:
		_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
		<-done
		t.Fatalf("up kept running with a service that did not build\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	case <-time.After(2 * time.Minute):
		t.Fatalf("up neither failed nor served\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	if code != exitFailed {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailed, stdout, stderr)
	}
	errOut := stderr.String()
	for _, want := range []string{"broken", "compiler says no", "every task was stopped"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not mention %q:\n%s", want, errOut)
		}
	}
	if out := stdout.String(); strings.Contains(out, "press Ctrl-C") || !strings.Contains(out, "stopped") {
		t.Errorf("up kept running or did not stop:\n%s", out)
	}
}

// TestUpKeepGoing: with --keep-going the service that builds runs, up
// names the one that is not running and stays up until told to stop.
func TestUpKeepGoing(t *testing.T) {
	t.Setenv("BERTH_API", "")
	sp := upSpec(t)
	state := t.TempDir()
	stdout := newWatched("press Ctrl-C")
	stderr := newWatched("NOT RUNNING")
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"-f", sp, "--state", state, "up", "--keep-going", "--listen", "127.0.0.1:0"}, stdout, stderr)
	}()
	select {
	case <-stdout.seen:
	case code := <-done:
		t.Fatalf("up exited %d before serving\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	case <-time.After(2 * time.Minute):
		t.Fatalf("up never said it serves\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	if !strings.Contains(stderr.String(), "NOT RUNNING: broken") || !strings.Contains(stderr.String(), "compiler says no") {
		t.Errorf("stderr does not name the service that is not running:\n%s", stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := local.New("unix://"+filepath.Join(state, "berth.sock"), "")
	st, err := e.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	healthy := map[string]int{}
	for _, s := range st.Services {
		healthy[s.Name] = s.Healthy
	}
	if healthy["good"] != 1 || healthy["broken"] != 0 {
		t.Errorf("healthy tasks %v, want good 1 and broken 0", healthy)
	}
	// up prints the dashboard's URL, and the page is there.
	m := regexp.MustCompile(`dashboard: (http://127\.0\.0\.1:\d+/ui/)`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Errorf("up printed no dashboard URL:\n%s", stdout)
	} else if resp, err := http.Get(m[1]); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET %s: %v %v", m[1], resp, err)
	} else {
		resp.Body.Close()
	}
	// Ctrl-C: up holds the signal (signal.NotifyContext) while it serves.
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("up exited %d after Ctrl-C\nstderr:\n%s", code, stderr)
		}
	case <-ctx.Done():
		t.Fatal("up did not stop after Ctrl-C")
	}
}

// TestUpStopsWhatItStarted: when one service's first deployment fails
// (its tasks crash) while another came up, up names the failed one, stops
// the running one's tasks and exits 1.
func TestUpStopsWhatItStarted(t *testing.T) {
	t.Setenv("BERTH_API", "")
	bin := drivertest.BuildTestServer(t)
	sp := filepath.Join(t.TempDir(), "berth.yaml")
	writeFile(t, sp, `project: up
engine: process
services:
  good:
    run: `+bin+`
  crashing:
    run: echo "no config" >&2; exit 1
    depends_on: [good]
`)
	stdout, stderr := newWatched("press Ctrl-C"), newWatched("")
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"-f", sp, "--state", t.TempDir(), "up", "--listen", "127.0.0.1:0"}, stdout, stderr)
	}()
	var code int
	select {
	case code = <-done:
	case <-stdout.seen:
		_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
		<-done
		t.Fatalf("up kept running with a service whose deployment failed\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	case <-time.After(3 * time.Minute):
		t.Fatalf("up neither failed nor served\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	if code != exitFailed || !strings.Contains(stderr.String(), "crashing: failed") {
		t.Fatalf("exit %d, want %d naming crashing\nstdout:\n%s\nstderr:\n%s", code, exitFailed, stdout, stderr)
	}
	m := regexp.MustCompile(`started task good-\S+ \(release 1\) at (127\.0\.0\.1:\d+)`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("good never started:\n%s", stdout)
	}
	if c, err := net.DialTimeout("tcp", m[1], time.Second); err == nil {
		c.Close()
		t.Errorf("good's task still listens on %s after up exited", m[1])
	}
}
