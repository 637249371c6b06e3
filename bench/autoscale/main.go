// Command autoscale measures berth's autoscaling under a load step.
//
// It runs berth's control plane in-process over real things — a SQLite
// store, berth's router on loopback, the process driver running the shop's
// catalog service autoscaled on requests per second per task — and sends
// paced load through the router: -low requests/s, then a step to -high
// held for -steady, then back to -low until the service is at its minimum.
// It measures and prints:
//
//   - reaction time: from the step to the scale-out decision, and to every
//     task it asked for being healthy (serving);
//
//   - the count over time (desired, healthy, offered load);
//
//   - every decision with its inputs;
//
//   - checks: no decision while the load holds steady (no oscillation), one
//     task per scale-in and at least down_cooldown between two, no
//     scale-out after the load dropped, no failed request;
//
//   - side by side, the same measured samples replayed through berth's
//     decision and through naive target tracking (the count the target
//     asks for, on every sample, with no window, margin or cooldown): how
//     many changes each makes and how many times it changes direction.
//
//     go run ./bench/autoscale                 # 10 → 500 → 10 rps, 3 minutes steady
//     go run ./bench/autoscale -short          # 20 s steady, shorter cooldowns: a quick check
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
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

type opts struct {
	low, high, target int
	warm, steady      time.Duration
	up, down          time.Duration
	max               int
}

func main() {
	var o opts
	short := flag.Bool("short", false, "a quick run: 5s warm-up, 20s steady, up_cooldown 2s, down_cooldown 5s")
	flag.IntVar(&o.low, "low", 10, "requests per second before and after the step")
	flag.IntVar(&o.high, "high", 500, "requests per second during the step")
	flag.IntVar(&o.target, "target", 150, "scale target: rps_per_task")
	flag.IntVar(&o.max, "max", 8, "scale max")
	flag.DurationVar(&o.warm, "warm", 10*time.Second, "time at -low before the step")
	flag.DurationVar(&o.steady, "steady", 3*time.Minute, "time the step holds after the scale-out is serving")
	flag.DurationVar(&o.up, "up-cooldown", 5*time.Second, "scale up_cooldown")
	flag.DurationVar(&o.down, "down-cooldown", 15*time.Second, "scale down_cooldown")
	flag.Parse()
	if *short {
		o.warm, o.steady, o.up, o.down = 5*time.Second, 20*time.Second, 2*time.Second, 5*time.Second
	}
	ok, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/autoscale:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

const serviceSpec = `project: bench
services:
  catalog:
    run: %[1]s
    route: {path: /catalog}
    health: {path: /health, interval: 200ms}
    deploy: {drain: 3s}
    scale: {min: 1, max: %[2]d, target: {rps_per_task: %[3]d}, up_cooldown: %[4]s, down_cooldown: %[5]s}
    env:
      SHOP_HOST: 127.0.0.1
      SHOP_DRAIN: 1s
`

// point is one second of the timeline.
type point struct {
	at               time.Duration // since the step
	offered          int
	measured         float64 // the router's request rate over the last whole second
	desired, healthy int
}

func run(o opts) (bool, error) {
	dir, err := os.MkdirTemp("", "berth-bench-autoscale-")
	if err != nil {
		return false, fmt.Errorf("make temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "catalog")
	build := exec.Command("go", "build", "-o", bin, "github.com/berth-dev/berth/examples/shop/services/catalog")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return false, fmt.Errorf("build the catalog service: %w\n%s", err, out)
	}
	pl, err := startPlane(dir)
	if err != nil {
		return false, err
	}
	defer pl.close()
	ctx := context.Background()
	yaml := fmt.Sprintf(serviceSpec, bin, o.max, o.target, o.up, o.down)
	sp, err := spec.Parse(filepath.Join(dir, "berth.yaml"), []byte(yaml))
	if err != nil {
		return false, fmt.Errorf("parse spec: %w", err)
	}
	raw, err := release.ForArtifact(sp, sp.Services["catalog"]).Encode()
	if err != nil {
		return false, err
	}
	resp, err := pl.srv.Deploy(ctx, api.DeployRequest{Commit: "bench", Force: true,
		Releases: []api.ReleaseSpec{{Service: "catalog", Commit: "bench", Config: raw}}})
	if err != nil {
		return false, fmt.Errorf("deploy: %w", err)
	}
	if err := pl.until(time.Minute, func() bool {
		d, err := pl.srv.Deployment(ctx, resp.Deployments[0].ID)
		return err == nil && d.State == store.DeploySucceeded
	}); err != nil {
		return false, fmt.Errorf("first deployment: %w", err)
	}
	fmt.Printf("catalog autoscaled on rps_per_task %d (min 1, max %d, up_cooldown %s, down_cooldown %s); load %d → %d → %d requests/s through berth's router\n\n",
		o.target, o.max, o.up, o.down, o.low, o.high, o.low)

	l := startLoad(pl.url+"/catalog/items", o.low)
	defer l.halt()
	var (
		mu       sync.Mutex
		timeline []point
		step     time.Time
	)
	stopRec := make(chan struct{})
	recDone := make(chan struct{})
	go func() { // one point per second, for the timeline and the replay
		defer close(recDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopRec:
				return
			case <-tick.C:
			}
			s := pl.service(ctx)
			all := pl.rt.ReleaseSignals("catalog", s.Release, 2*time.Second)
			cur := pl.rt.ReleaseSignals("catalog", s.Release, time.Second)
			mu.Lock()
			var at time.Duration
			if !step.IsZero() {
				at = time.Since(step)
			}
			timeline = append(timeline, point{at: at, offered: int(l.rate.Load()), measured: float64(all.Requests - cur.Requests),
				desired: s.Desired, healthy: s.Healthy})
			mu.Unlock()
		}
	}()

	pause(o.warm)
	mu.Lock()
	step = time.Now()
	mu.Unlock()
	l.rate.Store(int64(o.high))
	if err := pl.until(time.Minute, func() bool { return len(pl.decisions(ctx)) > 0 }); err != nil {
		return false, fmt.Errorf("no scale-out after the step: %w", err)
	}
	first := pl.decisions(ctx)[0]
	decided := first.Time.Sub(step)
	var serving time.Duration
	if err := pl.until(time.Minute, func() bool {
		s := pl.service(ctx)
		if s.Healthy >= s.Desired && s.Desired > 1 {
			serving = time.Since(step)
			return true
		}
		return false
	}); err != nil {
		return false, fmt.Errorf("scaled-out tasks never all healthy: %w", err)
	}
	settled := len(pl.decisions(ctx))
	steadyFrom := time.Now()
	pause(o.steady)
	steadyDecisions := pl.decisions(ctx)[settled:]
	high := pl.service(ctx).Desired

	drop := time.Now()
	l.rate.Store(int64(o.low))
	if err := pl.until(o.down*time.Duration(o.max+2)+time.Minute, func() bool { return pl.service(ctx).Desired == 1 }); err != nil {
		return false, fmt.Errorf("never back to 1 task: %w", err)
	}
	back := time.Since(drop)
	pause(2 * time.Second)
	close(stopRec)
	<-recDone
	l.halt()

	evs := pl.decisions(ctx)
	fmt.Println("decisions:")
	for _, e := range evs {
		fmt.Printf("  %+8.1fs  %-9s %s\n", e.Time.Sub(step).Seconds(), e.Kind, e.Message)
	}
	fmt.Println("\ncount over time (s since the step; offered and measured requests/s; desired and healthy tasks):")
	mu.Lock()
	last := point{desired: -1}
	for i, p := range timeline {
		if p.desired != last.desired || p.healthy != last.healthy || p.offered != last.offered || i%10 == 0 || i == len(timeline)-1 {
			fmt.Printf("  %+7.1fs  offered %4d  measured %5.0f  desired %d  healthy %d\n", p.at.Seconds(), p.offered, p.measured, p.desired, p.healthy)
		}
		last = p
	}
	samples := append([]point(nil), timeline...)
	mu.Unlock()

	ok := true
	check := func(pass bool, format string, args ...any) {
		mark := "ok  "
		if !pass {
			mark, ok = "FAIL", false
		}
		fmt.Printf("  %s %s\n", mark, fmt.Sprintf(format, args...))
	}
	fmt.Printf("\nreaction: scale-out decided %s after the step (%s), all %d tasks serving after %s; back to 1 task %s after the load dropped\n",
		ms(decided), first.Message, high, ms(serving), ms(back))
	fmt.Printf("steady load held %s after the scale-out was serving\n\nchecks:\n", drop.Sub(steadyFrom).Round(time.Second))
	check(len(steadyDecisions) == 0, "no decision during %s of steady %d requests/s (%d made)", o.steady, o.high, len(steadyDecisions))
	ins, outsAfterDrop, gaps := 0, 0, []time.Duration{}
	var lastIn time.Time
	stepOK := true
	for _, e := range evs {
		if !e.Time.After(drop) {
			continue
		}
		if e.Kind == api.EventScaleOut {
			outsAfterDrop++
			continue
		}
		from, _ := strconv.Atoi(e.Fields["from"])
		to, _ := strconv.Atoi(e.Fields["to"])
		if from-to != 1 {
			stepOK = false
		}
		if !lastIn.IsZero() {
			gaps = append(gaps, e.Time.Sub(lastIn))
		}
		lastIn = e.Time
		ins++
	}
	minGap := time.Duration(0)
	for i, g := range gaps {
		if i == 0 || g < minGap {
			minGap = g
		}
	}
	check(stepOK && ins == high-1, "%d scale-ins from %d to 1, one task each", ins, high)
	check(len(gaps) == 0 || minGap >= o.down-50*time.Millisecond, "scale-ins at least down_cooldown (%s) apart: shortest gap %s", o.down, ms(minGap))
	check(outsAfterDrop == 0, "no scale-out after the load dropped (%d)", outsAfterDrop)
	check(l.failed.Load() == 0, "requests failed: %d of %d (first: %s)", l.failed.Load(), l.sent.Load(), l.firstErr())

	// Side by side: the same measured load through berth's decision and
	// through a naive threshold policy, on the same timeline.
	berth, naive := replay(samples, o)
	fmt.Printf("\nreplay of the measured load (%d one-second samples):\n", len(samples))
	fmt.Printf("  berth's decision: %d changes, %d changes of direction\n", berth.changes, berth.flips)
	fmt.Printf("  naive target tracking (ceil(rps/target) every sample, no window, margin or cooldown): %d changes, %d changes of direction\n", naive.changes, naive.flips)
	if berth.changes > 0 {
		fmt.Printf("  naive/berth changes: %.1f×\n", float64(naive.changes)/float64(berth.changes))
	}
	return ok, nil
}

type replayResult struct{ changes, flips int }

// replay runs the timeline's measured load through deploy.Autoscale and
// through a naive policy, with tasks serving as soon as asked for.
func replay(ps []point, o opts) (berth, naive replayResult) {
	t0 := time.Unix(1_700_000_000, 0)
	count := func(prev *string, dir string, r *replayResult) {
		r.changes++
		if *prev != "" && *prev != dir {
			r.flips++
		}
		*prev = dir
	}
	in := deploy.AutoscaleInput{Metric: spec.MetricRPSPerTask, Target: float64(o.target), Min: 1, Max: o.max,
		UpCooldown: o.up, DownCooldown: o.down, Current: 1, OutWindow: 3 * time.Second, MinSamples: 3}
	nc := 1
	var bPrev, nPrev string
	for i, p := range ps {
		now := t0.Add(time.Duration(i) * time.Second)
		in.Now, in.Healthy = now, in.Current
		in.Samples = append(in.Samples, deploy.ScaleSample{At: now, Tasks: in.Current, Value: p.measured / float64(in.Current)})
		if d := deploy.Autoscale(in); d.Direction != "" {
			count(&bPrev, d.Direction, &berth)
			if d.Direction == deploy.ScaleOut {
				in.LastOut = now
			} else {
				in.LastIn = now
			}
			in.Current = d.Desired
		}
		want := min(max(int(math.Ceil(p.measured/float64(o.target))), 1), o.max)
		switch {
		case want > nc:
			count(&nPrev, "out", &naive)
		case want < nc:
			count(&nPrev, "in", &naive)
		}
		nc = want
	}
	return berth, naive
}

func pause(d time.Duration) {
	t := time.NewTimer(d)
	<-t.C
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// plane is berth's control plane and router, in this process.
type plane struct {
	st    *store.Store
	rt    *router.Router
	srv   *control.Server
	url   string
	stop  context.CancelFunc
	serve chan struct{}
}

func startPlane(dir string) (*plane, error) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	logger := slog.New(slog.DiscardHandler)
	rt := router.New(router.Config{Logger: logger})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen for the router: %w", err)
	}
	serveCtx, stop := context.WithCancel(ctx)
	pl := &plane{st: st, rt: rt, url: "http://" + ln.Addr().String(), stop: stop, serve: make(chan struct{})}
	go func() {
		defer close(pl.serve)
		_ = rt.Serve(serveCtx, ln)
	}()
	logDir := filepath.Join(dir, "logs")
	pl.srv = control.New(control.Config{
		Project: "bench", Store: st, Router: rt, RouterURL: pl.url, LogDir: logDir,
		Driver: process.New(process.Config{LogDir: logDir}), Logger: logger, Engine: "process",
	})
	if err := pl.srv.Start(ctx); err != nil {
		pl.close()
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	return pl, nil
}

func (pl *plane) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = pl.srv.Shutdown(ctx)
	pl.stop()
	<-pl.serve
	_ = pl.rt.Close()
	_ = pl.st.Close()
}

func (pl *plane) service(ctx context.Context) api.Service {
	for _, s := range pl.srv.Status(ctx).Services {
		if s.Name == "catalog" {
			return s
		}
	}
	return api.Service{}
}

func (pl *plane) decisions(ctx context.Context) []store.Event {
	evs, err := pl.st.Events(ctx, store.EventQuery{Service: "catalog", KindPrefixes: []string{"scale."}})
	if err != nil {
		return nil
	}
	return evs
}

// until waits for cond, woken by the control plane's events, failing
// after limit.
func (pl *plane) until(limit time.Duration, cond func() bool) error {
	wake, unsub := pl.srv.Subscribe()
	defer unsub()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-wake:
		case <-tick.C:
		case <-deadline.C:
			return fmt.Errorf("not within %s", limit)
		}
	}
	return nil
}

// load sends GET url at a set rate through a pool of clients.
type load struct {
	rate   atomic.Int64
	sent   atomic.Int64
	failed atomic.Int64
	mu     sync.Mutex
	first  string
	stop   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

func startLoad(url string, rate int) *load {
	l := &load{stop: make(chan struct{})}
	l.rate.Store(int64(rate))
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	jobs := make(chan struct{}, 256)
	for range 48 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				case <-jobs:
				}
				resp, err := client.Get(url)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode/100 == 2 {
						continue
					}
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
				l.failed.Add(1)
				l.mu.Lock()
				if l.first == "" {
					l.first = err.Error()
				}
				l.mu.Unlock()
			}
		}()
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		last, due := time.Now(), 0.0
		for {
			select {
			case <-l.stop:
				return
			case now := <-tick.C:
				due += float64(l.rate.Load()) * now.Sub(last).Seconds()
				last = now
				for ; due >= 1; due-- {
					select {
					case jobs <- struct{}{}:
						l.sent.Add(1)
					default: // every client busy: not sent
					}
				}
			}
		}
	}()
	return l
}

func (l *load) halt() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

func (l *load) firstErr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.first == "" {
		return "none"
	}
	return l.first
}
