package control_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/control"
	"github.com/berth-dev/berth/internal/deploy"
	"github.com/berth-dev/berth/internal/driver/process"
	"github.com/berth-dev/berth/internal/release"
	"github.com/berth-dev/berth/internal/router"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// catalogBin is the shop's catalog service, built once by TestMain: a real
// HTTP service with fault knobs (CHAOS_*) to run as the tasks under test.
var catalogBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-control-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	catalogBin = filepath.Join(dir, "catalog")
	cmd := exec.Command("go", "build", "-o", catalogBin, "../../examples/shop/services/catalog")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the catalog service: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// progPlane is a control plane over real things — a SQLite store, berth's
// router serving on loopback and the process driver — that can be crashed
// (Detach) and started again on the same store and router, as `berth serve`
// restarting would.
type progPlane struct {
	t      *testing.T
	dir    string
	st     *store.Store
	rt     *router.Router
	url    string // the router's base URL
	logDir string
	marker string // an env value carried by every task of this plane
	srv    *control.Server
}

// progService is the catalog service; %[1]s is the binary, %[2]s the
// deploy: block (indented 6), %[3]s the marker, %[4]s extra env lines.
const progService = `project: prog
services:
  catalog:
    run: %[1]s
    route: {path: /catalog}
    count: 2
    health: {path: /health, interval: 100ms, deadline: 20s}
    deploy:
      drain: 3s
%[2]s
    env:
      SHOP_HOST: 127.0.0.1
      SHOP_DRAIN: 3s
      PROG_MARKER: %[3]s
%[4]s`

func newProgPlane(t *testing.T) *progPlane {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	rt := router.New(router.Config{Logger: quiet})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, stopServe := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = rt.Serve(serveCtx, ln)
	}()
	p := &progPlane{
		t: t, dir: dir, st: st, rt: rt, url: "http://" + ln.Addr().String(),
		logDir: filepath.Join(dir, "logs"),
		marker: fmt.Sprintf("prog-%d-%d", os.Getpid(), time.Now().UnixNano()),
	}
	p.srv = p.startServer()
	t.Cleanup(func() {
		if t.Failed() {
			p.dumpEvents()
		}
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = p.srv.Shutdown(sctx)
		stopServe()
		<-served
		_ = rt.Close()
		_ = st.Close()
		// Never leave a task behind, whatever the test did.
		for _, pid := range p.taskPIDs() {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	})
	return p
}

// startServer starts a new control plane, with a new driver, on the
// plane's store and router.
func (p *progPlane) startServer() *control.Server {
	p.t.Helper()
	srv := control.New(control.Config{
		Project: "prog", Store: p.st, Router: p.rt, RouterURL: p.url, LogDir: p.logDir,
		Driver: process.New(process.Config{LogDir: p.logDir}),
		Logger: slog.New(slog.DiscardHandler), Engine: "process",
	})
	if err := srv.Start(context.Background()); err != nil {
		p.t.Fatalf("start control plane: %v", err)
	}
	return srv
}

// restart crashes the control plane (its loops stop, its tasks keep
// running) and starts a new one on the same store and router. It returns
// the tasks the old one had started and those the new one adopted.
func (p *progPlane) restart() (before, after []api.Task) {
	p.t.Helper()
	p.srv.Detach()
	for _, task := range p.tasks() {
		if task.Addr != "" {
			before = append(before, task)
		}
	}
	p.srv = p.startServer()
	return before, p.tasks()
}

// deploy starts a deployment of a new catalog release with the given
// deploy: lines (indented 6) and extra env lines (indented 6).
func (p *progPlane) deploy(deployLines, envLines string) api.Deployment {
	p.t.Helper()
	yaml := fmt.Sprintf(progService, catalogBin, deployLines, p.marker, envLines)
	path := filepath.Join(p.dir, "berth.yaml")
	sp, err := spec.Parse(path, []byte(yaml))
	if err != nil {
		p.t.Fatalf("parse spec: %v\n%s", err, yaml)
	}
	raw, err := release.ForArtifact(sp, sp.Services["catalog"]).Encode()
	if err != nil {
		p.t.Fatal(err)
	}
	resp, err := p.srv.Deploy(context.Background(), api.DeployRequest{Commit: "c0ffee", Force: true,
		Releases: []api.ReleaseSpec{{Service: "catalog", Commit: "c0ffee", Config: raw, Fingerprint: fmt.Sprint(time.Now().UnixNano())}}})
	if err != nil {
		p.t.Fatalf("deploy: %v", err)
	}
	if len(resp.Deployments) != 1 {
		p.t.Fatalf("deploy started %d deployments, want 1", len(resp.Deployments))
	}
	return resp.Deployments[0]
}

// deployStable deploys release 1 (a first deployment rolls) and waits
// for it to serve.
func (p *progPlane) deployStable() {
	p.t.Helper()
	d := p.deploy("      strategy: rolling", "")
	if got := p.waitFinished(d.ID, 30*time.Second); got.State != store.DeploySucceeded {
		p.t.Fatalf("stable release: %s: %s", got.State, got.Reason)
	}
}

// deployment returns the deployment as the current control plane reports it.
func (p *progPlane) deployment(id string) api.Deployment {
	p.t.Helper()
	d, err := p.srv.Deployment(context.Background(), id)
	if err != nil {
		p.t.Fatal(err)
	}
	return d
}

// progress decodes a deployment's stored progress.
func progressOf(t *testing.T, d api.Deployment) deploy.Progress {
	t.Helper()
	var pr deploy.Progress
	if len(d.Progress) > 0 {
		if err := json.Unmarshal(d.Progress, &pr); err != nil {
			t.Fatalf("decode progress of deployment %s: %v", d.ID, err)
		}
	}
	return pr
}

// waitDeployment polls a deployment until cond holds or d passes.
func (p *progPlane) waitDeployment(id string, what string, d time.Duration, cond func(api.Deployment) bool) api.Deployment {
	p.t.Helper()
	var got api.Deployment
	waitUntil(p.t, what, d, p.srv, func() bool {
		got = p.deployment(id)
		return cond(got)
	})
	return got
}

// waitFinished waits for a deployment to end, whatever its outcome.
func (p *progPlane) waitFinished(id string, d time.Duration) api.Deployment {
	p.t.Helper()
	return p.waitDeployment(id, fmt.Sprintf("deployment %s to finish", id), d, api.Deployment.Finished)
}

// finishPromoting waits for a deployment to end, promoting it whenever it
// waits at a gate.
func (p *progPlane) finishPromoting(id string, d time.Duration) api.Deployment {
	p.t.Helper()
	return p.waitDeployment(id, fmt.Sprintf("deployment %s to finish", id), d, func(got api.Deployment) bool {
		if !got.Finished() && got.Phase == deploy.PhaseGate {
			if err := p.srv.Promote(context.Background(), "catalog"); err != nil {
				p.t.Errorf("promote at the gate: %v", err)
			}
		}
		return got.Finished()
	})
}

// tasks returns the catalog's tasks as the control plane sees them.
func (p *progPlane) tasks() []api.Task {
	for _, s := range p.srv.Status(context.Background()).Services {
		if s.Name == "catalog" {
			return s.Tasks
		}
	}
	return nil
}

// taskPIDs lists the live processes that carry the plane's marker.
func (p *progPlane) taskPIDs() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !bytes.Contains(env, []byte("PROG_MARKER="+p.marker+"\x00")) || zombie(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// taskIDsRunning returns the BERTH_TASK of every live process of the plane.
func (p *progPlane) taskIDsRunning() []string {
	var ids []string
	for _, pid := range p.taskPIDs() {
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		for _, kv := range bytes.Split(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("BERTH_TASK=")); ok {
				ids = append(ids, string(v))
			}
		}
	}
	sort.Strings(ids)
	return ids
}

func zombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// dumpEvents logs the plane's event stream, to explain a failure.
func (p *progPlane) dumpEvents() {
	evs, err := p.st.Events(context.Background(), store.EventQuery{})
	if err != nil {
		p.t.Logf("read events: %v", err)
		return
	}
	for _, e := range evs {
		p.t.Logf("event %s %-18s %s", e.Time.Format("15:04:05.000"), e.Kind, e.Message)
	}
}

// waker tells waiters that something changed: the control plane's event
// broadcaster, or a load generator's.
type waker interface {
	Subscribe() (<-chan struct{}, func())
}

// waitUntil checks cond each time w says something changed (an event was
// recorded, a request finished), failing the test after d. No sleeping:
// the real processes and the real clock of these tests change state on
// their own, and every change of interest is announced. A slow tick backs
// the announcements up, so a change that is announced before it is
// visible (a process exiting just after its event) is still seen.
func waitUntil(t *testing.T, what string, d time.Duration, w waker, cond func() bool) {
	t.Helper()
	wake, unsub := w.Subscribe()
	defer unsub()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-wake:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
	}
}

// progLoad sends requests through the router until halted and records
// every one: when it started and ended, its status and which release
// answered.
type progLoad struct {
	mu   sync.Mutex
	reqs []progReq
	// done announces each recorded request to waitMore.
	done *announcer
	stop chan struct{}
	wg   sync.WaitGroup
}

type progReq struct {
	start, end time.Time
	status     int    // 0 for a transport error
	release    string // from the catalog's answer
	err        string
}

func (r progReq) failed() bool { return r.status/100 != 2 }

// startProgLoad runs workers clients against url until halted (at the
// latest when the test ends).
func startProgLoad(t *testing.T, url string, workers int) *progLoad {
	l := &progLoad{stop: make(chan struct{}), done: &announcer{}}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				r := progReq{start: time.Now()}
				resp, err := client.Get(url)
				if err != nil {
					r.end, r.err = time.Now(), err.Error()
				} else {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					r.end, r.status = time.Now(), resp.StatusCode
					var items struct {
						Release string `json:"release"`
					}
					if json.Unmarshal(body, &items) == nil {
						r.release = items.Release
					}
					if r.failed() {
						r.err = strings.TrimSpace(string(body))
					}
				}
				l.mu.Lock()
				l.reqs = append(l.reqs, r)
				l.mu.Unlock()
				l.done.announce()
			}
		}()
	}
	t.Cleanup(l.halt)
	return l
}

func (l *progLoad) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

func (l *progLoad) results() []progReq {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]progReq(nil), l.reqs...)
}

// startedAfter counts the requests that started after at.
func (l *progLoad) startedAfter(at time.Time) int {
	n := 0
	for _, r := range l.results() {
		if r.start.After(at) {
			n++
		}
	}
	return n
}

// waitMore waits until n requests have started after at, so what happens
// after a moment is observed under load.
func (l *progLoad) waitMore(t *testing.T, at time.Time, n int) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%d requests after %s", n, at.Format("15:04:05.000")), 10*time.Second, l.done,
		func() bool { return l.startedAfter(at) >= n })
}

// checkNoFailures halts the load and fails the test if any request failed
// or none was made.
func (l *progLoad) checkNoFailures(t *testing.T) {
	t.Helper()
	l.halt()
	rs := l.results()
	var failed []string
	for _, r := range rs {
		if r.failed() {
			failed = append(failed, fmt.Sprintf("%s %d %s", r.start.Format("15:04:05.000"), r.status, r.err))
		}
	}
	if len(failed) > 0 {
		t.Errorf("%d of %d requests failed; first: %v", len(failed), len(rs), failed[:min(len(failed), 5)])
	}
	if len(rs) == 0 {
		t.Error("the load made no request")
	}
}

// checkServedBy fails the test unless every request that started after at
// was answered by release rel.
func (l *progLoad) checkServedBy(t *testing.T, at time.Time, rel string) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range l.results() {
		if r.start.After(at) {
			seen[r.release]++
		}
	}
	for got, n := range seen {
		if got != rel {
			t.Errorf("after %s, %d requests were answered by release %q, want only %q (saw %v)",
				at.Format("15:04:05.000"), n, got, rel, seen)
		}
	}
}

// announcer wakes its subscribers (without blocking) on each announce.
type announcer struct {
	mu   sync.Mutex
	subs map[chan struct{}]bool
}

// Subscribe returns a channel woken by announce, and its cancel.
func (a *announcer) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	a.mu.Lock()
	if a.subs == nil {
		a.subs = map[chan struct{}]bool{}
	}
	a.subs[ch] = true
	a.mu.Unlock()
	return ch, func() {
		a.mu.Lock()
		delete(a.subs, ch)
		a.mu.Unlock()
	}
}

func (a *announcer) announce() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for ch := range a.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
