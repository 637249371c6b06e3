// Command heal measures how fast berth heals a service under load.
//
// It runs berth's control plane in-process over real things — a SQLite
// store, berth's router on loopback (the one health prober, as under berth
// serve), the process driver running the shop's catalog service with 2
// tasks — puts the service under continuous load through the router and,
// -runs times each (every run on a fresh deploy, so the restart budget and
// backoff start afresh):
//
//   - kill: SIGKILL one task; it measures death → replacement started and
//     death → replacement routable, the replacement's own start time
//     (started → healthy), and the requests that failed meanwhile. Target:
//     death → routable ≤ 1 s + the start time.
//   - hang: SIGSTOP one task (process alive, health failing); it measures,
//     from the router's own checks of that task, its first failed check →
//     the failing verdict (the unhealthy-th failure, when the router stops
//     routing to it) and first failed check → the last request sent to it,
//     then freeze → replacement healthy, and the requests that failed.
//     Target: first failed check → no traffic ≤ one health interval.
//
// It prints every run, min / median / max, and each median's ratio to its
// target (≤ 1.00 meets it).
//
//	go run ./bench/heal                     # 5 runs each, interval 1s, timeout 500ms, unhealthy 2
//	go run ./bench/heal -runs 10 -interval 500ms -unhealthy 3
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/berth-dev/berth/bench/internal/loadgen"
	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/control"
	"github.com/berth-dev/berth/internal/driver/process"
	"github.com/berth-dev/berth/internal/release"
	"github.com/berth-dev/berth/internal/router"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

func main() {
	var o opts
	flag.IntVar(&o.runs, "runs", 5, "kills and hangs to measure (each)")
	flag.IntVar(&o.rps, "rps", 200, "requests per second sent through the router (open loop: each on its own)")
	flag.DurationVar(&o.interval, "interval", time.Second, "health check interval")
	flag.DurationVar(&o.timeout, "timeout", 500*time.Millisecond, "health check timeout")
	flag.IntVar(&o.unhealthy, "unhealthy", 2, "failed checks in a row that make a task unhealthy")
	flag.BoolVar(&o.verbose, "v", false, "log the control plane's warnings to stderr")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/heal:", err)
		os.Exit(1)
	}
}

type opts struct {
	runs, rps, unhealthy int
	interval, timeout    time.Duration
	verbose              bool
}

// serviceSpec is the catalog, 2 tasks; %[1]s is the binary, %[2]s the
// health interval, %[3]s its timeout, %[4]d unhealthy, %[5]d a counter
// making every deploy a new release.
const serviceSpec = `project: bench
services:
  catalog:
    run: %[1]s
    route: {path: /catalog}
    count: 2
    health: {path: /health, interval: %[2]s, timeout: %[3]s, unhealthy: %[4]d}
    heal: {max_restarts: 100, window: 10m}
    deploy: {drain: 2s}
    env:
      SHOP_HOST: 127.0.0.1
      SHOP_DRAIN: 2s
      BENCH_N: "%[5]d"
`

func run(o opts) error {
	dir, err := os.MkdirTemp("", "berth-bench-heal-")
	if err != nil {
		return fmt.Errorf("make temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "catalog")
	build := exec.Command("go", "build", "-o", bin, "github.com/berth-dev/berth/examples/shop/services/catalog")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the catalog service: %w\n%s", err, out)
	}
	pl, err := startPlane(dir, o.verbose)
	if err != nil {
		return err
	}
	defer pl.close()
	ctx := context.Background()
	if err := pl.redeploy(ctx, bin, o); err != nil {
		return err
	}
	l := loadgen.OpenLoop(pl.url+"/catalog/items", o.rps)
	defer l.Halt()
	fmt.Printf("catalog ×2 under load (%d requests/s through berth's router); health every %s, timeout %s, unhealthy after %d\n\n",
		o.rps, o.interval, o.timeout, o.unhealthy)

	var kills []killSample
	for i := range o.runs {
		if err := pl.redeploy(ctx, bin, o); err != nil {
			return err
		}
		s, err := pl.kill(ctx, l)
		if err != nil {
			return fmt.Errorf("kill run %d: %w", i+1, err)
		}
		fmt.Printf("kill %d: started after %-7s routable after %-7s (its start %-7s) failed %d of %d\n",
			i+1, ms(s.started), ms(s.routable), ms(s.startTime), s.failed, s.total)
		kills = append(kills, s)
	}
	var hangs []hangSample
	for i := range o.runs {
		if err := pl.redeploy(ctx, bin, o); err != nil {
			return err
		}
		s, err := pl.hang(ctx, l, o)
		if err != nil {
			return fmt.Errorf("hang run %d: %w", i+1, err)
		}
		fmt.Printf("hang %d: first failed check after %-7s → verdict %-7s → last request sent %-7s; replaced after %-7s failed %d of %d\n",
			i+1, ms(s.firstFail), ms(s.toVerdict), ms(s.toLastSent), ms(s.replaced), s.failed, s.total)
		hangs = append(hangs, s)
	}
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measure\tmin\tmedian\tmax\ttarget\tmedian/target\t")
	row := func(name string, ds []time.Duration, target time.Duration) {
		slices.Sort(ds)
		ratio := "-"
		if target > 0 {
			ratio = fmt.Sprintf("%.2f", float64(ds[len(ds)/2])/float64(target))
		}
		tgt := "-"
		if target > 0 {
			tgt = ms(target)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", name, ms(ds[0]), ms(ds[len(ds)/2]), ms(ds[len(ds)-1]), tgt, ratio)
	}
	collect := func(n int, f func(int) time.Duration) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	row("kill: death → replacement started", collect(len(kills), func(i int) time.Duration { return kills[i].started }), 0)
	row("kill: death → routable − start time", collect(len(kills), func(i int) time.Duration { return kills[i].routable - kills[i].startTime }), time.Second)
	row("kill: death → routable", collect(len(kills), func(i int) time.Duration { return kills[i].routable }), 0)
	row("hang: first failed check → verdict (out of routing)", collect(len(hangs), func(i int) time.Duration { return hangs[i].toVerdict }), o.interval)
	row("hang: first failed check → last request sent to it", collect(len(hangs), func(i int) time.Duration { return hangs[i].toLastSent }), o.interval)
	row("hang: freeze → replacement healthy", collect(len(hangs), func(i int) time.Duration { return hangs[i].replaced }), 0)
	tw.Flush()
	kf, kt, hf, ht := 0, 0, 0, 0
	for _, s := range kills {
		kf, kt = kf+s.failed, kt+s.total
	}
	for _, s := range hangs {
		hf, ht = hf+s.failed, ht+s.total
	}
	fmt.Printf("\nfailed requests: kills %d of %d, hangs %d of %d\n", kf, kt, hf, ht)
	return nil
}

// killSample is what one kill measured.
type killSample struct {
	started, routable, startTime time.Duration
	failed, total                int
}

// hangSample is what one hang measured.
type hangSample struct {
	firstFail             time.Duration // freeze → first failed check
	toVerdict, toLastSent time.Duration // from the first failed check
	replaced              time.Duration // freeze → replacement healthy
	failed, total         int
}

// kill SIGKILLs one task and follows its replacement.
func (pl *plane) kill(ctx context.Context, l *loadgen.Load) (killSample, error) {
	var s killSample
	before := pl.catalog(ctx)
	victim := before.Tasks[0]
	pid, err := pidOf(victim.ID)
	if err != nil {
		return s, err
	}
	old := map[string]bool{}
	for _, t := range before.Tasks {
		old[t.ID] = true
	}
	t0 := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return s, fmt.Errorf("kill task %s: %w", victim.ID, err)
	}
	var created time.Time
	err = poll(30*time.Second, func() bool {
		c := pl.catalog(ctx)
		for _, t := range c.Tasks {
			if old[t.ID] {
				continue
			}
			if created.IsZero() {
				created = t.CreatedAt
				s.started = time.Since(t0)
			}
			if t.State == store.TaskHealthy && c.Healthy == 2 {
				s.routable = time.Since(t0)
				return true
			}
		}
		return false
	})
	if err != nil {
		return s, fmt.Errorf("no routable replacement: %w", err)
	}
	s.startTime = s.routable - created.Sub(t0)
	time.Sleep(time.Second) // keep the load on a moment after: late failures count
	for _, r := range l.Between(t0.Add(-100*time.Millisecond), time.Now()) {
		s.total++
		if r.Failed() {
			s.failed++
		}
	}
	return s, nil
}

// hang SIGSTOPs one task and follows the router's checks of it and its
// replacement.
func (pl *plane) hang(ctx context.Context, l *loadgen.Load, o opts) (hangSample, error) {
	var s hangSample
	before := pl.catalog(ctx)
	victim := before.Tasks[0]
	pid, err := pidOf(victim.ID)
	if err != nil {
		return s, err
	}
	t0 := time.Now()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return s, fmt.Errorf("stop task %s: %w", victim.ID, err)
	}
	defer func() { _ = syscall.Kill(pid, syscall.SIGCONT) }()
	var replacedAt time.Time
	err = poll(60*time.Second, func() bool {
		c := pl.catalog(ctx)
		if c.Healthy < 2 {
			return false
		}
		for _, t := range c.Tasks {
			if t.ID == victim.ID && t.State != store.TaskDraining {
				return false
			}
		}
		replacedAt = time.Now()
		return true
	})
	if err != nil {
		return s, fmt.Errorf("no replacement: %w", err)
	}
	s.replaced = replacedAt.Sub(t0)
	// The hung task is stopped once drained (2s) and killed after its stop
	// grace; its hung requests end then.
	if err := poll(30*time.Second, func() bool { return syscall.Kill(pid, 0) != nil || zombie(pid) }); err != nil {
		return s, fmt.Errorf("the hung task was never stopped: %w", err)
	}
	time.Sleep(500 * time.Millisecond) // let the hung requests' answers arrive
	checks := pl.watch.since(victim.Addr, t0)
	var firstFail, verdict time.Time
	for _, c := range checks {
		if c.err && (firstFail.IsZero() || c.at.Before(firstFail)) && verdict.IsZero() {
			firstFail = c.at
		}
		if c.changed && !c.up && verdict.IsZero() {
			verdict = c.reported
		}
	}
	if firstFail.IsZero() || verdict.IsZero() {
		return s, errors.New("the router never failed a check of the hung task")
	}
	s.firstFail, s.toVerdict = firstFail.Sub(t0), verdict.Sub(firstFail)
	// Requests sent to the hung task hang: the last one to start is the
	// last traffic it got (answers elsewhere take milliseconds).
	var lastSent time.Time
	for _, r := range l.Between(t0, replacedAt) {
		if r.End.Sub(r.Start) > 300*time.Millisecond && r.Start.After(lastSent) {
			lastSent = r.Start
		}
		s.total++
		if r.Failed() {
			s.failed++
		}
	}
	if !lastSent.IsZero() {
		s.toLastSent = lastSent.Sub(firstFail)
	}
	return s, nil
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// pidOf finds the process of a task by its BERTH_TASK environment entry.
func pidOf(task string) (int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("list processes: %w", err)
	}
	want := []byte("BERTH_TASK=" + task)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.Equal(kv, want) {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no process for task %s", task)
}

// poll checks cond every 2ms until it holds or limit passes.
func poll(limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Round(time.Millisecond).Milliseconds()) }

// watchLog records every health check the router reports, by address.
type watchLog struct {
	rt     *router.Router
	mu     sync.Mutex
	checks map[string][]checkRec
}

type checkRec struct {
	at, reported     time.Time // the check's answer or timeout; its report (when routing follows)
	err, up, changed bool
}

// Watch implements control.HealthWatcher: the router checks, this records.
func (w *watchLog) Watch(addr string, hc router.HealthCheck, up bool, report func(router.Check)) func() {
	return w.rt.Watch(addr, hc, up, func(c router.Check) {
		w.mu.Lock()
		w.checks[addr] = append(w.checks[addr], checkRec{at: c.At, reported: time.Now(), err: c.Err != nil, up: c.Up, changed: c.Changed})
		w.mu.Unlock()
		report(c)
	})
}

func (w *watchLog) since(addr string, t time.Time) []checkRec {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []checkRec
	for _, c := range w.checks[addr] {
		if !c.at.Before(t) {
			out = append(out, c)
		}
	}
	return out
}

// plane is berth's control plane and router, in this process.
type plane struct {
	dir   string
	st    *store.Store
	rt    *router.Router
	srv   *control.Server
	watch *watchLog
	url   string
	stop  context.CancelFunc
	serve chan struct{}
	n     int
}

func startPlane(dir string, verbose bool) (*plane, error) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	logger := slog.New(slog.DiscardHandler)
	if verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	rt := router.New(router.Config{Logger: logger})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen for the router: %w", err)
	}
	serveCtx, stop := context.WithCancel(ctx)
	pl := &plane{dir: dir, st: st, rt: rt, url: "http://" + ln.Addr().String(), stop: stop, serve: make(chan struct{}),
		watch: &watchLog{rt: rt, checks: map[string][]checkRec{}}}
	go func() {
		defer close(pl.serve)
		_ = rt.Serve(serveCtx, ln)
	}()
	logDir := filepath.Join(dir, "logs")
	pl.srv = control.New(control.Config{
		Project: "bench", Store: st, Router: rt, RouterURL: pl.url, LogDir: logDir, Health: pl.watch,
		Driver: process.New(process.Config{LogDir: logDir}), Logger: logger, Engine: "process",
	})
	if err := pl.srv.Start(ctx); err != nil {
		pl.close()
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	return pl, nil
}

// close stops every task, the router and the store.
func (pl *plane) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = pl.srv.Shutdown(ctx)
	pl.stop()
	<-pl.serve
	_ = pl.rt.Close()
	_ = pl.st.Close()
}

// redeploy deploys a new catalog release and waits until it runs its 2
// tasks healthy and nothing else: the restart budget starts afresh.
func (pl *plane) redeploy(ctx context.Context, bin string, o opts) error {
	pl.n++
	yaml := fmt.Sprintf(serviceSpec, bin, o.interval, o.timeout, o.unhealthy, pl.n)
	sp, err := spec.Parse(filepath.Join(pl.dir, "berth.yaml"), []byte(yaml))
	if err != nil {
		return fmt.Errorf("parse spec: %w", err)
	}
	raw, err := release.ForArtifact(sp, sp.Services["catalog"]).Encode()
	if err != nil {
		return fmt.Errorf("encode release config: %w", err)
	}
	resp, err := pl.srv.Deploy(ctx, api.DeployRequest{Commit: "bench", Force: true, Releases: []api.ReleaseSpec{
		{Service: "catalog", Commit: "bench", Config: raw, Fingerprint: fmt.Sprint(time.Now().UnixNano())}}})
	if err != nil {
		return fmt.Errorf("deploy catalog: %w", err)
	}
	id := resp.Deployments[0].ID
	var d api.Deployment
	if err := poll(time.Minute, func() bool {
		d, err = pl.srv.Deployment(ctx, id)
		return err != nil || d.Finished()
	}); err != nil {
		return fmt.Errorf("deployment %s: %w", id, err)
	}
	if err != nil || d.State != store.DeploySucceeded {
		return fmt.Errorf("deployment %s: %s %s %v", id, d.State, d.Reason, err)
	}
	return poll(30*time.Second, func() bool {
		c := pl.catalog(ctx)
		return len(c.Tasks) == 2 && c.Healthy == 2
	})
}

func (pl *plane) catalog(ctx context.Context) api.Service {
	for _, s := range pl.srv.Status(ctx).Services {
		if s.Name == "catalog" {
			return s
		}
	}
	return api.Service{}
}
