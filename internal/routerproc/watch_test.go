package routerproc

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/router"
)

// healthBackend answers /health with 200 while healthy is set, 503
// otherwise, and its name on every other path.
func healthBackend(t *testing.T, name string, healthy *atomic.Bool) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(name))
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// nextCheck waits for the next reported check.
func nextCheck(t *testing.T, checks <-chan router.Check) router.Check {
	t.Helper()
	select {
	case c := <-checks:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no health check reported")
		return router.Check{}
	}
}

// nextChange waits for the next check that flipped the verdict.
func nextChange(t *testing.T, checks <-chan router.Check) router.Check {
	t.Helper()
	for {
		if c := nextCheck(t, checks); c.Changed {
			return c
		}
	}
}

var fastCheck = router.HealthCheck{Path: "/health", Interval: 20 * time.Millisecond, Timeout: time.Second, HealthyThreshold: 1, UnhealthyThreshold: 1}

// TestWatchReadsTheRouterProcessVerdicts: the control plane's health
// watch is served by the router process: it reports the process's checks
// in order, with their errors, and the process routes by the same verdict.
func TestWatchReadsTheRouterProcessVerdicts(t *testing.T) {
	p := startProc(t, nil, sockPath(t), false)
	var healthy atomic.Bool
	a := healthBackend(t, "a", &healthy)
	checks := make(chan router.Check, 100)
	stop := p.client.Watch(a, fastCheck, false, func(c router.Check) { checks <- c })
	defer stop()
	if c := nextCheck(t, checks); c.Up || c.Err == nil || !strings.Contains(c.Err.Error(), "Service Unavailable") {
		t.Fatalf("first check of a failing task = %+v, want down with the router's error", c)
	}
	r := route("a", "/a", a)
	r.Health = fastCheck
	p.client.Publish(table(1, r))
	if code, _ := get(t, "http://"+p.addr+"/a"); code != http.StatusServiceUnavailable {
		t.Fatalf("GET /a while the watch says down = %d, want 503", code)
	}
	healthy.Store(true)
	if c := nextChange(t, checks); !c.Up || c.Err != nil {
		t.Fatalf("change after the task passes = %+v, want up", c)
	}
	if code, body := get(t, "http://"+p.addr+"/a"); code != 200 || body != "a" {
		t.Fatalf("GET /a while the watch says up = %d %q", code, body)
	}
	healthy.Store(false)
	if c := nextChange(t, checks); c.Up || c.Err == nil {
		t.Fatalf("change after the task fails = %+v, want down with its error", c)
	}
}

// TestWatchResumesAcrossARouterRestart: a router process that is
// replaced (it died, or was handed over) loses its watches; the client
// watches again on the new one, from the last verdict, so the control
// plane sees no false flip and keeps getting checks.
func TestWatchResumesAcrossARouterRestart(t *testing.T) {
	sock := sockPath(t)
	p := startProc(t, nil, sock, false)
	var healthy atomic.Bool
	healthy.Store(true)
	a := healthBackend(t, "a", &healthy)
	checks := make(chan router.Check, 1000)
	stop := p.client.Watch(a, fastCheck, false, func(c router.Check) { checks <- c })
	defer stop()
	if c := nextChange(t, checks); !c.Up {
		t.Fatalf("change = %+v, want up", c)
	}
	p.stop()
	err := <-p.done
	p.done <- err // for the cleanup
	for len(checks) > 0 {
		<-checks
	}
	startProc(t, nil, sock, false)
	if c := nextCheck(t, checks); !c.Up || c.Changed {
		t.Fatalf("first check from the new router process = %+v, want up and unchanged", c)
	}
	healthy.Store(false)
	if c := nextChange(t, checks); c.Up {
		t.Fatalf("change after the task fails = %+v, want down", c)
	}
}

// TestWatchDoesNotHoldTheRouterProcessStop: a stopping router process
// ends its watch streams instead of waiting for its control socket's
// shutdown timeout.
func TestWatchDoesNotHoldTheRouterProcessStop(t *testing.T) {
	p := startProc(t, nil, sockPath(t), false)
	var healthy atomic.Bool
	healthy.Store(true)
	a := healthBackend(t, "a", &healthy)
	checks := make(chan router.Check, 1000)
	stop := p.client.Watch(a, fastCheck, true, func(c router.Check) { checks <- c })
	defer stop()
	nextCheck(t, checks) // the stream is open
	p.stop()
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
	case <-time.After(4 * time.Second):
		t.Fatal("the router process did not stop within 4s: a watch stream held its control socket")
	}
}

// TestCloseEndsWatches: a closed client (the control plane went away)
// holds no watch open on the router process.
func TestCloseEndsWatches(t *testing.T) {
	p := startProc(t, nil, sockPath(t), false)
	var healthy atomic.Bool
	healthy.Store(true)
	a := healthBackend(t, "a", &healthy)
	c := NewClient(p.client.Socket(), nil)
	checks := make(chan router.Check, 1000)
	stop := c.Watch(a, fastCheck, true, func(ch router.Check) { checks <- ch })
	defer stop()
	nextCheck(t, checks) // the stream is open
	c.Close()
	p.stop()
	err := <-p.done
	p.done <- err
	for len(checks) > 0 {
		<-checks
	}
	// A watch still open would be made again on the new process and
	// report within a few check intervals.
	startProc(t, nil, p.client.Socket(), false)
	select {
	case ch := <-checks:
		t.Fatalf("a closed client still watches: %+v", ch)
	case <-time.After(500 * time.Millisecond):
	}
}
