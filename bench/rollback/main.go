// Command rollback measures how fast berth pulls a bad canary.
//
// It runs berth's control plane in-process over real things — a SQLite
// store, berth's router on loopback, the process driver running the shop's
// catalog service — deploys a good release, puts it under continuous load
// through the router, then, -runs times, starts a canary of a release that
// fails a share of its requests (CHAOS_ERROR_RATE) and waits for berth to
// roll it back on its own traffic. For each run it measures, as the client
// sees it:
//
//   - alarm to rollback: from the first bad response to the moment all
//     traffic is back on the stable release (the deployment's rolled_back
//     record, written after the routing change);
//   - first to last bad response;
//   - the share of failed requests between the two, and failures after the
//     rollback (there should be none).
//
// It prints every run and then min / median / p90 / max.
//
//	go run ./bench/rollback                 # 20 runs, 4 clients, 30% errors
//	go run ./bench/rollback -rps 200        # a quieter service: 20 requests/s reach a 10% canary
//	go run ./bench/rollback -runs 5 -workers 2 -error-rate 0.5
package main

import (
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
	flag.IntVar(&o.runs, "runs", 20, "canaries to roll back")
	flag.IntVar(&o.workers, "workers", 4, "concurrent clients sending requests through the router")
	flag.Float64Var(&o.rps, "rps", 0, "requests per second from all clients together (0: as fast as answers come)")
	flag.Float64Var(&o.errorRate, "error-rate", 0.3, "share of requests the bad release fails (CHAOS_ERROR_RATE)")
	flag.BoolVar(&o.verbose, "v", false, "log the control plane's warnings to stderr")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/rollback:", err)
		os.Exit(1)
	}
}

type opts struct {
	runs, workers int
	errorRate     float64
	rps           float64
	verbose       bool
}

// serviceSpec is the catalog as deployed, 2 tasks; %[1]s is the binary,
// %[2]s the deploy: lines, %[3]s extra env lines.
const serviceSpec = `project: bench
services:
  catalog:
    run: %[1]s
    route: {path: /catalog}
    count: 2
    health: {path: /health, interval: 100ms}
    deploy:
      drain: 3s
%[2]s
    env:
      SHOP_HOST: 127.0.0.1
      SHOP_DRAIN: 3s
%[3]s`

// The stable release rolls out (a first deployment always does); the bad
// one is a canary of 10%, 50%, 100% with berth's default analysis: 5xx
// above 5% over 10s, judged once it has 20 requests.
const (
	rollingDeploy = "      strategy: rolling"
	canaryDeploy  = "      strategy: canary\n      steps: [10%, 50%, 100%]\n      pause: 30s"
)

// sample is what one run measured.
type sample struct {
	alarmToRollback time.Duration // first bad response → rolled back
	firstToLastBad  time.Duration
	failed, total   int // requests failed / made between first and last bad
	failedAfter     int // requests started after the rollback that failed
	reason          string
}

func run(o opts) error {
	dir, err := os.MkdirTemp("", "berth-bench-rollback-")
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
	if d, err := pl.deploy(ctx, bin, rollingDeploy, ""); err != nil {
		return err
	} else if d, err = pl.waitFinished(ctx, d.ID, time.Minute); err != nil {
		return err
	} else if d.State != store.DeploySucceeded {
		return fmt.Errorf("stable release: %s: %s", d.State, d.Reason)
	}

	l := loadgen.Closed(pl.url+"/catalog/items", o.workers, o.rps)
	defer l.Halt()
	rate := "as fast as answers come"
	if o.rps > 0 {
		rate = fmt.Sprintf("%g requests/s in all", o.rps)
	}
	fmt.Printf("%d runs: canary of a release failing %.0f%% of requests, %d clients through berth's router, %s\n\n",
		o.runs, o.errorRate*100, o.workers, rate)
	var samples []sample
	for i := range o.runs {
		s, err := pl.measure(ctx, l, bin, o.errorRate)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		fmt.Printf("run %2d: alarm to rollback %-8s first to last bad %-8s failed %d of %d in that window (%.1f%%), %d after\n",
			i+1, ms(s.alarmToRollback), ms(s.firstToLastBad), s.failed, s.total, pct(s.failed, s.total), s.failedAfter)
		samples = append(samples, s)
	}
	fmt.Printf("\nrollback reason (last run): %s\n\n", samples[len(samples)-1].reason)
	report(os.Stdout, samples)
	return nil
}

// measure runs one bad canary to its rollback and measures it from the
// load's point of view.
func (pl *plane) measure(ctx context.Context, l *loadgen.Load, bin string, errorRate float64) (sample, error) {
	var s sample
	started := time.Now()
	d, err := pl.deploy(ctx, bin, canaryDeploy, fmt.Sprintf("      CHAOS_ERROR_RATE: \"%g\"\n", errorRate))
	if err != nil {
		return s, err
	}
	d, err = pl.waitFinished(ctx, d.ID, time.Minute)
	if err != nil {
		return s, err
	}
	if d.State != store.DeployRolledBack {
		return s, fmt.Errorf("the bad canary ended %s: %s", d.State, d.Reason)
	}
	s.reason = d.Reason
	// Keep the load on after the rollback: nothing may fail any more.
	if err := l.WaitStartedAfter(d.FinishedAt.Add(300*time.Millisecond), 10*time.Second); err != nil {
		return s, err
	}
	var first, last time.Time
	rs := l.Since(started)
	for _, r := range rs {
		if !r.Failed() {
			continue
		}
		if first.IsZero() || r.End.Before(first) {
			first = r.End
		}
		if r.End.After(last) {
			last = r.End
		}
		if r.Start.After(d.FinishedAt) {
			s.failedAfter++
		}
	}
	if first.IsZero() {
		return s, errors.New("the canary never answered a bad request: nothing to measure (raise -error-rate or -workers)")
	}
	for _, r := range rs {
		if !r.End.Before(first) && !r.End.After(last) {
			s.total++
			if r.Failed() {
				s.failed++
			}
		}
	}
	s.alarmToRollback, s.firstToLastBad = d.FinishedAt.Sub(first), last.Sub(first)
	// Let the canary's task go before the next run.
	return s, pl.waitTasks(ctx, 2, 30*time.Second)
}

// report prints the distribution of the runs.
func report(w *os.File, samples []sample) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measure\tmin\tmedian\tp90\tmax\t")
	row := func(name string, get func(sample) time.Duration) {
		ds := make([]time.Duration, 0, len(samples))
		for _, s := range samples {
			ds = append(ds, get(s))
		}
		slices.Sort(ds)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", name, ms(ds[0]), ms(quantile(ds, 0.5)), ms(quantile(ds, 0.9)), ms(ds[len(ds)-1]))
	}
	row("first bad response → rolled back", func(s sample) time.Duration { return s.alarmToRollback })
	row("first → last bad response", func(s sample) time.Duration { return s.firstToLastBad })
	tw.Flush()
	failed, total, after := 0, 0, 0
	for _, s := range samples {
		failed, total, after = failed+s.failed, total+s.total, after+s.failedAfter
	}
	fmt.Fprintf(w, "\nfailed requests between first and last bad response: %d of %d (%.1f%%); failed after the rollback: %d\n",
		failed, total, pct(failed, total), after)
}

// quantile is the nearest-rank q-quantile of sorted ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(ds))+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Round(time.Millisecond).Milliseconds()) }

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// plane is berth's control plane and router, in this process.
type plane struct {
	dir   string
	st    *store.Store
	rt    *router.Router
	srv   *control.Server
	url   string
	stop  context.CancelFunc
	serve chan struct{}
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
	pl := &plane{dir: dir, st: st, rt: rt, url: "http://" + ln.Addr().String(), stop: stop, serve: make(chan struct{})}
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

// deploy starts a deployment of a new catalog release with the deploy:
// and extra env lines, as `berth deploy` would.
func (pl *plane) deploy(ctx context.Context, bin, deployLines, env string) (api.Deployment, error) {
	yaml := fmt.Sprintf(serviceSpec, bin, deployLines, env)
	sp, err := spec.Parse(filepath.Join(pl.dir, "berth.yaml"), []byte(yaml))
	if err != nil {
		return api.Deployment{}, fmt.Errorf("parse spec: %w", err)
	}
	raw, err := release.ForArtifact(sp, sp.Services["catalog"]).Encode()
	if err != nil {
		return api.Deployment{}, fmt.Errorf("encode release config: %w", err)
	}
	resp, err := pl.srv.Deploy(ctx, api.DeployRequest{Commit: "bench", Force: true, Releases: []api.ReleaseSpec{
		{Service: "catalog", Commit: "bench", Config: raw, Fingerprint: fmt.Sprint(time.Now().UnixNano())}}})
	if err != nil {
		return api.Deployment{}, fmt.Errorf("deploy catalog: %w", err)
	}
	if len(resp.Deployments) != 1 {
		return api.Deployment{}, fmt.Errorf("deploy catalog started %d deployments, want 1", len(resp.Deployments))
	}
	return resp.Deployments[0], nil
}

// waitFinished polls a deployment until it ends.
func (pl *plane) waitFinished(ctx context.Context, id string, limit time.Duration) (api.Deployment, error) {
	deadline := time.Now().Add(limit)
	for {
		d, err := pl.srv.Deployment(ctx, id)
		if err != nil {
			return d, err
		}
		if d.Finished() {
			return d, nil
		}
		if time.Now().After(deadline) {
			return d, fmt.Errorf("deployment %s still %s in phase %s after %s", id, d.State, d.Phase, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitTasks waits until the catalog runs exactly n tasks.
func (pl *plane) waitTasks(ctx context.Context, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		for _, s := range pl.srv.Status(ctx).Services {
			if s.Name == "catalog" && len(s.Tasks) == n {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("catalog does not run %d tasks after %s", n, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
