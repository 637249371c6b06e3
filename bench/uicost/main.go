// Command uicost measures the CPU that serving the web dashboard and a
// live deploy view add to berth's control plane (and router) while 5,000
// requests/s go through the router.
//
// It builds berth and the shop's catalog service, runs `berth serve` (the
// process engine, two catalog tasks) in a temp directory, deploys, and
// drives the router with an open-loop load generator at -rate requests/s.
// Then, alternately, it measures phases without any dashboard client and
// with the clients the issue names: a browser-like poller doing what the
// dashboard page does (GET /v1/status every second, /v1/signals every 5 s,
// /v1/events followed, the selected service's last 100 log lines every
// 3 s, the latest deployment's history every 5 s) and a live-view client following
// /v1/events. CPU is read from /proc/PID/stat (utime+stime) of the
// control plane and of the router process over each phase.
//
//	go run ./bench/uicost [-rate 5000] [-d 20s] [-rounds 2] [-workers 64]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

func main() {
	rate := flag.Int("rate", 5000, "requests/s through the router")
	dur := flag.Duration("d", 20*time.Second, "length of each measured phase")
	rounds := flag.Int("rounds", 2, "phases of each kind (alternating without, with)")
	workers := flag.Int("workers", 64, "load generator connections")
	flag.Parse()
	if err := run(*rate, *dur, *rounds, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "bench/uicost:", err)
		os.Exit(1)
	}
}

const spec = `project: uicost
listen: %s
engine: process
services:
  catalog:
    run: %s
    route: {path: /catalog}
    count: 2
    health: {path: /health, interval: 1s, deadline: 10s}
    env:
      SHOP_HOST: 127.0.0.1
`

func run(rate int, dur time.Duration, rounds, workers int) error {
	dir, err := os.MkdirTemp("", "berth-uicost-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	berth, catalog := filepath.Join(dir, "berth"), filepath.Join(dir, "catalog")
	for _, b := range [][2]string{{berth, "./cmd/berth"}, {catalog, "./examples/shop/services/catalog"}} {
		cmd := exec.Command("go", "build", "-o", b[0], b[1])
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s (run from the repository root): %v\n%s", b[1], err, out)
		}
	}
	listen, err := freeAddr()
	if err != nil {
		return err
	}
	ui, err := freeAddr()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "berth.yaml"), fmt.Appendf(nil, spec, listen, catalog), 0o644); err != nil {
		return err
	}
	state := filepath.Join(dir, ".berth")
	berthCmd := func(ctx context.Context, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, berth, append([]string{"-f", filepath.Join(dir, "berth.yaml"), "--state", state}, args...)...)
		cmd.Dir = dir
		return cmd
	}
	var served bytes.Buffer
	serve := berthCmd(context.Background(), "serve", "--ui-listen", ui)
	serve.Stdout, serve.Stderr = &served, &served
	if err := serve.Start(); err != nil {
		return err
	}
	defer func() {
		down, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = berthCmd(down, "down").Run()
		_ = serve.Process.Kill()
		_ = serve.Wait()
	}()
	base := "http://" + ui
	if err := waitOK(base+"/v1/status", 30*time.Second); err != nil {
		return fmt.Errorf("berth serve: %v\n%s", err, served.String())
	}
	if out, err := berthCmd(context.Background(), "deploy").CombinedOutput(); err != nil {
		return fmt.Errorf("berth deploy: %v\n%s", err, out)
	}
	routerPID := pidWithEnv("BERTH_ROUTER_STATE=" + state)
	if routerPID == 0 {
		return errors.New("no router process found")
	}
	cpPID := serve.Process.Pid

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ld := startLoad(ctx, "http://"+listen+"/catalog/version", rate, workers)
	time.Sleep(3 * time.Second) // warm-up of the load (a benchmark, not a test)

	type phase struct {
		name       string
		cp, rt     float64 // % of one core
		rps        float64
		clientReqs int64
	}
	var phases []phase
	for i := 0; i < rounds; i++ {
		for _, withUI := range []bool{false, true} {
			var cl *clients
			if withUI {
				cl = startClients(ctx, base)
			}
			cp0, rt0, n0, t0 := cpuTicks(cpPID), cpuTicks(routerPID), ld.done.Load(), time.Now()
			time.Sleep(dur)
			cp1, rt1, n1, t1 := cpuTicks(cpPID), cpuTicks(routerPID), ld.done.Load(), time.Now()
			secs := t1.Sub(t0).Seconds()
			p := phase{name: "without dashboard", cp: pct(cp1-cp0, secs), rt: pct(rt1-rt0, secs), rps: float64(n1-n0) / secs}
			if withUI {
				p.name = "with dashboard + live view"
				p.clientReqs = cl.stop()
			}
			phases = append(phases, p)
			fmt.Fprintf(os.Stderr, "%-28s control plane %6.2f%%  router %6.2f%%  %6.0f req/s\n", p.name, p.cp, p.rt, p.rps)
		}
	}
	cancel()
	if f := ld.failed.Load(); f > 0 {
		fmt.Fprintf(os.Stderr, "warning: %d load requests failed\n", f)
	}

	fmt.Printf("\nberth uicost: %d req/s target through the router, %s phases, CPU as %% of one core (/proc/PID/stat)\n\n", rate, dur)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\treq/s\tcontrol plane CPU\trouter CPU\trouter CPU per 1k req/s\tdashboard API requests\t")
	var cpOff, cpOn, rtOff, rtOn, rpsOff, rpsOn float64
	var nOff, nOn int
	for _, p := range phases {
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f%%\t%.2f%%\t%.2f%%\t%d\t\n", p.name, p.rps, p.cp, p.rt, 1000*p.rt/p.rps, p.clientReqs)
		if strings.HasPrefix(p.name, "with ") {
			cpOn, rtOn, rpsOn, nOn = cpOn+p.cp, rtOn+p.rt, rpsOn+p.rps, nOn+1
		} else {
			cpOff, rtOff, rpsOff, nOff = cpOff+p.cp, rtOff+p.rt, rpsOff+p.rps, nOff+1
		}
	}
	tw.Flush()
	cpOff, cpOn = cpOff/float64(nOff), cpOn/float64(nOn)
	rtOffK, rtOnK := 1000*rtOff/rpsOff, 1000*rtOn/rpsOn
	fmt.Printf("\ncontrol plane: %.2f%% without, %.2f%% with the dashboard and live view: %+.2f%% of one core\n", cpOff, cpOn, cpOn-cpOff)
	fmt.Printf("router per 1,000 req/s: %.2f%% without, %.2f%% with: %.2f× (the clients do not touch the router)\n", rtOffK, rtOnK, ratio(rtOnK, rtOffK))
	return nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// load is an open-loop generator: a pacer hands out one token per request
// at the rate; workers with keep-alive connections send them.
type load struct {
	done, failed atomic.Int64
}

func startLoad(ctx context.Context, url string, rate, workers int) *load {
	l := &load{}
	tokens := make(chan struct{}, rate)
	go func() {
		const tick = time.Millisecond
		t := time.NewTicker(tick)
		defer t.Stop()
		start := time.Now()
		var sent int64
		for {
			select {
			case <-ctx.Done():
				close(tokens)
				return
			case now := <-t.C:
				due := int64(now.Sub(start).Seconds() * float64(rate))
				for ; sent < due; sent++ {
					select {
					case tokens <- struct{}{}:
					default: // workers are behind: the request is dropped, not queued
					}
				}
			}
		}
	}()
	tr := &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for range workers {
		go func() {
			for range tokens {
				resp, err := client.Get(url)
				if err != nil {
					l.failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					l.failed.Add(1)
				}
				l.done.Add(1)
			}
		}()
	}
	return l
}

// clients are what a dashboard page and a live deploy view ask of the API.
type clients struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	reqs   atomic.Int64
}

func startClients(parent context.Context, base string) *clients {
	ctx, cancel := context.WithCancel(parent)
	c := &clients{cancel: cancel}
	hc := &http.Client{}
	get := func(path string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		resp, err := hc.Do(req)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		c.reqs.Add(1)
	}
	every := func(d time.Duration, path string) {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			t := time.NewTicker(d)
			defer t.Stop()
			for {
				get(path)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	follow := func(path string) {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			get(path) // streams until the phase ends
		}()
	}
	// The dashboard page (internal/dashboard/assets/app.js).
	every(time.Second, "/v1/status")
	every(5*time.Second, "/v1/signals?window=15m")
	every(5*time.Second, "/v1/services/catalog/history")
	every(3*time.Second, "/v1/services/catalog/logs?tail=100")
	follow("/v1/events?follow=1&tail=200")
	// A live deploy view following the event stream.
	follow("/v1/events?follow=1")
	return c
}

func (c *clients) stop() int64 {
	c.cancel()
	c.wg.Wait()
	return c.reqs.Load()
}

// cpuTicks returns utime+stime of a process in clock ticks.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	s := string(b)
	s = s[strings.LastIndexByte(s, ')')+2:]
	f := strings.Fields(s)
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st
}

// pct is ticks over secs as % of one core (USER_HZ is 100 on Linux).
func pct(ticks int64, secs float64) float64 { return float64(ticks) / 100 / secs * 100 }

func pidWithEnv(kv string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		for _, entry := range bytes.Split(env, []byte{0}) {
			if string(entry) == kv {
				return pid
			}
		}
	}
	return 0
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitOK(url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %s: %v", url, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
